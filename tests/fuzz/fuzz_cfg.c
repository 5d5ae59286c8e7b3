/* fuzz_cfg.c - libFuzzer target for cfg.c: cfg_defaults() then cfg_apply_json() on arbitrary bytes.
 * Invariants checked: a failure always carries a message, list counts stay within their bounds,
 * every stored string is NUL-terminated, and cfg_finish() on what was accepted never overflows. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cfg_t c; /* large: keep it off the stack */
    char err[1024];

    if (size > (1 << 20))
        return 0;
    cfg_defaults(&c);
    err[0] = '\0';
    if (cfg_apply_json(&c, (const char *)data, size, "fuzz.json", err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
        return 0;
    }
    FUZZ_CHECK(c.n_listeners >= 0 && c.n_listeners <= CFG_MAX_LISTENERS);
    FUZZ_CHECK(c.n_sinks >= 0 && c.n_sinks <= CFG_MAX_SINKS);
    FUZZ_CHECK(memchr(c.spool, '\0', sizeof c.spool) != NULL);
    FUZZ_CHECK(memchr(c.state_dir, '\0', sizeof c.state_dir) != NULL);
    FUZZ_CHECK(memchr(c.log_level, '\0', sizeof c.log_level) != NULL);
    FUZZ_CHECK(memchr(c.normalize, '\0', sizeof c.normalize) != NULL);
    for (int i = 0; i < c.n_listeners; i++) {
        FUZZ_CHECK(memchr(c.listeners[i].url_str, '\0', sizeof c.listeners[i].url_str) != NULL);
        FUZZ_CHECK(!strcmp(c.listeners[i].url.scheme, "tcp") ||
                   !strcmp(c.listeners[i].url.scheme, "tls") ||
                   !strcmp(c.listeners[i].url.scheme, "unix"));
        FUZZ_CHECK(memchr(c.listeners[i].allow_types, '\0', sizeof c.listeners[i].allow_types));
        FUZZ_CHECK(
            memchr(c.listeners[i].allow_identities, '\0', sizeof c.listeners[i].allow_identities));
        const cfg_listener_t *l = &c.listeners[i];
        FUZZ_CHECK(l->n_types_by_identity >= 0 && l->n_types_by_identity <= CFG_MAX_IDENTITY_TYPES);
        for (int k = 0; k < l->n_types_by_identity; k++) {
            const cfg_identity_types_t *e = &l->types_by_identity[k];
            FUZZ_CHECK(memchr(e->identity, '\0', sizeof e->identity) && e->identity[0]);
            FUZZ_CHECK(memchr(e->types, '\0', sizeof e->types) && e->types[0]);
        }
    }
    for (int i = 0; i < c.n_sinks; i++)
        FUZZ_CHECK(memchr(c.sinks[i], '\0', sizeof c.sinks[i]) != NULL);
    err[0] = '\0';
    if (cfg_finish(&c, err, sizeof err) != 0)
        FUZZ_CHECK(err[0] != '\0');
    else
        for (int i = 0; i < c.n_listeners; i++)
            FUZZ_CHECK(c.listeners[i].max_event_bytes >= 64);
    return 0;
}
