/* test_cfg.c - unit tests for cfg.c: defaults, flags (repeatable, unknown, missing value, ranges,
 * --help/--version), JSON config keys (unknown, wrong type, listener objects, sinks, a tls
 * listener's allow_types_by_identity), and the precedence defaults < config file < flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* cfg_t is large (tens of KB): keep it off the stack. */
static cfg_t *cfg_new(void)
{
    cfg_t *c = malloc(sizeof *c);
    assert_non_null(c);
    return c;
}

static void load_bad(char **argv, int argc, const char *needle)
{
    cfg_t *c = cfg_new();
    char err[1024] = "";
    int rc = cfg_load(c, argc, argv, err, sizeof err);
    if (rc != CFG_ERROR)
        fail_msg("cfg_load(%s ...) returned %d, expected CFG_ERROR", argv[argc - 1], rc);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    free(c);
}

static void json_bad(const char *text, const char *needle)
{
    cfg_t *c = cfg_new();
    char err[1024] = "";
    cfg_defaults(c);
    int rc = cfg_apply_json(c, text, strlen(text), "test.json", err, sizeof err);
    if (rc >= 0)
        fail_msg("cfg_apply_json(%s) unexpectedly succeeded", text);
    if (!strstr(err, needle))
        fail_msg("cfg_apply_json(%s): error \"%s\" does not contain \"%s\"", text, err, needle);
    free(c);
}

/* Defaults, then text applied (and finished when is_finished), each step required to succeed. */
static void json_ok(cfg_t *c, const char *text, int is_finished)
{
    char err[1024] = "";
    cfg_defaults(c);
    if (cfg_apply_json(c, text, strlen(text), "test.json", err, sizeof err) != 0)
        fail_msg("cfg_apply_json(%s): %s", text, err);
    if (is_finished && cfg_finish(c, err, sizeof err) != 0)
        fail_msg("cfg_finish after %s: %s", text, err);
}

/* cfg_apply_json accepts text, cfg_finish refuses it with an error containing needle. */
static void finish_bad(const char *text, const char *needle)
{
    cfg_t *c = cfg_new();
    char err[1024] = "";
    json_ok(c, text, 0);
    if (cfg_finish(c, err, sizeof err) == 0)
        fail_msg("cfg_finish after %s unexpectedly succeeded", text);
    if (!strstr(err, needle))
        fail_msg("cfg_finish after %s: error \"%s\" does not contain \"%s\"", text, err, needle);
    free(c);
}

static void test_defaults(void **state)
{
    char *argv[] = {"ocsf-collector"};
    cfg_t *c = cfg_new();
    char err[1024] = "";
    assert_int_equal(cfg_load(c, ARGC(argv), argv, err, sizeof err), CFG_OK);
    assert_string_equal(c->state_dir, "ocsf-state");
    assert_string_equal(c->spool, "ocsf-state/spool.db");
    assert_string_equal(c->log_level, "info");
    assert_string_equal(c->spool_synchronous, "full");
    assert_string_equal(c->normalize, "on");
    assert_int_equal(c->max_event_bytes, 1048576);
    assert_int_equal(c->max_connections, 1024);
    assert_int_equal(c->idle_timeout_ms, 300000);
    assert_int_equal(c->commit_max_events, 8192);
    assert_int_equal(c->max_pending_bytes, 64 << 20);
    assert_int_equal(c->spool_cache_bytes, 64 << 20);
    assert_int_equal(c->retention_s, 3600);
    assert_int_equal(c->is_check_config, 0);
    assert_int_equal(c->n_listeners, 2);
    assert_string_equal(c->listeners[0].url_str, "tcp://127.0.0.1:7514");
    assert_string_equal(c->listeners[0].url.scheme, "tcp");
    assert_int_equal(c->listeners[0].url.port, 7514);
    assert_string_equal(c->listeners[1].url.scheme, "unix");
    assert_non_null(strstr(c->listeners[1].url_str, "/ocsf-state/ingest.sock"));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c->listeners[i].max_event_bytes, 1048576);
        assert_int_equal(c->listeners[i].max_connections, 1024);
        assert_int_equal(c->listeners[i].idle_timeout_ms, 300000);
    }
    assert_int_equal(c->n_sinks, 1);
    assert_true(strncmp(c->sinks[0], "file:///", 8) == 0);
    assert_non_null(strstr(c->sinks[0], "/ocsf-state/events.ndjson"));
    free(c);
}

