/*
 * norm_dump_check.h - for the normalizer's unit tests (test_norm, test_norm_corpus): checks that
 * norm_event_dump, the ingest path, writes exactly what jsonw_dump gives for norm_event's output
 * of the same input, byte for byte, except metadata.uid, which is random when the input has no
 * id (taken from `want` before comparing; setting a member keeps its place).
 */
#ifndef OCSF_TEST_NORM_DUMP_CHECK_H
#define OCSF_TEST_NORM_DUMP_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "norm.h"

/* 0 when they match, else -1 with both texts on stderr. want: norm_event's output for in. */
static int norm_dump_check(norm_t *n, json_t *in, const norm_peer_t *peer, long long sequence,
                           long long received_ms, const json_t *want, const char *what)
{
    jsonw_buf_t got = {0}, exp = {0};
    json_t *tree = NULL, *back = NULL;
    char reasons[2048];
    int rc = -1;
    if (norm_event_dump(n, in, peer, sequence, received_ms, &tree, &got, reasons, sizeof reasons) !=
        0) {
        fprintf(stderr, "%s: norm_event_dump failed: %s\n", what, reasons);
        goto out;
    }
    back = json_loadb(got.data, got.len, JSON_REJECT_DUPLICATES, NULL);
    json_t *md = json_object_get(back, "metadata");
    json_t *uid = json_object_get(json_object_get(want, "metadata"), "uid");
    if (back == NULL || md == NULL || uid == NULL || json_object_set(md, "uid", uid) != 0 ||
        jsonw_dump(back, &got, 0) != 0 || jsonw_dump(want, &exp, 0) != 0) {
        fprintf(stderr, "%s: norm_event_dump wrote unparsable or incomplete JSON: %.*s\n", what,
                (int)got.len, got.data ? got.data : "");
        goto out;
    }
    if (got.len != exp.len || memcmp(got.data, exp.data, got.len) != 0) {
        fprintf(stderr, "%s: norm_event_dump differs from norm_event:\n  dump:  %s\n  event: %s\n",
                what, got.data, exp.data);
        goto out;
    }
    rc = 0;
out:
    json_decref(tree);
    json_decref(back);
    jsonw_free(&got);
    jsonw_free(&exp);
    return rc;
}

#endif
