/*
 * ocsf-normbench - the normalizer's cost per event, in process, phase by phase.
 *
 *   ocsf-normbench [--schemas DIR] [-n EVENTS] [--rounds R] [--json] FILE...
 *
 * FILE is NDJSON (one native or OCSF event per line) or a golden-corpus case (a JSON object with an
 * "input" member, as under tests/corpus/native/; cases that expect a dead letter are skipped). The
 * inputs are repeated round-robin to EVENTS events, and each event goes through exactly what the
 * ingest thread does with it (collector/ ingest.c, conn_make_record): envelope_parse, then,
 * normalized, norm_event_dump (mapping, enrichment, validation, serialization), inside the same
 * per-event jansson arena (jalloc). Each phase is timed per event with CLOCK_MONOTONIC; validation
 * is timed again on its own (schema_validate over the produced event) so its share of
 * norm_event_dump can be read off. The best of R rounds is printed (the machine is shared: the
 * minimum is the least disturbed figure), with the "as received" path (parse only) as the baseline
 * of the same run.
 *
 * A benchmark, not a test: `cmake --build build --target bench-norm` runs it over the corpus. It
 * leaves out what is the same for both paths outside the loop thread (spool, sinks): ocsf-bench
 * --spawn measures end to end.
 *
 * Exit codes: 0 figures printed; 1 an input could not be read, parsed or normalized (the event and
 * the reasons are named); 2 usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "envelope.h"
#include "jalloc.h"
#include "jsonw.h"
#include "norm.h"
#include "schema.h"
#include "tool_net.h"

#define NB_MAX_INPUTS     100000
#define NB_MAX_FILE_BYTES (64u << 20)
#define NB_MAX_ROUNDS     100

enum { OPT_SCHEMAS = 1, OPT_EVENTS, OPT_ROUNDS, OPT_JSON, OPT_HELP };

static const tool_option_t nb_options[] = {
    {OPT_SCHEMAS, "--schemas", NULL, "DIR", "schema tables (default: the build's schemas/)"},
    {OPT_EVENTS, "--events", "-n", "N", "events per round (default 200000)"},
    {OPT_ROUNDS, "--rounds", NULL, "R", "rounds; the best is printed (default 5)"},
    {OPT_JSON, "--json", NULL, NULL, "print one JSON object instead of text"},
    {OPT_HELP, "--help", "-h", NULL, "show this help"},
};
#define NB_NOPTIONS (sizeof(nb_options) / sizeof(nb_options[0]))

struct nb_input {
    char *text; /* one compact JSON line, NUL-terminated */
    size_t len;
    char *name; /* file[:line] for messages */
};

struct nb_inputs {
    struct nb_input *v;
    size_t n, cap;
};

/* Nanoseconds per event of each phase, summed over a round. */
struct nb_round {
    uint64_t parse, norm, validate, release;
    uint64_t out_bytes;
};

static uint64_t nb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nb_usage(FILE *f)
{
    fprintf(f, "usage: ocsf-normbench [options] FILE...\n\n"
               "Times the normalizer per event, in process: parse, map + validate, serialize.\n"
               "FILE: NDJSON events, or golden-corpus cases (objects with an \"input\").\n\n");
    tool_option_usage(f, nb_options, NB_NOPTIONS, 24);
    fprintf(f, "\nExit status: 0 figures printed, 1 an input failed, 2 usage error.\n");
}

static int nb_add(struct nb_inputs *in, const json_t *event, const char *name)
{
    if (in->n == NB_MAX_INPUTS) {
        fprintf(stderr, "ocsf-normbench: more than %d inputs; give fewer files\n", NB_MAX_INPUTS);
        return -1;
    }
    if (in->n == in->cap) {
        size_t ncap = in->cap ? in->cap * 2 : 64;
        struct nb_input *nv = realloc(in->v, ncap * sizeof(*nv));
        if (!nv)
            goto oom;
        in->v = nv;
        in->cap = ncap;
    }
    struct nb_input *x = &in->v[in->n];
    x->text = json_dumps(event, JSON_COMPACT);
    x->name = strdup(name);
    if (!x->text || !x->name) {
        free(x->text);
        free(x->name);
        goto oom;
    }
    x->len = strlen(x->text);
    in->n++;
    return 0;
oom:
    fprintf(stderr, "ocsf-normbench: out of memory reading %s\n", name);
    return -1;
}

