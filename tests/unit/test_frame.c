/* test_frame.c - unit tests for frame.c (NDJSON framing: line splitting across reads, '\r\n',
 * max_line edges, over-long lines discarded with a sample and their full length, bounded memory,
 * the unterminated tail at end of stream) and envelope.c (UTF-8, NUL, depth, duplicate keys,
 * top-level object). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "frame.h"

#define MAX_ITEMS 64

/* What came out of the framer: copies, since frame_next() pointers die on the next call. */
typedef struct collected {
    int n;
    int kind[MAX_ITEMS];
    char *data[MAX_ITEMS];
    size_t len[MAX_ITEMS];
    size_t total_len[MAX_ITEMS];
} collected_t;

static void collected_add(collected_t *c, int kind, const frame_item_t *it)
{
    assert_true(c->n < MAX_ITEMS);
    c->kind[c->n] = kind;
    c->data[c->n] = malloc(it->len + 1);
    assert_non_null(c->data[c->n]);
    memcpy(c->data[c->n], it->data, it->len);
    c->data[c->n][it->len] = '\0';
    c->len[c->n] = it->len;
    c->total_len[c->n] = it->total_len;
    c->n++;
}

static void collected_free(collected_t *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->data[i]);
    c->n = 0;
}

/* Writes len bytes into f in reads of at most chunk bytes, draining frame_next() after each. */
static void feed(frame_t *f, const char *p, size_t len, size_t chunk, collected_t *c)
{
    size_t off = 0;
    while (off < len) {
        char *dst;
        size_t avail, n = len - off;
        if (n > chunk)
            n = chunk;
        assert_int_equal(frame_reserve(f, n, &dst, &avail), 0);
        assert_true(avail >= (n < FRAME_READ_CHUNK ? n : FRAME_READ_CHUNK));
        if (n > avail) /* a read never writes more than it was given room for */
            n = avail;
        memcpy(dst, p + off, n);
        frame_commit(f, n);
        off += n;
        frame_item_t it;
        int r;
        while ((r = frame_next(f, &it)) != FRAME_NONE)
            collected_add(c, r, &it);
    }
}

static void finish(frame_t *f, collected_t *c)
{
    frame_item_t it;
    int r = frame_finish(f, &it);
    if (r != FRAME_NONE)
        collected_add(c, r, &it);
}

static void test_lines_and_crlf(void **state)
{
    static const char in[] = "{\"a\":1}\n{\"b\":2}\r\n\nlast\n";
    frame_t f;
    collected_t c = {0};
    frame_init(&f, 1024);
    feed(&f, in, sizeof in - 1, sizeof in, &c);
    finish(&f, &c);
    assert_int_equal(c.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(c.kind[i], FRAME_LINE);
    assert_string_equal(c.data[0], "{\"a\":1}");
    assert_string_equal(c.data[1], "{\"b\":2}"); /* '\r' removed */
    assert_int_equal(c.len[1], 7);
    assert_int_equal(c.total_len[1], 7);
    assert_string_equal(c.data[2], ""); /* empty line is a line */
    assert_int_equal(c.len[2], 0);
    assert_string_equal(c.data[3], "last");
    /* no unfinished line: no buffer held */
    assert_int_equal(frame_buffered(&f), 0);
    assert_null(f.buf);
    collected_free(&c);
    frame_free(&f);
}

static void test_only_one_cr_removed(void **state)
{
    static const char in[] = "ab\r\r\n\r\n";
    frame_t f;
    collected_t c = {0};
    frame_init(&f, 64);
    feed(&f, in, sizeof in - 1, 100, &c);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.len[0], 3);
    assert_memory_equal(c.data[0], "ab\r", 3);
    assert_int_equal(c.len[1], 0);
    collected_free(&c);
    frame_free(&f);
}

static void test_split_reads(void **state)
{
    static const char in[] = "first line here\r\nsecond\n\nthird one is a bit longer\n";
    static const size_t chunks[] = {1, 2, 3, 5, 7, 16, 1000};
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        frame_t f;
        collected_t c = {0};
        frame_init(&f, 64);
        feed(&f, in, sizeof in - 1, chunks[k], &c);
        finish(&f, &c);
        assert_int_equal(c.n, 4);
        assert_string_equal(c.data[0], "first line here");
        assert_string_equal(c.data[1], "second");
        assert_string_equal(c.data[2], "");
        assert_string_equal(c.data[3], "third one is a bit longer");
        for (int i = 0; i < 4; i++)
            assert_int_equal(c.kind[i], FRAME_LINE);
        collected_free(&c);
        frame_free(&f);
    }
}

