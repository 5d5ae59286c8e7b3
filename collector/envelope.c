/*
 * envelope.c - byte checks and JSON parsing of one line; see envelope.h.
 */
#include "envelope.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid (overlongs, surrogates,
 * code points above U+10FFFF and truncated sequences included). */
static size_t utf8_seq_len(const unsigned char *p, size_t left)
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
            return 0;
        if (c == 0xF4 && p[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

int envelope_check(const char *p, size_t len, int max_depth, char *reason, size_t rlen)
{
    const unsigned char *s = (const unsigned char *)p;
    int depth = 0, is_in_string = 0, is_escaped = 0;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_seq_len(s + i, len - i);
            if (n == 0) {
                snprintf(reason, rlen, "invalid UTF-8 at byte %zu", i);
                return -1;
            }
            i += n;
            is_escaped = 0;
            continue;
        }
        if (c == 0) {
            snprintf(reason, rlen, "NUL byte at byte %zu", i);
            return -1;
        }
        if (is_in_string) {
            if (is_escaped)
                is_escaped = 0;
            else if (c == '\\')
                is_escaped = 1;
            else if (c == '"')
                is_in_string = 0;
        } else if (c == '"') {
            is_in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                snprintf(reason, rlen, "nesting deeper than %d levels at byte %zu", max_depth, i);
                return -1;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
        i++;
    }
    return 0;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    default:
        return "object";
    }
}

int envelope_parse(const char *p, size_t len, int max_depth, json_t **out, char *reason,
                   size_t rlen)
{
    json_error_t jerr;
    json_t *v;

    *out = NULL;
    if (envelope_check(p, len, max_depth, reason, rlen) < 0)
        return -1;
    v = json_loadb(p, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        snprintf(reason, rlen, "invalid JSON: %s at column %d", jerr.text, jerr.column);
        return -1;
    }
    if (!json_is_object(v)) {
        snprintf(reason, rlen, "not a JSON object (got %s)", json_kind(v));
        json_decref(v);
        return -1;
    }
    *out = v;
    return 0;
}
