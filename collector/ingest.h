/*
 * ingest.h - the libuv side of the collector: listeners, connections, framing, parsing, acks.
 *
 * Runs entirely on the loop thread. For each line a connection delivers:
 *   frame -> envelope_parse -> (normalize, later) -> spool record -> writer_submit
 * and when the writer hands committed records back (ingest_on_committed) it writes the coalesced
 * {"ack":N} to each connection. A rejected line becomes a dead-letter record (acknowledged like an
 * event once durable) plus an immediate {"error":{"line":N,"reason":"..."}}.
 *
 * Connection life cycle:
 *
 *   OPEN --EOF/idle/shutdown--> DRAINING (no reads; waits for its records to commit, writes the
 *        \                      final ack) --> CLOSED (handles closed) --> freed once no record in
 *         \--error------------------------------^                           the writer refers to it
 *
 * Backpressure: when the writer holds more than max_pending_bytes, every connection stops reading
 * (the kernel's buffers then push back on emitters); reading resumes below half of that.
 */
#ifndef OCSF_INGEST_H
#define OCSF_INGEST_H

#include "cfg.h"
#include "spool.h"
#include "writer.h"

#include <jansson.h>
#include <uv.h>

typedef struct ingest ingest_t;
struct norm;

typedef struct ingest_opts {
    const cfg_listener_t *listeners;
    int n_listeners;
    size_t max_pending_bytes;
    int64_t next_seq;  /* first seq to assign */
    struct norm *norm; /* the normalizer, or NULL to store events as received */
} ingest_opts_t;

/* Binds every listener (logging "listening on URL" with the real port). 0 or -1 with err. */
int ingest_start(uv_loop_t *loop, writer_t *w, const ingest_opts_t *opts, ingest_t **out, char *err,
                 size_t errlen);
/* The writer's done callback (ctx = the ingest_t). */
void ingest_on_committed(void *ctx, spool_record_t *done);
/* Stores an event the collector generates itself (an OCSF event, e.g. chain_event.h's head):
 * validated and given missing metadata like any OCSF pass-through input (the peer recorded is
 * "internal"), then the next seq (*seq) and submitted to the writer with no connection to
 * acknowledge. `type` is the spool's type column. 0, or -1 with err (not stored: no normalizer,
 * shutting down, invalid, out of memory). Loop thread only. */
int ingest_submit_own(ingest_t *in, json_t *ocsf, const char *type, int64_t *seq, char *err,
                      size_t errlen);
/* Stops accepting and reading; each connection gets its final ack and is closed. cb runs on the
 * loop when the last connection is closed (at once if there is none). */
void ingest_shutdown(ingest_t *in, void (*cb)(void *arg), void *arg);
/* SIGHUP: every tls:// listener re-reads its certificate, key and client CA; new connections use
 * them, open ones keep theirs. A listener whose files do not load keeps its old ones (err names
 * it, -1). *n_reloaded counts the listeners that took new files. */
int ingest_reload_tls(ingest_t *in, int *n_reloaded, char *err, size_t errlen);
/* SIGHUP: each running listener takes allow_types, allow_uids, allow_gids and (tls://)
 * allow_identities and allow_types_by_identity from `fresh` (the configuration read again,
 * listeners matched by URL); event types are checked against the new lists from the next line on,
 * and a connection whose peer the new lists refuse (unix credentials, or a client certificate
 * allow_identities no longer names) is drained and closed. 0, or -1 with err listing what was not
 * applied (a listener gone from the configuration, identity lists changed together with client_ca,
 * which only a restart changes; a list that does not parse: that listener keeps its old lists).
 * *n_changed counts the listeners that took new lists. */
int ingest_reload_allowlists(ingest_t *in, const cfg_t *fresh, int *n_changed, char *err,
                             size_t errlen);
/* Closes connections that did not finish draining (e.g. a client that never reads). */
void ingest_force_close(ingest_t *in);
/* Frees after every handle is closed (after the loop ran the close callbacks). */
void ingest_free(ingest_t *in);

typedef struct ingest_stats {
    uint64_t lines, events, dead_letters, connections, refused_connections;
    uint64_t tls_refused;      /* of refused_connections: failed TLS handshakes */
    uint64_t disallowed_types; /* of dead_letters: types outside allow_types (by identity) */
    uint64_t open_connections; /* now, over every listener */
} ingest_stats_t;
void ingest_get_stats(const ingest_t *in, ingest_stats_t *st);

#endif