/* Reads one file: a corpus case ({"input": …}) or NDJSON lines. */
static int nb_read_file(struct nb_inputs *in, const char *path)
{
    json_error_t jerr;
    char name[1024];
    json_t *whole = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (json_is_object(whole) && json_is_object(json_object_get(whole, "input"))) {
        /* a case that expects a dead letter times the rejection path: not what this measures */
        int rc = json_object_get(whole, "expected_error") != NULL
                     ? 0
                     : nb_add(in, json_object_get(whole, "input"), path);
        json_decref(whole);
        return rc;
    }
    json_decref(whole);

    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ocsf-normbench: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, total = 0;
    ssize_t got;
    int lineno = 0, rc = 0;
    while ((got = getline(&line, &cap, f)) > 0) {
        lineno++;
        total += (size_t)got;
        if (total > NB_MAX_FILE_BYTES) {
            fprintf(stderr, "ocsf-normbench: %s is larger than %u MiB\n", path,
                    NB_MAX_FILE_BYTES >> 20);
            rc = -1;
            break;
        }
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if (got == 0)
            continue;
        snprintf(name, sizeof name, "%s:%d", path, lineno);
        json_t *ev = json_loadb(line, (size_t)got, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(ev)) {
            fprintf(stderr,
                    "ocsf-normbench: %s: not a JSON object (%s); give NDJSON or corpus cases\n",
                    name, ev ? "wrong type" : jerr.text);
            json_decref(ev);
            rc = -1;
            break;
        }
        rc = nb_add(in, ev, name);
        json_decref(ev);
        if (rc < 0)
            break;
    }
    free(line);
    fclose(f);
    if (rc == 0 && lineno == 0) {
        fprintf(stderr, "ocsf-normbench: %s holds no events\n", path);
        rc = -1;
    }
    return rc;
}

/* One round over n events. mode 0: as received (parse only); 1: normalized. 0, or -1 with the
 * failing input named. */
static int nb_round(norm_t *norm, const schema_t *schema, const struct nb_inputs *in, uint64_t n,
                    int normalized, jalloc_arena_t *arena, jsonw_buf_t *dump, struct nb_round *r)
{
    /* as on one ingest connection: its peer record is built once, outside the event arena */
    norm_peer_t peer = {"tcp://127.0.0.1:7514", "127.0.0.1:40000", -1, -1, -1, NULL, NULL, NULL};
    char reason[2048];
    int rc = -1;
    memset(r, 0, sizeof(*r));
    peer.record = norm_peer_record(&peer);
    if (!peer.record) {
        fprintf(stderr, "ocsf-normbench: out of memory\n");
        return -1;
    }
    for (uint64_t i = 0; i < n; i++) {
        const struct nb_input *x = &in->v[i % in->n];
        json_t *obj = NULL, *ocsf = NULL;
        rc = -1;
        jalloc_begin(arena);
        uint64_t t0 = nb_now_ns();
        if (envelope_parse(x->text, x->len, ENVELOPE_MAX_DEPTH, &obj, reason, sizeof reason) < 0) {
            fprintf(stderr, "ocsf-normbench: %s: %s\n", x->name, reason);
            goto out;
        }
        uint64_t t1 = nb_now_ns();
        r->parse += t1 - t0;
        if (!normalized) {
            rc = 0;
            goto out;
        }
        if (norm_event_dump(norm, obj, &peer, (long long)i + 1, 1795896001000LL, &ocsf, dump,
                            reason, sizeof reason) < 0) {
            fprintf(stderr, "ocsf-normbench: %s: not normalized: %s\n", x->name, reason);
            goto out;
        }
        uint64_t t2 = nb_now_ns();
        /* the tree without `unmapped` when that went straight into the output: the validator
         * does not look into it anyway */
        if (schema_validate(schema, ocsf, reason, sizeof reason) != 0) {
            fprintf(stderr, "ocsf-normbench: %s: output does not validate: %s\n", x->name, reason);
            goto out;
        }
        uint64_t t3 = nb_now_ns();
        r->norm += t2 - t1;
        r->validate += t3 - t2;
        r->out_bytes += dump->len;
        rc = 0;
    out:;
        uint64_t t5 = nb_now_ns();
        json_decref(ocsf);
        json_decref(obj);
        int leak = jalloc_end(arena);
        r->release += nb_now_ns() - t5;
        if (rc == 0 && leak < 0) {
            fprintf(stderr, "ocsf-normbench: internal: a JSON value outlived event %s\n", x->name);
            rc = -1;
        }
        if (rc < 0)
            break;
    }
    json_decref(peer.record);
    return rc;
}

static double nb_us(uint64_t ns, uint64_t n)
{
    return (double)ns / 1000.0 / (double)n;
}

