/*
 * jsonr.c - strict one-pass JSON parser building jansson trees; see jsonr.h for the contract.
 *
 * Recursive descent over the buffer, one function per value kind. Strings are scanned eight bytes
 * at a time until a quote, a backslash, a control character or a non-ASCII byte; a string without
 * escapes is handed to jansson from the input itself. A string with escapes is decoded into one
 * scratch area per parse: decoded text is never longer than its source and sources do not
 * overlap, so a bump pointer in an area of the input's size never runs out, and a key stays valid
 * while its value is parsed.
 */
#include "jsonr.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSONR_DEPTH_LIMIT 1024

typedef struct jr {
    const unsigned char *start, *p, *end;
    int depth, max_depth;
    char *reason;
    size_t rlen;
    char *scratch; /* owned; decoded strings with escapes, bump-allocated */
    size_t scratch_used;
} jr_t;

size_t jsonr_utf8_len(const unsigned char *p, size_t left)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return left >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && p[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && p[1] >= 0xA0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && p[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Fills the reason for an error at byte offset at; always returns NULL (for `return jr_fail`). */
static json_t *jr_fail_at(jr_t *r, const unsigned char *at, const char *what)
{
    snprintf(r->reason, r->rlen, "invalid JSON: %s at byte %zu", what, (size_t)(at - r->start));
    return NULL;
}

static json_t *jr_fail(jr_t *r, const char *what)
{
    return jr_fail_at(r, r->p, what);
}

static json_t *jr_oom(jr_t *r)
{
    snprintf(r->reason, r->rlen, "out of memory");
    return NULL;
}

/* Refuses the byte at p, which cannot stand there: a NUL or invalid UTF-8 get the byte checks'
 * wording (envelope.h), anything else `what`. Always -1. */
static int jr_bad_byte(jr_t *r, const unsigned char *p, const char *what)
{
    if (*p == 0)
        snprintf(r->reason, r->rlen, "NUL byte at byte %zu", (size_t)(p - r->start));
    else if (*p >= 0x80 && !jsonr_utf8_len(p, (size_t)(r->end - p)))
        snprintf(r->reason, r->rlen, "invalid UTF-8 at byte %zu", (size_t)(p - r->start));
    else
        jr_fail_at(r, p, what);
    return -1;
}

static void jr_ws(jr_t *r)
{
    const unsigned char *p = r->p, *end = r->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    r->p = p;
}

static int jr_is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

#define JR_ONES  0x0101010101010101ull
#define JR_HIGHS 0x8080808080808080ull

/* Nonzero when one of the 8 bytes in w is '"', '\\', below 0x20 or 0x80 and above. */
static uint64_t jr_special(uint64_t w)
{
    uint64_t q = w ^ (JR_ONES * '"'), b = w ^ (JR_ONES * '\\');
    return ((q - JR_ONES) & ~q) | ((b - JR_ONES) & ~b) | ((w - JR_ONES * 0x20) & ~w) | w;
}

static int jr_hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (int)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v |= (int)((c | 0x20) - 'a' + 10);
        else
            return -1;
    }
    return v;
}

static char *jr_put_utf8(char *t, unsigned v)
{
    if (v < 0x80) {
        *t++ = (char)v;
    } else if (v < 0x800) {
        *t++ = (char)(0xC0 | (v >> 6));
        *t++ = (char)(0x80 | (v & 0x3F));
    } else if (v < 0x10000) {
        *t++ = (char)(0xE0 | (v >> 12));
        *t++ = (char)(0x80 | ((v >> 6) & 0x3F));
        *t++ = (char)(0x80 | (v & 0x3F));
    } else {
        *t++ = (char)(0xF0 | (v >> 18));
        *t++ = (char)(0x80 | ((v >> 12) & 0x3F));
        *t++ = (char)(0x80 | ((v >> 6) & 0x3F));
        *t++ = (char)(0x80 | (v & 0x3F));
    }
    return t;
}

