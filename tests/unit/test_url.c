/* test_url.c - unit tests for url.c: every URL form the daemon and tools accept, the errors they
 * must give (naming what is wrong), IPv6 literals, field bounds, query decoding and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

/* Parses s expecting success. */
static url_t parse_ok(const char *s)
{
    url_t u;
    char err[256] = "";
    int rc = url_parse(s, &u, err, sizeof(err));
    if (rc != 0)
        fail_msg("url_parse(%s) failed: %s", s, err);
    return u;
}

/* Parses s expecting failure with a message containing needle. */
static void parse_bad(const char *s, const char *needle)
{
    url_t u;
    char err[512] = "";
    int rc = url_parse(s, &u, err, sizeof(err));
    if (rc != -1)
        fail_msg("url_parse(%s) unexpectedly succeeded", s ? s : "(null)");
    if (!strstr(err, needle))
        fail_msg("url_parse(%s): error \"%s\" does not contain \"%s\"", s ? s : "(null)", err,
                 needle);
    /* A failed parse leaves no half-parsed values behind. */
    assert_int_equal(u.port, -1);
    assert_string_equal(u.scheme, "");
    assert_string_equal(u.host, "");
    assert_string_equal(u.path, "");
}

static void test_tcp_ipv4(void **state)
{
    url_t u = parse_ok("tcp://127.0.0.1:7000");
    assert_string_equal(u.scheme, "tcp");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 7000);
    assert_string_equal(u.path, "");
    assert_string_equal(u.query, "");
}

static void test_tcp_port_zero_and_max(void **state)
{
    url_t u = parse_ok("tcp://127.0.0.1:0");
    assert_int_equal(u.port, 0);
    u = parse_ok("tcp://localhost:65535");
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 65535);
}

static void test_tcp_ipv6(void **state)
{
    url_t u = parse_ok("tcp://[::1]:9000");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 9000);
    assert_true(url_host_is_ipv6(&u));

    u = parse_ok("tcp://[fe80::1%eth0]:9000");
    assert_string_equal(u.host, "fe80::1%eth0");

    u = parse_ok("tcp://[2001:db8::ffff:192.0.2.1]:1");
    assert_string_equal(u.host, "2001:db8::ffff:192.0.2.1");
    assert_int_equal(u.port, 1);

    u = parse_ok("tcp://127.0.0.1:1");
    assert_false(url_host_is_ipv6(&u));
}

static void test_scheme_lowercased(void **state)
{
    url_t u = parse_ok("TCP://Host.Example:80");
    assert_string_equal(u.scheme, "tcp");
    assert_string_equal(u.host, "Host.Example");
}

static void test_unix(void **state)
{
    url_t u = parse_ok("unix:///run/ocsf/collector.sock");
    assert_string_equal(u.scheme, "unix");
    assert_string_equal(u.host, "");
    assert_int_equal(u.port, -1);
    assert_string_equal(u.path, "/run/ocsf/collector.sock");
}

static void test_unix_relative_is_refused(void **state)
{
    parse_bad("unix://x", "unix URL needs an absolute path: unix://x");
    parse_bad("unix://", "unix URL needs an absolute path");
    parse_bad("unix:///", "unix URL needs an absolute path");
    parse_bad("unix://host/tmp/x.sock", "unix URL needs an absolute path");
}

static void test_unix_path_must_fit_sockaddr(void **state)
{
    char s[300];
    char path[200];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    snprintf(s, sizeof(s), "unix://%s", path);
    parse_bad(s, "unix socket path too long");
}

static void test_file_with_query(void **state)
{
    char v[64];
    url_t u = parse_ok("file:///var/log/ocsf/events.ndjson?gzip=1");
    assert_string_equal(u.scheme, "file");
    assert_string_equal(u.path, "/var/log/ocsf/events.ndjson");
    assert_string_equal(u.query, "gzip=1");
    assert_int_equal(url_query_get(&u, "gzip", v, sizeof(v)), 1);
    assert_string_equal(v, "1");

    u = parse_ok("file://localhost/tmp/e.ndjson");
    assert_string_equal(u.path, "/tmp/e.ndjson");
    assert_string_equal(u.host, "");

    parse_bad("file://relative/path", "file URL needs an absolute path");
}