static void test_flags(void **state)
{
    char *argv[] = {"x",
                    "--listen",
                    "tcp://127.0.0.1:0",
                    "--listen",
                    "unix:///tmp/ocsf-test.sock",
                    "--max-event-bytes",
                    "4096",
                    "--state-dir",
                    "/tmp/st",
                    "--sink",
                    "file:///tmp/a.ndjson",
                    "--check-config",
                    "--log-level",
                    "debug",
                    "--spool-cache-bytes",
                    "8388608"};
    cfg_t *c = cfg_new();
    char err[1024] = "";
    int rc = cfg_load(c, ARGC(argv), argv, err, sizeof err);
    if (rc != CFG_OK)
        fail_msg("cfg_load: %d %s", rc, err);
    assert_int_equal(c->n_listeners, 2);
    assert_int_equal(c->listeners[0].url.port, 0);
    assert_string_equal(c->listeners[1].url.path, "/tmp/ocsf-test.sock");
    assert_int_equal(c->listeners[0].max_event_bytes, 4096);
    assert_int_equal(c->listeners[1].max_event_bytes, 4096);
    assert_int_equal(c->max_event_bytes, 4096);
    assert_string_equal(c->spool, "/tmp/st/spool.db");
    assert_int_equal(c->n_sinks, 1);
    assert_string_equal(c->sinks[0], "file:///tmp/a.ndjson");
    assert_int_equal(c->is_check_config, 1);
    assert_string_equal(c->log_level, "debug");
    assert_int_equal(c->spool_cache_bytes, 8 << 20);
    free(c);

    /* --name=VALUE is the same as --name VALUE, for every kind of option */
    char *eq[] = {"x",
                  "--listen=tcp://127.0.0.1:0",
                  "--max-event-bytes=4096",
                  "--sink=file:///tmp/b.ndjson",
                  "--log-level=warn",
                  "--chain-head-events",
                  "--state-dir=/tmp/st2"};
    c = cfg_new();
    rc = cfg_load(c, ARGC(eq), eq, err, sizeof err);
    if (rc != CFG_OK)
        fail_msg("cfg_load (--name=VALUE): %d %s", rc, err);
    assert_int_equal(c->n_listeners, 1);
    assert_int_equal(c->max_event_bytes, 4096);
    assert_string_equal(c->sinks[0], "file:///tmp/b.ndjson");
    assert_string_equal(c->log_level, "warn");
    assert_int_equal(c->is_chain_head_events, 1);
    assert_string_equal(c->spool, "/tmp/st2/spool.db");
    free(c);
}

static void test_flag_errors(void **state)
{
    char *unknown[] = {"x", "--listen", "tcp://127.0.0.1:1", "--bogus-flag", "1"};
    load_bad(unknown, ARGC(unknown), "--bogus-flag");
    char *unknown_eq[] = {"x", "--bogus-flag=1"};
    load_bad(unknown_eq, ARGC(unknown_eq), "unknown option '--bogus-flag=1'");
    char *bool_eq[] = {"x", "--check-config=yes"};
    load_bad(bool_eq, ARGC(bool_eq), "option '--check-config' takes no value");
    char *range_eq[] = {"x", "--max-event-bytes=10"};
    load_bad(range_eq, ARGC(range_eq), "--max-event-bytes: 10 is out of range");
    char *chain_off[] = {"x", "--normalize", "off", "--chain-head-events"};
    load_bad(chain_off, ARGC(chain_off), "--chain-head-events needs --normalize on");
    char *missing[] = {"x", "--max-connections"};
    load_bad(missing, ARGC(missing), "--max-connections");
    load_bad(missing, ARGC(missing), "needs a value");
    char *range[] = {"x", "--max-event-bytes", "10"};
    load_bad(range, ARGC(range), "--max-event-bytes");
    load_bad(range, ARGC(range), "out of range");
    char *range_hi[] = {"x", "--commit-interval-ms", "5000"};
    load_bad(range_hi, ARGC(range_hi), "--commit-interval-ms");
    char *not_int[] = {"x", "--idle-timeout-ms", "12abc"};
    load_bad(not_int, ARGC(not_int), "--idle-timeout-ms");
    load_bad(not_int, ARGC(not_int), "not an integer");
    char *bad_url[] = {"x", "--listen", "http://127.0.0.1:80"};
    load_bad(bad_url, ARGC(bad_url), "--listen");
    char *no_port[] = {"x", "--listen", "tcp://127.0.0.1"};
    load_bad(no_port, ARGC(no_port), "needs a port");
    char *bad_level[] = {"x", "--log-level", "loud"};
    load_bad(bad_level, ARGC(bad_level), "--log-level");
    char *small_cache[] = {"x", "--spool-cache-bytes", "65536"};
    load_bad(small_cache, ARGC(small_cache), "--spool-cache-bytes");
    char *bad_sync[] = {"x", "--spool-synchronous", "maybe"};
    load_bad(bad_sync, ARGC(bad_sync), "--spool-synchronous");
    char *no_file[] = {"x", "--config", "/nonexistent/ocsf-cfg.json"};
    load_bad(no_file, ARGC(no_file), "/nonexistent/ocsf-cfg.json");
}