static void test_many_lines_one_read(void **state)
{
    /* Many lines per read and many reads: every line comes out once, in order. */
    char *in = malloc(200000);
    size_t len = 0;
    int expect = 0;
    frame_t f;
    assert_non_null(in);
    for (int i = 0; len < 190000; i++)
        len += (size_t)snprintf(in + len, 200000 - len, "{\"n\":%d}\n", i);
    frame_init(&f, 100);
    for (size_t off = 0; off < len;) {
        char *dst;
        size_t avail, n = len - off < 40000 ? len - off : 40000;
        assert_int_equal(frame_reserve(&f, n, &dst, &avail), 0);
        memcpy(dst, in + off, n);
        frame_commit(&f, n);
        off += n;
        frame_item_t it;
        int r;
        while ((r = frame_next(&f, &it)) != FRAME_NONE) {
            char want[32];
            assert_int_equal(r, FRAME_LINE);
            int w = snprintf(want, sizeof want, "{\"n\":%d}", expect++);
            assert_int_equal(it.len, (size_t)w);
            assert_memory_equal(it.data, want, it.len);
        }
    }
    assert_true(expect > 10000);
    frame_item_t it;
    assert_int_equal(frame_finish(&f, &it), FRAME_NONE);
    frame_free(&f);
    free(in);
}

static void test_exact_max_line(void **state)
{
    enum { MAX = 100 };
    char in[MAX * 3 + 8];
    memset(in, 'x', MAX);
    in[MAX] = '\n';
    memset(in + MAX + 1, 'y', MAX + 1); /* one byte too many */
    in[2 * MAX + 2] = '\n';
    memcpy(in + 2 * MAX + 3, "ok\n", 3);
    size_t len = 2 * MAX + 6;
    for (size_t chunk = 1; chunk <= len; chunk = chunk * 3 + 1) {
        frame_t f;
        collected_t c = {0};
        frame_init(&f, MAX);
        feed(&f, in, len, chunk, &c);
        finish(&f, &c);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.kind[0], FRAME_LINE);
        assert_int_equal(c.len[0], MAX);
        assert_memory_equal(c.data[0], in, MAX);
        assert_int_equal(c.kind[1], FRAME_TOO_LONG);
        assert_int_equal(c.total_len[1], MAX + 1);
        assert_int_equal(c.len[1], MAX + 1); /* the whole line fits in the sample */
        assert_memory_equal(c.data[1], in + MAX + 1, MAX + 1);
        assert_int_equal(c.kind[2], FRAME_LINE);
        assert_string_equal(c.data[2], "ok");
        collected_free(&c);
        frame_free(&f);
    }
}

static void test_too_long_then_next_line(void **state)
{
    const size_t max = 1000, big = 300000;
    char *in = malloc(big + 16);
    assert_non_null(in);
    for (size_t i = 0; i < big; i++)
        in[i] = (char)('a' + i % 26);
    memcpy(in + big, "\n{\"z\":1}\n", 9);
    static const size_t chunks[] = {1, 4096, 65536, 1 << 20};
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        /* 1-byte reads of 300 KB are slow-ish only in the scan; keep the big line shorter there */
        size_t n = chunks[k] == 1 ? 20000 : big;
        char *p = chunks[k] == 1 ? in + big - n : in;
        frame_t f;
        collected_t c = {0};
        frame_init(&f, max);
        feed(&f, p, n + 9, chunks[k], &c);
        finish(&f, &c);
        assert_int_equal(c.n, 2);
        assert_int_equal(c.kind[0], FRAME_TOO_LONG);
        assert_int_equal(c.total_len[0], n);
        assert_int_equal(c.len[0], FRAME_SAMPLE_BYTES);
        assert_memory_equal(c.data[0], p, FRAME_SAMPLE_BYTES);
        assert_int_equal(c.kind[1], FRAME_LINE);
        assert_string_equal(c.data[1], "{\"z\":1}");
        collected_free(&c);
        frame_free(&f);
    }
    free(in);
}

