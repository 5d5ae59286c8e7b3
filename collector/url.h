/* url.h - parse the endpoint URLs used on the command line and in the config file.
 *
 * Listeners (`tcp://HOST:PORT`, `unix:///abs/path`), sinks (`file:///abs/path?gzip=1`,
 * `kafka://h1:9092,h2:9092/topic?key=workspace`, `hec+https://host:8088?token_file=...`,
 * `syslog+tls://host:6514`, `forward+tcp://host:port`) and the tools' `--to` all go through
 * url_parse(), so every component agrees on what a URL means.
 *
 * Contract:
 * - url_parse() never reads past URL_MAX_LEN bytes of its input, and every field of url_t is
 *   NUL-terminated and bounded; an input that does not fit is an error, never truncated.
 * - On error *out is left zeroed with port -1, so a caller that ignores the result still sees
 *   no half-parsed values.
 * - The scheme is lower-cased; host, path and query are kept as written (no percent-decoding;
 *   url_query_get() decodes query values on demand).
 * - No credentials in URLs: "user@host" is refused (use a `token_file=` query parameter).
 */
#ifndef OCSF_URL_H
#define OCSF_URL_H

#include <stddef.h>

/* Longest URL string url_parse() accepts (bytes, without the terminating NUL). */
#define URL_MAX_LEN 8192

typedef struct url {
    char
        scheme[32]; /* "tcp", "unix", "file", "kafka", "hec+https", "syslog+tls" ... (lower-case) */
    char host[1024];  /* "127.0.0.1", "::1" (brackets removed), "localhost", or "h1:9092,h2:9092"
                         for kafka (the broker list exactly as written) */
    int port;         /* -1 when absent; 0 allowed ("pick a free port") */
    char path[4096];  /* unix socket path / file path / "/topic"; "" when absent */
    char query[1024]; /* raw query string without '?', "" when absent */
} url_t;

/* Parses s. Returns 0, or -1 with a message in err naming what is wrong ("unix URL needs an
 * absolute path: unix://x"). Bounds every field (too long = error). Forms: tcp://HOST:PORT,
 * tcp://[::1]:PORT, unix:///abs/path, file:///abs/path?gzip=1,
 * kafka://h1:9092,h2:9092/topic?key=workspace, scheme://host:port/path?q
 * Per-scheme rules: tcp needs a host and a port; unix and file need an absolute path and no
 * host (file also accepts "localhost"); kafka needs at least one broker and a topic; any other
 * scheme needs a host. err may be NULL (errlen 0). */
int url_parse(const char *s, url_t *out, char *err, size_t errlen);

/* Looks up key in the query ("a=1&b=2"); percent-decodes the value. Returns 1 found, 0 absent,
 * -1 value too long for vallen or malformed (bad %XX escape, or %00). The first occurrence of
 * key wins; "key" without '=' is found with the empty value; '+' is kept as '+'. val may be NULL
 * (vallen 0) to test presence only. */
int url_query_get(const url_t *u, const char *key, char *val, size_t vallen);
/* An integer query option in [min, max]: 0 absent (*out untouched), 1 set, -1 with err
 * "KEY must be an integer in MIN..MAX" (prefixed with what, e.g. "HEC sink"). */
int url_query_long(const url_t *u, const char *key, long min, long max, long *out, const char *what,
                   char *err, size_t errlen);

/* Formats u back to a canonical string (for logs): IPv6 hosts get their brackets back, unix and
 * file URLs print as scheme:///path. Always NUL-terminates when len > 0 (truncates to fit). */
void url_format(const url_t *u, char *buf, size_t len);

/* Returns 1 when u->host is an IPv6 literal (it had brackets in the URL), else 0. */
int url_host_is_ipv6(const url_t *u);

#endif /* OCSF_URL_H */