static void test_help_version(void **state)
{
    cfg_t *c = cfg_new();
    char err[256] = "";
    char *help[] = {"x", "--max-connections", "5", "--help"};
    assert_int_equal(cfg_load(c, ARGC(help), help, err, sizeof err), CFG_EXIT_HELP);
    char *version[] = {"x", "--version"};
    assert_int_equal(cfg_load(c, ARGC(version), version, err, sizeof err), CFG_EXIT_VERSION);
    /* help text mentions every flag it documents, from the table */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    cfg_print_help(f, "ocsf-collector");
    fclose(f);
    assert_non_null(strstr(buf, "--listen"));
    assert_non_null(strstr(buf, "--max-event-bytes"));
    assert_non_null(strstr(buf, "--spool-synchronous"));
    free(buf);
    free(c);
}

static void test_json_errors(void **state)
{
    json_bad("{\"bogus_key\": 1}", "bogus_key");
    json_bad("{\"max_connections\": \"ten\"}", "max_connections");
    json_bad("{\"max_connections\": \"ten\"}", "expected an integer");
    json_bad("{\"log_level\": 3}", "log_level");
    json_bad("{\"check_config\": 1}", "check_config");
    json_bad("{\"max_connections\": 0}", "out of range");
    json_bad("{\"listen\": 7}", "listen");
    json_bad("{\"listen\": [\"nonsense\"]}", "bad URL");
    json_bad("{\"listen\": [\"file:///tmp/x\"]}", "listen");
    json_bad("{\"sinks\": [\"not a url\"]}", "bad URL");
    json_bad("{\"sink\": [1]}", "sink");
    json_bad("{\"listen\": [{\"url\":\"tcp://127.0.0.1:1\",\"max_connectionz\":1}]}",
             "max_connectionz");
    json_bad("{\"listen\": [{\"url\":\"tcp://127.0.0.1:1\",\"max_event_bytes\":\"x\"}]}",
             "max_event_bytes");
    json_bad("{\"listen\": [{\"url\":\"tcp://127.0.0.1:1\",\"idle_timeout_ms\":1}]}",
             "idle_timeout_ms");
    json_bad("{\"listen\": [{\"max_event_bytes\":100}]}", "url");
    json_bad("{\"config\": \"/etc/x\"}", "config");
    json_bad("[1]", "JSON object");
    json_bad("{\"a\":", "test.json");
    json_bad("{\"log_level\":\"info\",\"log_level\":\"debug\"}", "test.json");
}

static void test_json_listeners_and_sinks(void **state)
{
    static const char text[] =
        "{\"listen\": [{\"url\": \"tcp://127.0.0.1:0\", \"max_event_bytes\": 4096,"
        "               \"idle_timeout_ms\": 1000},"
        "              \"unix:///tmp/ocsf-t.sock\"],"
        " \"max_connections\": 7,"
        " \"sinks\": [\"file:///tmp/a.ndjson\", {\"url\": \"file:///tmp/b.ndjson?gzip=1\"}],"
        " \"normalize\": \"off\", \"check_config\": true}";
    cfg_t *c = cfg_new();
    json_ok(c, text, 1);
    assert_int_equal(c->n_listeners, 2);
    assert_int_equal(c->listeners[0].max_event_bytes, 4096);
    assert_int_equal(c->listeners[0].idle_timeout_ms, 1000);
    assert_int_equal(c->listeners[0].max_connections, 7); /* inherited */
    assert_int_equal(c->listeners[1].max_event_bytes, 1048576);
    assert_int_equal(c->listeners[1].max_connections, 7);
    assert_int_equal(c->listeners[1].idle_timeout_ms, 300000);
    assert_int_equal(c->n_sinks, 2);
    assert_string_equal(c->sinks[0], "file:///tmp/a.ndjson");
    assert_string_equal(c->sinks[1], "file:///tmp/b.ndjson?gzip=1");
    assert_string_equal(c->normalize, "off");
    assert_int_equal(c->is_check_config, 1);

    /* "sink" (singular) takes a single string too */
    static const char single[] =
        "{\"sink\": \"file:///tmp/c.ndjson\", \"listen\": \"tcp://[::1]:9\"}";
    json_ok(c, single, 0);
    assert_int_equal(c->n_sinks, 1);
    assert_string_equal(c->sinks[0], "file:///tmp/c.ndjson");
    assert_int_equal(c->n_listeners, 1);
    assert_int_equal(c->listeners[0].url.port, 9);
    free(c);
}