static void test_10mb_without_newline_bounded(void **state)
{
    const size_t max = 4096, total = 10u << 20;
    size_t sent = 0, peak_buffered = 0, peak_cap = 0;
    frame_t f;
    frame_init(&f, max);
    while (sent < total) {
        char *dst;
        size_t avail;
        assert_int_equal(frame_reserve(&f, FRAME_READ_CHUNK, &dst, &avail), 0);
        size_t n = avail < total - sent ? avail : total - sent;
        memset(dst, 'q', n);
        frame_commit(&f, n);
        sent += n;
        frame_item_t it;
        assert_int_equal(frame_next(&f, &it), FRAME_NONE);
        if (frame_buffered(&f) > peak_buffered)
            peak_buffered = frame_buffered(&f);
        if (f.cap > peak_cap)
            peak_cap = f.cap;
    }
    assert_true(peak_buffered <= max + FRAME_READ_CHUNK * 2);
    assert_true(peak_cap <= max + FRAME_READ_CHUNK * 2);
    frame_item_t it;
    assert_int_equal(frame_finish(&f, &it), FRAME_TRUNCATED);
    assert_int_equal(it.total_len, total);
    assert_int_equal(it.len, FRAME_SAMPLE_BYTES);
    assert_int_equal(it.data[0], 'q');
    assert_int_equal(it.data[it.len - 1], 'q');
    frame_free(&f);
}

static void test_finish_truncated_tail(void **state)
{
    static const char in[] = "one\ntwo-no-newline";
    frame_t f;
    collected_t c = {0};
    frame_init(&f, 64);
    feed(&f, in, sizeof in - 1, 5, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(frame_buffered(&f), strlen("two-no-newline"));
    finish(&f, &c);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.kind[1], FRAME_TRUNCATED);
    assert_string_equal(c.data[1], "two-no-newline");
    assert_int_equal(c.total_len[1], strlen("two-no-newline"));
    /* finishing twice yields nothing more */
    frame_item_t it;
    assert_int_equal(frame_finish(&f, &it), FRAME_NONE);
    collected_free(&c);
    frame_free(&f);
}

static void test_finish_empty(void **state)
{
    frame_t f;
    frame_item_t it;
    frame_init(&f, 64);
    assert_int_equal(frame_next(&f, &it), FRAME_NONE);
    assert_int_equal(frame_finish(&f, &it), FRAME_NONE);
    assert_int_equal(frame_buffered(&f), 0);
    frame_free(&f);
}

/* ---- envelope ---- */

static void env_bad(const char *p, size_t len, const char *needle)
{
    json_t *v = (json_t *)1;
    char reason[256] = "";
    int rc = envelope_parse(p, len, ENVELOPE_MAX_DEPTH, &v, reason, sizeof reason);
    if (rc != -1)
        fail_msg("envelope_parse(%.*s) unexpectedly succeeded", (int)len, p);
    assert_null(v);
    if (!strstr(reason, needle))
        fail_msg("reason \"%s\" does not contain \"%s\"", reason, needle);
}

static json_t *env_ok(const char *p, size_t len)
{
    json_t *v = NULL;
    char reason[256] = "";
    if (envelope_parse(p, len, ENVELOPE_MAX_DEPTH, &v, reason, sizeof reason) != 0)
        fail_msg("envelope_parse failed: %s", reason);
    assert_non_null(v);
    assert_true(json_is_object(v));
    return v;
}

static void test_env_valid(void **state)
{
    static const char in[] =
        "{\"type\":\"x\",\"n\":[1,2,{\"k\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}]}";
    json_t *v = env_ok(in, sizeof in - 1);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "x");
    assert_int_equal(json_array_size(json_object_get(v, "n")), 3);
    json_decref(v);
}

static void test_env_utf8(void **state)
{
    char reason[128];
    /* bare continuation byte at offset 7 */
    static const char cont[] = "{\"a\":\"x\x80\"}";
    env_bad(cont, sizeof cont - 1, "invalid UTF-8 at byte 7");
    /* overlong encodings: C0 AF ('/'), E0 80 AF, F0 80 80 AF */
    static const char ov2[] = "{\"a\":\"\xc0\xaf\"}";
    env_bad(ov2, sizeof ov2 - 1, "invalid UTF-8");
    static const char ov3[] = "{\"a\":\"\xe0\x80\xaf\"}";
    env_bad(ov3, sizeof ov3 - 1, "invalid UTF-8");
    static const char ov4[] = "{\"a\":\"\xf0\x80\x80\xaf\"}";
    env_bad(ov4, sizeof ov4 - 1, "invalid UTF-8");
    /* UTF-16 surrogate U+D800 encoded as ED A0 80 */
    static const char sur[] = "{\"a\":\"\xed\xa0\x80\"}";
    env_bad(sur, sizeof sur - 1, "invalid UTF-8 at byte 6");
    /* above U+10FFFF and truncated sequence at the end */
    static const char big[] = "{\"a\":\"\xf4\x90\x80\x80\"}";
    env_bad(big, sizeof big - 1, "invalid UTF-8");
    static const char trunc[] = "{\"a\":1}\xe2\x82";
    env_bad(trunc, sizeof trunc - 1, "invalid UTF-8 at byte 7");
    /* the largest valid code points pass the byte check */
    static const char okmax[] = "{\"a\":\"\xf4\x8f\xbf\xbf\xed\x9f\xbf\"}";
    assert_int_equal(envelope_check(okmax, sizeof okmax - 1, 64, reason, sizeof reason), 0);
}

