/* test_jsonr.c - unit tests for jsonr.c: on hand-picked documents (every escape, surrogate pairs,
 * UTF-8 up to U+10FFFF, integer and real extremes, whitespace, empty containers, member order)
 * the tree equals json_loadb's, member order included; each kind of bad input is refused, as
 * jansson refuses it, with a reason naming what and the byte; the depth limit holds; every file of
 * the native corpus parses to jansson's tree. fuzz_jsonr does the same on arbitrary bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus_files.h"
#include "jsonr.h"

#define JANSSON_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)

/* p parses, to the tree json_loadb makes, members in the same order; returns the tree. */
static json_t *same_as_jansson(const char *p, size_t len)
{
    json_t *mine = NULL;
    char reason[256] = "";
    json_error_t jerr;
    json_t *ref = json_loadb(p, len, JANSSON_FLAGS, &jerr);
    if (!ref)
        fail_msg("test input refused by jansson: %s (%.*s)", jerr.text, (int)len, p);
    if (jsonr_parse(p, len, 64, &mine, reason, sizeof reason) != 0)
        fail_msg("jsonr refused %.*s: %s", (int)len, p, reason);
    assert_true(json_equal(mine, ref));
    char *a = json_dumps(mine, JSON_COMPACT | JSON_ENCODE_ANY);
    char *b = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(ref);
    return mine;
}

static void ok(const char *p)
{
    json_decref(same_as_jansson(p, strlen(p)));
}

/* p is refused by jsonr (and by jansson, unless is_byte_rule: a UTF-8, NUL or depth rule that
 * envelope.c adds), with a reason containing needle. */
static void bad_len(const char *p, size_t len, const char *needle, int is_byte_rule)
{
    json_t *mine = (json_t *)1;
    char reason[256] = "";
    json_error_t jerr;
    if (jsonr_parse(p, len, 64, &mine, reason, sizeof reason) != -1)
        fail_msg("jsonr accepted %.*s", (int)len, p);
    assert_null(mine);
    if (!strstr(reason, needle))
        fail_msg("reason \"%s\" for %.*s does not contain \"%s\"", reason, (int)len, p, needle);
    json_t *ref = json_loadb(p, len, JANSSON_FLAGS, &jerr);
    if (ref && !is_byte_rule)
        fail_msg("jansson accepts %.*s", (int)len, p);
    json_decref(ref);
}

static void bad(const char *p, const char *needle)
{
    bad_len(p, strlen(p), needle, 0);
}

static void test_valid(void **state)
{
    (void)state;
    ok("{}");
    ok("[]");
    ok(" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n");
    ok("{\"z\":1,\"a\":2,\"m\":3,\"b\":4}"); /* insertion order, not sorted */
    ok("{\"\":\"\"}");
    ok("\"top-level string\"");
    ok("42");
    ok("true");
    ok("null");
    ok("[true,false,null,0,-0,1.5,-2.5e-3,1E+2,1e2,0.0,-0.0]");
    ok("[[[[[[[[[[1]]]]]]]]]]");
    /* more members than jansson's first hashtable sizes */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "{");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(big + n, sizeof big - n, "}");
    ok(big);
}

static void test_strings(void **state)
{
    (void)state;
    ok("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]");
    ok("[\"\\u0041\\u00e9\\u20AC\\uFFFF\\ud83d\\ude00\\uDBFF\\uDFFF\"]");
    ok("[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf \x7f\"]");
    ok("{\"k\\u00e9y\":\"v\\nal\",\"\\u006b2\":\"x\\ty\",\"plain\":\"text\"}");
    /* long runs around the 8-byte scan, a special byte at every offset */
    for (int at = 0; at < 20; at++) {
        char s[64];
        int n = snprintf(s, sizeof s, "[\"%.*s\\n%s\"]", at, "abcdefghijklmnopqrstuvwxyz", "tail");
        json_t *v = same_as_jansson(s, (size_t)n);
        assert_int_equal(json_string_length(json_array_get(v, 0)), (size_t)at + 5);
        json_decref(v);
        n = snprintf(s, sizeof s, "[\"%.*s\xc3\xa9%s\"]", at, "abcdefghijklmnopqrstuvwxyz",
                     "0123456789");
        json_decref(same_as_jansson(s, (size_t)n));
    }
    /* many escaped keys and values share the scratch area; each must survive */
    char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"k\\u00e9%d\":[\"v\\t%d\",\"w%d\"]",
                              i ? "," : "", i, i, i);
    snprintf(buf + n, sizeof buf - n, "}");
    ok(buf);
}

static void test_numbers(void **state)
{
    (void)state;
    const char *ext = "[9223372036854775807,-9223372036854775808,0,-1]";
    json_t *v = same_as_jansson(ext, strlen(ext));
    assert_true(json_integer_value(json_array_get(v, 0)) == INT64_MAX);
    assert_true(json_integer_value(json_array_get(v, 1)) == INT64_MIN);
    json_decref(v);
    ok("[1e-400,123456789012345678901234567890.5,1.7976931348623157e308]");
    char longreal[200];
    memset(longreal, '7', sizeof longreal);
    longreal[0] = '[';
    longreal[100] = '.';
    memcpy(longreal + sizeof longreal - 2, "1]", 2);
    json_decref(same_as_jansson(longreal, sizeof longreal));
    bad("[9223372036854775808]", "too big integer");
    bad("[-9223372036854775809]", "too big negative integer");
    bad("[99999999999999999999999]", "too big integer");
    bad("[1e400]", "real number overflow");
    bad("[-1e400]", "real number overflow");
    bad("[01]", "leading zero");
    bad("[-01]", "leading zero");
    bad("[1.]", "no digit after '.'");
    bad("[1.e5]", "no digit after '.'");
    bad("[1e]", "exponent");
    bad("[1e+]", "exponent");
    bad("[-]", "invalid number");
    bad("[+1]", "unexpected character");
    bad("[.5]", "unexpected character");
    bad("[1.5.3]", "',' or ']' expected");
}

