/*
 * shipper.c - per-sink delivery thread; contract in shipper.h.
 *
 *   pos       highest seq submitted to the sink
 *   delivered highest seq the sink reported durable (== the cursor handed to the writer)
 *
 *   loop: if pos - delivered < max_in_flight and the spool has rows after pos: read a batch, submit
 *         poll the sink; if it delivered more, move the cursor
 *         on RETRY: back off, pos = delivered (resubmit)
 *         nothing to do: wait for the writer to commit more (or 200 ms)
 */
#include "shipper.h"
#include "log.h"
#include "spool.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHIPPER_BATCH 1024

struct shipper {
    char name[1100];
    url_t url;
    const sink_ops_t *ops;
    sink_t *sink;
    sink_host_t host;
    writer_t *writer;
    int cursor_index;
    char spool_path[4096];
    spool_t *spool; /* read-only, this thread's own */
    pthread_t thread;
    int is_running;
    atomic_int is_stopping;
    atomic_llong stop_target; /* when stopping: ship up to this seq, then exit */
    atomic_llong stop_deadline_ms;
    int64_t pos, submitted, delivered;
    atomic_ullong errors; /* failed attempts (retried or fatal), for the metrics */
    atomic_int state;     /* SHIPPER_DELIVERING, SHIPPER_RETRYING or SHIPPER_STOPPED */

    /* batch being read from the spool */
    sink_event_t ev[SHIPPER_BATCH];
    size_t n_ev;
    char *arena;
    size_t arena_len, arena_cap;
};

const char *shipper_name(const shipper_t *sh)
{
    return sh->name;
}

void shipper_get_stats(const shipper_t *sh, shipper_stats_t *st)
{
    st->name = sh->name;
    st->errors = atomic_load(&sh->errors);
    st->state = atomic_load(&sh->state);
}

static void shipper_dead_letter(void *ctx, int64_t seq, const char *reason)
{
    shipper_t *sh = ctx;
    char msg[2048];
    const char *str[SR_NSTR] = {0};
    snprintf(msg, sizeof msg, "sink %s refused event seq %lld: %.800s", sh->name, (long long)seq,
             reason);
    str[SR_REASON] = msg;
    str[SR_LISTENER] = sh->name;
    spool_record_t *r = spool_record_new(SPOOL_DEAD, "", 0, str);
    if (!r)
        return;
    r->received_ms = util_now_ms();
    r->line = seq;
    log_warn("%s", msg);
    writer_submit(sh->writer, r);
}

int shipper_open(const char *url, const char *spool_path, writer_t *w, shipper_t **out, char *err,
                 size_t errlen)
{
    char uerr[256];
    spool_opts_t ro = {.is_read_only = 1};
    shipper_t *sh = calloc(1, sizeof *sh);

    *out = NULL;
    if (!sh) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (url_parse(url, &sh->url, uerr, sizeof uerr) < 0) {
        snprintf(err, errlen, "sink %s: %s", url, uerr);
        goto fail;
    }
    url_format(&sh->url, sh->name, sizeof sh->name);
    sh->ops = sink_lookup(sh->url.scheme);
    if (!sh->ops) {
        snprintf(err, errlen, "sink %s: unknown scheme '%s' (known: %s)", url, sh->url.scheme,
                 sink_schemes());
        goto fail;
    }
    sh->host.name = sh->name;
    sh->host.dead_letter = shipper_dead_letter;
    sh->host.ctx = sh;
    sh->writer = w;
    if (sh->ops->open(&sh->url, &sh->host, &sh->sink, err, errlen) != SINK_OK)
        goto fail;
    util_strlcpy(sh->spool_path, spool_path, sizeof sh->spool_path);
    if (spool_open(spool_path, &ro, &sh->spool, err, errlen) < 0)
        goto fail;
    if (spool_get_cursor(sh->spool, sh->name, &sh->delivered) < 0) {
        snprintf(err, errlen, "sink %s: cannot read its cursor: %s", sh->name,
                 spool_errmsg(sh->spool));
        goto fail;
    }
    sh->pos = sh->submitted = sh->delivered;
    sh->cursor_index = writer_add_cursor(w, sh->name, sh->delivered);
    if (sh->cursor_index < 0) {
        snprintf(err, errlen, "too many sinks (at most %d)", WRITER_MAX_CURSORS);
        goto fail;
    }
    log_info("sink %s ready (cursor %lld)", sh->name, (long long)sh->delivered);
    *out = sh;
    return 0;
fail:
    shipper_free(sh);
    return -1;
}

