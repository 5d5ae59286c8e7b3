/* fuzz_jsonr.c - differential libFuzzer target for jsonr.c against jansson. For any bytes:
 * jsonr_parse accepts exactly when envelope_check and json_loadb(JSON_DECODE_ANY |
 * JSON_REJECT_DUPLICATES) both accept; the two trees are then equal (json_equal) with members in
 * the same order (same compact dump); a refusal's reason is clean UTF-8 and never empty. The input
 * is also parsed at a depth limit of 3 to exercise the depth refusal, which must then agree with
 * envelope_check at that limit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "jsonr.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_one(const char *p, size_t size, int max_depth)
{
    char reason[256] = "", why[256];
    json_t *mine = (json_t *)1;
    int rc = jsonr_parse(p, size, max_depth, &mine, reason, sizeof reason);
    int bytes_ok = envelope_check(p, size, max_depth, why, sizeof why) == 0;
    json_error_t jerr;
    json_t *ref = json_loadb(p, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);

    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == (bytes_ok && ref != NULL));
    if (rc == 0) {
        FUZZ_CHECK(mine && json_equal(mine, ref));
        char *a = json_dumps(mine, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
        FUZZ_CHECK(a && b && strcmp(a, b) == 0); /* member order too */
        free(a);
        free(b);
        json_decref(mine);
    } else {
        FUZZ_CHECK(mine == NULL);
        FUZZ_CHECK(reason[0] != '\0');
        check_clean_utf8(reason);
    }
    json_decref(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_one((const char *)data, size, ENVELOPE_MAX_DEPTH);
    check_one((const char *)data, size, 3);
    return 0;
}
