/*
 * writer.c - the spool writer thread (see writer.h for the contract).
 *
 * NOTES ON THE DESIGN
 *   1. Order: records are committed in submit order and handed back in that order, so a
 * connection's acknowledgement count only ever grows and covers a prefix of its lines.
 *   2. Only this thread writes to the spool connection. Shippers read through their own connections
 *      (WAL lets them read while this one writes).
 *   3. Group commit: the queue is drained whole at each turn (up to commit_max_events), so under
 * load the batch grows with the fsync time instead of the fsync rate limiting throughput.
 *   4. A commit that fails leaves the batch at the head of the line and is retried; the loop sees
 * no completion meanwhile, so no emitter is told an event is durable before it is.
 */
#include "writer.h"
#include "chain.h"
#include "spool_ckpt.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cursor_slot {
    char name[512];
    int64_t seq;
    int64_t stored_seq;
};

struct writer {
    uv_loop_t *loop;
    uv_async_t async;
    spool_t *spool;
    spool_ckpt_t *ckpt; /* NULL unless is_background_checkpoint */
    writer_opts_t opts;
    writer_done_cb done_cb;
    void *done_ctx;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond_work;      /* queue grew, a cursor moved, or stop */
    pthread_cond_t cond_committed; /* committed_seq moved, or the queue emptied */
    spool_record_t *head, *tail;   /* submitted, not yet taken by the thread */
    size_t queued;
    spool_record_t *done_head, *done_tail; /* committed, not yet handed to the loop */
    int is_busy;                           /* the thread holds a batch it has not committed yet */
    int is_stopping;
    int64_t committed_seq;
    int64_t head_seq;                  /* the chain head as of the last commit (chain.h); */
    uint8_t head_hash[CHAIN_HASH_LEN]; /* is_head_known 0 without a chain (read-only spool) */
    int is_head_known;
    struct cursor_slot cursors[WRITER_MAX_CURSORS];
    int n_cursors;
    int is_cursor_dirty;
    atomic_size_t pending_bytes;
    atomic_int is_full;         /* at a cap with the block policy (see writer_check_caps) */
    atomic_llong dropped_total; /* undelivered events deleted by drop_oldest (read by metrics) */
    int64_t drop_unlogged, drop_first, drop_last; /* drops not logged yet, and their seqs */
    uint64_t drop_logged_ns;
};

static void writer_async_cb(uv_async_t *h)
{
    writer_t *w = h->data;
    pthread_mutex_lock(&w->mu);
    spool_record_t *done = w->done_head;
    w->done_head = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    size_t bytes = 0;
    for (spool_record_t *r = done; r; r = r->next)
        bytes += r->size;
    atomic_fetch_sub(&w->pending_bytes, bytes);
    if (done || w->done_ctx) /* also with nothing done: the spool may have left "full" */
        w->done_cb(w->done_ctx, done);
}

int writer_is_full(writer_t *w)
{
    return atomic_load(&w->is_full);
}

void writer_set_done_ctx(writer_t *w, void *ctx)
{
    w->done_ctx = ctx;
}

void writer_submit(writer_t *w, spool_record_t *r)
{
    r->next = NULL;
    atomic_fetch_add(&w->pending_bytes, r->size);
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = r;
    else
        w->head = r;
    w->tail = r;
    w->queued++;
    if (w->queued == 1 || w->queued >= (size_t)w->opts.commit_max_events)
        pthread_cond_signal(&w->cond_work);
    pthread_mutex_unlock(&w->mu);
}

size_t writer_pending_bytes(writer_t *w)
{
    return atomic_load(&w->pending_bytes);
}

int writer_add_cursor(writer_t *w, const char *sink, int64_t seq)
{
    if (w->n_cursors >= WRITER_MAX_CURSORS)
        return -1;
    struct cursor_slot *c = &w->cursors[w->n_cursors];
    util_strlcpy(c->name, sink, sizeof c->name);
    c->seq = c->stored_seq = seq;
    return w->n_cursors++;
}

