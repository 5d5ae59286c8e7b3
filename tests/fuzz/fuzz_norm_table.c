/*
 * fuzz_norm_table.c - libFuzzer target for the mapping-table loader (norm_table.c), and for the
 * engine running whatever a fuzzed table that loads says.
 *
 * The schema is loaded once (env OCSF_SCHEMAS_DIR, else the compile-time OCSF_SCHEMAS_DIR). Each
 * input is compiled as table text. A refused table must leave an error that names the file and is
 * clean UTF-8; an accepted one is applied (every entry, bounded) to a few fixed native events,
 * which must not crash or leak whatever the rules say. Seeds: tests/fuzz/corpus/fuzz_norm_table/
 * (the shipped table and small ones using every construct of the language).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norm_internal.h"
#include "fuzz_common.h"

static schema_t *g_schema;
static json_t *g_inputs;

static const char *const g_events[] = {
    ("{\"type\":\"tool.egress\",\"time\":\"2026-11-28T20:00:00.123Z\",\"id\":\"e-1\","
     "\"source\":\"s\",\"user\":\"alice\",\"vm\":\"vm-1\",\"dst_host\":\"x.example\","
     "\"dst_port\":\"443\",\"outcome\":\"denied\",\"nested\":{\"a\":{\"b\":[1,2,3]}},"
     "\"labels\":[\"a\",\"b\"],\"flag\":true,\"n\":1.5}"),
    ("{\"type\":\"a\",\"time\":1795896000,\"x\":null,\"y\":\"2026-11-28T20:00:00+01:00\","
     "\"z\":\"/a/b/c\"}"),
    "{}",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    if (schema_load(NULL, &g_schema, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_norm_table: %s\n", err);
        abort();
    }
    g_inputs = json_array();
    for (size_t i = 0; i < sizeof(g_events) / sizeof(g_events[0]); i++)
        json_array_append_new(g_inputs, json_loads(g_events[i], 0, NULL));
    return 0;
}

static void apply_all(const struct norm_tables *t)
{
    static const norm_peer_t peer = {
        "tcp://127.0.0.1:7514", "[::1]:5123", -1, -1, -1, NULL, NULL, NULL};
    int budget = 64;
    for (int ti = 0; ti < t->ntable; ti++) {
        for (int ei = 0; ei < t->table[ti].nentry && budget > 0; ei++, budget--) {
            size_t k;
            json_t *in;
            json_array_foreach(g_inputs, k, in)
            {
                char reasons[512];
                struct norm_reasons r;
                norm_reasons_init(&r, reasons, sizeof(reasons));
                struct norm_ctx c = {.schema = g_schema,
                                     .tables = t,
                                     .entry = &t->table[ti].entry[ei],
                                     .in = in,
                                     .peer = &peer,
                                     .received_ms = 1795896001000LL,
                                     .reasons = &r};
                c.out = json_object();
                norm_map_apply(&c);
                json_t *um = json_object();
                norm_map_unmapped(&c, um);
                check_clean_utf8(reasons);
                char *text = json_dumps(c.out, 0);
                if (text == NULL)
                    abort();
                free(text);
                json_decref(um);
                json_decref(c.out);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    struct norm_tables *t = norm_tables_new(g_schema);
    if (t == NULL)
        abort();
    err[0] = '\0';
    int rc = norm_tables_add(t, "fuzz.json", (const char *)data, size, err, sizeof(err));
    if (rc == 0)
        rc = norm_tables_finish(t, err, sizeof(err));
    if (rc != 0) {
        if (strstr(err, "fuzz.json") == NULL)
            abort();
        check_clean_utf8(err);
    } else {
        apply_all(t);
    }
    norm_tables_free(t);
    return 0;
}
