/*
 * test_norm.c - the normalizer (norm.h): time conversion, coercion, value maps, predicates, unknown
 * types, OCSF pass-through, enrichment, bad tables and reload, and a throughput measurement.
 *
 * Two normalizers are opened once: `g_ship` on the shipped tables (schemas/mappings), and `g_test`
 * on a small table written under OCSF_TEST_TMP whose entries exercise one engine feature each. Bad
 * tables are tried by writing them next to a good one and calling norm_reload: each must fail
 * naming file, entry and field, and the old tables must keep serving. Every output any test gets is
 * run through schema_validate again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain_event.h"
#include "norm.h"
#include "norm_dump_check.h"
#include "schema.h"

static schema_t *g_schema;
static norm_t *g_ship; /* shipped tables */
static norm_t *g_test; /* the feature table below */
static char g_test_dir[512];

static const norm_peer_t g_peer = {
    "tcp://127.0.0.1:7514", "10.20.0.5:51234", -1, -1, -1, NULL, NULL, NULL};

static const char *schemas_dir(void)
{
    const char *d = getenv("OCSF_SCHEMAS_DIR");
    return d != NULL ? d : OCSF_SCHEMAS_DIR;
}

static void scratch_dir(char *out, size_t len, const char *tag)
{
    static int counter;
    const char *tmp = getenv("OCSF_TEST_TMP");
    snprintf(out, len, "%s/norm-%s-%ld-%d", tmp != NULL ? tmp : "/tmp", tag, (long)getpid(),
             counter++);
    mkdir(out, 0755);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

/* One entry per engine feature; classes chosen so each output can be valid. */
static const char *const g_feature_table =
    "{\"table\": \"features\", \"key\": \"type\",\n"
    " \"drop\": [\"secret\"],\n"
    " \"maps\": {\"sev\": {\"info\": 1, \"low\": 2, \"medium\": 3, \"high\": 4, \"critical\": "
    "5}},\n"
    " \"common\": {\"time\": [\"time\", \"@received_time\"],\n"
    "   \"severity_id\": [{\"from\": \"severity\", \"map\": \"sev\"}, {\"const\": 1}]},\n"
    " \"entries\": [\n"
    "  {\"name\": \"coerce\", \"type\": \"t.coerce\", \"class_uid\": 3002, \"activity_id\": 1,\n"
    "   \"fields\": {\"user.name\": \"name\", \"is_mfa\": \"mfa\", \"session.uid\": \"sid\",\n"
    "     \"session.is_remote\": \"remote\", \"session.created_time\": \"created\",\n"
    "     \"src_endpoint.port\": \"port\", \"src_endpoint.ip\": \"ip\", \"service.name\": "
    "{\"const\": \"svc\"},\n"
    "     \"metadata.labels\": \"labels\"}},\n"
    "  {\"name\": \"pred-a\", \"type\": \"t.pred\", \"when\": {\"kind\": [\"a\", \"b\"]}, "
    "\"class_uid\": 6003,\n"
    "   \"activity_id\": 1, \"fields\": {\"api.operation\": \"op\", \"actor.user.name\": "
    "\"user\",\n"
    "     \"src_endpoint.ip\": \"@peer.ip\"}},\n"
    "  {\"name\": \"pred-b\", \"type\": \"t.pred\", \"when\": {\"kind\": {\"not\": \"c\"}, "
    "\"flag\": {\"exists\": "
    "true}},\n"
    "   \"class_uid\": 6003, \"activity_id\": 2, \"fields\": {\"api.operation\": \"op\", "
    "\"actor.user.name\": "
    "\"user\",\n"
    "     \"src_endpoint.ip\": \"@peer.ip\"}},\n"
    "  {\"name\": \"pred-rest\", \"type\": [\"t.pred\", \"t.pred2\"], \"class_uid\": 6003, "
    "\"activity_id\": 99,\n"
    "   \"fields\": {\"api.operation\": \"op\", \"actor.user.name\": \"user\", "
    "\"src_endpoint.ip\": \"@peer.ip\",\n"
    "     \"activity_name\": {\"const\": \"Other thing\", \"when\": {\"kind\": \"c\"}}}},\n"
    "  {\"name\": \"maps\", \"type\": \"t.map\", \"class_uid\": 4002,\n"
    "   \"activity_id\": {\"from\": \"verb\", \"map\": {\"get\": 3, \"post\": 6}, \"default\": "
    "99},\n"
    "   \"fields\": {\"http_request.http_method\": {\"from\": \"verb\", \"transform\": "
    "\"upper\"},\n"
    "     \"http_response.code\": [\"code\", {\"const\": 0, \"if_set\": \"http_request\"}],\n"
    "     \"status_id\": {\"from\": \"result\", \"map\": {\"ok\": 1, \"ko\": 2}},\n"
    "     \"src_endpoint.name\": [\"host\", {\"from\": \"path\", \"transform\": \"basename\"}],\n"
    "     \"src_endpoint.ip\": {\"from\": \"@peer.ip\", \"unless_set\": \"src_endpoint\"}}}\n"
    " ]}\n";

static int group_setup(void **state)
{
    char err[1024];
    if (schema_load(schemas_dir(), &g_schema, err, sizeof(err)) != 0) {
        fprintf(stderr, "schema_load: %s\n", err);
        return -1;
    }
    if (norm_open(schemas_dir(), NULL, &g_ship, err, sizeof(err)) != 0) {
        fprintf(stderr, "norm_open (shipped): %s\n", err);
        return -1;
    }
    scratch_dir(g_test_dir, sizeof(g_test_dir), "features");
    write_file(g_test_dir, "features.json", g_feature_table);
    if (norm_open(schemas_dir(), g_test_dir, &g_test, err, sizeof(err)) != 0) {
        fprintf(stderr, "norm_open (features): %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    norm_close(g_ship);
    norm_close(g_test);
    schema_free(g_schema);
    remove_file(g_test_dir, "features.json");
    rmdir(g_test_dir);
    return 0;
}

/* Normalizes text; on success checks the output validates again and returns it (caller decrefs). */
static json_t *run(norm_t *n, const char *text, int expect_ok, char *reasons, size_t len)
{
    json_error_t jerr;
    json_t *in = json_loads(text, 0, &jerr);
    if (in == NULL)
        fail_msg("test input does not parse: %s: %s", text, jerr.text);
    char *before = json_dumps(in, JSON_SORT_KEYS);
    json_t *out = (json_t *)1;
    int rc = norm_event(n, in, &g_peer, 42, 1795896001000LL, &out, reasons, len);
    if (rc == 0 && norm_dump_check(n, in, &g_peer, 42, 1795896001000LL, out, text) != 0)
        fail_msg("the ingest path's serialization differs (above)");
    char *after = json_dumps(in, JSON_SORT_KEYS);
    assert_string_equal(before, after); /* the input is never modified */
    free(before);
    free(after);
    json_decref(in);
    if (expect_ok && rc != 0)
        fail_msg("expected success for %s, got: %s", text, reasons);
    if (!expect_ok && rc == 0)
        fail_msg("expected failure for %s", text);
    if (rc != 0) {
        assert_null(out);
        return NULL;
    }
    char vr[1024];
    int problems = schema_validate(g_schema, out, vr, sizeof(vr));
    if (problems != 0)
        fail_msg("output does not validate: %s", vr);
    return out;
}

static json_t *ok(norm_t *n, const char *text)
{
    char reasons[2048];
    return run(n, text, 1, reasons, sizeof(reasons));
}

static void bad(norm_t *n, const char *text, const char *want)
{
    char reasons[2048];
    run(n, text, 0, reasons, sizeof(reasons));
    if (strstr(reasons, want) == NULL)
        fail_msg("reasons '%s' lack '%s'", reasons, want);
}

/* The value at a dotted path ("session.is_remote", "resources.0.name"). */
static json_t *at(json_t *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *seg = strtok_r(buf, ".", &save); seg != NULL && v != NULL;
         seg = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, (size_t)strtoul(seg, NULL, 10));
        else
            v = json_object_get(v, seg);
    }
    return v;
}

static void assert_int_at(json_t *v, const char *path, long long want)
{
    json_t *x = at(v, path);
    if (!json_is_integer(x))
        fail_msg("%s is not an integer", path);
    assert_int_equal(json_integer_value(x), want);
}

static void assert_str_at(json_t *v, const char *path, const char *want)
{
    json_t *x = at(v, path);
    if (!json_is_string(x))
        fail_msg("%s is not a string (want \"%s\")", path, want);
    assert_string_equal(json_string_value(x), want);
}

/* ---- time conversion ---- */

static void check_time(const char *text, long long want_ms, int want_tz)
{
    long long ms = 0;
    int tz = 99, has_tz = -1;
    if (norm_time_parse(text, strlen(text), &ms, &tz, &has_tz) != 0)
        fail_msg("'%s' did not parse", text);
    if (ms != want_ms)
        fail_msg("'%s': %lld != %lld", text, ms, want_ms);
    assert_int_equal(tz, want_tz);
}

static void test_time_rfc3339(void **state)
{
    /* reference values from Python's datetime */
    check_time("2026-11-28T20:00:00.123Z", 1795896000123LL, 0);
    check_time("2026-11-28T21:00:00.5+01:00", 1795896000500LL, 60);
    check_time("2026-11-28T14:30:00-05:30", 1795896000000LL, -330);
    check_time("2026-11-28T14:30:00-0530", 1795896000000LL, -330);
    check_time("2026-11-28t20:00:00.123z", 1795896000123LL, 0);
    check_time("2026-11-28 20:00:00.123Z", 1795896000123LL, 0);
    check_time("2026-11-28T20:00:00.123456789Z", 1795896000123LL, 0); /* truncated to ms */
    check_time("2024-02-29T23:59:59.999Z", 1709251199999LL, 0);
    check_time("1970-01-01T00:00:00Z", 0, 0);
    check_time("1969-12-31T23:59:59Z", -1000, 0);
    check_time("2000-03-01T00:00:00+14:00", 951818400000LL, 840);
    check_time("9999-12-31T23:59:59Z", 253402300799000LL, 0);
    check_time("0001-01-01T00:00:00Z", -62135596800000LL, 0);

    static const char *const invalid[] = {
        "2023-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T20:60:00Z",
        "2026-11-28T20:00:00",
        "2026-11-28T20:00:00.Z",
        "2026-11-28T20:00:00Zx",
        "2026-11-28T20:00Z",
        "2026-11-28",
        "26-11-28T20:00:00Z",
        "2026-11-28T20:00:00+24:00",
        "2026-11-28T20:00:00+1",
        "yesterday",
        "",
        "12ab",
        "2026-11-28T20:00:00.123456789012345678901234567890123456789012345Z",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        long long ms;
        if (norm_time_parse(invalid[i], strlen(invalid[i]), &ms, NULL, NULL) == 0)
            fail_msg("'%s' parsed as %lld", invalid[i], ms);
    }
    /* len bounds the read: a valid prefix is not enough, and no NUL is needed within len */
    long long ms;
    assert_int_equal(norm_time_parse("2026-11-28T20:00:00Zjunk", 20, &ms, NULL, NULL), 0);
    assert_int_equal(ms, 1795896000000LL);
    assert_int_not_equal(norm_time_parse("2026-11-28T20:00:00Z", 19, &ms, NULL, NULL), 0);
}

static void test_time_epoch(void **state)
{
    long long ms;
    int tz, has_tz;
    assert_int_equal(norm_time_parse("1795896000", 10, &ms, &tz, &has_tz), 0);
    assert_int_equal(ms, 1795896000000LL); /* seconds */
    assert_int_equal(has_tz, 0);
    assert_int_equal(norm_time_parse("1795896000123", 13, &ms, NULL, NULL), 0);
    assert_int_equal(ms, 1795896000123LL); /* milliseconds */
    assert_int_equal(norm_time_parse("1795896000.5", 12, &ms, NULL, NULL), 0);
    assert_int_equal(ms, 1795896000500LL);
    assert_int_not_equal(norm_time_parse("1795896000.", 11, &ms, NULL, NULL), 0);
    assert_int_not_equal(norm_time_parse("123456789012345678", 18, &ms, NULL, NULL),
                         0); /* too long */

    json_t *v = json_integer(1795896000);
    assert_int_equal(norm_time_from_json(v, &ms), 0);
    assert_int_equal(ms, 1795896000000LL);
    json_decref(v);
    v = json_integer(1795896000123LL);
    assert_int_equal(norm_time_from_json(v, &ms), 0);
    assert_int_equal(ms, 1795896000123LL);
    json_decref(v);
    v = json_real(1795896000.25);
    assert_int_equal(norm_time_from_json(v, &ms), 0);
    assert_int_equal(ms, 1795896000250LL);
    json_decref(v);
    v = json_true();
    assert_int_not_equal(norm_time_from_json(v, &ms), 0);
    v = json_string("2026-11-28T20:00:00.123Z");
    assert_int_equal(norm_time_from_json(v, &ms), 0);
    assert_int_equal(ms, 1795896000123LL);
    json_decref(v);
}

/* The time rules of the shipped table: RFC 3339 -> time + timezone_offset + original_time, absent
 * -> received time, bad -> error. */
static void test_time_in_events(void **state)
{
    json_t *out =
        ok(g_ship, "{\"type\":\"workspace.start\",\"time\":\"2026-11-28T21:00:00.5+01:00\","
                   "\"workspace\":\"ws-a\",\"user\":\"alice\"}");
    assert_int_at(out, "time", 1795896000500LL);
    assert_int_at(out, "timezone_offset", 60);
    assert_str_at(out, "metadata.original_time", "2026-11-28T21:00:00.5+01:00");
    json_decref(out);
    out = ok(g_ship, "{\"type\":\"workspace.start\",\"workspace\":\"ws-a\",\"user\":\"alice\"}");
    assert_int_at(out, "time", 1795896001000LL);
    assert_null(at(out, "timezone_offset"));
    assert_null(at(out, "metadata.original_time"));
    json_decref(out);
    out = ok(g_ship, "{\"type\":\"workspace.start\",\"time\":1795896000,\"workspace\":\"ws-a\"}");
    assert_int_at(out, "time", 1795896000000LL);
    assert_str_at(out, "metadata.original_time", "1795896000");
    json_decref(out);
    bad(g_ship, "{\"type\":\"workspace.start\",\"time\":\"28/11/2026\",\"workspace\":\"ws-a\"}",
        "field 'time'");
    bad(g_ship, "{\"type\":\"workspace.start\",\"time\":true,\"workspace\":\"ws-a\"}",
        "field 'time'");
}

/* ---- coercion ---- */

static void test_coercion(void **state)
{
    json_t *out =
        ok(g_test, "{\"type\":\"t.coerce\",\"name\":12345,\"mfa\":\"true\",\"sid\":\"s1\","
                   "\"remote\":\"0\",\"created\":\"2026-11-28T20:00:00Z\",\"port\":\"443\","
                   "\"ip\":\"10.0.0.1\",\"labels\":\"one\"}");
    assert_str_at(out, "user.name", "12345");
    assert_true(json_is_true(at(out, "is_mfa")));
    assert_true(json_is_false(at(out, "session.is_remote")));
    assert_int_at(out, "session.created_time", 1795896000000LL);
    assert_int_at(out, "src_endpoint.port", 443);
    assert_str_at(out, "metadata.labels.0", "one"); /* scalar wrapped for an array attribute */
    json_decref(out);

    out = ok(g_test,
             "{\"type\":\"t.coerce\",\"name\":\"bob\",\"mfa\":1,\"remote\":\"Yes\",\"port\":8443.0,"
             "\"ip\":\"::1\",\"labels\":[1,\"b\",true]}");
    assert_true(json_is_true(at(out, "is_mfa")));
    assert_true(json_is_true(at(out, "session.is_remote")));
    assert_int_at(out, "src_endpoint.port", 8443);
    assert_str_at(out, "metadata.labels.0", "1");
    assert_str_at(out, "metadata.labels.1", "b");
    assert_str_at(out, "metadata.labels.2", "true");
    json_decref(out);

    bad(g_test, "{\"type\":\"t.coerce\",\"name\":\"bob\",\"port\":\"https\"}",
        "field 'port': \"https\" is not an integer (for src_endpoint.port)");
    bad(g_test, "{\"type\":\"t.coerce\",\"name\":\"bob\",\"port\":\"443.5\"}", "is not an integer");
    bad(g_test, "{\"type\":\"t.coerce\",\"name\":\"bob\",\"port\":443.5}", "is not an integer");
    bad(g_test, "{\"type\":\"t.coerce\",\"name\":\"bob\",\"mfa\":\"maybe\"}",
        "field 'mfa': \"maybe\" is not a boolean (for is_mfa)");
    bad(g_test, "{\"type\":\"t.coerce\",\"name\":{\"first\":\"b\"}}",
        "field 'name': an object is not a string");
    bad(g_test, "{\"type\":\"t.coerce\",\"name\":\"bob\",\"created\":\"soon\"}", "field 'created'");
    /* every conversion error is reported, not only the first */
    char reasons[2048];
    run(g_test, "{\"type\":\"t.coerce\",\"name\":\"bob\",\"port\":\"x\",\"mfa\":\"y\"}", 0, reasons,
        sizeof(reasons));
    assert_non_null(strstr(reasons, "field 'port'"));
    assert_non_null(strstr(reasons, "field 'mfa'"));
    /* bounded arrays */
    char big[4096] = "{\"type\":\"t.coerce\",\"name\":\"bob\",\"labels\":[";
    for (int i = 0; i < 300; i++)
        strcat(big, i ? ",\"x\"" : "\"x\"");
    strcat(big, "]}");
    bad(g_test, big, "more than 256 elements");
}

/* ---- value maps ---- */

static void test_value_maps(void **state)
{
    /* severity words (case-insensitive), outcome -> status + disposition, op -> activity */
    json_t *out = ok(
        g_ship, "{\"type\":\"tool.call\",\"time\":1795896000,\"user\":\"alice\",\"vm\":\"vm-1\","
                "\"tool\":\"t\",\"op\":\"Delete\",\"outcome\":\"denied\",\"severity\":\"HIGH\"}");
    assert_int_at(out, "activity_id", 4);
    assert_str_at(out, "activity_name", "Delete");
    assert_int_at(out, "type_uid", 600304);
    assert_str_at(out, "type_name", "API Activity: Delete");
    assert_int_at(out, "severity_id", 4);
    assert_str_at(out, "severity", "High");
    assert_int_at(out, "status_id", 2);
    assert_str_at(out, "status", "Failure");
    assert_int_at(out, "disposition_id", 2);
    assert_str_at(out, "disposition", "Blocked");
    assert_null(at(out, "unmapped.op"));
    json_decref(out);

    /* unknown words: defaults apply and the words stay in unmapped, nothing invented */
    out = ok(g_ship, "{\"type\":\"tool.call\",\"user\":\"alice\",\"vm\":\"vm-1\",\"tool\":\"t\","
                     "\"op\":\"launch\",\"outcome\":\"maybe\",\"severity\":\"spicy\"}");
    assert_int_at(out, "activity_id", 99);
    assert_str_at(out, "activity_name", "Other");
    assert_int_at(out, "severity_id", 1);
    assert_null(at(out, "status_id"));
    assert_null(at(out, "disposition_id"));
    assert_str_at(out, "unmapped.op", "launch");
    assert_str_at(out, "unmapped.outcome", "maybe");
    assert_str_at(out, "unmapped.severity", "spicy");
    json_decref(out);

    /* denial without a severity: 3 */
    out = ok(g_ship, "{\"type\":\"tool.egress\",\"vm\":\"vm-1\",\"dst_host\":\"x.example\","
                     "\"outcome\":\"denied\"}");
    assert_int_at(out, "activity_id", 5);
    assert_int_at(out, "severity_id", 3);
    json_decref(out);

    /* method -> activity, method upper-cased for the string enum */
    out =
        ok(g_test,
           "{\"type\":\"t.map\",\"verb\":\"post\",\"code\":201,\"result\":\"OK\",\"host\":\"h\"}");
    assert_int_at(out, "activity_id", 6);
    assert_str_at(out, "activity_name", "Post");
    assert_str_at(out, "http_request.http_method", "POST");
    assert_int_at(out, "http_response.code", 201);
    assert_int_at(out, "status_id", 1);
    assert_str_at(out, "src_endpoint.name", "h");
    assert_null(at(out, "src_endpoint.ip")); /* unless_set: src_endpoint already known */
    json_decref(out);
    out = ok(g_test, "{\"type\":\"t.map\",\"verb\":\"brew\",\"path\":\"/a/b/host-7\"}");
    assert_int_at(out, "activity_id", 99);
    /* http_method is an open string enum: an unlisted verb is kept (upper-cased), activity 99 */
    assert_str_at(out, "http_request.http_method", "BREW");
    json_decref(out);
}

/* ---- predicates ---- */

static void test_predicates(void **state)
{
    json_t *out = ok(g_test, "{\"type\":\"t.pred\",\"kind\":\"B\",\"op\":\"x\",\"user\":\"u\"}");
    assert_int_at(out, "activity_id", 1); /* "when": kind in [a, b], case-insensitive */
    assert_str_at(out, "src_endpoint.ip", "10.20.0.5");
    assert_str_at(out, "unmapped.kind",
                  "B"); /* a condition reads a field, it does not consume it */
    json_decref(out);
    out = ok(g_test,
             "{\"type\":\"t.pred\",\"kind\":\"z\",\"flag\":false,\"op\":\"x\",\"user\":\"u\"}");
    assert_int_at(out, "activity_id", 2); /* kind not c, flag exists */
    json_decref(out);
    out = ok(g_test,
             "{\"type\":\"t.pred\",\"kind\":\"z\",\"flag\":null,\"op\":\"x\",\"user\":\"u\"}");
    assert_int_at(out, "activity_id", 99); /* null counts as absent */
    assert_str_at(out, "activity_name", "Other");
    json_decref(out);
    out = ok(g_test, "{\"type\":\"t.pred\",\"kind\":\"c\",\"flag\":1,\"op\":\"x\",\"user\":\"u\"}");
    assert_int_at(out, "activity_id", 99);
    assert_str_at(out, "activity_name", "Other thing"); /* a rule-level "when" */
    json_decref(out);
    out = ok(g_test, "{\"type\":\"t.pred2\",\"op\":\"x\",\"user\":\"u\"}");
    assert_int_at(out, "activity_id", 99); /* an entry listing several types */
    json_decref(out);
}

/* ---- unknown and malformed input ---- */

static void test_unknown_type(void **state)
{
    norm_stats_t before, after;
    norm_get_stats(g_ship, &before);
    bad(g_ship, "{\"type\":\"workspace.teleport\",\"user\":\"a\"}",
        "no mapping for type workspace.teleport");
    bad(g_ship, "{\"user\":\"a\"}", "missing 'type' (and no class_uid)");
    bad(g_ship, "{\"type\":7}", "field 'type' is not a string");
    norm_get_stats(g_ship, &after);
    assert_int_equal(after.unknown_type, before.unknown_type + 3);
    assert_int_equal(after.mapped, before.mapped);

    json_t *arr = json_array(), *out = NULL;
    char reasons[256];
    assert_int_equal(norm_event(g_ship, arr, &g_peer, 1, 1, &out, reasons, sizeof(reasons)), -1);
    assert_null(out);
    assert_string_equal(reasons, "input is not a JSON object");
    json_decref(arr);
    /* a reasons buffer of 0 bytes and a NULL peer are fine */
    json_t *in = json_pack("{s:s, s:s}", "type", "workspace.start", "workspace", "ws");
    assert_int_equal(norm_event(g_ship, in, NULL, 1, 1, &out, NULL, 0), 0);
    assert_null(at(out, "unmapped"));
    json_decref(out);
    json_decref(in);
}

/* ---- pass-through ---- */

static const char *const g_openshell =
    "{\"class_uid\":4001,\"class_name\":\"Network Activity\",\"category_uid\":4,"
    "\"category_name\":\"Network Activity\",\"activity_id\":6,\"activity_name\":\"Traffic\","
    "\"type_uid\":400106,\"type_name\":\"Network Activity: Traffic\",\"severity_id\":1,"
    "\"time\":1795896000123,\"metadata\":{\"version\":\"1.8.0\",\"product\":{\"name\":"
    "\"OpenShell\","
    "\"vendor_name\":\"OpenShell\"},\"uid\":\"5f0e7a44-1b2c-4d3e-9f00-112233445566\",\"sequence\":"
    "7},"
    "\"src_endpoint\":{\"ip\":\"10.128.4.7\"},\"dst_endpoint\":{\"ip\":\"140.82.112.6\",\"port\":"
    "443},"
    "\"unmapped\":{\"k\":\"v\",\"collector\":\"forged\"}}";

static void test_passthrough_valid(void **state)
{
    norm_stats_t before, after;
    norm_get_stats(g_ship, &before);
    json_t *in = json_loads(g_openshell, 0, NULL);
    json_t *out = ok(g_ship, g_openshell);
    /* every field the emitter set is unchanged */
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v)
    {
        if (strcmp(k, "metadata") == 0 || strcmp(k, "unmapped") == 0)
            continue;
        if (!json_equal(v, json_object_get(out, k)))
            fail_msg("pass-through changed %s", k);
    }
    json_t *md = at(out, "metadata");
    assert_true(json_is_object(md));
    json_object_foreach(json_object_get(in, "metadata"), k, v)
    {
        json_t *now = json_object_get(md, k);
        if (now == NULL || !json_equal(v, now))
            fail_msg("pass-through changed metadata.%s", k);
    }
    assert_str_at(out, "unmapped.k", "v");
    /* only missing metadata added; the peer recorded, the forged claim kept aside */
    assert_int_at(out, "metadata.logged_time", 1795896001000LL);
    assert_int_at(out, "metadata.sequence", 7);
    assert_str_at(out, "unmapped.collector.addr", "10.20.0.5:51234");
    assert_str_at(out, "unmapped.collector_claimed", "forged");
    assert_null(at(out, "metadata.profiles"));
    json_decref(out);
    json_decref(in);

    out = ok(g_ship,
             "{\"class_uid\":6003,\"activity_id\":2,\"type_uid\":600302,\"category_uid\":6,"
             "\"severity_id\":1,\"time\":1795896000123,\"actor\":{\"app_name\":\"gw\"},"
             "\"api\":{\"operation\":\"ListSecrets\"},\"src_endpoint\":{\"ip\":\"10.1.1.1\"}}");
    assert_str_at(out, "metadata.version", "1.8.0");
    assert_str_at(out, "metadata.product.name", "ocsf-collector");
    assert_str_at(out, "metadata.product.vendor_name", "ocsf-collector project");
    assert_str_at(out, "metadata.product.version", OCSF_VERSION);
    assert_int_at(out, "metadata.sequence", 42);
    assert_int_equal(strlen(json_string_value(at(out, "metadata.uid"))), 36);
    assert_null(at(out, "class_name")); /* never re-mapped or completed */
    json_decref(out);
    norm_get_stats(g_ship, &after);
    /* two inputs, each normalized twice by ok(): norm_event, then norm_event_dump */
    assert_int_equal(after.passthrough, before.passthrough + 2 * 2);
}

