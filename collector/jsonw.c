/*
 * jsonw.c - one-pass compact JSON writer for jansson trees (see jsonw.h for why and the contract).
 *
 * The output equals json_dumpb(v, JSON_COMPACT): "," and ":" without spaces, object members in
 * jansson's iteration (insertion) order, strings copied through except '"', '\\' and bytes below
 * 0x20 (\b \f \n \r \t, else \u00XX in upper-case hex, as jansson writes them), integers in
 * decimal, reals through jansson itself (rare in OCSF; keeps its exact formatting rules).
 */
#include "jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct jsonw {
    jsonw_buf_t *b;
    int is_failed;
} jsonw_t;

/* Grows the buffer for n more bytes (plus the final NUL); 0 or -1. */
static int jw_grow(jsonw_t *w, size_t n)
{
    jsonw_buf_t *b = w->b;
    if (w->is_failed)
        return -1;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap - b->len <= n)
        ncap *= 2;
    char *nd = realloc(b->data, ncap);
    if (!nd) {
        w->is_failed = 1;
        return -1;
    }
    b->data = nd;
    b->cap = ncap;
    return 0;
}

/* Makes room for n more bytes (plus the final NUL); 0 or -1. The common case is one compare,
 * inlined at every call. */
static inline int jw_reserve(jsonw_t *w, size_t n)
{
    if (w->b->cap - w->b->len > n && !w->is_failed)
        return 0;
    return jw_grow(w, n);
}

static void jw_put(jsonw_t *w, const char *p, size_t n)
{
    if (jw_reserve(w, n) < 0)
        return;
    memcpy(w->b->data + w->b->len, p, n);
    w->b->len += n;
}

static void jw_putc(jsonw_t *w, char c)
{
    if (jw_reserve(w, 1) < 0)
        return;
    w->b->data[w->b->len++] = c;
}

/* 1 for the bytes a JSON string must escape. */
static const unsigned char jw_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

/* Nonzero when one of the eight bytes of x is below 0x20, '"' or '\\' (exact: the classic
 * has-zero-byte test, applied to x and to x with the quote and the backslash xor-ed away). */
static inline uint64_t jw_word_needs_escape(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

/* The bytes of s that need no escape, copied 8 at a time; returns how many (stops at the first word
 * holding a byte that needs one, or the end). Never reads or writes outside s[0..n) and o[0..n):
 * the last word of a string of 8 bytes or more overlaps the one before; 4 to 7 bytes are two
 * overlapping 4-byte words; 1 to 3 bytes are the first, middle and last byte. */
static inline size_t jw_copy_plain(char *o, const char *s, size_t n)
{
    if (n >= 8) {
        size_t i = 0;
        uint64_t x;
        for (; n - i > 8; i += 8) {
            memcpy(&x, s + i, 8);
            if (jw_word_needs_escape(x))
                return i;
            memcpy(o + i, &x, 8);
        }
        memcpy(&x, s + n - 8, 8);
        if (jw_word_needs_escape(x))
            return i;
        memcpy(o + n - 8, &x, 8);
        return n;
    }
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        if (jw_word_needs_escape(a | (uint64_t)b << 32))
            return 0;
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
        return n;
    }
    if (n == 0)
        return 0;
    /* three bytes (some the same), padded with spaces, which need no escape */
    uint64_t x = (0x2020202020202020ull & ~0xffffffull) | (uint64_t)(unsigned char)s[0] |
                 (uint64_t)(unsigned char)s[n / 2] << 8 | (uint64_t)(unsigned char)s[n - 1] << 16;
    if (jw_word_needs_escape(x))
        return 0;
    o[0] = s[0];
    o[n / 2] = s[n / 2];
    o[n - 1] = s[n - 1];
    return n;
}

/* Writes s as a JSON string, with `before` (',' or 0) in front and `after` (':' or 0) behind, so
 * an object member's punctuation costs no reservation of its own. */
