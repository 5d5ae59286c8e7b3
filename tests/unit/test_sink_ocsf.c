/* test_sink_ocsf.c - unit tests for sinks/sink_ocsf.c: the bounded top-level scan (nested and
 * string look-alikes are not matched, escaped or oversized class names are absent, every prefix
 * of a body is scanned without reading past its length - ASan checks that), the class table and
 * the token conversion used for MSGID and sourcetype. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_ocsf.h"

static void scan(const char *s, sink_ocsf_fields_t *f, int want_rc)
{
    assert_int_equal(sink_ocsf_scan(s, strlen(s), f), want_rc);
}

static void test_top_level(void **state)
{
    sink_ocsf_fields_t f;
    scan("{\"class_uid\":3002,\"class_name\":\"Authentication\",\"severity_id\":4}", &f, 0);
    assert_int_equal(f.class_uid, 3002);
    assert_int_equal(f.severity_id, 4);
    assert_string_equal(f.class_name, "Authentication");

    /* look-alikes inside nested values and strings are skipped */
    scan(" {\"a\":{\"severity_id\":5,\"x\":[1,{\"class_name\":\"No\"}]},\"s\":\"\\\"severity_"
         "id\\\":6 }]\","
         "\"severity_id\" : 99 , \"class_name\":\"Entity Management\"}",
         &f, 0);
    assert_int_equal(f.severity_id, 99);
    assert_int_equal(f.class_uid, -1);
    assert_string_equal(f.class_name, "Entity Management");
}

static void test_absent_and_odd_values(void **state)
{
    sink_ocsf_fields_t f;
    scan("{\"severity_id\":1.5,\"class_name\":\"A\\u0042\",\"class_uid\":\"3002\"}", &f, 0);
    assert_int_equal(f.severity_id, -1);   /* not an integer */
    assert_int_equal(f.class_uid, -1);     /* a string */
    assert_string_equal(f.class_name, ""); /* escaped: absent, never half-decoded */
    char big[200];
    memset(big, 'x', sizeof big);
    char body[300];
    snprintf(body, sizeof body, "{\"class_name\":\"%.150s\",\"severity_id\":3}", big);
    scan(body, &f, 0);
    assert_string_equal(f.class_name, "");
    assert_int_equal(f.severity_id, 3);
    scan("[1,2]", &f, -1);
    scan("", &f, -1);
    scan("{\"a\":", &f, -1);
    scan("{}", &f, 0);
    assert_int_equal(f.severity_id, -1);
}

/* Every prefix of a body, from a heap copy of exactly that length. */
static void test_every_prefix(void **state)
{
    const char *body =
        "{\"metadata\":{\"v\":\"1.8.0\",\"l\":[\"a]\",{\"b\":\"}\"}]},\"class_name\":"
        "\"API Activity\",\"severity_id\":2,\"unmapped\":{\"q\":\"\\\\\"}}";
    size_t n = strlen(body);
    for (size_t k = 0; k <= n; k++) {
        char *p = malloc(k ? k : 1);
        assert_non_null(p);
        memcpy(p, body, k);
        sink_ocsf_fields_t f;
        int rc = sink_ocsf_scan(p, k, &f);
        assert_int_equal(rc, k == n ? 0 : -1);
        free(p);
    }
}

static void test_names_and_tokens(void **state)
{
    char out[33];
    assert_string_equal(sink_ocsf_class_name(3004), "Entity Management");
    assert_null(sink_ocsf_class_name(-1));
    sink_ocsf_token("Entity Management", 0, out, sizeof out);
    assert_string_equal(out, "Entity_Management");
    sink_ocsf_token("HTTP Activity", 1, out, sizeof out);
    assert_string_equal(out, "http_activity");
    sink_ocsf_token(NULL, 0, out, sizeof out);
    assert_string_equal(out, "unknown");
    sink_ocsf_token("a\tb\xc3\xa9", 0, out, sizeof out);
    assert_string_equal(out, "a_b__");
    sink_ocsf_token("0123456789012345678901234567890123456789", 0, out, sizeof out);
    assert_int_equal(strlen(out), 32); /* RFC 5424 MSGID is at most 32 characters */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level),
        cmocka_unit_test(test_absent_and_odd_values),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_names_and_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