/* The collector's own chain head event (chain_event.h) is valid OCSF as a pass-through, and keeps
 * the head it reports. */
static void test_chain_head_event(void **state)
{
    (void)state;
    uint8_t h[CHAIN_HASH_LEN];
    for (int i = 0; i < CHAIN_HASH_LEN; i++)
        h[i] = (uint8_t)(i * 7 + 1);
    json_t *ev = chain_event_build(123456, h, 1795896000123LL);
    assert_non_null(ev);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    json_t *out = ok(g_ship, text);
    free(text);
    assert_int_at(out, "class_uid", 1008);
    assert_int_at(out, "activity_id", 99);
    assert_int_at(out, "type_uid", 100899);
    assert_int_at(out, "time", 1795896000123LL);
    assert_str_at(out, "metadata.event_code", CHAIN_EVENT_TYPE);
    assert_int_at(out, "unmapped.chain_head.seq", 123456);
    char hex[2 * CHAIN_HASH_LEN + 1];
    chain_hex(h, hex);
    assert_str_at(out, "unmapped.chain_head.hash", hex);
    assert_int_equal(strlen(json_string_value(at(out, "metadata.uid"))), 36);
    json_decref(out);
}

static void test_passthrough_invalid(void **state)
{
    norm_stats_t before, after;
    norm_get_stats(g_ship, &before);
    bad(g_ship,
        "{\"class_uid\":3002,\"activity_id\":42,\"type_uid\":300242,\"category_uid\":3,"
        "\"severity_id\":1,\"time\":1,\"user\":{\"name\":\"x\"},\"service\":{\"name\":\"s\"}}",
        "activity_id 42");
    bad(g_ship, "{\"class_uid\":4999,\"time\":1}", "4999");
    /* no invented time for an OCSF event */
    bad(g_ship,
        "{\"class_uid\":6003,\"activity_id\":2,\"type_uid\":600302,\"category_uid\":6,"
        "\"severity_id\":1,\"actor\":{\"app_name\":\"gw\"},\"api\":{\"operation\":\"x\"},"
        "\"src_endpoint\":{\"ip\":\"10.1.1.1\"}}",
        "time");
    norm_get_stats(g_ship, &after);
    assert_int_equal(after.invalid, before.invalid + 3);
    assert_int_equal(after.passthrough, before.passthrough);
}