/* Copies n bytes (plus a NUL) into the batch arena; NULL on out of memory. The arena only grows
 * between batches' resets, and pointers already handed out are rebased when it moves. */
static const char *shipper_keep(shipper_t *sh, const char *p, size_t n)
{
    if (sh->arena_cap - sh->arena_len < n + 1) {
        size_t ncap = sh->arena_cap ? sh->arena_cap : 1 << 20;
        while (ncap - sh->arena_len < n + 1)
            ncap *= 2;
        char *na = realloc(sh->arena, ncap);
        if (!na)
            return NULL;
        /* n_ev < SHIPPER_BATCH here: the event being collected is rebased too */
        for (size_t i = 0; i <= sh->n_ev; i++) {
            sink_event_t *e = &sh->ev[i];
            if (e->body)
                e->body = na + (e->body - sh->arena);
            if (e->user)
                e->user = na + (e->user - sh->arena);
            if (e->workspace)
                e->workspace = na + (e->workspace - sh->arena);
        }
        sh->arena = na;
        sh->arena_cap = ncap;
    }
    char *dst = sh->arena + sh->arena_len;
    memcpy(dst, p, n);
    dst[n] = '\0';
    sh->arena_len += n + 1;
    return dst;
}

static int shipper_collect(void *ctx, const spool_row_t *row)
{
    shipper_t *sh = ctx;
    sink_event_t *e = &sh->ev[sh->n_ev];
    memset(e, 0, sizeof *e);
    /* the batch so far stays consistent if a later copy fails: n_ev moves last */
    if (!(e->body = shipper_keep(sh, row->body, row->len)))
        return -1;
    if (row->user && !(e->user = shipper_keep(sh, row->user, strlen(row->user))))
        return -1;
    if (row->workspace &&
        !(e->workspace = shipper_keep(sh, row->workspace, strlen(row->workspace))))
        return -1;
    e->seq = row->seq;
    e->len = row->len;
    e->received_ms = row->received_ms;
    e->event_ms = row->event_ms;
    e->class_uid = row->class_uid;
    e->activity_id = row->activity_id;
    e->status_id = row->status_id;
    sh->n_ev++;
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *shipper_main(void *arg)
{
    shipper_t *sh = arg;
    char err[512], tname[16];
    snprintf(tname, sizeof tname, "ocsf-%.10s", sh->url.scheme);
    util_thread_name(tname);
    int backoff_ms = 0, failures = 0;
    int64_t last_lag_log_ms = 0;
    unsigned jitter_seed = (unsigned)util_now_ms() ^ (unsigned)(uintptr_t)sh;

    for (;;) {
        int64_t committed = writer_committed_seq(sh->writer);
        if (atomic_load(&sh->is_stopping)) {
            int64_t target = atomic_load(&sh->stop_target);
            if (sh->delivered >= target || util_now_ms() > atomic_load(&sh->stop_deadline_ms))
                break;
        }
        int rc = SINK_OK;
        int did_work = 0;
        if (committed > sh->pos && sh->pos - sh->delivered < sh->ops->max_in_flight) {
            sh->n_ev = 0;
            sh->arena_len = 0;
            int n = spool_read_events(sh->spool, sh->pos, SHIPPER_BATCH, shipper_collect, sh);
            if (n < 0) {
                snprintf(err, sizeof err, "spool read failed: %s", spool_errmsg(sh->spool));
                rc = SINK_RETRY;
            } else if (sh->n_ev > 0) {
                rc = sh->ops->submit(sh->sink, sh->ev, sh->n_ev, err, sizeof err);
                if (rc == SINK_OK)
                    sh->pos = sh->submitted = sh->ev[sh->n_ev - 1].seq;
                did_work = 1;
            } else {
                /* rows before pos were pruned or never existed (seq gaps): skip ahead */
                sh->pos = committed;
            }
        }
        if (rc == SINK_OK) {
            int64_t d = sh->delivered;
            rc = sh->ops->poll(sh->sink, did_work ? 0 : 50, &d, err, sizeof err);
            if (rc == SINK_OK && d >= sh->submitted)
                d = sh->pos; /* all submitted is delivered; seqs up to pos have no rows */
            if (rc == SINK_OK && d > sh->delivered) {
                sh->delivered = d;
                writer_set_cursor(sh->writer, sh->cursor_index, d);
            }
        }
        if (rc != SINK_OK)
            atomic_fetch_add(&sh->errors, 1);
        if (rc == SINK_FATAL) {
            atomic_store(&sh->state, SHIPPER_STOPPED);
            log_error("sink %s stopped: %s (fix the configuration and reload)", sh->name, err);
            while (!atomic_load(&sh->is_stopping))
                sleep_ms(200);
            break;
        }
        if (rc == SINK_RETRY) {
            atomic_store(&sh->state, SHIPPER_RETRYING);
            if (failures++ == 0)
                log_warn("sink %s: %s; retrying from seq %lld", sh->name, err,
                         (long long)sh->delivered + 1);
            backoff_ms = backoff_ms ? backoff_ms * 2 : 100;
            if (backoff_ms > 10000)
                backoff_ms = 10000;
            /* equal jitter: sleep in [backoff/2, backoff] so sinks that failed together (one
             * endpoint down) do not retry in lockstep */
            int sleep_ms_total =
                backoff_ms / 2 + (int)(rand_r(&jitter_seed) % (unsigned)(backoff_ms / 2 + 1));
            sh->pos = sh->submitted = sh->delivered;
            for (int slept = 0; slept < sleep_ms_total && !atomic_load(&sh->is_stopping);
                 slept += 50)
                sleep_ms(50);
            if (atomic_load(&sh->is_stopping) && util_now_ms() > atomic_load(&sh->stop_deadline_ms))
                break;
            continue;
        }
        if (failures) {
            atomic_store(&sh->state, SHIPPER_DELIVERING);
            log_info("sink %s: delivering again after %d failed attempts", sh->name, failures);
            failures = 0;
            backoff_ms = 0;
        }
        int64_t now = util_now_ms();
        if (committed - sh->delivered > 100000 && now - last_lag_log_ms > 10000) {
            last_lag_log_ms = now;
            log_info("sink %s: lag %lld events (delivered %lld of %lld)", sh->name,
                     (long long)(committed - sh->delivered), (long long)sh->delivered,
                     (long long)committed);
        }
        if (!did_work && sh->pos >= committed)
            writer_wait_committed(sh->writer, committed, 200);
    }
    return NULL;
}

int shipper_run(shipper_t *sh)
{
    atomic_init(&sh->is_stopping, 0);
    atomic_init(&sh->errors, 0);
    atomic_init(&sh->state, SHIPPER_DELIVERING);
    if (pthread_create(&sh->thread, NULL, shipper_main, sh) != 0)
        return -1;
    sh->is_running = 1;
    return 0;
}

void shipper_stop(shipper_t *sh, int timeout_ms)
{
    if (!sh->is_running)
        return;
    atomic_store(&sh->stop_target, writer_committed_seq(sh->writer));
    atomic_store(&sh->stop_deadline_ms, util_now_ms() + timeout_ms);
    atomic_store(&sh->is_stopping, 1);
    pthread_join(sh->thread, NULL);
    sh->is_running = 0;
    if (sh->delivered < atomic_load(&sh->stop_target))
        log_warn("sink %s: stopping with %lld events undelivered; they ship after restart",
                 sh->name, (long long)(atomic_load(&sh->stop_target) - sh->delivered));
}

void shipper_free(shipper_t *sh)
{
    if (!sh)
        return;
    if (sh->sink)
        sh->ops->close(sh->sink);
    spool_close(sh->spool);
    free(sh->arena);
    free(sh);
}