/* The rest of a string from p (just after the first backslash at or after begin), decoded into
 * the scratch area. 0 with *s and *n set and r->p past the closing quote, or -1 with the reason. */
static int jr_string_escaped(jr_t *r, const unsigned char *begin, const unsigned char *p,
                             const char **s, size_t *n)
{
    const unsigned char *end = r->end;
    if (!r->scratch) {
        r->scratch = malloc((size_t)(end - r->start) + 1);
        if (!r->scratch)
            return jr_oom(r), -1;
    }
    char *out = r->scratch + r->scratch_used, *t = out;
    memcpy(t, begin, (size_t)(p - begin));
    t += p - begin;
    while (p < end) {
        unsigned c = *p;
        if (c == '"') {
            *s = out;
            *n = (size_t)(t - out);
            r->scratch_used += *n;
            r->p = p + 1;
            return 0;
        }
        if (c == '\\') {
            if (end - p < 2)
                break;
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
                *t++ = (char)p[1];
                break;
            case 'b':
                *t++ = '\b';
                break;
            case 'f':
                *t++ = '\f';
                break;
            case 'n':
                *t++ = '\n';
                break;
            case 'r':
                *t++ = '\r';
                break;
            case 't':
                *t++ = '\t';
                break;
            case 'u': {
                int v = end - p >= 6 ? jr_hex4(p + 2) : -1;
                if (v < 0)
                    return jr_fail_at(r, p, "invalid \\u escape"), -1;
                if (v == 0)
                    return jr_fail_at(r, p, "\\u0000 is not allowed"), -1;
                if (v >= 0xDC00 && v <= 0xDFFF)
                    return jr_fail_at(r, p, "invalid Unicode (lone low surrogate)"), -1;
                if (v >= 0xD800 && v <= 0xDBFF) {
                    int lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? jr_hex4(p + 8) : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return jr_fail_at(r, p, "invalid Unicode (lone high surrogate)"), -1;
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
                t = jr_put_utf8(t, (unsigned)v);
                p += 6;
                continue;
            }
            default:
                return jr_fail_at(r, p, "invalid escape"), -1;
            }
            p += 2;
        } else if (c < 0x20) {
            return jr_bad_byte(r, p, "control character in string");
        } else if (c >= 0x80) {
            size_t k = jsonr_utf8_len(p, (size_t)(end - p));
            if (!k)
                return jr_bad_byte(r, p, "invalid UTF-8");
            memcpy(t, p, k);
            t += k;
            p += k;
        } else {
            *t++ = (char)c;
            p++;
        }
    }
    return jr_fail_at(r, end, "unterminated string"), -1;
}

/* A string at r->p (its opening quote). 0 with *s and *n the decoded bytes (in the input when it
 * has no escape, else in the scratch area) and r->p past the closing quote; -1 with the reason. */
static int jr_string(jr_t *r, const char **s, size_t *n)
{
    const unsigned char *begin = r->p + 1, *p = begin, *end = r->end;
    for (;;) {
        if (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            uint64_t m = jr_special(w) & JR_HIGHS;
            if (!m) {
                p += 8;
                continue;
            }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* the lowest flagged byte is a real one (a false flag needs a borrow from below) */
            p += (unsigned)__builtin_ctzll(m) >> 3;
#endif
        }
        if (p >= end)
            return jr_fail_at(r, end, "unterminated string"), -1;
        unsigned c = *p;
        if (c == '"') {
            *s = (const char *)begin;
            *n = (size_t)(p - begin);
            r->p = p + 1;
            return 0;
        }
        if (c == '\\')
            return jr_string_escaped(r, begin, p, s, n);
        if (c < 0x20)
            return jr_bad_byte(r, p, "control character in string");
        if (c >= 0x80) {
            size_t k = jsonr_utf8_len(p, (size_t)(end - p));
            if (!k)
                return jr_bad_byte(r, p, "invalid UTF-8");
            p += k;
        } else {
            p++;
        }
    }
}

/* A number at r->p, with jansson's types: an integer (no fraction, no exponent) within int64, else
 * a real that does not overflow. */