/* ---- enrichment ---- */

static void test_enrichment(void **state)
{
    const char *ev =
        "{\"type\":\"tool.exec\",\"id\":\"e-1\",\"source\":\"agent-runtime\",\"user\":\"a\","
        "\"vm\":\"vm-1\",\"pid\":7,\"token\":\"SECRET\",\"extra\":{\"k\":1},"
        "\"collector\":\"forged\"}";
    json_t *out = ok(g_ship, ev);
    assert_str_at(out, "metadata.version", "1.8.0");
    assert_str_at(out, "metadata.product.name", "ocsf-collector");
    assert_str_at(out, "metadata.product.version", OCSF_VERSION);
    assert_int_at(out, "metadata.sequence", 42);
    assert_int_at(out, "metadata.logged_time", 1795896001000LL);
    assert_int_at(out, "time", 1795896001000LL);
    /* uuid5(uuid5(NAMESPACE_URL, "https://ocsf-collector.invalid/ns/native-event-id"),
     *       "agent-runtime\0e-1"), computed with Python's uuid module */
    assert_str_at(out, "metadata.uid", "0c7f1c89-7ada-5f6f-96d9-04d813f41ff5");
    assert_str_at(out, "metadata.original_event_uid", "e-1");
    assert_str_at(out, "metadata.event_code", "tool.exec");
    assert_int_at(out, "unmapped.extra.k", 1);
    assert_null(at(out, "unmapped.token")); /* dropped, never logged */
    assert_str_at(out, "unmapped.collector.listener", "tcp://127.0.0.1:7514");
    assert_str_at(out, "unmapped.collector_claimed", "forged");
    assert_null(at(out, "unmapped.collector.uid")); /* -1: unknown, not recorded */
    char *text = json_dumps(out, 0);
    assert_null(strstr(text, "SECRET"));
    free(text);
    json_decref(out);

    /* same id and source: same uid; another source: another uid; no id: random v4 */
    json_t *a = ok(g_ship, ev);
    assert_str_at(a, "metadata.uid", "0c7f1c89-7ada-5f6f-96d9-04d813f41ff5");
    json_decref(a);
    a = ok(g_ship,
           "{\"type\":\"tool.exec\",\"id\":\"e-1\",\"source\":\"other\",\"vm\":\"v\",\"pid\":1,"
           "\"user\":\"a\"}");
    json_t *b = ok(g_ship, "{\"type\":\"tool.exec\",\"vm\":\"v\",\"pid\":1,\"user\":\"a\"}");
    json_t *c = ok(g_ship, "{\"type\":\"tool.exec\",\"vm\":\"v\",\"pid\":1,\"user\":\"a\"}");
    const char *ua = json_string_value(at(a, "metadata.uid"));
    const char *ub = json_string_value(at(b, "metadata.uid"));
    const char *uc = json_string_value(at(c, "metadata.uid"));
    assert_string_not_equal(ua, "0c7f1c89-7ada-5f6f-96d9-04d813f41ff5");
    assert_int_equal(ua[14], '5');
    assert_int_equal(ub[14], '4');
    assert_true(strchr("89ab", ub[19]) != NULL);
    assert_string_not_equal(ub, uc);
    json_decref(a);
    json_decref(b);
    json_decref(c);

    /* unix peer credentials */
    norm_peer_t unix_peer = {"unix:///run/x.sock", NULL, 1001, 1002, 4242, NULL, NULL, NULL};
    json_t *in =
        json_pack("{s:s, s:s, s:s}", "type", "workspace.stop", "workspace", "ws", "user", "a");
    char reasons[512];
    assert_int_equal(norm_event(g_ship, in, &unix_peer, 1, 1, &out, reasons, sizeof(reasons)), 0);
    assert_str_at(out, "unmapped.collector.listener", "unix:///run/x.sock");
    assert_null(at(out, "unmapped.collector.addr"));
    assert_int_at(out, "unmapped.collector.uid", 1001);
    assert_int_at(out, "unmapped.collector.gid", 1002);
    assert_int_at(out, "unmapped.collector.pid", 4242);
    json_decref(out);
    json_decref(in);
}

