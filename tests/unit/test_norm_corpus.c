/*
 * test_norm_corpus.c - the golden corpus of native events (tests/corpus/native/NN-name.json)
 * through the shipped mapping tables.
 *
 * Each corpus file is {"description", "peer": {listener, addr, uid, gid, pid}, "sequence",
 * "received_ms", "input": {...}, and either "expected": {OCSF event} or "expected_error":
 * "substring of the reasons"}. An output is compared with the expected event field by field (every
 * path, both ways), ignoring metadata.uid (random when the input has no id) and
 * metadata.logged_time; it must also pass schema_validate. The test also checks that the corpus has
 * at least 40 events with an expected output and that every event type of the shipped native table
 * appears in it.
 *
 * To add a case: write the input, run it, check the output against DESIGN.md and the OCSF schema by
 * hand, and save it as the expected event. Never paste an output unread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norm.h"
#include "norm_dump_check.h"
#include "schema.h"

#define MAX_CASES 512

static schema_t *g_schema;
static norm_t *g_norm;

static const char *schemas_dir(void)
{
    const char *d = getenv("OCSF_SCHEMAS_DIR");
    return d != NULL ? d : OCSF_SCHEMAS_DIR;
}

static int group_setup(void **state)
{
    char err[1024];
    if (schema_load(schemas_dir(), &g_schema, err, sizeof(err)) != 0) {
        fprintf(stderr, "schema_load: %s\n", err);
        return -1;
    }
    if (norm_open(schemas_dir(), NULL, &g_norm, err, sizeof(err)) != 0) {
        fprintf(stderr, "norm_open: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    norm_close(g_norm);
    schema_free(g_schema);
    return 0;
}

static int is_ignored(const char *path)
{
    return strcmp(path, "metadata.uid") == 0 || strcmp(path, "metadata.logged_time") == 0;
}

struct diffs {
    char text[4096];
    size_t used;
    int count;
};

static void diff_add(struct diffs *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void diff_add(struct diffs *d, const char *fmt, ...)
{
    d->count++;
    if (d->used + 1 >= sizeof(d->text))
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d->text + d->used, sizeof(d->text) - d->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        d->used +=
            (size_t)n < sizeof(d->text) - d->used ? (size_t)n : sizeof(d->text) - d->used - 1;
}

static void describe(const json_t *v, char *buf, size_t len)
{
    char *s = v != NULL ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    snprintf(buf, len, "%.120s", s != NULL ? s : "(absent)");
    free(s);
}

/* Field-by-field comparison of expected and actual at path. */
static void compare(const char *path, const json_t *want, const json_t *got, struct diffs *d)
{
    char a[160], b[160], sub[512];
    if (is_ignored(path))
        return;
    if (json_is_object(want) && json_is_object(got)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)want, k, v)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
            compare(sub, v, json_object_get(got, k), d);
        }
        json_object_foreach((json_t *)got, k, v)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
            if (json_object_get(want, k) == NULL && !is_ignored(sub)) {
                describe(v, b, sizeof(b));
                diff_add(d, "\n  %s: unexpected %s", sub, b);
            }
        }
        return;
    }
    if (json_is_array(want) && json_is_array(got)) {
        size_t n = json_array_size(want) > json_array_size(got) ? json_array_size(want)
                                                                : json_array_size(got);
        for (size_t i = 0; i < n; i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            compare(sub, json_array_get(want, i), json_array_get(got, i), d);
        }
        return;
    }
    if (want == NULL || got == NULL || !json_equal(want, got)) {
        describe(want, a, sizeof(a));
        describe(got, b, sizeof(b));
        diff_add(d, "\n  %s: expected %s, got %s", path, a, b);
    }
}

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void test_corpus(void **state)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/../tests/corpus/native", schemas_dir());
    DIR *dp = opendir(dir);
    if (dp == NULL)
        fail_msg("cannot open corpus %s", dir);
    char *names[MAX_CASES];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL && n < MAX_CASES) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(dp);
    qsort(names, n, sizeof(names[0]), cmp_names);

    json_t *seen_types = json_object();
    int outputs = 0, errors = 0, failures = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        json_error_t jerr;
        json_t *c = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (c == NULL)
            fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
        json_t *p = json_object_get(c, "peer"), *in = json_object_get(c, "input");
        json_t *want = json_object_get(c, "expected"),
               *want_err = json_object_get(c, "expected_error");
        if (!json_is_object(in) || (want == NULL) == (want_err == NULL))
            fail_msg("%s: needs input and one of expected / expected_error", names[i]);
        norm_peer_t peer = {json_string_value(json_object_get(p, "listener")),
                            json_string_value(json_object_get(p, "addr")),
                            (long)json_integer_value(json_object_get(p, "uid")),
                            (long)json_integer_value(json_object_get(p, "gid")),
                            (long)json_integer_value(json_object_get(p, "pid")),
                            NULL,
                            NULL,
                            NULL};
        if (json_object_get(in, "type") != NULL)
            json_object_set(seen_types, json_string_value(json_object_get(in, "type")),
                            json_true());
        json_t *out = NULL;
        char reasons[4096];
        int rc = norm_event(g_norm, in, p != NULL ? &peer : NULL,
                            json_integer_value(json_object_get(c, "sequence")),
                            json_integer_value(json_object_get(c, "received_ms")), &out, reasons,
                            sizeof(reasons));
        if (want_err != NULL) {
            errors++;
            if (rc == 0) {
                fprintf(stderr, "%s: expected failure '%s', got success\n", names[i],
                        json_string_value(want_err));
                failures++;
                json_decref(out);
            } else if (strstr(reasons, json_string_value(want_err)) == NULL) {
                fprintf(stderr, "%s: reasons '%s' lack '%s'\n", names[i], reasons,
                        json_string_value(want_err));
                failures++;
            }
            json_decref(c);
            continue;
        }
        outputs++;
        if (rc != 0) {
            fprintf(stderr, "%s: normalization failed: %s\n", names[i], reasons);
            failures++;
            json_decref(c);
            continue;
        }
        struct diffs d = {.used = 0, .count = 0};
        d.text[0] = '\0';
        compare("", want, out, &d);
        if (d.count > 0) {
            fprintf(stderr, "%s: %d difference(s):%s\n", names[i], d.count, d.text);
            failures++;
        }
        char vr[1024];
        if (schema_validate(g_schema, out, vr, sizeof(vr)) != 0) {
            fprintf(stderr, "%s: output does not validate: %s\n", names[i], vr);
            failures++;
        }
        json_t *uid = json_object_get(json_object_get(out, "metadata"), "uid");
        if (!json_is_string(uid) || json_string_length(uid) != 36) {
            fprintf(stderr, "%s: metadata.uid is not a UUID\n", names[i]);
            failures++;
        }
        if (norm_dump_check(g_norm, in, p != NULL ? &peer : NULL,
                            json_integer_value(json_object_get(c, "sequence")),
                            json_integer_value(json_object_get(c, "received_ms")), out,
                            names[i]) != 0)
            failures++;
        json_decref(out);
        if (p != NULL) {
            /* the ingest path: the connection's peer record built once and shared by its events */
            peer.record = norm_peer_record(&peer);
            out = NULL;
            if (peer.record == NULL ||
                norm_event(g_norm, in, &peer, json_integer_value(json_object_get(c, "sequence")),
                           json_integer_value(json_object_get(c, "received_ms")), &out, reasons,
                           sizeof(reasons)) != 0) {
                fprintf(stderr, "%s: failed with a shared peer record: %s\n", names[i], reasons);
                failures++;
            } else {
                d.used = 0;
                d.count = 0;
                d.text[0] = '\0';
                compare("", want, out, &d);
                json_t *um = json_object_get(out, "unmapped");
                if (d.count > 0 || json_object_get(um, "collector") != peer.record) {
                    fprintf(stderr, "%s: with a shared peer record, %d difference(s):%s\n",
                            names[i], d.count, d.text);
                    failures++;
                }
            }
            json_decref(out);
            if (peer.record != NULL && peer.record->refcount != 1) {
                fprintf(stderr, "%s: the shared peer record kept a reference\n", names[i]);
                failures++;
            }
            json_decref(peer.record);
        }
        json_decref(c);
    }
    printf("corpus: %zu files, %d expected outputs, %d expected errors\n", n, outputs, errors);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    assert_int_equal(failures, 0);
    assert_true(outputs >= 40);

    /* every type of the shipped native table has at least one case */
    char table[1024];
    snprintf(table, sizeof(table), "%s/mappings/native.json", schemas_dir());
    json_t *t = json_load_file(table, 0, NULL);
    assert_non_null(t);
    size_t i;
    json_t *e;
    int missing = 0;
    json_array_foreach(json_object_get(t, "entries"), i, e)
    {
        json_t *types = json_object_get(e, "type");
        for (size_t k = 0; k < (json_is_array(types) ? json_array_size(types) : 1); k++) {
            const char *ty =
                json_string_value(json_is_array(types) ? json_array_get(types, k) : types);
            if (json_object_get(seen_types, ty) == NULL) {
                fprintf(stderr, "type %s has no corpus case\n", ty);
                missing++;
            }
        }
    }
    assert_int_equal(missing, 0);
    json_decref(t);
    json_decref(seen_types);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