static json_t *jr_number(jr_t *r)
{
    const unsigned char *s = r->p, *p = s, *end = r->end;
    int is_neg = 0, is_real = 0;

    if (*p == '-') {
        is_neg = 1;
        p++;
    }
    if (!jr_is_digit(p, end))
        return jr_fail(r, "invalid number");
    const unsigned char *digits = p;
    if (*p == '0') {
        p++;
        if (jr_is_digit(p, end))
            return jr_fail(r, "invalid number (leading zero)");
    } else {
        while (jr_is_digit(p, end))
            p++;
    }
    const unsigned char *int_end = p;
    if (p < end && *p == '.') {
        p++;
        if (!jr_is_digit(p, end))
            return jr_fail(r, "invalid number (no digit after '.')");
        while (jr_is_digit(p, end))
            p++;
        is_real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!jr_is_digit(p, end))
            return jr_fail(r, "invalid number (no digit in the exponent)");
        while (jr_is_digit(p, end))
            p++;
        is_real = 1;
    }

    json_t *v;
    if (!is_real) {
        uint64_t u = 0, limit = is_neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (const unsigned char *d = digits; d < int_end; d++) {
            unsigned dv = *d - '0';
            if (u > (limit - dv) / 10)
                return jr_fail(r, is_neg ? "too big negative integer" : "too big integer");
            u = u * 10 + dv;
        }
        json_int_t i = !is_neg                        ? (json_int_t)u
                       : u == (uint64_t)INT64_MAX + 1 ? INT64_MIN
                                                      : -(json_int_t)u;
        v = json_integer(i);
    } else {
        char small[64], *text = small;
        size_t n = (size_t)(p - s);
        if (n >= sizeof small && !(text = malloc(n + 1)))
            return jr_oom(r);
        memcpy(text, s, n);
        text[n] = '\0';
        errno = 0;
        char *used;
        double d = strtod(text, &used);
        int is_overflow = errno == ERANGE && isinf(d);
        /* strtod follows LC_NUMERIC; the collector never sets a locale, but a process that did
         * would read "1.5" as 1: refuse rather than store a wrong number */
        int is_partial = used != text + n;
        if (text != small)
            free(text);
        if (is_overflow)
            return jr_fail(r, "real number overflow");
        if (is_partial)
            return jr_fail(r, "real number not readable in this process's locale");
        v = json_real(d);
    }
    if (!v)
        return jr_oom(r);
    r->p = p;
    return v;
}

static json_t *jr_literal(jr_t *r, const char *word, size_t n, json_t *v)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return jr_fail(r, "invalid token");
    r->p += n;
    return v;
}

static json_t *jr_value(jr_t *r);

/* Entering a container at r->p (its opener). 1 when a member or element follows, 0 when the closer
 * does (consumed: the container is empty and left), -1 past max_depth (the reason names the
 * opener's byte). */
static int jr_enter(jr_t *r, char closer)
{
    if (++r->depth > r->max_depth) {
        snprintf(r->reason, r->rlen, "nesting deeper than %d levels at byte %zu", r->max_depth,
                 (size_t)(r->p - r->start));
        return -1;
    }
    r->p++;
    jr_ws(r);
    if (r->p < r->end && *r->p == (unsigned char)closer) {
        r->p++;
        r->depth--;
        return 0;
    }
    return 1;
}

/* After a member or element: 1 when a ',' says another follows, 0 at the closer (consumed: the
 * container is left), -1 otherwise. */
static int jr_next(jr_t *r, char closer)
{
    jr_ws(r);
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        jr_ws(r);
        return 1;
    }
    if (r->p < r->end && *r->p == (unsigned char)closer) {
        r->p++;
        r->depth--;
        return 0;
    }
    jr_fail(r, closer == '}' ? "',' or '}' expected" : "',' or ']' expected");
    return -1;
}