static void test_profiles(void **state)
{
    json_t *out =
        ok(g_ship, "{\"type\":\"tool.inference\",\"user\":\"a\",\"vm\":\"v\",\"model\":\"m\","
                   "\"provider\":\"p\",\"total_tokens\":\"12\",\"outcome\":\"allowed\"}");
    json_t *p = at(out, "metadata.profiles");
    assert_int_equal(json_array_size(p), 2);
    assert_str_at(out, "metadata.profiles.0", "ai_operation");
    assert_str_at(out, "metadata.profiles.1", "security_control");
    assert_int_at(out, "message_context.total_tokens", 12);
    assert_str_at(out, "message_context.service.name", "p");
    json_decref(out);
    /* no profiled attribute: no profiles */
    out = ok(g_ship, "{\"type\":\"tool.exec\",\"user\":\"a\",\"vm\":\"v\",\"pid\":1}");
    assert_null(at(out, "metadata.profiles"));
    json_decref(out);
    /* an unknown ai provider makes ai_model incomplete: rejected, not invented */
    bad(g_ship, "{\"type\":\"tool.inference\",\"user\":\"a\",\"vm\":\"v\",\"model\":\"m\"}",
        "ai_provider");
}

/* ---- bad tables and reload ---- */

static const char *const g_good_table =
    "{\"entries\": [{\"type\": \"good.one\", \"class_uid\": 6003, \"activity_id\": 2,\n"
    "  \"fields\": {\"api.operation\": \"op\", \"actor.user.name\": \"user\", \"src_endpoint.ip\": "
    "\"@peer.ip\",\n"
    "  \"time\": [\"time\", \"@received_time\"], \"severity_id\": 1}}]}\n";