static void jw_string_in(jsonw_t *w, char before, const char *s, size_t n, char after)
{
    static const char hex[] = "0123456789ABCDEF";
    /* worst case every byte becomes \u00XX; +2 quotes, +2 punctuation */
    if (jw_reserve(w, n * 6 + 12) < 0)
        return;
    char *o = w->b->data + w->b->len;
    if (before)
        *o++ = before;
    *o++ = '"';
    size_t i = jw_copy_plain(o, s, n);
    o += i;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!jw_escape[c]) {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    if (after)
        *o++ = after;
    w->b->len = (size_t)(o - w->b->data);
}

static void jw_string(jsonw_t *w, const char *s, size_t n)
{
    jw_string_in(w, 0, s, n, 0);
}

static void jw_integer(jsonw_t *w, json_int_t v)
{
    char tmp[24], *e = tmp + sizeof tmp, *p = e;
    /* unsigned arithmetic: the most negative value has no positive counterpart */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    jw_put(w, p, (size_t)(e - p));
}

static void jw_real(jsonw_t *w, const json_t *v)
{
    char tmp[64];
    size_t n = json_dumpb(v, tmp, sizeof tmp, JSON_ENCODE_ANY | JSON_COMPACT);
    if (n == 0 || n > sizeof tmp) {
        w->is_failed = 1; /* NaN/inf cannot be in a jansson tree; anything else is a bug */
        return;
    }
    jw_put(w, tmp, n);
}

static void jw_value(jsonw_t *w, const json_t *v, int depth)
{
    if (depth > JSONW_MAX_DEPTH && (json_is_object(v) || json_is_array(v))) {
        w->is_failed = 1;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        int is_first = 1;
        jw_putc(w, '{');
        /* json_object_iter takes a non-const pointer but does not modify the object */
        for (void *it = json_object_iter((json_t *)v); it && !w->is_failed;
             it = json_object_iter_next((json_t *)v, it)) {
            jw_string_in(w, is_first ? 0 : ',', json_object_iter_key(it),
                         json_object_iter_key_len(it), ':');
            is_first = 0;
            jw_value(w, json_object_iter_value(it), depth + 1);
        }
        jw_putc(w, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        jw_putc(w, '[');
        for (size_t i = 0; i < n && !w->is_failed; i++) {
            if (i)
                jw_putc(w, ',');
            jw_value(w, json_array_get(v, i), depth + 1);
        }
        jw_putc(w, ']');
        break;
    }
    case JSON_STRING:
        jw_string(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        jw_integer(w, json_integer_value(v));
        break;
    case JSON_REAL:
        jw_real(w, v);
        break;
    case JSON_TRUE:
        jw_put(w, "true", 4);
        break;
    case JSON_FALSE:
        jw_put(w, "false", 5);
        break;
    case JSON_NULL:
        jw_put(w, "null", 4);
        break;
    default:
        w->is_failed = 1;
    }
}

int jsonw_dump(const json_t *v, jsonw_buf_t *b, size_t max_bytes)
{
    jsonw_t w = {b, 0};
    b->len = 0;
    if (!v)
        return -1;
    jw_value(&w, v, 0);
    if (w.is_failed || (max_bytes && b->len > max_bytes) || jw_reserve(&w, 0) < 0) {
        b->len = 0;
        return -1;
    }
    b->data[b->len] = '\0';
    return 0;
}

/* Ends an append: the terminating NUL, or -1 (and b emptied) when something failed. */
static int jw_finish(jsonw_t *w)
{
    if (w->is_failed || jw_reserve(w, 0) < 0) {
        w->b->len = 0;
        return -1;
    }
    w->b->data[w->b->len] = '\0';
    return 0;
}

int jsonw_append_raw(jsonw_buf_t *b, const char *p, size_t n)
{
    jsonw_t w = {b, 0};
    jw_put(&w, p, n);
    return jw_finish(&w);
}

int jsonw_append_member(jsonw_buf_t *b, int is_first, const char *key, size_t klen, const json_t *v)
{
    jsonw_t w = {b, 0};
    jw_string_in(&w, is_first ? 0 : ',', key, klen, ':');
    jw_value(&w, v, 1);
    return jw_finish(&w);
}

void jsonw_free(jsonw_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