static void test_refused(void **state)
{
    (void)state;
    bad("", "unexpected end of input at byte 0");
    bad("   ", "unexpected end of input");
    bad("{\"a\":1}x", "end of input expected at byte 7");
    bad("{\"a\":1}{}", "end of input expected");
    bad("{\"a\":1,\"a\":2}", "duplicate object key \"a\" at byte 7");
    bad("{\"a\":1,\"\\u0061\":2}", "duplicate object key \"a\"");
    bad("{\"a\":1,}", "string or '}' expected at byte 7");
    bad("[1,]", "unexpected character");
    bad("[1 2]", "',' or ']' expected");
    bad("{\"a\" 1}", "':' expected");
    bad("{\"a\":1 \"b\":2}", "',' or '}' expected");
    bad("{a:1}", "string or '}' expected");
    bad("{\"a\":tru}", "invalid token");
    bad("{\"a\":nulll}", "',' or '}' expected");
    bad("[True]", "unexpected character");
    bad("{\"a\":\"x", "unterminated string");
    bad("{\"a\":\"x\\", "unterminated string");
    bad("[\"a\nb\"]", "control character in string at byte 3");
    bad("[\"a\tb\"]", "control character");
    bad("[\"\\x\"]", "invalid escape at byte 2");
    bad("[\"\\u12\"]", "invalid \\u escape");
    bad("[\"\\u12G4\"]", "invalid \\u escape");
    bad("[\"\\u0000\"]", "\\u0000 is not allowed");
    bad("{\"\\u0000\":1}", "\\u0000 is not allowed");
    bad("[\"\\ud800\"]", "lone high surrogate");
    bad("[\"\\ud800\\u0041\"]", "lone high surrogate");
    bad("[\"\\ud800x\"]", "lone high surrogate");
    bad("[\"\\udc00\"]", "lone low surrogate");
    /* byte rules: the same wording as envelope_check's */
    bad_len("[\"a\0b\"]", 7, "NUL byte at byte 3", 0);
    bad_len("[1,\0]", 5, "NUL byte at byte 3", 0);
    bad("[\"x\x80\"]", "invalid UTF-8 at byte 3");
    bad("[\"\xc0\xaf\"]", "invalid UTF-8 at byte 2");     /* overlong */
    bad("[\"\xed\xa0\x80\"]", "invalid UTF-8 at byte 2"); /* surrogate */
    bad("[\"\xf4\x90\x80\x80\"]", "invalid UTF-8");       /* above U+10FFFF */
    bad("[\"\xe2\x82", "invalid UTF-8 at byte 2");        /* cut by the end */
    bad("[\xff]", "invalid UTF-8 at byte 1");
    bad("[\xc3\xa9]", "unexpected character at byte 1"); /* valid UTF-8, not JSON */
}

static void test_depth(void **state)
{
    (void)state;
    char buf[4096];
    json_t *v = (json_t *)1;
    char reason[256];
    for (int depth = 1; depth <= 70; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, i % 2 ? "[" : "{\"a\":");
        buf[n++] = '1';
        for (int i = depth - 1; i >= 0; i--)
            buf[n++] = i % 2 ? ']' : '}';
        int rc = jsonr_parse(buf, n, 64, &v, reason, sizeof reason);
        if (depth <= 64) {
            assert_int_equal(rc, 0);
            json_decref(v);
        } else {
            assert_int_equal(rc, -1);
            assert_null(v);
            assert_non_null(strstr(reason, "nesting deeper than 64 levels at byte"));
        }
    }
    /* the limit is clamped to 1..1024 */
    assert_int_equal(jsonr_parse("[[1]]", 5, 0, &v, reason, sizeof reason), -1);
    assert_string_equal(reason, "nesting deeper than 1 levels at byte 1");
    assert_int_equal(jsonr_parse("[1]", 3, -5, &v, reason, sizeof reason), 0);
    json_decref(v);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *s = malloc(1 << 20);
    assert_non_null(s);
    *len = fread(s, 1, 1 << 20, f);
    fclose(f);
    return s;
}

/* A corpus file as it is, and its case's input re-serialized compactly (a line as emitters send).
 */
static void check_corpus_file(const char *path, void *ctx)
{
    (void)ctx;
    size_t len;
    char *text = read_all(path, &len);
    json_t *v = same_as_jansson(text, len);
    json_t *in = json_object_get(v, "input");
    if (in) {
        char *line = json_dumps(in, JSON_COMPACT);
        json_decref(same_as_jansson(line, strlen(line)));
        free(line);
    }
    json_decref(v);
    free(text);
}

static void test_corpus(void **state)
{
    (void)state;
    assert_true(corpus_foreach(check_corpus_file, NULL) >= 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),   cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_depth),   cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
