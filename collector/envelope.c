/*
 * envelope.c - byte checks and JSON parsing of one line; see envelope.h.
 */
#include "envelope.h"

#include "jsonr.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int envelope_check(const char *p, size_t len, int max_depth, char *reason, size_t rlen)
{
    const unsigned char *s = (const unsigned char *)p;
    int depth = 0, is_in_string = 0, is_escaped = 0;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        if (c >= 0x80) {
            size_t n = jsonr_utf8_len(s + i, len - i);
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
    json_t *v;

    *out = NULL;
    if (jsonr_parse(p, len, max_depth, &v, reason, rlen) < 0) {
        /* the byte check's reason when it has one: it names the first bad byte of the whole
         * line, even past a syntax error (what the parse stopped at) */
        char why[160];
        if (envelope_check(p, len, max_depth, why, sizeof why) < 0)
            snprintf(reason, rlen, "%s", why);
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
