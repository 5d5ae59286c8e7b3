/*
 * norm_time.c - the conversions the engine applies where the schema wants a type: time text or
 * epoch numbers to timestamp_t (UTC epoch milliseconds), "443" to 443, "true" to true, numbers to
 * strings.
 *
 * All parsing is locale-free and bounded: time text is at most 64 bytes, numeric text at most 32,
 * and no libc time function (timegm, strptime) is used, so results do not depend on TZ or the C
 * library. Coercion never aliases a mutable container of the input: objects and arrays are
 * deep-copied, scalars shared by reference.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "norm_internal.h"

#define NORM_TIME_MAX_TEXT 64
#define NORM_NUM_MAX_TEXT  32
#define NORM_EPOCH_S_LIMIT 100000000000LL /* below: seconds; at or above: milliseconds */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
 */
/* An optional ".ddd..." at *p: milliseconds from the first three digits (more are allowed and
 * dropped), *p moved past it. 0, or -1 for a '.' without digits. */
static int parse_frac_ms(const char **pp, const char *end, long long *frac_ms)
{
    const char *p = *pp;
    *frac_ms = 0;
    if (p >= end || *p != '.')
        return 0;
    p++;
    int fd = 0;
    while (p < end && isdigit((unsigned char)*p)) {
        if (fd < 3)
            *frac_ms = *frac_ms * 10 + (*p - '0');
        fd++;
        p++;
    }
    if (fd == 0)
        return -1;
    for (int k = fd; k < 3; k++)
        *frac_ms *= 10;
    *pp = p;
    return 0;
}

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* n decimal digits at p (all must be digits) into *out. */
static int digits(const char *p, const char *end, int n, int *out)
{
    if (end - p < n)
        return -1;
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* Epoch seconds or milliseconds written as digits, optional sign and fraction. */
static int parse_epoch_text(const char *p, const char *end, long long *ms)
{
    int neg = 0;
    if (p < end && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    long long whole = 0;
    int n = 0;
    while (p < end && isdigit((unsigned char)*p)) {
        if (++n > 17)
            return -1;
        whole = whole * 10 + (*p++ - '0');
    }
    if (n == 0)
        return -1;
    long long frac_ms = 0;
    if (parse_frac_ms(&p, end, &frac_ms) < 0)
        return -1;
    if (p != end)
        return -1;
    long long v = whole < NORM_EPOCH_S_LIMIT ? whole * 1000 + frac_ms : whole;
    *ms = neg ? -v : v;
    return 0;
}

int norm_time_parse(const char *text, size_t len, long long *ms, int *tz_min, int *has_tz)
{
    if (text == NULL)
        return -1;
    len = strnlen(text, len < NORM_TIME_MAX_TEXT + 1 ? len : NORM_TIME_MAX_TEXT + 1);
    if (len == 0 || len > NORM_TIME_MAX_TEXT)
        return -1;
    const char *p = text, *end = text + len;
    if (tz_min != NULL)
        *tz_min = 0;
    if (has_tz != NULL)
        *has_tz = 0;

    /* Epoch text: digits only (4-digit years are followed by '-', so no ambiguity). */
    size_t i = (*p == '-' || *p == '+') ? 1 : 0;
    while (i < len && isdigit((unsigned char)p[i]))
        i++;
    if (i == len || (i < len && p[i] == '.'))
        return parse_epoch_text(p, end, ms);

    int y, mo, d, h, mi, s;
    if (digits(p, end, 4, &y) < 0 || end - p < 5 || p[4] != '-' || digits(p + 5, end, 2, &mo) < 0 ||
        end - p < 8 || p[7] != '-' || digits(p + 8, end, 2, &d) < 0)
        return -1;
    p += 10;
    if (p >= end || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(p, end, 2, &h) < 0 || end - p < 3 || p[2] != ':' || digits(p + 3, end, 2, &mi) < 0 ||
        end - p < 6 || p[5] != ':' || digits(p + 6, end, 2, &s) < 0)
        return -1;
    p += 8;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60)
        return -1;
    long long frac_ms = 0;
    if (parse_frac_ms(&p, end, &frac_ms) < 0)
        return -1;
    if (p >= end)
        return -1; /* RFC 3339 requires Z or an offset */
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(p, end, 2, &oh) < 0)
            return -1;
        p += 2;
        if (p < end && *p == ':')
            p++;
        if (digits(p, end, 2, &om) < 0)
            return -1;
        p += 2;
        if (oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (p != end)
        return -1;
    long long secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL + h * 3600LL +
                     mi * 60LL + s - off * 60LL;
    *ms = secs * 1000 + frac_ms;
    if (tz_min != NULL)
        *tz_min = off;
    if (has_tz != NULL)
        *has_tz = 1;
    return 0;
}

int norm_time_from_json(const json_t *v, long long *ms)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x > -NORM_EPOCH_S_LIMIT && x < NORM_EPOCH_S_LIMIT)
            x *= 1000;
        *ms = (long long)x;
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!isfinite(x) || fabs(x) >= 9e15)
            return -1;
        *ms = fabs(x) < (double)NORM_EPOCH_S_LIMIT ? (long long)(x * 1000.0) : (long long)x;
        return 0;
    }
    if (json_is_string(v))
        return norm_time_parse(json_string_value(v), json_string_length(v), ms, NULL, NULL);
    return -1;
}