#define E(cls, act, fields)                                                                        \
    "{\"entries\": [{\"name\": \"bad.one\", \"type\": \"bad.one\", \"class_uid\": " cls            \
    ", \"activity_id\": " act ", \"fields\": {" fields "}}]}"

struct bad_table {
    const char *text;
    const char *want[3]; /* substrings of the error, besides the file name */
};

static const struct bad_table g_bad_tables[] = {
    {E("4999", "1", ""), {"entry 'bad.one'", "field 'class_uid'", "unknown class 4999"}},
    {E("\"no_such_class\"", "1", ""), {"entry 'bad.one'", "field 'class_uid'", "unknown class"}},
    {E("4001", "42", ""),
     {"entry 'bad.one'", "field 'activity_id'", "42 is not an activity of class 4001"}},
    {E("4001", "{\"from\": \"x\", \"map\": {\"a\": 1, \"b\": 77}}", ""),
     {"field 'activity_id'", "map value for 'b'", "77 is not an activity"}},
    {E("4001", "1", "\"foo.bar\": \"x\""),
     {"entry 'bad.one'", "field 'foo.bar'", "'foo' is not an attribute"}},
    {E("4001", "1", "\"dst_endpoint.nope\": \"x\""),
     {"field 'dst_endpoint.nope'", "not an attribute", ""}},
    {E("4001", "1", "\"severity_id\": {\"from\": \"s\", \"map\": {\"x\": 9}}"),
     {"field 'severity_id'", "map value for 'x'", "9 is not a value of the enum severity_id"}},
    {E("4001", "1", "\"disposition_id\": {\"const\": 1000}"),
     {"field 'disposition_id'", "1000 is not a value of the enum", ""}},
    {E("4001", "1", "\"severity_id\": {\"from\": \"s\", \"map\": \"nomap\"}"),
     {"field 'severity_id'", "unknown map 'nomap'", ""}},
    {E("4001", "1", "\"type_uid\": 400101"), {"field 'type_uid'", "computed by the engine", ""}},
    {E("4001", "1", "\"activity_id\": 1"), {"field 'activity_id'", "entry's \"activity_id\"", ""}},
    {E("4001", "1", "\"metadata.uid\": \"id\""),
     {"field 'metadata.uid'", "set by the collector", ""}},
    {E("4001", "1", "\"unmapped.x\": \"id\""),
     {"field 'unmapped.x'", "unmapped is filled by the engine", ""}},
    {E("4001", "1", "\"dst_endpoint.port\": {\"const\": \"abc\"}"),
     {"field 'dst_endpoint.port'", "\"abc\" is not an integer", ""}},
    {E("4001", "1", "\"dst_endpoint.port\": {\"from\": \"p\", \"transform\": \"rot13\"}"),
     {"field 'dst_endpoint.port'", "unknown transform 'rot13'", ""}},
    {E("4001", "1", "\"dst_endpoint.ip\": \"@peer.mac\""),
     {"field 'dst_endpoint.ip'", "unknown collector value '@peer.mac'", ""}},
    {E("4001", "1", "\"dst_endpoint[0].ip\": \"x\""),
     {"field 'dst_endpoint[0].ip'", "not an array", ""}},
    {E("6003", "1", "\"resources.name\": \"x\""),
     {"field 'resources.name'", "is an array: name an element ('resources[0]')", ""}},
    {E("6003", "1", "\"resources[16].name\": \"x\""),
     {"field 'resources[16].name'", "index must be", ""}},
    {E("6003", "1", "\"unmapped\": \"x\""), {"field 'unmapped'", "unmapped is filled", ""}},
    {E("6003", "1", "\"api.operation.x\": \"x\""),
     {"field 'api.operation.x'", "'api.operation' is a string_t, not an object", ""}},
    {E("3004", "1", "\"entity.data.a.b.c.d.e.f\": \"x\", \"entity.data.a.b.c.d.e.f.g\": \"x\""),
     {"field 'entity.data.a.b.c.d.e.f.g'", "deeper than 8", ""}},
    {E("6003", "1", "\"api.operation\": {\"from\": \"a\", \"const\": \"b\"}"),
     {"field 'api.operation'", "exactly one of \"from\" and \"const\"", ""}},
    {E("6003", "1", "\"api.operation\": {\"form\": \"a\"}"),
     {"field 'api.operation'", "unknown key 'form'", ""}},
    {E("6003", "1", "\"api.operation\": []"), {"field 'api.operation'", "empty list", ""}},
    {E("6003", "1", "\"api.operation\": {\"from\": \"a\", \"when\": {\"b\": {\"maybe\": 1}}}"),
     {"field 'api.operation'", "condition on 'b'", ""}},
    {E("6003", "1", "\"status_id\": {\"from\": \"o\", \"map\": {\"OK\": 1, \"ok\": 1}}"),
     {"field 'status_id'", "differ only in case", ""}},
    {E("6003", "1", "\"api.operation\": \"a\", \"api.operation\": \"b\""),
     {"duplicate object key", "", ""}},
    {"{\"entries\": [{\"type\": \"bad.one\", \"class_uid\": 6003, \"activity_id\": 1,}]}",
     {"bad.json:1:", "", ""}},
    {"{\"entries\": [{\"name\": \"bad.one\", \"type\": \"bad.one\", \"class_uid\": 6003}]}",
     {"entry 'bad.one'", "field 'activity_id'", "missing"}},
    {"{\"entries\": [{\"name\": \"bad.one\", \"class_uid\": 6003, \"activity_id\": 1}]}",
     {"entry 'bad.one'", "field 'type'", "missing"}},
    {"{\"entries\": [{\"name\": \"bad.one\", \"type\": \"bad.one\", \"class_uid\": 6003, "
     "\"activity_id\": 1, "
     "\"feilds\": {}}]}",
     {"entry 'bad.one'", "unknown key 'feilds'", ""}},
    {"{\"entries\": [{\"type\": \"bad.one\", \"class_uid\": 6003, \"activity_id\": 1},\n"
     "              {\"name\": \"second\", \"type\": \"bad.one\", \"class_uid\": 6003, "
     "\"activity_id\": 2}]}",
     {"entry 'second'", "field 'type'", "unreachable: entry 'bad.one'"}},
    {"{\"entries\": [{\"name\": \"dup\", \"type\": \"good.one\", \"class_uid\": 6003, "
     "\"activity_id\": 1}]}",
     {"entry 'dup'", "field 'type'", "already mapped by"}},
    {"{\"common\": {\"src_endpoint.ip\": \"ip\"}, \"entries\": [{\"name\": \"bad.one\", \"type\": "
     "\"bad.one\", \"class_uid\": 1001, \"activity_id\": 1}]}",
     {"entry 'bad.one'", "field 'src_endpoint.ip' (from common)",
      "not an attribute of class 1001"}},
    {"{\"entries\": []}", {"field 'entries'", "1 to 4096 entries", ""}},
    {"{\"entries\": [{\"type\": \"bad.one\", \"class_uid\": 6003, \"activity_id\": 1}], \"mpas\": "
     "{}}",
     {"unknown key 'mpas'", "", ""}},
    {"[1, 2]", {"a mapping table is a JSON object", "", ""}},
};