static void test_kafka(void **state)
{
    char v[64];
    url_t u = parse_ok("kafka://h1:9092,h2:9092/audit.events?key=workspace&compression=zstd");
    assert_string_equal(u.scheme, "kafka");
    assert_string_equal(u.host, "h1:9092,h2:9092");
    assert_int_equal(u.port, -1);
    assert_string_equal(u.path, "/audit.events");
    assert_int_equal(url_query_get(&u, "key", v, sizeof(v)), 1);
    assert_string_equal(v, "workspace");
    assert_int_equal(url_query_get(&u, "compression", v, sizeof(v)), 1);
    assert_string_equal(v, "zstd");

    u = parse_ok("kafka://[::1]:9092,broker:9093/t");
    assert_string_equal(u.host, "[::1]:9092,broker:9093");
    assert_false(url_host_is_ipv6(&u));

    parse_bad("kafka://h1:9092", "kafka URL needs a topic");
    parse_bad("kafka://h1:9092/", "kafka URL needs a topic");
    parse_bad("kafka:///topic", "kafka URL needs at least one broker");
    parse_bad("kafka://h1:9092,,h2:9092/t", "empty broker");
    parse_bad("kafka://h1:9092,/t", "empty broker");
    parse_bad("kafka://h1:99999/t", "port out of range");
    parse_bad("kafka://h1:9092/a/b", "kafka topic has an invalid character '/'");
}

static void test_generic_scheme(void **state)
{
    char v[64];
    url_t u = parse_ok("hec+https://splunk.corp.example:8088/services/collector?token_file=%2Fetc%"
                       "2Fhec.token");
    assert_string_equal(u.scheme, "hec+https");
    assert_string_equal(u.host, "splunk.corp.example");
    assert_int_equal(u.port, 8088);
    assert_string_equal(u.path, "/services/collector");
    assert_int_equal(url_query_get(&u, "token_file", v, sizeof(v)), 1);
    assert_string_equal(v, "/etc/hec.token");

    u = parse_ok("syslog+tls://logs.example");
    assert_string_equal(u.scheme, "syslog+tls");
    assert_int_equal(u.port, -1);

    u = parse_ok("forward+tcp://10.0.0.1:7001?x=1");
    assert_string_equal(u.path, "");
    assert_string_equal(u.query, "x=1");
}

static void test_bad_urls(void **state)
{
    parse_bad(NULL, "no URL");
    parse_bad("", "empty URL");
    parse_bad("127.0.0.1:7000", "needs a scheme");
    parse_bad("://host:1", "empty scheme");
    parse_bad("1tcp://host:1", "scheme has an invalid character");
    parse_bad("tc_p://host:1", "scheme has an invalid character");
    parse_bad("tcp://127.0.0.1", "tcp URL needs a port");
    parse_bad("tcp://:7000", "tcp URL needs a host");
    parse_bad("tcp://127.0.0.1:", "empty port");
    parse_bad("tcp://127.0.0.1:65536", "port out of range");
    parse_bad("tcp://127.0.0.1:123456", "port out of range");
    parse_bad("tcp://127.0.0.1:12a", "port is not a number");
    parse_bad("tcp://127.0.0.1:-1", "port is not a number");
    parse_bad("tcp://::1:7000", "IPv6 address needs brackets");
    parse_bad("tcp://[::1:7000", "'[' without ']'");
    parse_bad("tcp://[::1]7000", "junk after ']'");
    parse_bad("tcp://[not:v6]:7000", "bad IPv6 address");
    parse_bad("tcp://[127.0.0.1]:7000", "bad IPv6 address");
    parse_bad("tcp://[fe80::1%]:7000", "bad IPv6 address");
    parse_bad("tcp://[]:7000", "bad IPv6 address");
    parse_bad("tcp://ho$t:7000", "host has an invalid character '$'");
    parse_bad("tcp://host name:1", "space or control character at offset 10");
    parse_bad("tcp://host:1\n", "control character");
}

