/*
 * fuzz_schema_validate.c - libFuzzer target for the OCSF validator and the path lookups.
 *
 * The schema is loaded once (env OCSF_SCHEMAS_DIR, else the compile-time OCSF_SCHEMAS_DIR). Each
 * input is parsed as JSON and validated twice, with a large and with a small reasons buffer; the
 * target checks the contract a caller relies on: the same problem count, the small text a prefix of
 * the large one, both NUL-terminated, valid UTF-8 without control characters. The input bytes are
 * also used as a dotted path for the lookups. Seeds: tests/fuzz/corpus/fuzz_schema_validate/ (valid
 * events of the shipped classes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "fuzz_common.h"

static schema_t *g_schema;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    if (schema_load(NULL, &g_schema, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_schema_validate: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *event = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (event != NULL) {
        static char full[8192];
        char small[64];
        size_t small_len = 1 + size % sizeof(small);
        int n = schema_validate(g_schema, event, full, sizeof(full));
        int m = schema_validate(g_schema, event, small, small_len);
        if (n < 0 || n > SCHEMA_MAX_PROBLEMS || n != m || (n == 0) != (full[0] == '\0'))
            abort();
        if (strlen(small) >= small_len || strncmp(small, full, strlen(small)) != 0)
            abort();
        check_clean_utf8(full);
        check_clean_utf8(small);
        if (schema_validate(g_schema, event, NULL, 0) != n)
            abort();
        json_decref(event);
    }

    /* The same bytes as a path for the lookups (they must never read past the string). */
    char path[256];
    size_t len = size < sizeof(path) - 1 ? size : sizeof(path) - 1;
    memcpy(path, data, len);
    path[len] = '\0';
    static const int classes[] = {3002, 3004, 6003, 4001, 4002, 1001, 1007};
    int class_uid = classes[size % (sizeof(classes) / sizeof(classes[0]))];
    int is_array;
    long long value;
    (void)schema_attr_type(g_schema, class_uid, path, &is_array);
    (void)schema_attr_profile(g_schema, class_uid, path);
    (void)schema_enum_caption(g_schema, class_uid, path, 1);
    (void)schema_enum_caption_str(g_schema, class_uid, path, "GET");
    (void)schema_enum_value(g_schema, class_uid, path, "Other", &value);
    (void)schema_enum_sibling(g_schema, class_uid, path);
    (void)schema_class_uid(g_schema, path);
    return 0;
}
