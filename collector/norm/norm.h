/*
 * norm.h - the normalizer: turns one parsed input event into a valid OCSF 1.8 event.
 *
 * Two kinds of input are accepted:
 *  - the native envelope ({"type": "tool.egress", "time": ..., "id": ..., ...}): the event's `type`
 * selects an entry of a mapping table (schemas/mappings/<name>.json, language in
 * schemas/README.md), which says the class, the activity and how each OCSF attribute is filled;
 * what no rule used goes to `unmapped`;
 *  - OCSF pass-through: an input that already carries `class_uid` is never re-mapped. Only missing
 * metadata is added (version, product, uid, logged_time, sequence) and the peer is recorded; then
 * it is validated. Every output passed schema_validate(). Every output carries the peer the
 * listener saw under `unmapped.collector` ({listener, addr, uid, gid, pid}); an emitter cannot set
 * that key (a value it sent there is moved to `unmapped.collector_claimed`).
 *
 * Tables are compiled at load (pre-split paths, pre-resolved enum values and captions, pre-coerced
 * constants) and checked against the schema; a bad table is refused with file, entry and field
 * named, and a reload that fails keeps the old tables serving. The schema itself is loaded once by
 * norm_open() and kept.
 *
 * Threads: a norm_t is used by one thread at a time (the libuv loop); norm_reload() runs on that
 * thread too.
 */
#ifndef OCSF_NORM_H
#define OCSF_NORM_H

#include <stddef.h>
#include <jansson.h>

#include "jsonw.h"

typedef struct norm norm_t;

/* Who sent the event, as the listener saw it. Strings are borrowed for the duration of the call. */
typedef struct norm_peer {
    const char *listener;    /* "tcp://127.0.0.1:7514" or "unix:///run/x.sock" */
    const char *addr;        /* "127.0.0.1:51234", "[::1]:5123", or NULL for unix */
    long uid, gid, pid;      /* unix peer credentials, -1 when unknown */
    const char *tls_subject; /* verified client certificate subject (RFC 2253), or NULL */
    const char *tls_cn;      /* its CN, or NULL */
    json_t *record; /* optional: norm_peer_record() of the fields above, built once per connection
                       and shared (read-only) by its events; NULL: built per event */
} norm_peer_t;

/* The object recorded under unmapped.collector for this peer (listener, addr, uid, gid, pid,
 * tls_subject, tls_cn): a NEW reference, or NULL when out of memory (or a string is not UTF-8). A
 * caller that keeps it across events must build it outside any per-event jansson arena. */
json_t *norm_peer_record(const norm_peer_t *peer);

typedef struct norm_stats {
    unsigned long long mapped;       /* native events mapped and valid */
    unsigned long long passthrough;  /* OCSF inputs accepted */
    unsigned long long unknown_type; /* no `type`, or no table entry for it */
    unsigned long long
        invalid; /* conversion errors or validator problems (mapped or pass-through) */
    unsigned long long reloads;         /* norm_reload() calls that took new tables */
    unsigned long long reload_failures; /* and those that kept the old ones */
} norm_stats_t;

/* Loads schema tables from <schemas_dir>/ocsf and every *.json mapping table of mappings_dir (in
 * name order). schemas_dir NULL: env OCSF_SCHEMAS_DIR, else the compiled-in OCSF_SCHEMAS_DIR;
 * mappings_dir NULL: <schemas_dir>/mappings. Returns 0 and *out (release with norm_close), or -1
 * with err naming file, entry and field ("schemas/mappings/native.json: entry 'tool.egress': field
 * 'class_uid': unknown class 4999"). */
int norm_open(const char *schemas_dir, const char *mappings_dir, norm_t **out, char *err,
              size_t errlen);

/* Re-reads the mapping tables from the same directory; on success swaps them in, on failure keeps
 * the old ones, fills err and returns -1. */
int norm_reload(norm_t *n, char *err, size_t errlen);

void norm_close(norm_t *n); /* NULL is fine */

/* Normalizes one parsed input event `in` (borrowed; never modified). On success returns 0 and *out
 * is a NEW reference (caller owns) to a valid OCSF 1.8 event. The output shares values by reference
 * count with `in` (unmapped fields) and with the normalizer (metadata.product, captions): treat
 * both as read-only afterwards (serializing on another thread is fine; jansson reference counts are
 * atomic). On failure returns -1, *out NULL and `reasons` holds every reason, "; "-separated ("no
 * mapping for type X", "field 'dst_port': \"abc\" is not an integer (dst_endpoint.port)", or the
 * validator's list); the caller dead-letters the input with them. sequence -> metadata.sequence;
 * received_ms -> metadata.logged_time, and the event time when the input has none. peer may be NULL
 * (nothing recorded under unmapped.collector). */
int norm_event(norm_t *n, json_t *in, const norm_peer_t *peer, long long sequence,
               long long received_ms, json_t **out, char *reasons, size_t len);

/* norm_event plus serialization, for the ingest path: on success buf holds the compact JSON of the
 * event, byte for byte what jsonw_dump gives for norm_event's output (test_norm_corpus checks it),
 * and *out the event's tree WITHOUT its `unmapped` when that was written straight from the input
 * into buf (building it as a tree first cost ~5k instructions per event); read *out's other
 * members (class_uid, time...), then release it. Same reasons and stats as norm_event; -1 also
 * when out of memory while serializing. */
int norm_event_dump(norm_t *n, json_t *in, const norm_peer_t *peer, long long sequence,
                    long long received_ms, json_t **out, jsonw_buf_t *buf, char *reasons,
                    size_t len);

void norm_get_stats(const norm_t *n, norm_stats_t *st);

/* Number of entries in the loaded tables (for logs after a reload). */
size_t norm_entry_count(const norm_t *n);

/* Time conversion used for every timestamp_t attribute, exported for tools (replay filters):
 * RFC 3339 ("2026-11-28T20:00:00.123Z", "...T21:00:00+01:00", any number of fraction digits, 't'/'
 * ' and 'z' accepted, offsets +HH:MM or +HHMM) or epoch seconds/milliseconds as digits (values
 * below 1e11 are seconds). 0 and *ms (UTC epoch milliseconds; fractions below 1 ms truncated),
 * *tz_min (offset in minutes, NULL allowed; 0 for epoch input and 'Z'), *has_tz (1 when the text
 * carried an offset; NULL allowed), or -1. Reads at most len bytes; never more than 64. */
int norm_time_parse(const char *text, size_t len, long long *ms, int *tz_min, int *has_tz);

/* Same for a JSON value: a string as above, or an integer/real epoch (seconds when |v| < 1e11, else
 * ms). */
int norm_time_from_json(const json_t *v, long long *ms);

#endif /* OCSF_NORM_H */