#define TLS_LISTENER                                                                               \
    "{\"listen\": [{\"url\": \"tls://127.0.0.1:0\", \"cert_file\": \"/c.pem\", \"key_file\": "     \
    "\"/k.pem\""

static void test_allow_types_by_identity(void **state)
{
    static const char text[] = TLS_LISTENER
        ", \"client_ca\": \"/ca.pem\", \"allow_identities\": [\"broker\", \"policy-agent\", \"x\"],"
        " \"allow_types\": [\"broker.*\", \"policy.*\", \"workspace.*\"],"
        " \"allow_types_by_identity\": {\"broker\": [\"broker.*\"],"
        "   \"policy-agent\": [\"policy.*\", \"workspace.profile_apply\"], \"x\": \"x.*\"}}]}";
    cfg_t *c = cfg_new();
    json_ok(c, text, 1);
    const cfg_listener_t *l = &c->listeners[0];
    assert_int_equal(l->n_types_by_identity, 3);
    assert_string_equal(l->types_by_identity[0].identity, "broker");
    assert_string_equal(l->types_by_identity[0].types, "broker.*");
    assert_string_equal(l->types_by_identity[1].identity, "policy-agent");
    assert_string_equal(l->types_by_identity[1].types, "policy.*,workspace.profile_apply");
    assert_string_equal(l->types_by_identity[2].identity, "x");
    assert_string_equal(l->types_by_identity[2].types, "x.*"); /* one string is a list of one */

    /* without allow_identities any key is accepted (a certificate matching none falls back to
     * allow_types) */
    static const char open_ids[] =
        TLS_LISTENER ", \"client_ca\": \"/ca.pem\","
                     " \"allow_types_by_identity\": {\"a\": [\"a.*\"]}}]}";
    json_ok(c, open_ids, 1);
    assert_int_equal(c->listeners[0].n_types_by_identity, 1);
    assert_int_equal(c->listeners[0].allow_identities[0], '\0');
    free(c);

    /* shape errors name the key (and the identity) */
    json_bad("{\"listen\": [{\"url\": \"tcp://127.0.0.1:0\", \"allow_types_by_identity\": {}}]}",
             "allow_types_by_identity: only tls:// listeners take this key");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": [\"broker.*\"]}]}",
             "allow_types_by_identity: expected an object");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {}}]}", "with at least one identity");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"broker\": 7}}]}",
             "allow_types_by_identity.\"broker\": expected an array of strings");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"broker\": {\"a\": 1}}}]}",
             "allow_types_by_identity.\"broker\": expected an array of strings");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"broker\": [true]}}]}",
             "allow_types_by_identity.\"broker\"[0]: expected a non-empty string");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"broker\": []}}]}",
             "allow_types_by_identity.\"broker\": expected at least one type pattern");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"broker\": [\"a,b\"]}}]}",
             "without ','");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"a,b\": [\"a.*\"]}}]}",
             "allow_types_by_identity.\"a,b\": not a certificate name");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"\": [\"a.*\"]}}]}",
             "not a certificate name");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"a\\nb\": [\"a.*\"]}}]}",
             "allow_types_by_identity.\"a?b\": not a certificate name");
    json_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"a\": \"x\", \"a\": \"y\"}}]}",
             "test.json");

    /* bounds: identities per listener, patterns per identity, name length */
    char big[16384];
    size_t off = (size_t)snprintf(big, sizeof big, TLS_LISTENER ", \"allow_types_by_identity\": {");
    for (int i = 0; i <= CFG_MAX_IDENTITY_TYPES; i++)
        off +=
            (size_t)snprintf(big + off, sizeof big - off, "%s\"id%d\": \"t.*\"", i ? "," : "", i);
    snprintf(big + off, sizeof big - off, "}}]}");
    json_bad(big, "17 identities, at most 16");
    off =
        (size_t)snprintf(big, sizeof big, TLS_LISTENER ", \"allow_types_by_identity\": {\"a\": [");
    for (int i = 0; i <= CFG_MAX_IDENTITY_PATTERNS; i++)
        off += (size_t)snprintf(big + off, sizeof big - off, "%s\"t%d\"", i ? "," : "", i);
    snprintf(big + off, sizeof big - off, "]}}]}");
    json_bad(big, "allow_types_by_identity.\"a\": 33 type patterns, at most 32");
    off = (size_t)snprintf(big, sizeof big, TLS_LISTENER ", \"allow_types_by_identity\": {\"");
    memset(big + off, 'n', 300);
    snprintf(big + off + 300, sizeof big - off - 300, "\": [\"a.*\"]}}]}");
    json_bad(big, "1..255 bytes");

    /* checks across keys: client_ca, and allow_identities when it is set */
    finish_bad(TLS_LISTENER ", \"allow_types_by_identity\": {\"broker\": [\"broker.*\"]}}]}",
               "listener tls://127.0.0.1:0: \"allow_types_by_identity\" needs \"client_ca\"");
    finish_bad(TLS_LISTENER
               ", \"client_ca\": \"/ca.pem\", \"allow_identities\": [\"broker\"],"
               " \"allow_types_by_identity\": {\"broker\": \"b.*\", \"brokr\": \"b.*\"}}]}",
               "allow_types_by_identity key \"brokr\" is not in allow_identities");
    /* a name that only starts or ends like a listed one is not listed */
    finish_bad(TLS_LISTENER
               ", \"client_ca\": \"/ca.pem\", \"allow_identities\": [\"broker-2\", \"x\"],"
               " \"allow_types_by_identity\": {\"broker\": \"b.*\"}}]}",
               "key \"broker\" is not in allow_identities");
}