/* Refuses a key the object already has, naming it (printable, at most 64 bytes of it). */
static void jr_duplicate(jr_t *r, const unsigned char *at, const char *k, size_t kn)
{
    char what[96], text[128];
    size_t i = 0, shown = kn < 64 ? kn : 64;
    while (shown < kn && shown > 0 && ((unsigned char)k[shown] & 0xC0) == 0x80)
        shown--;           /* not inside a UTF-8 sequence */
    for (; i < shown; i++) /* the emitter's text, printable in a log line */
        what[i] = (unsigned char)k[i] < 0x20 || k[i] == 0x7f ? '?' : k[i];
    snprintf(what + i, sizeof what - i, "%s", kn > shown ? "..." : "");
    snprintf(text, sizeof text, "duplicate object key \"%s\"", what);
    jr_fail_at(r, at, text);
}

static json_t *jr_object(jr_t *r)
{
    json_t *o = json_object();
    if (!o)
        return jr_oom(r);
    int more = jr_enter(r, '}');
    while (more > 0) {
        const unsigned char *kat = r->p;
        const char *k;
        size_t kn;
        if (r->p >= r->end || *r->p != '"') {
            jr_fail(r, "string or '}' expected");
            goto fail;
        }
        if (jr_string(r, &k, &kn) < 0)
            goto fail;
        jr_ws(r);
        if (r->p >= r->end || *r->p != ':') {
            jr_fail(r, "':' expected");
            goto fail;
        }
        r->p++;
        jr_ws(r);
        json_t *v = jr_value(r);
        if (!v)
            goto fail;
        size_t before = json_object_size(o);
        if (json_object_setn_new_nocheck(o, k, kn, v) < 0) { /* v is released either way */
            jr_oom(r);
            goto fail;
        }
        if (json_object_size(o) == before) {
            jr_duplicate(r, kat, k, kn);
            goto fail;
        }
        more = jr_next(r, '}');
    }
    if (more == 0)
        return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *jr_array(jr_t *r)
{
    json_t *a = json_array();
    if (!a)
        return jr_oom(r);
    int more = jr_enter(r, ']');
    while (more > 0) {
        json_t *v = jr_value(r);
        if (!v)
            goto fail;
        if (json_array_append_new(a, v) < 0) {
            jr_oom(r);
            goto fail;
        }
        more = jr_next(r, ']');
    }
    if (more == 0)
        return a;
fail:
    json_decref(a);
    return NULL;
}

static json_t *jr_value(jr_t *r)
{
    if (r->p >= r->end)
        return jr_fail(r, "unexpected end of input");
    switch (*r->p) {
    case '{':
        return jr_object(r);
    case '[':
        return jr_array(r);
    case '"': {
        const char *s;
        size_t n;
        if (jr_string(r, &s, &n) < 0)
            return NULL;
        json_t *v = json_stringn_nocheck(s, n);
        return v ? v : jr_oom(r);
    }
    case 't':
        return jr_literal(r, "true", 4, json_true());
    case 'f':
        return jr_literal(r, "false", 5, json_false());
    case 'n':
        return jr_literal(r, "null", 4, json_null());
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return jr_number(r);
    default:
        jr_bad_byte(r, r->p, "unexpected character");
        return NULL;
    }
}

int jsonr_parse(const char *p, size_t len, int max_depth, json_t **out, char *reason, size_t rlen)
{
    jr_t r = {(const unsigned char *)p,
              (const unsigned char *)p,
              (const unsigned char *)p + len,
              0,
              max_depth < 1                   ? 1
              : max_depth > JSONR_DEPTH_LIMIT ? JSONR_DEPTH_LIMIT
                                              : max_depth,
              reason,
              rlen,
              NULL,
              0};
    *out = NULL;
    jr_ws(&r);
    json_t *v = jr_value(&r);
    if (v) {
        jr_ws(&r);
        if (r.p != r.end) {
            jr_fail(&r, "end of input expected");
            json_decref(v);
            v = NULL;
        }
    }
    free(r.scratch);
    *out = v;
    return v ? 0 : -1;
}