/* Shortest decimal text that reads back as the same double. */
static void format_real(double x, char *buf, size_t len)
{
    snprintf(buf, len, "%.15g", x);
    if (strtod(buf, NULL) != x)
        snprintf(buf, len, "%.17g", x);
}

const char *norm_string_form(const json_t *v, char *buf, size_t buflen)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        format_real(json_real_value(v), buf, buflen);
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return NULL;
    }
}

static const char *type_word(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Quotes a value for a message, bounded. */
static void describe(const json_t *v, char *buf, size_t len)
{
    char num[48];
    const char *s = norm_string_form(v, num, sizeof(num));
    if (json_is_string(v))
        snprintf(buf, len, "\"%.40s%s\"", s, json_string_length(v) > 40 ? "..." : "");
    else if (s != NULL)
        snprintf(buf, len, "%s", s);
    else
        snprintf(buf, len, "%s", type_word(v));
}

static int parse_ll_text(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > NORM_NUM_MAX_TEXT)
        return -1;
    char buf[NORM_NUM_MAX_TEXT + 1];
    memcpy(buf, s, n);
    buf[n] = '\0';
    const char *p = buf;
    if (*p == '-' || *p == '+')
        p++;
    if (*p == '\0')
        return -1;
    for (const char *q = p; *q != '\0'; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    errno = 0;
    char *endp;
    long long v = strtoll(buf, &endp, 10);
    if (errno != 0 || *endp != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_double_text(const char *s, size_t n, double *out)
{
    if (n == 0 || n > NORM_NUM_MAX_TEXT)
        return -1;
    char buf[NORM_NUM_MAX_TEXT + 1];
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)buf[i]) && strchr("+-.eE", buf[i]) == NULL)
            return -1; /* no "inf", "nan", hex or spaces */
    char *endp;
    errno = 0;
    double v = strtod(buf, &endp);
    if (errno != 0 || *endp != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

json_t *norm_coerce(enum norm_vtype vt, json_t *v, char *why, size_t whylen)
{
    char shown[64];
    switch (vt) {
    case NORM_V_STRING: {
        if (json_is_string(v))
            return json_incref(v);
        char num[48];
        const char *s = norm_string_form(v, num, sizeof(num));
        if (s != NULL)
            return json_string(s);
        snprintf(why, whylen, "%s is not a string", type_word(v));
        return NULL;
    }
    case NORM_V_INTEGER:
    case NORM_V_LONG: {
        if (json_is_integer(v))
            return json_incref(v);
        if (json_is_real(v)) {
            double x = json_real_value(v);
            if (isfinite(x) && x == floor(x) && fabs(x) < 9e18)
                return json_integer((json_int_t)x);
        }
        long long x;
        if (json_is_string(v) &&
            parse_ll_text(json_string_value(v), json_string_length(v), &x) == 0)
            return json_integer((json_int_t)x);
        describe(v, shown, sizeof(shown));
        snprintf(why, whylen, "%s is not an integer", shown);
        return NULL;
    }
    case NORM_V_FLOAT: {
        if (json_is_real(v))
            return json_incref(v);
        if (json_is_integer(v))
            return json_real((double)json_integer_value(v));
        double x;
        if (json_is_string(v) &&
            parse_double_text(json_string_value(v), json_string_length(v), &x) == 0)
            return json_real(x);
        describe(v, shown, sizeof(shown));
        snprintf(why, whylen, "%s is not a number", shown);
        return NULL;
    }
    case NORM_V_BOOLEAN: {
        if (json_is_boolean(v))
            return json_incref(v);
        if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
            return json_boolean(json_integer_value(v) == 1);
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0)
                return json_true();
            if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcasecmp(s, "no") == 0)
                return json_false();
        }
        describe(v, shown, sizeof(shown));
        snprintf(why, whylen, "%s is not a boolean", shown);
        return NULL;
    }
    case NORM_V_TIME: {
        long long ms;
        if (norm_time_from_json(v, &ms) == 0)
            return json_integer((json_int_t)ms);
        describe(v, shown, sizeof(shown));
        snprintf(why, whylen, "%s is not an RFC 3339 time or epoch seconds/milliseconds", shown);
        return NULL;
    }
    case NORM_V_JSON:
        if (json_is_object(v) || json_is_array(v))
            return json_deep_copy(v);
        return json_incref(v);
    case NORM_V_OBJECT:
        if (json_is_object(v))
            return json_deep_copy(v);
        snprintf(why, whylen, "%s is not an object", type_word(v));
        return NULL;
    }
    snprintf(why, whylen, "unknown target type");
    return NULL;
}
