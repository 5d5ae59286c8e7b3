/* fuzz_jsonw.c - libFuzzer target for jsonw.c: any input jansson parses (objects, arrays,
 * scalars, escapes, UTF-8, NUL in strings and keys) is serialized by jsonw_dump and by
 * json_dumpb(JSON_COMPACT); the two must be byte-identical, and jsonw's output must parse back
 * to an equal tree. Trees nested deeper than JSONW_MAX_DEPTH must be refused. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int depth_of(json_t *v)
{
    int d = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m)
        {
            int md = depth_of(m);
            d = md > d ? md : d;
        }
        return d + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            int md = depth_of(m);
            d = md > d ? md : d;
        }
        return d + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        return 0;
    jsonw_buf_t b = {0};
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = jsonw_dump(v, &b, 0);
    if (depth_of(v) > JSONW_MAX_DEPTH + 1) {
        FUZZ_CHECK(rc == -1); /* refused, never a stack overflow */
    } else if (want) {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(b.len == strlen(want));
        FUZZ_CHECK(memcmp(b.data, want, b.len) == 0);
        json_t *back = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        FUZZ_CHECK(back && json_equal(back, v));
        json_decref(back);
    }
    free(want);
    jsonw_free(&b);
    json_decref(v);
    return 0;
}
