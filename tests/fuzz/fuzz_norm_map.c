/*
 * fuzz_norm_map.c - libFuzzer target for the mapping engine: fuzzed input events through the
 * shipped tables (schemas/mappings/, env OCSF_SCHEMAS_DIR else the compile-time OCSF_SCHEMAS_DIR).
 *
 * Each input is parsed as JSON and normalized twice (a TCP and a unix peer). The target checks the
 * contract a caller relies on: a success returns an output that passes schema_validate and a
 * failure returns no output; reasons are NUL-terminated, valid UTF-8 without control characters,
 * whatever the buffer size; the input is never modified; norm_event_dump (the ingest path) writes
 * what jsonw_dump writes for norm_event's output. Seeds: tests/fuzz/corpus/fuzz_norm_map/
 * (inputs of the golden corpus, one event per file).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norm.h"
#include "schema.h"
#include "fuzz_common.h"
#include "../unit/norm_dump_check.h"

static norm_t *g_norm;
static schema_t *g_schema;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[1024];
    if (norm_open(NULL, NULL, &g_norm, err, sizeof(err)) != 0 ||
        schema_load(NULL, &g_schema, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_norm_map: %s\n", err);
        abort();
    }
    return 0;
}

static void run(json_t *in, const norm_peer_t *peer, size_t reasons_len)
{
    char reasons[4096];
    memset(reasons, 'x', sizeof(reasons));
    json_t *out = (json_t *)1;
    int rc = norm_event(g_norm, in, peer, 7, 1795896001000LL, &out, reasons, reasons_len);
    if (reasons_len > 0) {
        if (memchr(reasons, '\0', reasons_len) == NULL)
            abort();
        check_clean_utf8(reasons);
        /* the error text must be usable as a JSON string */
        json_t *s = json_string(reasons);
        if (s == NULL)
            abort();
        json_decref(s);
    }
    if (rc != 0) {
        if (out != NULL)
            abort();
        /* and the ingest path refuses it too (its tree is validated without `unmapped`) */
        jsonw_buf_t buf = {0};
        json_t *tree = NULL;
        if (norm_event_dump(g_norm, in, peer, 7, 1795896001000LL, &tree, &buf, NULL, 0) == 0)
            abort();
        jsonw_free(&buf);
        return;
    }
    if (out == NULL || schema_validate(g_schema, out, NULL, 0) != 0)
        abort();
    /* the ingest path writes the same bytes (unmapped straight from the input) */
    if (norm_dump_check(g_norm, in, peer, 7, 1795896001000LL, out, "fuzz input") != 0)
        abort();
    char *text = json_dumps(out, 0);
    if (text == NULL)
        abort();
    free(text);
    json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (in == NULL)
        return 0;
    json_t *copy = json_deep_copy(in);
    static const norm_peer_t tcp = {
        "tcp://127.0.0.1:7514", "10.20.0.5:51234", -1, -1, -1, NULL, NULL, NULL};
    static const norm_peer_t unix_peer = {
        "unix:///run/x.sock", NULL, 1000, 1000, 42, NULL, NULL, NULL};
    run(in, &tcp, 4096);
    run(in, &unix_peer, 17);
    run(in, NULL, 0);
    if (!json_equal(in, copy))
        abort();
    json_decref(copy);
    json_decref(in);
    return 0;
}
