/* url.c - the one parser for endpoint URLs (listeners, sinks, the tools' --to).
 *
 * Grammar accepted (a practical subset of RFC 3986, no userinfo, no percent-decoding of the host):
 *
 *     URL       = scheme "://" authority [ path ] [ "?" query ]
 *     scheme    = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )      (lower-cased on output)
 *     authority = host [ ":" port ]          | for kafka: broker *( "," broker )
 *     host      = "[" IPv6 [ "%" zone ] "]" / reg-name (ALPHA / DIGIT / "-" / "." / "_")
 *     port      = 1*5DIGIT, 0..65535
 *     path      = "/" ... up to the first "?"
 *
 * What each scheme requires is data: the url_scheme_rules table below. Invariants: every input
 * byte read lies within the first URL_MAX_LEN bytes of s; every copy into url_t is length-checked
 * first (too long is an error, never a truncation); spaces and control characters are refused
 * before anything is echoed into an error message, and a URL carrying credentials is never
 * echoed at all.
 */
#include "url.h"
#include "util.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* What a scheme's authority and path mean. */
enum url_kind {
    URL_KIND_NET,   /* host[:port], optional path */
    URL_KIND_PATH,  /* no host, absolute path required */
    URL_KIND_KAFKA, /* broker list, "/topic" required */
};

struct url_scheme_rule {
    const char *name;
    enum url_kind kind;
    int is_port_required;
};

/* Schemes with rules of their own; any other scheme is URL_KIND_NET with an optional port. */
static const struct url_scheme_rule url_scheme_rules[] = {
    {"tcp", URL_KIND_NET, 1},
    {"unix", URL_KIND_PATH, 0},
    {"file", URL_KIND_PATH, 0},
    {"kafka", URL_KIND_KAFKA, 0},
};

#define URL_KAFKA_TOPIC_MAX 249 /* Kafka's own limit on topic names */

static const struct url_scheme_rule *url_rule_for(const char *scheme)
{
    static const struct url_scheme_rule generic = {"", URL_KIND_NET, 0};
    for (size_t i = 0; i < sizeof(url_scheme_rules) / sizeof(url_scheme_rules[0]); i++) {
        if (strcmp(url_scheme_rules[i].name, scheme) == 0)
            return &url_scheme_rules[i];
    }
    return &generic;
}