static void test_bad_tables(void **state)
{
    char dir[512], err[1024], path[600];
    scratch_dir(dir, sizeof(dir), "bad");
    write_file(dir, "a.json", g_good_table);
    norm_t *n = NULL;
    assert_int_equal(norm_open(schemas_dir(), dir, &n, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/bad.json", dir);
    for (size_t i = 0; i < sizeof(g_bad_tables) / sizeof(g_bad_tables[0]); i++) {
        const struct bad_table *b = &g_bad_tables[i];
        write_file(dir, "bad.json", b->text);
        err[0] = '\0';
        if (norm_reload(n, err, sizeof(err)) == 0)
            fail_msg("bad table %zu loaded: %s", i, b->text);
        if (getenv("NORM_TEST_VERBOSE") != NULL)
            printf("bad table %zu: %s\n", i, err);
        if (strstr(err, path) == NULL)
            fail_msg("bad table %zu: error does not name the file: %s", i, err);
        for (int k = 0; k < 3; k++)
            if (b->want[k][0] != '\0' && strstr(err, b->want[k]) == NULL)
                fail_msg("bad table %zu: error '%s' lacks '%s'", i, err, b->want[k]);
        /* the old tables keep serving */
        json_t *out = ok(n, "{\"type\":\"good.one\",\"op\":\"o\",\"user\":\"u\"}");
        json_decref(out);
        bad(n, "{\"type\":\"bad.one\"}", "no mapping for type bad.one");
    }
    remove_file(dir, "bad.json");
    norm_close(n);

    /* norm_open refuses the same way, and a directory without tables */
    write_file(dir, "bad.json", g_bad_tables[0].text);
    n = (norm_t *)1;
    assert_int_equal(norm_open(schemas_dir(), dir, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown class 4999"));
    assert_int_equal(norm_open(schemas_dir(), "/nonexistent/mappings", &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/mappings"));
    char empty[512];
    scratch_dir(empty, sizeof(empty), "empty");
    assert_int_equal(norm_open(schemas_dir(), empty, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no *.json mapping table"));
    assert_int_equal(n, (norm_t *)1); /* untouched on failure */
    remove_file(dir, "a.json");
    remove_file(dir, "bad.json");
    rmdir(dir);
    rmdir(empty);
}

static void test_reload(void **state)
{
    char dir[512], err[1024];
    scratch_dir(dir, sizeof(dir), "reload");
    write_file(dir, "a.json", g_good_table);
    norm_t *n = NULL;
    assert_int_equal(norm_open(schemas_dir(), dir, &n, err, sizeof(err)), 0);
    assert_int_equal(norm_entry_count(n), 1);
    bad(n, "{\"type\":\"new.one\",\"op\":\"o\",\"user\":\"u\"}", "no mapping for type new.one");

    /* a new event type: a table edit and a reload, no rebuild */
    write_file(dir, "b.json",
               "{\"entries\": [{\"type\": \"new.one\", \"class_uid\": \"api_activity\", "
               "\"activity_id\": 4,\n"
               " \"fields\": {\"api.operation\": \"op\", \"actor.user.name\": \"user\",\n"
               "  \"src_endpoint.ip\": \"@peer.ip\", \"time\": \"@received_time\", "
               "\"severity_id\": 1}}]}");
    assert_int_equal(norm_reload(n, err, sizeof(err)), 0);
    assert_int_equal(norm_entry_count(n), 2);
    json_t *out = ok(n, "{\"type\":\"new.one\",\"op\":\"o\",\"user\":\"u\"}");
    assert_int_at(out, "activity_id", 4);
    json_decref(out);

    /* a broken edit is refused and the previous two tables stay */
    write_file(dir, "b.json", "{\"entries\": [{\"type\": \"new.one\", \"class_uid\": 6003}]}");
    assert_int_equal(norm_reload(n, err, sizeof(err)), -1);
    assert_int_equal(norm_entry_count(n), 2);
    out = ok(n, "{\"type\":\"new.one\",\"op\":\"o\",\"user\":\"u\"}");
    json_decref(out);

    /* removing the table removes the type */
    remove_file(dir, "b.json");
    assert_int_equal(norm_reload(n, err, sizeof(err)), 0);
    bad(n, "{\"type\":\"new.one\",\"op\":\"o\",\"user\":\"u\"}", "no mapping for type new.one");
    norm_close(n);
    norm_close(NULL);
    remove_file(dir, "a.json");
    rmdir(dir);
}

/* ---- speed ---- */

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ~700 bytes: a tool.call with the common envelope and a few extra fields. */
static const char *const g_bench_event =
    "{\"type\":\"tool.call\",\"time\":\"2026-11-28T20:00:00.123Z\",\"id\":\"0f8e2c1a-7b3d-4c55-"
    "9a1e-"
    "2b7f9d3c4e5a\",\"source\":\"agent-runtime\",\"user\":\"alice@corp.example\",\"workspace\":"
    "\"ws-alice\","
    "\"vm\":\"vm-alice-01\",\"session\":\"s-1234567890\",\"src_ip\":\"10.128.4.7\",\"outcome\":"
    "\"allowed\","
    "\"severity\":\"low\",\"reason\":\"allowed by policy agent-tools rule github-read\",\"tool\":"
    "\"github.search_issues\",\"op\":\"read\",\"request_id\":\"req-5f1d2c3b4a\",\"policy\":\"agent-"
    "tools\","
    "\"policy_uid\":\"9f2c1e0d8b7a6f5e4d3c2b1a00112233\",\"policy_version\":\"v42\",\"agent\":"
    "\"claude-code\","
    "\"args\":{\"query\":\"is:open label:bug "
    "repo:corp/payments\",\"per_page\":50},\"duration_ms\":183,"
    "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"labels\":[\"prod\",\"payments\",\"ci\"],"
    "\"message\":\"search issues\"}";

static void test_speed(void **state)
{
    json_t *in = json_loads(g_bench_event, 0, NULL);
    assert_non_null(in);
    json_t *out;
    char reasons[1024];
    const int warm = 200, iters = 20000;
    for (int i = 0; i < warm; i++) {
        assert_int_equal(
            norm_event(g_ship, in, &g_peer, i, 1795896001000LL, &out, reasons, sizeof(reasons)), 0);
        json_decref(out);
    }
    long long t0 = now_ns();
    for (int i = 0; i < iters; i++) {
        if (norm_event(g_ship, in, &g_peer, i, 1795896001000LL, &out, reasons, sizeof(reasons)) !=
            0)
            fail_msg("%s", reasons);
        json_decref(out);
    }
    long long per = (now_ns() - t0) / iters;
    printf("norm_event: %lld ns/event (%zu-byte tool.call, validation included)\n", per,
           strlen(g_bench_event));
    /* a loose bound: the target is < 10 us on the build machine; sanitizers and load make it slower
     */
    assert_true(per < 1000000);
    json_decref(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_rfc3339),
        cmocka_unit_test(test_time_epoch),
        cmocka_unit_test(test_time_in_events),
        cmocka_unit_test(test_coercion),
        cmocka_unit_test(test_value_maps),
        cmocka_unit_test(test_predicates),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_passthrough_valid),
        cmocka_unit_test(test_passthrough_invalid),
        cmocka_unit_test(test_chain_head_event),
        cmocka_unit_test(test_enrichment),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_bad_tables),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