static void test_credentials_never_echoed(void **state)
{
    url_t u;
    char err[256];
    assert_int_equal(url_parse("hec+https://admin:hunter2@splunk:8088", &u, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "credentials in URLs are not supported"));
    assert_null(strstr(err, "hunter2"));
    assert_null(strstr(err, "admin"));
}

static void test_null_err_buffer(void **state)
{
    url_t u;
    assert_int_equal(url_parse("tcp://x", &u, NULL, 0), -1);
    assert_int_equal(url_parse("tcp://x:1", &u, NULL, 0), 0);
    assert_int_equal(url_parse("tcp://x:1", NULL, NULL, 0), -1);
}

static void test_error_truncated_to_errlen(void **state)
{
    url_t u;
    char err[8];
    memset(err, 'Z', sizeof(err));
    assert_int_equal(url_parse("unix://x", &u, err, sizeof(err)), -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
}

/* Builds "PREFIX" + n copies of c + "SUFFIX" in a heap buffer. */
static char *make_url(const char *prefix, size_t n, char c, const char *suffix)
{
    size_t plen = strlen(prefix), slen = strlen(suffix);
    char *s = malloc(plen + n + slen + 1);
    assert_non_null(s);
    memcpy(s, prefix, plen);
    memset(s + plen, c, n);
    memcpy(s + plen + n, suffix, slen + 1);
    return s;
}

static void test_bounds(void **state)
{
    url_t u;
    char *s;

    /* host: 1023 bytes fit, 1024 do not */
    s = make_url("tcp://", 1023, 'h', ":1");
    u = parse_ok(s);
    assert_int_equal(strlen(u.host), 1023);
    free(s);
    s = make_url("tcp://", 1024, 'h', ":1");
    parse_bad(s, "host too long");
    free(s);

    /* path: 4095 bytes fit, 4096 do not */
    s = make_url("file:///", 4094, 'p', "");
    u = parse_ok(s);
    assert_int_equal(strlen(u.path), 4095);
    free(s);
    s = make_url("file:///", 4095, 'p', "");
    parse_bad(s, "path too long");
    free(s);

    /* query: 1023 bytes fit, 1024 do not */
    s = make_url("file:///x?", 1023, 'q', "");
    u = parse_ok(s);
    assert_int_equal(strlen(u.query), 1023);
    free(s);
    s = make_url("file:///x?", 1024, 'q', "");
    parse_bad(s, "query too long");
    free(s);

    /* scheme: 31 bytes fit, 32 do not */
    s = make_url("", 31, 's', "://h:1");
    u = parse_ok(s);
    assert_int_equal(strlen(u.scheme), 31);
    free(s);
    s = make_url("", 32, 's', "://h:1");
    parse_bad(s, "scheme too long");
    free(s);

    /* whole URL: more than URL_MAX_LEN bytes is refused before anything else */
    s = make_url("file:///", URL_MAX_LEN, 'p', "");
    parse_bad(s, "URL too long");
    free(s);

    /* kafka broker list longer than the host field */
    {
        char *list = malloc(2000);
        size_t off = 0;
        assert_non_null(list);
        off += (size_t)snprintf(list + off, 2000 - off, "kafka://");
        while (off < 1100)
            off += (size_t)snprintf(list + off, 2000 - off, "broker%zu:9092,", off);
        snprintf(list + off, 2000 - off, "last:9092/t");
        parse_bad(list, "broker list too long");
        free(list);
    }
}

static void test_query_get(void **state)
{
    char v[16];
    url_t u = parse_ok("file:///x?a=1&empty=&flag&sp=a%20b&plus=a+b&a=2&pct=%41%42");

    assert_int_equal(url_query_get(&u, "a", v, sizeof(v)), 1);
    assert_string_equal(v, "1"); /* first occurrence wins */
    assert_int_equal(url_query_get(&u, "empty", v, sizeof(v)), 1);
    assert_string_equal(v, "");
    assert_int_equal(url_query_get(&u, "flag", v, sizeof(v)), 1);
    assert_string_equal(v, "");
    assert_int_equal(url_query_get(&u, "sp", v, sizeof(v)), 1);
    assert_string_equal(v, "a b");
    assert_int_equal(url_query_get(&u, "plus", v, sizeof(v)), 1);
    assert_string_equal(v, "a+b");
    assert_int_equal(url_query_get(&u, "pct", v, sizeof(v)), 1);
    assert_string_equal(v, "AB");
    assert_int_equal(url_query_get(&u, "missing", v, sizeof(v)), 0);
    assert_int_equal(url_query_get(&u, "fla", v, sizeof(v)), 0); /* no prefix matches */
    assert_int_equal(url_query_get(&u, "", v, sizeof(v)), 0);
    assert_int_equal(url_query_get(&u, "a", NULL, 0), 1); /* presence only */
    assert_int_equal(url_query_get(&u, "nope", NULL, 0), 0);
}

static void test_query_get_bounds_and_malformed(void **state)
{
    char v[4];
    url_t u = parse_ok("file:///x?k=abc&long=abcd&bad=%zz&short=%4&nul=%00&enc=%61%62%63");

    assert_int_equal(url_query_get(&u, "k", v, sizeof(v)), 1); /* 3 bytes + NUL fit */
    assert_string_equal(v, "abc");
    assert_int_equal(url_query_get(&u, "long", v, sizeof(v)), -1);
    assert_int_equal(url_query_get(&u, "enc", v, sizeof(v)), 1); /* bound is on decoded size */
    assert_string_equal(v, "abc");
    assert_int_equal(url_query_get(&u, "bad", v, sizeof(v)), -1);
    assert_int_equal(url_query_get(&u, "short", v, sizeof(v)), -1);
    assert_int_equal(url_query_get(&u, "nul", v, sizeof(v)), -1);
    assert_int_equal(url_query_get(&u, "k", v, 0), -1);
    assert_int_equal(url_query_get(NULL, "k", v, sizeof(v)), 0);
}

static void test_format_round_trip(void **state)
{
    static const char *const urls[] = {
        "tcp://127.0.0.1:7000",
        "tcp://[::1]:0",
        "unix:///run/ocsf.sock",
        "file:///var/log/e.ndjson?gzip=1",
        "kafka://h1:9092,h2:9092/topic?key=workspace",
        "hec+https://splunk:8088/services/collector?token_file=/etc/t",
        "syslog+tls://logs.example",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char buf[256];
        url_t u = parse_ok(urls[i]);
        url_t again;
        url_format(&u, buf, sizeof(buf));
        assert_string_equal(buf, urls[i]);
        again = parse_ok(buf);
        assert_memory_equal(&u, &again, sizeof(u));
    }
}

static void test_format_canonicalizes_and_truncates(void **state)
{
    char buf[64];
    url_t u = parse_ok("TCP://[::1]:7");
    url_format(&u, buf, sizeof(buf));
    assert_string_equal(buf, "tcp://[::1]:7");

    u = parse_ok("file://localhost/tmp/x");
    url_format(&u, buf, sizeof(buf));
    assert_string_equal(buf, "file:///tmp/x");

    u = parse_ok("tcp://127.0.0.1:7000");
    url_format(&u, buf, 8);
    assert_string_equal(buf, "tcp://1");
    buf[0] = 'X';
    url_format(&u, buf, 0); /* nothing written */
    assert_int_equal(buf[0], 'X');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_ipv4),
        cmocka_unit_test(test_tcp_port_zero_and_max),
        cmocka_unit_test(test_tcp_ipv6),
        cmocka_unit_test(test_scheme_lowercased),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_unix_relative_is_refused),
        cmocka_unit_test(test_unix_path_must_fit_sockaddr),
        cmocka_unit_test(test_file_with_query),
        cmocka_unit_test(test_kafka),
        cmocka_unit_test(test_generic_scheme),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_credentials_never_echoed),
        cmocka_unit_test(test_null_err_buffer),
        cmocka_unit_test(test_error_truncated_to_errlen),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_query_get_bounds_and_malformed),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_format_canonicalizes_and_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
