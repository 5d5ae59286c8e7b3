/* fuzz_url.c - libFuzzer target for url.c: url_parse() on arbitrary bytes (NUL-terminated copy),
 * then url_query_get() and url_format() on whatever parsed. Invariants checked: a parse either
 * fails with a message or yields NUL-terminated fields within their bounds, and formatting a parsed
 * URL gives a string that parses again to the same fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"gzip", "key", "token_file", "compression", "a", ""};
    char *s;
    url_t u;
    char err[256];
    char val[64];
    char formatted[URL_MAX_LEN + 64];

    if (size > URL_MAX_LEN * 2)
        return 0;
    s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    if (url_parse(s, &u, err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0] != '\0');
        free(s);
        return 0;
    }
    FUZZ_CHECK(memchr(u.scheme, '\0', sizeof(u.scheme)) != NULL);
    FUZZ_CHECK(memchr(u.host, '\0', sizeof(u.host)) != NULL);
    FUZZ_CHECK(memchr(u.path, '\0', sizeof(u.path)) != NULL);
    FUZZ_CHECK(memchr(u.query, '\0', sizeof(u.query)) != NULL);
    FUZZ_CHECK(u.port >= -1 && u.port <= 65535);

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int rc = url_query_get(&u, keys[i], val, sizeof(val));
        FUZZ_CHECK(rc >= -1 && rc <= 1);
        if (rc == 1)
            FUZZ_CHECK(strlen(val) < sizeof(val));
        (void)url_query_get(&u, keys[i], NULL, 0);
    }
    /* The first key of the query itself, whatever it is. */
    {
        char key[64];
        size_t n = strcspn(u.query, "=&");
        if (n < sizeof(key)) {
            memcpy(key, u.query, n);
            key[n] = '\0';
            (void)url_query_get(&u, key, val, sizeof(val));
        }
    }

    url_format(&u, formatted, sizeof(formatted));
    {
        url_t again;
        int rc = url_parse(formatted, &again, err, sizeof(err));
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(memcmp(&u, &again, sizeof(u)) == 0);
    }
    free(s);
    return 0;
}