/* Writes text to a new temp file; returns its path (caller frees and unlinks). */
static char *write_temp(const char *text)
{
    const char *dir = getenv("OCSF_TEST_TMP");
    char *path = malloc(4200);
    assert_non_null(path);
    snprintf(path, 4200, "%s/test_cfg_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_flags_override_file(void **state)
{
    char *path = write_temp("{\"max_connections\": 5, \"log_level\": \"debug\","
                            " \"idle_timeout_ms\": 2000,"
                            " \"listen\": [\"tcp://127.0.0.1:9000\", \"tcp://127.0.0.1:9002\"],"
                            " \"sinks\": [\"file:///tmp/from-file.ndjson\"]}\n");
    char *argv[] = {"x",        "--max-connections",   "7", "--config", path,
                    "--listen", "tcp://127.0.0.1:9001"};
    cfg_t *c = cfg_new();
    char err[1024] = "";
    int rc = cfg_load(c, ARGC(argv), argv, err, sizeof err);
    if (rc != CFG_OK)
        fail_msg("cfg_load: %s", err);
    assert_int_equal(c->max_connections, 7);    /* flag wins, even given before --config */
    assert_string_equal(c->log_level, "debug"); /* file over default */
    assert_int_equal(c->idle_timeout_ms, 2000);
    assert_int_equal(c->n_listeners, 1); /* the flag list replaces the file's list */
    assert_int_equal(c->listeners[0].url.port, 9001);
    assert_int_equal(c->listeners[0].max_connections, 7);
    assert_int_equal(c->listeners[0].idle_timeout_ms, 2000);
    assert_int_equal(c->n_sinks, 1); /* no --sink flag: the file's list stays */
    assert_string_equal(c->sinks[0], "file:///tmp/from-file.ndjson");
    assert_string_equal(c->config_path, path);
    free(c);
    unlink(path);

    /* an error in the file names the file */
    free(path);
    path = write_temp("{\"max_connections\": 5,\n \"nope\": 1}");
    char *argv2[] = {"x", "--config", path};
    load_bad(argv2, ARGC(argv2), path);
    load_bad(argv2, ARGC(argv2), "nope");
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_json_listeners_and_sinks),
        cmocka_unit_test(test_allow_types_by_identity),
        cmocka_unit_test(test_flags_override_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