static void test_env_nul(void **state)
{
    static const char in[] = "{\"a\":\"b\0c\"}";
    env_bad(in, sizeof in - 1, "NUL byte at byte 7");
}

static void test_env_depth(void **state)
{
    json_t *v;
    char reason[256];

    /* 64 levels of objects: {"a":{"a":...1}} */
    char buf[2048];
    size_t n = 0;
    for (int i = 0; i < ENVELOPE_MAX_DEPTH; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"a\":");
    n += (size_t)snprintf(buf + n, sizeof buf - n, "1");
    for (int i = 0; i < ENVELOPE_MAX_DEPTH; i++)
        buf[n++] = '}';
    v = env_ok(buf, n);
    json_decref(v);

    /* 65 levels: refused by the byte check, with the offset of the 65th opener */
    n = 0;
    for (int i = 0; i < ENVELOPE_MAX_DEPTH + 1; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"a\":");
    n += (size_t)snprintf(buf + n, sizeof buf - n, "1");
    for (int i = 0; i < ENVELOPE_MAX_DEPTH + 1; i++)
        buf[n++] = '}';
    env_bad(buf, n, "nesting deeper than 64 levels at byte 320");

    /* arrays count too: {"a":[[[...]]]} with 1 + 64 levels */
    n = (size_t)snprintf(buf, sizeof buf, "{\"a\":");
    for (int i = 0; i < ENVELOPE_MAX_DEPTH; i++)
        buf[n++] = '[';
    for (int i = 0; i < ENVELOPE_MAX_DEPTH; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    env_bad(buf, n, "nesting deeper than 64");
    assert_int_equal(envelope_check(buf, n, ENVELOPE_MAX_DEPTH + 1, reason, sizeof reason), 0);
}

static void test_env_brackets_in_strings(void **state)
{
    /* 200 '{' and '[' inside a string (plus an escaped quote) are not nesting */
    char buf[1024];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{\"s\":\"\\\"");
    for (int i = 0; i < 200; i++)
        buf[n++] = i % 2 ? '[' : '{';
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\\\\\",\"t\":\"]]]}}}\"}");
    json_t *v = env_ok(buf, n);
    assert_int_equal(strlen(json_string_value(json_object_get(v, "s"))), 202);
    assert_string_equal(json_string_value(json_object_get(v, "t")), "]]]}}}");
    json_decref(v);
}

static void test_env_not_object(void **state)
{
    env_bad("[1,2]", 5, "not a JSON object (got array)");
    env_bad("\"x\"", 3, "not a JSON object (got string)");
    env_bad("42", 2, "not a JSON object (got number)");
    env_bad("true", 4, "not a JSON object (got boolean)");
    env_bad("null", 4, "not a JSON object (got null)");
    env_bad("{\"a\":", 5, "invalid JSON");
    env_bad("", 0, "invalid JSON");
    env_bad("{} {}", 5, "invalid JSON");
}

static void test_env_duplicate_keys(void **state)
{
    static const char in[] = "{\"user\":\"alice\",\"user\":\"root\"}";
    env_bad(in, sizeof in - 1, "invalid JSON");
    env_bad(in, sizeof in - 1, "user");
    /* the same key at different levels is fine */
    static const char ok[] = "{\"user\":\"a\",\"x\":{\"user\":\"b\"}}";
    json_t *v = env_ok(ok, sizeof ok - 1);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_and_crlf),
        cmocka_unit_test(test_only_one_cr_removed),
        cmocka_unit_test(test_split_reads),
        cmocka_unit_test(test_many_lines_one_read),
        cmocka_unit_test(test_exact_max_line),
        cmocka_unit_test(test_too_long_then_next_line),
        cmocka_unit_test(test_10mb_without_newline_bounded),
        cmocka_unit_test(test_finish_truncated_tail),
        cmocka_unit_test(test_finish_empty),
        cmocka_unit_test(test_env_valid),
        cmocka_unit_test(test_env_utf8),
        cmocka_unit_test(test_env_nul),
        cmocka_unit_test(test_env_depth),
        cmocka_unit_test(test_env_brackets_in_strings),
        cmocka_unit_test(test_env_not_object),
        cmocka_unit_test(test_env_duplicate_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