void writer_set_cursor(writer_t *w, int index, int64_t seq)
{
    pthread_mutex_lock(&w->mu);
    if (seq > w->cursors[index].seq) {
        w->cursors[index].seq = seq;
        w->is_cursor_dirty = 1;
        pthread_cond_signal(&w->cond_work);
    }
    pthread_mutex_unlock(&w->mu);
}

int64_t writer_committed_seq(writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    int64_t s = w->committed_seq;
    pthread_mutex_unlock(&w->mu);
    return s;
}

void writer_get_stats(writer_t *w, writer_stats_t *st)
{
    memset(st, 0, sizeof *st);
    st->pending_bytes = (int64_t)atomic_load(&w->pending_bytes);
    st->is_full = atomic_load(&w->is_full);
    st->dropped_total = atomic_load(&w->dropped_total);
    pthread_mutex_lock(&w->mu);
    st->committed_seq = w->committed_seq;
    st->n_cursors = w->n_cursors;
    for (int i = 0; i < w->n_cursors; i++) {
        st->cursors[i].name = w->cursors[i].name;
        st->cursors[i].seq = w->cursors[i].seq;
    }
    pthread_mutex_unlock(&w->mu);
}

static void deadline_after_ms(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int writer_committed_head(writer_t *w, int64_t *seq, uint8_t hash[CHAIN_HASH_LEN])
{
    pthread_mutex_lock(&w->mu);
    int rc = w->is_head_known ? 0 : -1;
    if (rc == 0) {
        *seq = w->head_seq;
        memcpy(hash, w->head_hash, CHAIN_HASH_LEN);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int64_t writer_wait_committed(writer_t *w, int64_t after, int timeout_ms)
{
    struct timespec ts;
    deadline_after_ms(&ts, timeout_ms);
    pthread_mutex_lock(&w->mu);
    while (w->committed_seq <= after && !w->is_stopping) {
        if (pthread_cond_timedwait(&w->cond_committed, &w->mu, &ts) == ETIMEDOUT)
            break;
    }
    int64_t s = w->committed_seq;
    pthread_mutex_unlock(&w->mu);
    return s;
}

int writer_flush(writer_t *w, int timeout_ms)
{
    struct timespec ts;
    int rc = 0;
    deadline_after_ms(&ts, timeout_ms);
    pthread_mutex_lock(&w->mu);
    while ((w->head || w->is_busy) && rc == 0)
        if (pthread_cond_timedwait(&w->cond_committed, &w->mu, &ts) == ETIMEDOUT)
            rc = -1;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Takes a batch off the queue; waits for work first. Returns with the lock held. */
static spool_record_t *writer_take_batch(writer_t *w, int *n_out)
{
    while (!w->head && !w->is_cursor_dirty && !w->is_stopping) {
        struct timespec ts;
        deadline_after_ms(&ts, 1000); /* wake now and then to prune */
        if (pthread_cond_timedwait(&w->cond_work, &w->mu, &ts) == ETIMEDOUT)
            break;
    }
    if (!w->head && w->is_cursor_dirty && !w->is_stopping && w->opts.cursor_commit_ms > 0) {
        /* only sink progress to store: give records a moment to come and share the commit (one
         * fsync). At a low rate every event was otherwise followed by a commit of its cursor alone,
         * a third of the spool's fsyncs. A crash loses at most this much progress: the sinks send
         * those events again (at least once). */
        struct timespec ts;
        deadline_after_ms(&ts, w->opts.cursor_commit_ms);
        while (!w->head && !w->is_stopping)
            if (pthread_cond_timedwait(&w->cond_work, &w->mu, &ts) == ETIMEDOUT)
                break;
    }
    if (w->head && w->queued < (size_t)w->opts.commit_max_events && !w->is_stopping &&
        w->opts.commit_interval_ms > 0) {
        /* let the batch fill for a moment: one fsync for more records */
        struct timespec ts;
        deadline_after_ms(&ts, w->opts.commit_interval_ms);
        while (w->queued < (size_t)w->opts.commit_max_events && !w->is_stopping)
            if (pthread_cond_timedwait(&w->cond_work, &w->mu, &ts) == ETIMEDOUT)
                break;
    }
    spool_record_t *batch = w->head, *last = NULL;
    int n = 0;
    if (w->queued <= (size_t)w->opts.commit_max_events) {
        /* the whole queue: no walk under the lock (the records are cold in this core's cache) */
        last = w->tail;
        n = (int)w->queued;
    } else {
        for (spool_record_t *r = w->head; r && n < w->opts.commit_max_events; r = r->next) {
            last = r;
            n++;
        }
    }
    if (last) {
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        w->queued -= (size_t)n;
        w->is_busy = 1;
    }
    *n_out = n;
    return last ? batch : NULL;
}

/* Inserts the batch and the dirty cursors in one transaction. 0 or -1 (rolled back). On success
 * *last gets the batch's last record and *last_seq its highest event seq (unchanged if none), found
 * on the way so the lock is never held for a walk of the batch. */
static int writer_commit(writer_t *w, spool_record_t *batch, struct cursor_slot *cur, int n_cur,
                         spool_record_t **last, int64_t *last_seq)
{
    int64_t now = util_now_ms();
    int64_t high = *last_seq;
    spool_record_t *tail = NULL;
    if (spool_begin(w->spool) < 0)
        return -1;
    for (spool_record_t *r = batch; r; r = r->next) {
        if (spool_insert(w->spool, r) < 0)
            goto fail;
        if (r->kind == SPOOL_EVENT && r->seq > high)
            high = r->seq;
        tail = r;
    }
    for (int i = 0; i < n_cur; i++)
        if (cur[i].seq != cur[i].stored_seq &&
            spool_put_cursor(w->spool, cur[i].name, cur[i].seq, now) < 0)
            goto fail;
    if (spool_commit(w->spool) < 0)
        goto fail;
    *last = tail;
    *last_seq = high;
    return 0;
fail:
    spool_rollback(w->spool);
    return -1;
}

/* Deletes events every sink has delivered and that are past retention (by age, then by size:
 * oldest first). Never an event past the slowest sink's stored cursor. */
static void writer_prune(writer_t *w, const struct cursor_slot *cur, int n_cur)
{
    if ((w->opts.retention_ms < 0 && w->opts.retention_bytes <= 0) || n_cur == 0)
        return;
    int64_t upto = INT64_MAX;
    for (int i = 0; i < n_cur; i++)
        if (cur[i].stored_seq < upto)
            upto = cur[i].stored_seq;
    if (upto <= 0)
        return;
    if (spool_begin(w->spool) < 0)
        return;
    int n = 0, n_size = 0;
    if (w->opts.retention_ms >= 0)
        n = spool_prune(w->spool, upto, util_now_ms() - w->opts.retention_ms, 20000);
    if (n >= 0 && w->opts.retention_bytes > 0)
        n_size = spool_prune_bytes(w->spool, upto, w->opts.retention_bytes, 20000);
    if (n < 0 || n_size < 0 || spool_commit(w->spool) < 0) {
        spool_rollback(w->spool);
        return;
    }
    if (n + n_size > 0)
        log_debug("spool: pruned %d delivered events past retention_s, %d over retention_bytes "
                  "(up to seq %lld)",
                  n, n_size, (long long)upto);
}

/* The lowest cursor (what every sink has delivered; called right after a commit that stored
 * them), or 0 without sinks. */
static int64_t writer_min_cursor(const struct cursor_slot *cur, int n_cur)
{
    int64_t m = n_cur ? INT64_MAX : 0;
    for (int i = 0; i < n_cur; i++)
        if (cur[i].seq < m)
            m = cur[i].seq;
    return m;
}

/* With background checkpoints: kicks the thread once the WAL is big enough; past the inline
 * limit the thread is behind, and the writer copies the WAL itself (the price of a commit with
 * SQLite's automatic checkpoint, as backpressure). */
static void writer_checkpoint(writer_t *w)
{
    int frames = spool_wal_frames(w->spool);
    if (frames >= SPOOL_CKPT_INLINE_FRAMES)
        (void)spool_checkpoint_passive(w->spool);
    else if (frames >= SPOOL_CKPT_KICK_FRAMES)
        spool_ckpt_kick(w->ckpt);
}

/* Logs the spool's hash chain head (chain.h): the line a log pipeline keeps, so that a spool
 * edited, cut or deleted later no longer contains a head it logged. `when` says why. */
static void writer_log_chain_head(writer_t *w, const char *when)
{
    int64_t seq;
    uint8_t h[CHAIN_HASH_LEN];
    char hex[2 * CHAIN_HASH_LEN + 1];
    if (spool_chain_head(w->spool, &seq, h) < 0)
        return;
    chain_hex(h, hex);
    log_info("chain head seq=%lld hash=%s (%s)", (long long)seq, hex, when);
}

/* With w->mu held: the chain head the spool connection holds, published for
 * writer_committed_head(). Called after a commit (the connection's head is then committed). */
static void writer_publish_head(writer_t *w)
{
    w->is_head_known = spool_chain_head(w->spool, &w->head_seq, w->head_hash) == 0;
}

/* Logs the drop_oldest policy's drops at most once a second (every one is counted). */
static void writer_log_drops(writer_t *w, int is_forced)
{
    uint64_t now = util_mono_ns();
    if (w->drop_unlogged == 0 || (!is_forced && now - w->drop_logged_ns < 1000000000ull))
        return;
    log_warn("spool full (spool_full_policy drop_oldest): dropped %lld undelivered events, seq "
             "%lld..%lld (%lld dropped since start)",
             (long long)w->drop_unlogged, (long long)w->drop_first, (long long)w->drop_last,
             (long long)atomic_load(&w->dropped_total));
    w->drop_unlogged = 0;
    w->drop_logged_ns = now;
}

/* Enforces spool_max_bytes / spool_max_events after a commit. Over the byte cap, delivered events
 * go first (oldest first, retention or not), aiming at 80% of the cap so eviction runs in
 * batches. Still over a cap with nothing delivered left to evict: with drop_oldest the oldest
 * undelivered events are deleted, counted and logged; with block the writer reports full, ingest
 * stops reading, and full clears below 90% of the caps (hysteresis: no flapping). */
static void writer_check_caps(writer_t *w, const spool_record_t *batch,
                              const struct cursor_slot *cur, int n_cur)
{
    const writer_opts_t *o = &w->opts;
    if (o->max_bytes <= 0 && o->max_events <= 0)
        return;
    int64_t delivered = writer_min_cursor(cur, n_cur);
    pthread_mutex_lock(&w->mu);
    int64_t last = w->committed_seq;
    pthread_mutex_unlock(&w->mu);
    for (const spool_record_t *r = batch; r; r = r->next)
        if (r->kind == SPOOL_EVENT && r->seq > last)
            last = r->seq;
    int64_t first = spool_first_seq(w->spool);
    int64_t used = o->max_bytes > 0 ? spool_used_bytes(w->spool) : 0;
    if (first < 0 || used < 0)
        return;
    if (o->max_bytes > 0 && used > o->max_bytes && first > 0 && first <= delivered &&
        spool_begin(w->spool) == 0) {
        int n = spool_prune_bytes(w->spool, delivered, o->max_bytes / 10 * 8, 20000);
        if (n < 0 || spool_commit(w->spool) < 0) {
            spool_rollback(w->spool);
        } else if (n > 0) {
            log_debug("spool: evicted %d delivered events to stay under spool_max_bytes", n);
            first = spool_first_seq(w->spool);
            used = spool_used_bytes(w->spool);
        }
    }
    /* rows above the lowest cursor that still exist (drops leave no rows behind) */
    int64_t base = first > 0 && first - 1 > delivered ? first - 1 : delivered;
    int64_t undelivered = first > 0 && last > base ? last - base : 0;
    int has_delivered_rows = first > 0 && first <= delivered;
    int was_full = atomic_load(&w->is_full);
    int64_t ev_limit = was_full ? o->max_events / 10 * 9 : o->max_events;
    int64_t by_limit = was_full ? o->max_bytes / 10 * 9 : o->max_bytes;
    int is_over_events = o->max_events > 0 && undelivered > ev_limit;
    int is_over_bytes = o->max_bytes > 0 && used > by_limit && !has_delivered_rows;

    if ((is_over_events || is_over_bytes) && o->is_drop_oldest) {
        int64_t want = 0;
        if (is_over_events)
            want = undelivered - o->max_events / 10 * 9;
        if (is_over_bytes && undelivered > 0) {
            int64_t per_row = used / undelivered > 0 ? used / undelivered : 1;
            int64_t b = (used - o->max_bytes / 10 * 9) / per_row + 1;
            want = b > want ? b : want;
        }
        if (want > 20000)
            want = 20000; /* bounded per transaction; the next commit does more */
        if (want > 0 && spool_begin(w->spool) == 0) {
            int n = spool_prune(w->spool, INT64_MAX, INT64_MAX, (int)want);
            if (n < 0 || spool_commit(w->spool) < 0) {
                spool_rollback(w->spool);
            } else if (n > 0) {
                if (w->drop_unlogged == 0)
                    w->drop_first = first;
                w->drop_last = spool_first_seq(w->spool) - 1;
                w->drop_unlogged += n;
                atomic_fetch_add(&w->dropped_total, n);
                writer_log_drops(w, 0);
            }
        }
        return;
    }
    int is_full = is_over_events || is_over_bytes;
    if (is_full == was_full)
        return;
    atomic_store(&w->is_full, is_full);
    if (is_full) {
        log_warn("spool full: %lld undelivered events, %lld bytes used (spool_max_events %lld, "
                 "spool_max_bytes %lld); ingest stops reading until the sinks catch up "
                 "(emitters keep their copies)",
                 (long long)undelivered, (long long)used, (long long)o->max_events,
                 (long long)o->max_bytes);
    } else {
        log_info("spool below 90%% of its caps again (%lld undelivered events, %lld bytes); "
                 "ingest resumes",
                 (long long)undelivered, (long long)used);
        uv_async_send(&w->async); /* the loop re-checks and starts reading */
    }
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    struct cursor_slot cur[WRITER_MAX_CURSORS];
    util_thread_name("ocsf-writer");
    int failures = 0;
    uint64_t last_prune_ns = util_mono_ns();
    uint64_t last_head_ns = last_prune_ns;
    uint64_t head_interval_ns = (uint64_t)w->opts.chain_head_interval_ms * 1000000ull;
    writer_log_chain_head(w, "start");

    pthread_mutex_lock(&w->mu);
    writer_publish_head(w);
    for (;;) {
        int n = 0;
        spool_record_t *batch = writer_take_batch(w, &n);
        int n_cur = w->n_cursors;
        memcpy(cur, w->cursors, sizeof(cur[0]) * (size_t)n_cur);
        int had_cursor = w->is_cursor_dirty;
        w->is_cursor_dirty = 0;
        if (!batch && !had_cursor && w->is_stopping) {
            pthread_cond_broadcast(&w->cond_committed);
            break;
        }
        pthread_mutex_unlock(&w->mu);

        int rc = 0;
        spool_record_t *batch_last = NULL;
        int64_t batch_seq = 0; /* highest event seq of the batch, 0 without events */
        if (batch || had_cursor) {
            while ((rc = writer_commit(w, batch, cur, n_cur, &batch_last, &batch_seq)) < 0) {
                if (failures++ == 0)
                    log_error("spool %s: commit of %d records failed: %s; not acknowledging, "
                              "retrying (check disk space and permissions)",
                              spool_path(w->spool), n, spool_errmsg(w->spool));
                /* make room if we can: delivered events past retention first, then the WAL */
                writer_prune(w, cur, n_cur);
                (void)spool_checkpoint(w->spool);
                int backoff_ms = failures < 10 ? 50 * failures : 1000;
                struct timespec ts = {backoff_ms / 1000, (long)(backoff_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                pthread_mutex_lock(&w->mu);
                int is_giving_up = w->is_stopping && failures > 50;
                pthread_mutex_unlock(&w->mu);
                if (is_giving_up)
                    break;
            }
            if (rc == 0 && failures) {
                log_info("spool %s: commits succeed again after %d failed attempts",
                         spool_path(w->spool), failures);
                failures = 0;
            }
        }
        uint64_t now_ns = util_mono_ns();
        if (now_ns - last_prune_ns > 1000000000ull) {
            last_prune_ns = now_ns;
            for (int i = 0; i < n_cur; i++)
                cur[i].stored_seq = cur[i].seq;
            writer_prune(w, cur, n_cur);
            writer_log_drops(w, 1);
        }
        if (now_ns - last_head_ns >= head_interval_ns) {
            last_head_ns = now_ns;
            writer_log_chain_head(w, "periodic");
        }
        if (rc == 0 && (batch || had_cursor))
            writer_check_caps(w, batch, cur, n_cur);
        if (w->ckpt)
            writer_checkpoint(w);

        pthread_mutex_lock(&w->mu);
        if (rc == 0) {
            for (int i = 0; i < n_cur; i++)
                if (w->cursors[i].stored_seq < cur[i].seq)
                    w->cursors[i].stored_seq = cur[i].seq;
            if (batch_seq > w->committed_seq)
                w->committed_seq = batch_seq;
            if (batch_seq > 0)
                writer_publish_head(w);
            if (batch) {
                if (w->done_tail)
                    w->done_tail->next = batch;
                else
                    w->done_head = batch;
                w->done_tail = batch_last;
                uv_async_send(&w->async);
            }
        } else {
            /* stopping after persistent failures: the records were never acknowledged; drop
             * them here (emitters keep their copies because they got no ack) */
            log_error("spool %s: giving up on %d uncommitted records at shutdown; they were not "
                      "acknowledged, emitters will resend them",
                      spool_path(w->spool), n);
            size_t bytes = 0;
            while (batch) {
                spool_record_t *next = batch->next;
                bytes += batch->size;
                spool_record_free(batch); /* owners are gone too: the loop closed them */
                batch = next;
            }
            atomic_fetch_sub(&w->pending_bytes, bytes);
        }
        w->is_busy = 0;
        pthread_cond_broadcast(&w->cond_committed);
    }
    pthread_mutex_unlock(&w->mu);
    writer_log_drops(w, 1);
    writer_log_chain_head(w, "stop");
    return NULL;
}

int writer_start(uv_loop_t *loop, spool_t *spool, const writer_opts_t *opts, writer_done_cb cb,
                 void *ctx, writer_t **out, char *err, size_t errlen)
{
    writer_t *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->loop = loop;
    w->spool = spool;
    w->opts = *opts;
    if (w->opts.commit_max_events <= 0)
        w->opts.commit_max_events = 4096;
    if (w->opts.chain_head_interval_ms <= 0)
        w->opts.chain_head_interval_ms = 60000;
    if (w->opts.is_background_checkpoint &&
        spool_ckpt_start(spool_path(spool), w->opts.synchronous, &w->ckpt, err, errlen) < 0) {
        free(w);
        return -1;
    }
    w->done_cb = cb;
    w->done_ctx = ctx;
    w->committed_seq = spool_last_seq(spool);
    atomic_init(&w->pending_bytes, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond_work, NULL);
    pthread_cond_init(&w->cond_committed, NULL);
    uv_async_init(loop, &w->async, writer_async_cb);
    w->async.data = w;
    *out = w;
    return 0;
}

int writer_run(writer_t *w)
{
    return pthread_create(&w->thread, NULL, writer_main, w) == 0 ? 0 : -1;
}

void writer_stop(writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->is_stopping = 1;
    pthread_cond_broadcast(&w->cond_work);
    pthread_cond_broadcast(&w->cond_committed);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    spool_ckpt_stop(w->ckpt);
    w->ckpt = NULL;
    writer_async_cb(&w->async); /* hand back the last completions */
}

static void writer_close_cb(uv_handle_t *h)
{
    writer_t *w = h->data;
    spool_close(w->spool);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond_work);
    pthread_cond_destroy(&w->cond_committed);
    free(w);
}

void writer_free(writer_t *w)
{
    uv_close((uv_handle_t *)&w->async, writer_close_cb);
}
