/*
 * writer.h - the spool writer thread: group commit of events and dead letters, then completion.
 *
 * The libuv loop never waits on disk. It hands records to writer_submit() (cheap: a mutex and a
 * list append); the writer thread takes everything queued (up to commit_max_events, waiting at most
 * commit_interval_ms for a batch to fill), inserts it in one transaction and commits (one fsync
 * under synchronous=FULL). Committed records go back to the loop through a uv_async_t: the loop's
 * done callback credits each record's owner (an acknowledgement) and frees it.
 *
 * Sink cursors ride along: shippers call writer_set_cursor() from their threads and the next
 * transaction stores them. Shippers wait for new data with writer_wait_committed().
 *
 * Failure: a failed commit (disk full, I/O error) is rolled back and retried with backoff, the
 * batch kept in order; nothing is acknowledged until it succeeds. One log line per outage, not a
 * flood.
 *
 *   state:  RUNNING --writer_stop()--> DRAINING (commits what is queued and the cursors) -->
 * STOPPED
 */
#ifndef OCSF_WRITER_H
#define OCSF_WRITER_H

#include "chain.h"
#include "spool.h"

#include <stdint.h>
#include <uv.h>

#define WRITER_MAX_CURSORS 32

typedef struct writer writer_t;

/* Runs on the loop thread with the committed records, in commit order, as a list linked by next.
 * The callee owns them (frees each with spool_record_free). */
typedef void (*writer_done_cb)(void *ctx, spool_record_t *done);

typedef struct writer_opts {
    int commit_max_events;   /* records per transaction at most */
    int commit_interval_ms;  /* how long a batch may wait to fill */
    int cursor_commit_ms;    /* how long moved cursors alone may wait for records to share a
                              * commit with (0: commit them at once) */
    int64_t retention_ms;    /* delivered events older than this are pruned; <0 keeps them */
    int64_t retention_bytes; /* above this many used spool bytes, delivered events are pruned
                              * oldest first; 0 no cap */
    int64_t max_bytes;       /* spool cap (used bytes): delivered events evicted first, then full */
    int64_t max_events;      /* cap on undelivered events; 0 none */
    int is_drop_oldest;      /* at a cap, delete the oldest undelivered events instead of full */
    int64_t chain_head_interval_ms; /* log the hash chain head this often (0: 60 s) */
    int is_background_checkpoint;   /* the spool was opened so (spool_opts_t): WAL checkpoints
                                       run on a thread of the writer's (spool_ckpt.h) */
    int synchronous;                /* the spool's, for that thread's connection */
} writer_opts_t;

/* Takes ownership of spool (closes it at writer_free). Registers a uv_async_t on loop. */
int writer_start(uv_loop_t *loop, spool_t *spool, const writer_opts_t *opts, writer_done_cb cb,
                 void *ctx, writer_t **out, char *err, size_t errlen);
/* Sets the done callback's ctx (once the consumer exists, before any completion). */
void writer_set_done_ctx(writer_t *w, void *ctx);
/* Any thread. Takes ownership of r. */
void writer_submit(writer_t *w, spool_record_t *r);
/* Bytes of records submitted but not yet handed back (the backpressure gauge). */
size_t writer_pending_bytes(writer_t *w);
/* 1 while the spool is at a cap with the block policy: ingest must not read. The writer wakes the
 * loop (the done callback runs, possibly with nothing done) when this turns 0 again. */
int writer_is_full(writer_t *w);
/* Registers a cursor slot for a sink name; returns its index or -1. Before any shipper runs. */
int writer_add_cursor(writer_t *w, const char *sink, int64_t seq);
/* Any thread: the sink's cursor is now seq (stored by a later transaction). */
void writer_set_cursor(writer_t *w, int index, int64_t seq);
/* Highest committed event seq. */
int64_t writer_committed_seq(writer_t *w);
/* A snapshot for the metrics (any thread): the newest committed seq, bytes waiting, whether a cap
 * holds ingest back, drop_oldest's drops, and each sink's cursor (names stay valid while w lives).
 */
typedef struct writer_stats {
    int64_t committed_seq;
    int64_t pending_bytes;
    int is_full;
    int64_t dropped_total;
    int n_cursors;
    struct {
        const char *name;
        int64_t seq;
    } cursors[WRITER_MAX_CURSORS];
} writer_stats_t;
void writer_get_stats(writer_t *w, writer_stats_t *st);
/* Any thread: the spool's hash chain head (seq and hash of the newest committed event, or the
 * chain's anchor before any; chain.h) as of the last commit. 0, or -1 before the thread ran or
 * without a chain. */
int writer_committed_head(writer_t *w, int64_t *seq, uint8_t hash[CHAIN_HASH_LEN]);
/* Blocks until the committed seq passes `after`, the writer stops, or timeout_ms; returns it. */
int64_t writer_wait_committed(writer_t *w, int64_t after, int timeout_ms);
/* Starts the thread. Call after the writer_add_cursor() calls. 0 or -1. */
int writer_run(writer_t *w);
/* Blocks until everything submitted so far is committed; 0, or -1 after timeout_ms. */
int writer_flush(writer_t *w, int timeout_ms);
/* Commits what is queued and the cursors, joins the thread. The loop must still run the last
 * completions: call before uv_close of the loop's handles. */
void writer_stop(writer_t *w);
/* Closes the async handle (on the loop) and frees; close_cb is called from the loop afterwards. */
void writer_free(writer_t *w);

#endif