int main(int argc, char **argv)
{
    const char *schemas = NULL;
    uint64_t n = 200000, rounds = 5;
    int as_json = 0, first_file = 0, rc = 1;
    char err[1024];
    struct nb_inputs in = {0};
    norm_t *norm = NULL;
    schema_t *schema = NULL;
    jalloc_arena_t arena = {0};
    jsonw_buf_t dump = {0};

    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        if (argv[i][0] != '-') {
            if (!first_file)
                first_file = i;
            continue;
        }
        if (first_file) {
            fprintf(stderr, "ocsf-normbench: options go before the files (%s)\n", argv[i]);
            return 2;
        }
        const tool_option_t *o =
            tool_option_next(nb_options, NB_NOPTIONS, argc, argv, &i, &value, err, sizeof err);
        if (!o) {
            fprintf(stderr, "ocsf-normbench: %s (see --help)\n", err);
            return 2;
        }
        switch (o->id) {
        case OPT_SCHEMAS:
            schemas = value;
            break;
        case OPT_EVENTS:
            if (tool_parse_u64(value, 1, 100000000, &n) < 0) {
                fprintf(stderr, "ocsf-normbench: -n wants 1..100000000, not %s\n", value);
                return 2;
            }
            break;
        case OPT_ROUNDS:
            if (tool_parse_u64(value, 1, NB_MAX_ROUNDS, &rounds) < 0) {
                fprintf(stderr, "ocsf-normbench: --rounds wants 1..%d, not %s\n", NB_MAX_ROUNDS,
                        value);
                return 2;
            }
            break;
        case OPT_JSON:
            as_json = 1;
            break;
        case OPT_HELP:
            nb_usage(stdout);
            return 0;
        }
    }
    if (!first_file) {
        nb_usage(stderr);
        return 2;
    }

    jalloc_install();
    for (int i = first_file; i < argc; i++)
        if (nb_read_file(&in, argv[i]) < 0)
            goto done;
    if (norm_open(schemas, NULL, &norm, err, sizeof err) < 0 ||
        schema_load(schema_dir_or_default(schemas), &schema, err, sizeof err) < 0) {
        fprintf(stderr, "ocsf-normbench: %s\n", err);
        goto done;
    }

    struct nb_round best_raw = {0}, best = {0}, r;
    uint64_t best_raw_total = UINT64_MAX, best_total = UINT64_MAX;
    for (uint64_t k = 0; k < rounds; k++) {
        if (nb_round(norm, schema, &in, n, 0, &arena, &dump, &r) < 0)
            goto done;
        if (r.parse + r.release < best_raw_total) {
            best_raw_total = r.parse + r.release;
            best_raw = r;
        }
        if (nb_round(norm, schema, &in, n, 1, &arena, &dump, &r) < 0)
            goto done;
        /* norm_event already validated once; the separate validate pass only measures it */
        uint64_t total = r.parse + r.norm + r.release;
        if (total < best_total) {
            best_total = total;
            best = r;
        }
    }

    double raw_us = nb_us(best_raw_total, n), norm_us = nb_us(best_total, n);
    if (as_json) {
        printf("{\"inputs\":%zu,\"events\":%llu,\"rounds\":%llu,"
               "\"as_received_us\":%.3f,\"normalized_us\":%.3f,"
               "\"parse_us\":%.3f,\"norm_event_dump_us\":%.3f,\"validate_us\":%.3f,"
               "\"release_us\":%.3f,\"output_bytes\":%.0f}\n",
               in.n, (unsigned long long)n, (unsigned long long)rounds, raw_us, norm_us,
               nb_us(best.parse, n), nb_us(best.norm, n), nb_us(best.validate, n),
               nb_us(best.release, n), (double)best.out_bytes / (double)n);
    } else {
        printf(
            "inputs %zu, %llu events per round, best of %llu rounds, loop-thread work per event:\n",
            in.n, (unsigned long long)n, (unsigned long long)rounds);
        printf("  as received   %8.3f us  (parse %.3f, release %.3f)\n", raw_us,
               nb_us(best_raw.parse, n), nb_us(best_raw.release, n));
        printf(
            "  normalized    %8.3f us  (parse %.3f, norm_event_dump %.3f [map, enrich, validate, "
            "serialize] of which validation %.3f, release %.3f)\n",
            norm_us, nb_us(best.parse, n), nb_us(best.norm, n), nb_us(best.validate, n),
            nb_us(best.release, n));
        printf("  normalization adds %.3f us per event (%.2fx the as-received work); output %.0f "
               "bytes per event\n",
               norm_us - raw_us, raw_us > 0 ? norm_us / raw_us : 0.0,
               (double)best.out_bytes / (double)n);
    }
    rc = 0;
done:
    for (size_t i = 0; i < in.n; i++) {
        free(in.v[i].text);
        free(in.v[i].name);
    }
    free(in.v);
    jsonw_free(&dump);
    jalloc_destroy(&arena);
    norm_close(norm);
    schema_free(schema);
    return rc;
}