__attribute__((format(printf, 3, 4))) static int url_fail(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int url_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int url_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Copies the len bytes at src into dst (size dstlen) with a NUL; 0, or -1 when it does not fit. */
static int url_copy(char *dst, size_t dstlen, const char *src, size_t len)
{
    if (len >= dstlen)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* Parses "DIGITS" (len bytes at p) into *port. */
static int url_parse_port(const char *p, size_t len, int *port, const char *url, char *err,
                          size_t errlen)
{
    int value = 0;
    if (len == 0)
        return url_fail(err, errlen, "URL has an empty port: %s", url);
    if (len > 5)
        return url_fail(err, errlen, "URL port out of range (0-65535): %s", url);
    for (size_t i = 0; i < len; i++) {
        if (!url_is_digit((unsigned char)p[i]))
            return url_fail(err, errlen, "URL port is not a number: %s", url);
        value = value * 10 + (p[i] - '0');
    }
    if (value > 65535)
        return url_fail(err, errlen, "URL port out of range (0-65535): %s", url);
    *port = value;
    return 0;
}

/* Checks an IPv6 literal (without brackets, optional "%zone"). */
static int url_is_ipv6_literal(const char *p, size_t len)
{
    char addr[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    size_t addr_len = len;
    const char *zone = memchr(p, '%', len);

    if (zone) {
        addr_len = (size_t)(zone - p);
        size_t zone_len = len - addr_len - 1;
        if (zone_len == 0 || zone_len > 64)
            return 0;
        for (size_t i = 1; i <= zone_len; i++) {
            unsigned char c = (unsigned char)zone[i];
            if (!url_is_alpha(c) && !url_is_digit(c) && c != '-' && c != '.' && c != '_')
                return 0;
        }
    }
    if (addr_len == 0 || addr_len >= sizeof(addr))
        return 0;
    memcpy(addr, p, addr_len);
    addr[addr_len] = '\0';
    return inet_pton(AF_INET6, addr, bin) == 1;
}

/* Parses one "host[:port]" or "[v6]:port" (len bytes at a). host gets the host without brackets
 * ("" when absent), *port the port (-1 when absent). */
static int url_parse_hostport(const char *a, size_t len, char *host, size_t hostlen, int *port,
                              const char *url, char *err, size_t errlen)
{
    const char *host_start = a;
    size_t host_len;
    const char *rest;
    size_t rest_len;

    *port = -1;
    host[0] = '\0';
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (!close)
            return url_fail(err, errlen, "URL has '[' without ']': %s", url);
        host_start = a + 1;
        host_len = (size_t)(close - host_start);
        if (!url_is_ipv6_literal(host_start, host_len))
            return url_fail(err, errlen, "URL has a bad IPv6 address: %s", url);
        rest = close + 1;
        rest_len = len - (size_t)(rest - a);
        if (rest_len > 0 && rest[0] != ':')
            return url_fail(err, errlen, "URL has junk after ']': %s", url);
    } else {
        const char *colon = memchr(a, ':', len);
        host_len = colon ? (size_t)(colon - a) : len;
        if (colon && memchr(colon + 1, ':', len - host_len - 1))
            return url_fail(err, errlen, "URL IPv6 address needs brackets ([::1]:PORT): %s", url);
        for (size_t i = 0; i < host_len; i++) {
            unsigned char c = (unsigned char)a[i];
            if (!url_is_alpha(c) && !url_is_digit(c) && c != '-' && c != '.' && c != '_')
                return url_fail(err, errlen, "URL host has an invalid character '%c': %s", c, url);
        }
        rest = a + host_len;
        rest_len = len - host_len;
    }
    if (url_copy(host, hostlen, host_start, host_len) < 0)
        return url_fail(err, errlen, "URL host too long (max %zu bytes): %.64s...", hostlen - 1,
                        url);
    if (rest_len > 0) /* rest starts with ':' */
        return url_parse_port(rest + 1, rest_len - 1, port, url, err, errlen);
    return 0;
}

/* Validates a kafka broker list "h1:9092,[::1]:9093" (len bytes at a). */
static int url_check_brokers(const char *a, size_t len, const char *url, char *err, size_t errlen)
{
    char host[1024];
    int port;
    size_t start = 0;

    if (len == 0)
        return url_fail(err, errlen, "kafka URL needs at least one broker: %s", url);
    while (start <= len) {
        const char *comma = memchr(a + start, ',', len - start);
        size_t end = comma ? (size_t)(comma - a) : len;
        if (end == start)
            return url_fail(err, errlen, "kafka URL has an empty broker in its list: %s", url);
        if (url_parse_hostport(a + start, end - start, host, sizeof(host), &port, url, err,
                               errlen) < 0)
            return -1;
        if (host[0] == '\0')
            return url_fail(err, errlen, "kafka URL has a broker without a host: %s", url);
        start = end + 1;
    }
    return 0;
}

/* Validates "/topic" for kafka. */
static int url_check_topic(const char *path, const char *url, char *err, size_t errlen)
{
    size_t len = strlen(path);
    if (len < 2 || path[0] != '/')
        return url_fail(err, errlen, "kafka URL needs a topic (kafka://host:port/topic): %s", url);
    if (len - 1 > URL_KAFKA_TOPIC_MAX)
        return url_fail(err, errlen, "kafka topic too long (max %d bytes): %.64s...",
                        URL_KAFKA_TOPIC_MAX, url);
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (!url_is_alpha(c) && !url_is_digit(c) && c != '-' && c != '.' && c != '_')
            return url_fail(err, errlen,
                            "kafka topic has an invalid character '%c' (allowed: A-Z a-z 0-9 . _ "
                            "-): %s",
                            c, url);
    }
    return 0;
}

int url_parse(const char *s, url_t *out, char *err, size_t errlen)
{
    url_t u;
    const char *sep;
    const char *authority;
    size_t authority_len, scheme_len, n;
    const char *path_start, *query_start;
    const struct url_scheme_rule *rule;

    memset(&u, 0, sizeof(u));
    u.port = -1;
    if (out) {
        memset(out, 0, sizeof(*out));
        out->port = -1;
    }
    if (err && errlen > 0)
        err[0] = '\0';
    if (!s || !out)
        return url_fail(err, errlen, "no URL given");

    n = strnlen(s, URL_MAX_LEN + 1);
    if (n == 0)
        return url_fail(err, errlen, "empty URL");
    if (n > URL_MAX_LEN)
        return url_fail(err, errlen, "URL too long (max %d bytes): %.64s...", URL_MAX_LEN, s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            return url_fail(err, errlen, "URL contains a space or control character at offset %zu",
                            i);
    }

    sep = strstr(s, "://");
    if (!sep)
        return url_fail(err, errlen, "URL needs a scheme (tcp://, unix://, file://, ...): %s", s);
    scheme_len = (size_t)(sep - s);
    if (scheme_len == 0)
        return url_fail(err, errlen, "URL has an empty scheme: %s", s);
    if (scheme_len >= sizeof(u.scheme))
        return url_fail(err, errlen, "URL scheme too long (max %zu bytes): %.64s...",
                        sizeof(u.scheme) - 1, s);
    for (size_t i = 0; i < scheme_len; i++) {
        unsigned char c = (unsigned char)s[i];
        int is_ok =
            url_is_alpha(c) || (i > 0 && (url_is_digit(c) || c == '+' || c == '-' || c == '.'));
        if (!is_ok)
            return url_fail(err, errlen, "URL scheme has an invalid character '%c': %s", c, s);
        u.scheme[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
    u.scheme[scheme_len] = '\0';

    authority = sep + 3;
    authority_len = strcspn(authority, "/?");
    if (memchr(authority, '@', authority_len))
        return url_fail(err, errlen,
                        "credentials in URLs are not supported (use a token_file= query "
                        "parameter): %s://<redacted>",
                        u.scheme);
    path_start = authority + authority_len;
    query_start = strchr(path_start, '?');
    {
        size_t path_len = query_start ? (size_t)(query_start - path_start) : strlen(path_start);
        if (url_copy(u.path, sizeof(u.path), path_start, path_len) < 0)
            return url_fail(err, errlen, "URL path too long (max %zu bytes): %.64s...",
                            sizeof(u.path) - 1, s);
    }
    if (query_start &&
        url_copy(u.query, sizeof(u.query), query_start + 1, strlen(query_start + 1)) < 0)
        return url_fail(err, errlen, "URL query too long (max %zu bytes): %.64s...",
                        sizeof(u.query) - 1, s);

    rule = url_rule_for(u.scheme);
    switch (rule->kind) {
    case URL_KIND_PATH: {
        int is_local = authority_len == 0 || (strcmp(u.scheme, "file") == 0 && authority_len == 9 &&
                                              strncmp(authority, "localhost", 9) == 0);
        if (!is_local || u.path[0] != '/' || u.path[1] == '\0')
            return url_fail(err, errlen, "%s URL needs an absolute path: %s", u.scheme, s);
        if (strcmp(u.scheme, "unix") == 0 &&
            strlen(u.path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return url_fail(err, errlen, "unix socket path too long (max %zu bytes): %.64s...",
                            sizeof(((struct sockaddr_un *)0)->sun_path) - 1, s);
        break;
    }
    case URL_KIND_KAFKA:
        if (url_check_brokers(authority, authority_len, s, err, errlen) < 0)
            return -1;
        if (url_copy(u.host, sizeof(u.host), authority, authority_len) < 0)
            return url_fail(err, errlen, "kafka broker list too long (max %zu bytes): %.64s...",
                            sizeof(u.host) - 1, s);
        if (url_check_topic(u.path, s, err, errlen) < 0)
            return -1;
        break;
    case URL_KIND_NET:
        if (url_parse_hostport(authority, authority_len, u.host, sizeof(u.host), &u.port, s, err,
                               errlen) < 0)
            return -1;
        if (u.host[0] == '\0')
            return url_fail(err, errlen, "%s URL needs a host: %s", u.scheme, s);
        if (rule->is_port_required && u.port < 0)
            return url_fail(err, errlen, "%s URL needs a port (%s://HOST:PORT): %s", u.scheme,
                            u.scheme, s);
        break;
    }

    *out = u;
    return 0;
}

int url_query_get(const url_t *u, const char *key, char *val, size_t vallen)
{
    size_t key_len, query_len, pos = 0;

    if (!u || !key || key[0] == '\0')
        return 0;
    key_len = strlen(key);
    query_len = strnlen(u->query, sizeof(u->query));
    while (pos < query_len) {
        const char *seg = u->query + pos;
        const char *amp = memchr(seg, '&', query_len - pos);
        size_t seg_len = amp ? (size_t)(amp - seg) : query_len - pos;
        const char *eq = memchr(seg, '=', seg_len);
        size_t name_len = eq ? (size_t)(eq - seg) : seg_len;

        if (name_len == key_len && memcmp(seg, key, key_len) == 0) {
            const char *v = eq ? eq + 1 : seg + seg_len;
            size_t v_len = (size_t)(seg + seg_len - v);
            size_t out_len = 0;
            for (size_t i = 0; i < v_len; i++) {
                unsigned char c = (unsigned char)v[i];
                if (c == '%') {
                    int hi = i + 2 < v_len ? util_hex_value((unsigned char)v[i + 1]) : -1;
                    int lo = i + 2 < v_len ? util_hex_value((unsigned char)v[i + 2]) : -1;
                    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                        return -1;
                    c = (unsigned char)(hi * 16 + lo);
                    i += 2;
                }
                if (val) {
                    if (out_len + 1 >= vallen)
                        return -1;
                    val[out_len] = (char)c;
                }
                out_len++;
            }
            if (val) {
                if (vallen == 0)
                    return -1;
                val[out_len] = '\0';
            }
            return 1;
        }
        pos += seg_len + 1;
    }
    return 0;
}

int url_host_is_ipv6(const url_t *u)
{
    return u && url_rule_for(u->scheme)->kind != URL_KIND_KAFKA && strchr(u->host, ':') != NULL;
}

void url_format(const url_t *u, char *buf, size_t len)
{
    char port[16] = "";
    int is_v6;

    if (!buf || len == 0)
        return;
    if (!u) {
        buf[0] = '\0';
        return;
    }
    is_v6 = url_host_is_ipv6(u);
    if (u->port >= 0)
        snprintf(port, sizeof(port), ":%d", u->port);
    snprintf(buf, len, "%s://%s%s%s%s%s%s%s", u->scheme, is_v6 ? "[" : "", u->host,
             is_v6 ? "]" : "", port, u->path, u->query[0] ? "?" : "", u->query);
}

int url_query_long(const url_t *u, const char *key, long min, long max, long *out, const char *what,
                   char *err, size_t errlen)
{
    char v[32], *end = NULL;
    int rc = url_query_get(u, key, v, sizeof v);
    if (rc == 0)
        return 0;
    long n = rc == 1 ? strtol(v, &end, 10) : 0;
    if (rc < 0 || end == v || *end || n < min || n > max) {
        snprintf(err, errlen, "%s: %s must be an integer in %ld..%ld", what, key, min, max);
        return -1;
    }
    *out = n;
    return 1;
}
