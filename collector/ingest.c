/*
 * ingest.c - listeners and connections on the libuv loop; contract and life cycle in ingest.h.
 *
 * NOTES ON THE DESIGN
 *   1. Line numbers: every framed line (blank, good, rejected, over-long, truncated tail) takes the
 *      next line number of its connection and becomes exactly one spool record, so the writer's
 *      completions arrive in line order and `lines_durable` is simply the line of the last
 * completed record. The ack sent is never more than lines_durable.
 *   2. Writes: at most one uv_write in flight per connection; acks are coalesced into it and error
 *      notices are capped (CONN_MAX_NOTICE_BYTES), so a client that never reads costs a bounded
 *      amount of memory. Dead letters are durable whether or not the notice got out.
 *   3. Memory: the framer holds at most max_event_bytes + one read chunk; records in the writer are
 *      bounded globally by max_pending_bytes (backpressure).
 *   4. A connection struct lives until both its handles are closed AND no record refers to it
 *      (refs == 0); only then is it freed.
 *   5. TLS (tls:// listeners, ingest_tls.c): the socket's bytes go to a per-connection ciphertext
 *      buffer, are fed to OpenSSL and drained into the framer at once, so everything after the
 *      framer (lines, records, acks, backpressure) is the plain path's; replies are encrypted as
 *      one batch per uv_write. Plain tcp and unix connections never touch OpenSSL.
 *   6. Trust (issue 8): a listener may admit only some peers (unix allow_uids/allow_gids, TLS
 *      client identities, max_connections_per_peer): refusals happen at accept or handshake and
 *      are logged with the reason. Its allow_types binds it to event types: an event of another
 *      type is a dead letter "type X not allowed from <identity>". On tls:// listeners
 *      allow_types_by_identity narrows that per client certificate: the keys its names match are
 *      resolved once at the handshake (ingest_tls.c), so an event costs a mask test, plus fnmatch
 *      over those keys' patterns when one matched. The identity the collector saw is what norm
 *      records under unmapped.collector, whatever the emitter claimed.
 */
#include "ingest.h"
#include "jalloc.h"
#include "jsonw.h"
#include "envelope.h"
#include "frame.h"
#include "ingest_tls.h"
#include "log.h"
#include "norm.h"
#include "util.h"

#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONN_MAX_NOTICE_BYTES (64 * 1024)
#define LISTENER_MAX_PATTERNS 32
#define LISTENER_MAX_IDS      32

typedef struct listener listener_t;
typedef struct conn conn_t;

struct listener {
    ingest_t *in;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    cfg_listener_t cfg;
    char name[1200]; /* URL with the bound port */
    int is_unix;
    int n_conns;
    int is_closed;
    uint64_t last_refusal_log_ns;
    uint64_t last_type_log_ns;
    ingest_tls_ctx_t *tls; /* tls:// only */
    /* allow_types, allow_uids, allow_gids parsed (n_* == 0: not restricted) */
    char types_buf[sizeof(((cfg_listener_t *)0)->allow_types)];
    const char *types[LISTENER_MAX_PATTERNS];
    int n_types;
    long uids[LISTENER_MAX_IDS], gids[LISTENER_MAX_IDS];
    int n_uids, n_gids;
};

struct conn {
    listener_t *l;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t idle;
    conn_t *prev, *next;
    frame_t frame;
    char peer[160];
    char peer_key[64];      /* what max_connections_per_peer counts: the IP address or uid */
    char identity[320];     /* who, for allowlist reasons: "CN=x" (mTLS), unix creds, address */
    ingest_tls_conn_t *tls; /* tls:// only */
    char *tls_in;           /* ciphertext read buffer (tls:// only) */
    long uid, gid, pid;     /* unix peer credentials, -1 for TCP */
    json_t *peer_record;    /* unmapped.collector of its events, built at the first (normalized) */
    uint64_t lines_read;    /* lines framed */
    uint64_t lines_durable; /* lines whose record is committed */
    uint64_t ack_sent;      /* the last ack written (or in flight) */
    int refs;               /* records in the writer that name this connection */
    size_t pending_bytes;   /* their size: a connection over its share stops reading */
    int open_handles;       /* 2 while open; freed at 0 with refs == 0 */
    int is_draining;        /* no more reads: waiting to write the final ack */
    int is_closing;         /* handles being closed */
    int is_close_notify_sent; /* TLS: after the final ack, written or in flight */
    int is_reading;
    int is_write_busy;
    uv_write_t wreq;
    char *wbuf; /* in flight */
    size_t wbuf_cap;
    char *notice; /* error notices waiting for the next write */
    size_t notice_len, notice_cap;
    uint64_t notices_dropped;
};

struct ingest {
    uv_loop_t *loop;
    writer_t *writer;
    listener_t *listeners;
    int n_listeners;
    conn_t *conns; /* every connection not yet freed */
    size_t max_pending_bytes;
    int64_t next_seq;
    struct norm *norm;
    jsonw_buf_t dump;    /* serialized OCSF of the event being stored (reused) */
    jalloc_arena_t heap; /* jansson's memory while one event is parsed and mapped */
    int is_heap_leak_logged;
    int is_paused;
    int is_shutting_down;
    void (*shutdown_cb)(void *);
    void *shutdown_arg;
    ingest_stats_t stats;
};

static void conn_maybe_finish(conn_t *c);
static void conn_close(conn_t *c);

/* ---- writes: acks and error notices ---- */

static void conn_write_cb(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    c->is_write_busy = 0;
    if (status < 0) {
        log_debug("connection %s: write failed: %s", c->peer, uv_strerror(status));
        conn_close(c);
        return;
    }
    conn_maybe_finish(c);
}

static int conn_wbuf_reserve(conn_t *c, size_t n)
{
    if (c->wbuf_cap >= n)
        return 0;
    char *nb = realloc(c->wbuf, n);
    if (!nb)
        return -1;
    c->wbuf = nb;
    c->wbuf_cap = n;
    return 0;
}

/* Writes pending notices and the latest ack (encrypted on TLS, together with any handshake bytes
 * OpenSSL has queued), if any and no write is in flight. */
static void conn_flush_writes(conn_t *c)
{
    char ack[48];
    size_t ack_len = 0;

    if (c->is_write_busy || c->is_closing)
        return;
    if (c->lines_durable > c->ack_sent)
        ack_len = (size_t)snprintf(ack, sizeof ack, "{\"ack\":%llu}\n",
                                   (unsigned long long)c->lines_durable);
    size_t n = c->notice_len + ack_len;
    if (n == 0 && !(c->tls && ingest_tls_pending(c->tls) > 0))
        return;
    if (conn_wbuf_reserve(c, n) < 0)
        return; /* try again on the next completion */
    if (c->notice_len)
        memcpy(c->wbuf, c->notice, c->notice_len);
    if (ack_len)
        memcpy(c->wbuf + c->notice_len, ack, ack_len);
    c->notice_len = 0;
    if (ack_len)
        c->ack_sent = c->lines_durable;
    if (c->tls) {
        if (n > 0 && ingest_tls_write(c->tls, c->wbuf, n) < 0) {
            log_debug("connection %s: TLS write failed; closing", c->peer);
            conn_close(c);
            return;
        }
        n = ingest_tls_pending(c->tls);
        if (n == 0 || conn_wbuf_reserve(c, n) < 0)
            return;
        n = ingest_tls_take(c->tls, c->wbuf, n);
    }
    uv_buf_t b = uv_buf_init(c->wbuf, (unsigned)n);
    c->wreq.data = c;
    c->is_write_busy = 1;
    int rc = uv_write(&c->wreq, &c->h.stream, &b, 1, conn_write_cb);
    if (rc < 0) {
        c->is_write_busy = 0;
        conn_close(c);
    }
}

/* Queues {"error":{"line":N,"reason":"..."}} (bounded; beyond the cap notices are dropped: the
 * dead letters hold the same facts). */
static void conn_notice(conn_t *c, uint64_t line, const char *reason)
{
    json_t *o = json_pack("{s:{s:I,s:s}}", "error", "line", (json_int_t)line, "reason", reason);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt)
        return;
    size_t n = strlen(txt);
    if (c->notice_len + n + 1 > CONN_MAX_NOTICE_BYTES) {
        c->notices_dropped++;
        free(txt);
        return;
    }
    if (c->notice_cap < c->notice_len + n + 1) {
        size_t ncap = c->notice_cap ? c->notice_cap * 2 : 1024;
        while (ncap < c->notice_len + n + 1)
            ncap *= 2;
        char *nb = realloc(c->notice, ncap);
        if (!nb) {
            free(txt);
            return;
        }
        c->notice = nb;
        c->notice_cap = ncap;
    }
    memcpy(c->notice + c->notice_len, txt, n);
    c->notice_len += n;
    c->notice[c->notice_len++] = '\n';
    free(txt);
    conn_flush_writes(c);
}

/* ---- connection teardown ---- */

/* What a connection owns, once nothing refers to it. */
static void conn_free_memory(conn_t *c)
{
    frame_free(&c->frame);
    json_decref(c->peer_record);
    ingest_tls_conn_free(c->tls);
    free(c->tls_in);
    free(c->wbuf);
    free(c->notice);
    free(c);
}

static void conn_unlink_free(conn_t *c)
{
    ingest_t *in = c->l->in;
    if (c->prev)
        c->prev->next = c->next;
    else
        in->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    conn_free_memory(c);
    if (in->is_shutting_down && !in->conns && in->shutdown_cb) {
        void (*cb)(void *) = in->shutdown_cb;
        in->shutdown_cb = NULL;
        cb(in->shutdown_arg);
    }
}

static void conn_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->open_handles == 0 && c->refs == 0)
        conn_unlink_free(c);
}

static void conn_close(conn_t *c)
{
    if (c->is_closing)
        return;
    c->is_closing = 1;
    c->l->n_conns--;
    if (c->notices_dropped)
        log_warn("connection %s: %llu error notices not sent (client not reading); the dead "
                 "letters hold them",
                 c->peer, (unsigned long long)c->notices_dropped);
    uv_close(&c->h.handle, conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

/* A draining connection closes once every line is durable and its final ack went out. An
 * established TLS session then sends its close_notify first and closes when that write completed
 * (its callback comes back here), so the client can tell the end from a cut stream; a failed or
 * refused one (its alert already went out) closes at once. */
static void conn_maybe_finish(conn_t *c)
{
    conn_flush_writes(c);
    if (!c->is_draining || c->is_closing || c->is_write_busy || c->refs != 0 ||
        c->ack_sent != c->lines_read || c->notice_len != 0 ||
        (c->tls && ingest_tls_pending(c->tls) > 0))
        return;
    if (c->tls && !c->is_close_notify_sent) {
        c->is_close_notify_sent = 1;
        if (ingest_tls_shutdown(c->tls) == 0) {
            conn_flush_writes(c);
            if (c->is_write_busy || c->is_closing)
                return;
        }
    }
    conn_close(c);
}

/* ---- records ---- */

/* Stops reading on every connection (backpressure: the kernel buffers fill, emitters wait for
 * acks and keep their copies). conn_start_reading does nothing while paused. */
static void ingest_pause_all(ingest_t *in)
{
    in->is_paused = 1;
    for (conn_t *x = in->conns; x; x = x->next)
        if (x->is_reading) {
            uv_read_stop(&x->h.stream);
            x->is_reading = 0;
        }
}

static void conn_submit(conn_t *c, spool_record_t *r)
{
    ingest_t *in = c->l->in;
    r->owner = c;
    r->line = (int64_t)c->lines_read;
    r->received_ms = r->received_ms ? r->received_ms : util_now_ms();
    c->refs++;
    c->pending_bytes += r->size;
    writer_submit(in->writer, r);
    if (c->is_reading && c->pending_bytes > in->max_pending_bytes / 8) {
        /* fairness: one flooding emitter may not fill the spool queue ahead of everyone else */
        uv_read_stop(&c->h.stream);
        c->is_reading = 0;
    }
    if (!in->is_paused && writer_pending_bytes(in->writer) > in->max_pending_bytes) {
        log_warn("ingest paused: %zu bytes waiting for the spool (limit %zu); emitters are held "
                 "back until it commits",
                 writer_pending_bytes(in->writer), in->max_pending_bytes);
        ingest_pause_all(in);
    }
}

static void conn_dead_letter(conn_t *c, const char *bytes, size_t len, size_t raw_len,
                             const char *reason)
{
    const char *str[SR_NSTR] = {0};
    str[SR_PEER] = c->peer;
    str[SR_LISTENER] = c->l->name;
    str[SR_REASON] = reason;
    spool_record_t *r = spool_record_new(SPOOL_DEAD, bytes, len, str);
    if (!r) {
        log_error("connection %s: out of memory for a dead letter; closing", c->peer);
        conn_close(c);
        return;
    }
    r->raw_len = raw_len;
    c->l->in->stats.dead_letters++;
    if (log_enabled(LOG_DEBUG))
        log_debug("connection %s line %llu rejected: %s", c->peer,
                  (unsigned long long)c->lines_read, reason);
    conn_submit(c, r);
    conn_notice(c, c->lines_read, reason);
}

static const char *json_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Closes the event's jansson arena (see jalloc.h); a leak is a bug, logged once. */
static void ingest_heap_end(ingest_t *in)
{
    if (jalloc_end(&in->heap) < 0 && !in->is_heap_leak_logged) {
        in->is_heap_leak_logged = 1;
        log_error("internal: a JSON value outlived its event (arena retired; please report)");
    }
}

/* Source binding: is an event of this type (NULL: none given) allowed on the listener? The
 * connection's own binding (allow_types_by_identity) is checked beside it, in conn_make_record. */
static int listener_type_allowed(const listener_t *l, const char *type)
{
    if (l->n_types == 0)
        return 1;
    for (int i = 0; type && i < l->n_types; i++)
        if (fnmatch(l->types[i], type, 0) == 0)
            return 1;
    return 0;
}

/* The refusal reason for a type outside the allowlist; logged at most once a second. */
static void conn_type_refusal(conn_t *c, const char *type, char *reason, size_t reasonlen)
{
    char shown[128];
    size_t i = 0;
    if (!type)
        type = "(none)";
    for (; type[i] && i < sizeof shown - 1; i++) /* the emitter's text, printable in a log line */
        shown[i] = (unsigned char)type[i] < 0x20 || type[i] == 0x7f ? '?' : type[i];
    shown[i] = '\0';
    snprintf(reason, reasonlen, "type %s not allowed from %s", shown, c->identity);
    c->l->in->stats.disallowed_types++;
    uint64_t now = util_mono_ns();
    if (now - c->l->last_type_log_ns > 1000000000ull) {
        c->l->last_type_log_ns = now;
        log_warn("listener %s: %s (dead letter; %llu refused by a type allowlist so far)",
                 c->l->name, reason, (unsigned long long)c->l->in->stats.disallowed_types);
    }
}

/* Parses, normalizes and serializes one line inside the jansson arena. Returns the record to
 * store, or NULL with *is_rejected set and reason filled (a dead letter), or NULL without it (out
 * of memory). */
/* The spool record of an event norm_event_dump() just wrote into in->dump: its body, and the
 * columns replay filters on (class, activity, status, event time) from its tree. NULL when out of
 * memory. */
static spool_record_t *record_of_ocsf(ingest_t *in, json_t *ocsf, int64_t now,
                                      const char *const str[SR_NSTR])
{
    spool_record_t *r = spool_record_new(SPOOL_EVENT, in->dump.data, in->dump.len, str);
    if (!r)
        return NULL;
    r->received_ms = now;
    r->class_uid = (int)json_integer_value(json_object_get(ocsf, "class_uid"));
    r->activity_id = (int)json_integer_value(json_object_get(ocsf, "activity_id"));
    json_t *st = json_object_get(ocsf, "status_id");
    r->status_id = json_is_integer(st) ? (int)json_integer_value(st) : -1;
    json_t *t = json_object_get(ocsf, "time");
    r->event_ms = json_is_integer(t) ? json_integer_value(t) : -1;
    return r;
}

static spool_record_t *conn_make_record(conn_t *c, const char *p, size_t len, char *reason,
                                        size_t reasonlen, int *is_rejected)
{
    ingest_t *in = c->l->in;
    json_t *obj = NULL;
    spool_record_t *r = NULL;

    *is_rejected = 0;
    if (in->norm && !c->peer_record) {
        /* once per connection, outside the event's arena (the first event comes after the TLS
         * handshake, so the subject is final); its events share it */
        norm_peer_t who = {
            c->l->name, c->l->is_unix ? NULL : c->peer, c->uid, c->gid, c->pid, NULL, NULL, NULL};
        if (c->tls && ingest_tls_client_subject(c->tls)[0]) {
            who.tls_subject = ingest_tls_client_subject(c->tls);
            who.tls_cn = ingest_tls_client_cn(c->tls);
        }
        c->peer_record = norm_peer_record(&who);
        if (!c->peer_record)
            return NULL; /* out of memory */
    }
    norm_peer_t peer = {.record = c->peer_record};

    jalloc_begin(&in->heap);
    if (envelope_parse(p, len, ENVELOPE_MAX_DEPTH, &obj, reason, reasonlen) < 0) {
        *is_rejected = 1;
        goto out;
    }
    const char *type = json_str(obj, "type");
    if (!listener_type_allowed(c->l, type) || (c->tls && !ingest_tls_type_allowed(c->tls, type))) {
        conn_type_refusal(c, type, reason, reasonlen);
        *is_rejected = 1;
        goto out;
    }
    const char *str[SR_NSTR] = {0};
    str[SR_TYPE] = type;
    str[SR_USER] = json_str(obj, "user");
    str[SR_WORKSPACE] = json_str(obj, "workspace");
    str[SR_PEER] = c->peer;
    if (in->norm) {
        json_t *ocsf = NULL;
        int64_t now = util_now_ms();
        if (norm_event_dump(in->norm, obj, &peer, in->next_seq, now, &ocsf, &in->dump, reason,
                            reasonlen) < 0) {
            *is_rejected = 1;
            goto out;
        }
        r = record_of_ocsf(in, ocsf, now, str);
        json_decref(ocsf);
    } else {
        r = spool_record_new(SPOOL_EVENT, p, len, str);
        /* the event time replay filters and indexes on, converted as the normalizer converts
         * `time` (RFC 3339, epoch seconds or milliseconds); none when absent or unreadable */
        long long ms;
        if (r && norm_time_from_json(json_object_get(obj, "time"), &ms) == 0)
            r->event_ms = ms;
    }
out:
    json_decref(obj);
    ingest_heap_end(in);
    return r;
}

static void conn_on_line(conn_t *c, const char *p, size_t len)
{
    char reason[2048];
    ingest_t *in = c->l->in;
    int is_rejected;

    c->lines_read++;
    in->stats.lines++;
    if (len == 0) { /* blank line: acknowledged, nothing stored */
        spool_record_t *r = spool_record_new(SPOOL_NOP, "", 0, NULL);
        if (r)
            conn_submit(c, r);
        return;
    }
    spool_record_t *r = conn_make_record(c, p, len, reason, sizeof reason, &is_rejected);
    if (is_rejected) {
        conn_dead_letter(c, p, len < FRAME_SAMPLE_BYTES * 16 ? len : FRAME_SAMPLE_BYTES * 16, len,
                         reason);
        return;
    }
    if (!r) {
        log_error("connection %s: out of memory; closing", c->peer);
        conn_close(c);
        return;
    }
    r->seq = in->next_seq++;
    in->stats.events++;
    conn_submit(c, r);
}

static void conn_on_item(conn_t *c, int kind, const frame_item_t *it)
{
    char reason[160];
    if (kind == FRAME_LINE) {
        conn_on_line(c, it->data, it->len);
        return;
    }
    c->lines_read++;
    c->l->in->stats.lines++;
    if (kind == FRAME_TOO_LONG)
        snprintf(reason, sizeof reason, "line exceeds max_event_bytes (%zu > %lld bytes)",
                 it->total_len, (long long)c->l->cfg.max_event_bytes);
    else
        snprintf(reason, sizeof reason,
                 "truncated: connection closed mid-line after %zu bytes without a newline",
                 it->total_len);
    conn_dead_letter(c, it->data, it->len, it->total_len, reason);
}

/* End of input (EOF, idle timeout or shutdown): record an unterminated tail, then drain. */
static void conn_drain(conn_t *c, int is_tail_kept)
{
    frame_item_t it;
    if (c->is_draining)
        return;
    c->is_draining = 1;
    if (c->is_reading) {
        uv_read_stop(&c->h.stream);
        c->is_reading = 0;
    }
    if (frame_finish(&c->frame, &it) == FRAME_TRUNCATED && is_tail_kept)
        conn_on_item(c, FRAME_TRUNCATED, &it);
    frame_free(&c->frame);
    conn_maybe_finish(c);
}

/* ---- reading ---- */

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    char *p;
    size_t avail;
    if (c->tls) { /* ciphertext: decrypted into the framer by conn_read_tls */
        buf->base = c->tls_in;
        buf->len = c->tls_in ? FRAME_READ_CHUNK : 0;
        return;
    }
    if (frame_reserve(&c->frame, suggested, &p, &avail) < 0) {
        buf->base = NULL;
        buf->len = 0; /* libuv reports UV_ENOBUFS */
        return;
    }
    buf->base = p;
    buf->len = avail;
}

/* Ciphertext arrived: feed OpenSSL, move every plaintext byte into the framer, handle the lines,
 * and send what the handshake produced. A refused handshake is logged (with OpenSSL's or the
 * verify callback's reason) and the connection drains: the alert goes out, then it closes. */
static void conn_read_tls(conn_t *c, const char *data, size_t len)
{
    char reason[600];
    frame_item_t it;
    int kind, was_established = ingest_tls_is_established(c->tls);

    if (ingest_tls_feed(c->tls, data, len) < 0) {
        log_error("connection %s: out of memory for TLS input; closing", c->peer);
        conn_close(c);
        return;
    }
    for (int rounds = 0; rounds < 1024 && !c->is_closing && !c->is_draining; rounds++) {
        char *p;
        size_t avail;
        if (frame_reserve(&c->frame, FRAME_READ_CHUNK, &p, &avail) < 0) {
            log_error("connection %s: out of memory for a line; closing", c->peer);
            conn_close(c);
            return;
        }
        int n = ingest_tls_read(c->tls, p, avail, reason, sizeof reason);
        if (!was_established && ingest_tls_is_established(c->tls)) {
            was_established = 1;
            if (ingest_tls_client_subject(c->tls)[0])
                snprintf(c->identity, sizeof c->identity, "CN=%.250s",
                         ingest_tls_client_cn(c->tls));
            log_debug("connection %s: %s established%s%s", c->peer, ingest_tls_version(c->tls),
                      ingest_tls_client_subject(c->tls)[0] ? ", client " : "",
                      ingest_tls_client_subject(c->tls));
        }
        if (n > 0) {
            frame_commit(&c->frame, (size_t)n);
            while ((kind = frame_next(&c->frame, &it)) != FRAME_NONE && !c->is_closing)
                conn_on_item(c, kind, &it);
            continue;
        }
        if (n == INGEST_TLS_WANT)
            break;
        if (n == INGEST_TLS_EOF) {
            conn_drain(c, 1);
            return;
        }
        if (!was_established) {
            ingest_t *in = c->l->in;
            in->stats.refused_connections++;
            in->stats.tls_refused++;
            log_warn("listener %s: refusing %s: TLS handshake failed: %s", c->l->name, c->peer,
                     reason);
        } else {
            log_warn("connection %s (%s): TLS error, closing: %s", c->peer, c->identity, reason);
        }
        conn_drain(c, 1); /* sends the alert OpenSSL queued, then closes */
        return;
    }
    conn_flush_writes(c);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    frame_item_t it;
    int kind;

    if (nread > 0 && c->tls) {
        uv_timer_again(&c->idle);
        conn_read_tls(c, buf->base, (size_t)nread);
        return;
    }
    if (nread > 0) {
        frame_commit(&c->frame, (size_t)nread);
        uv_timer_again(&c->idle);
        while ((kind = frame_next(&c->frame, &it)) != FRAME_NONE && !c->is_closing)
            conn_on_item(c, kind, &it);
        return;
    }
    if (nread == 0)
        return;
    if (nread == UV_EOF) {
        conn_drain(c, 1);
        return;
    }
    /* reset or read error: keep what was read (its acks cannot be written any more) */
    log_debug("connection %s: %s", c->peer, uv_strerror((int)nread));
    conn_drain(c, 1);
    conn_close(c);
}

static void conn_idle_cb(uv_timer_t *t)
{
    conn_t *c = t->data;
    if (c->is_draining) { /* a drained connection that still cannot finish: give up on it */
        conn_close(c);
        return;
    }
    log_debug("connection %s: idle for %lld ms, closing", c->peer,
              (long long)c->l->cfg.idle_timeout_ms);
    conn_drain(c, 1);
}

static void conn_start_reading(conn_t *c)
{
    if (c->is_reading || c->is_draining || c->is_closing)
        return;
    if (uv_read_start(&c->h.stream, conn_alloc_cb, conn_read_cb) == 0)
        c->is_reading = 1;
}

void ingest_on_committed(void *ctx, spool_record_t *done)
{
    ingest_t *in = ctx;
    while (done) {
        spool_record_t *next = done->next;
        conn_t *c = done->owner;
        if (c) {
            if ((uint64_t)done->line > c->lines_durable)
                c->lines_durable = (uint64_t)done->line;
            c->refs--;
            c->pending_bytes -= done->size;
            if (!c->is_reading && !in->is_paused && !in->is_shutting_down &&
                c->pending_bytes < in->max_pending_bytes / 16)
                conn_start_reading(c);
            if (c->is_closing) {
                if (c->refs == 0 && c->open_handles == 0)
                    conn_unlink_free(c);
            } else if (!next || next->owner != c) {
                conn_maybe_finish(c); /* one ack per connection per completion batch */
            }
        }
        spool_record_free(done);
        done = next;
    }
    if (!in->is_paused && writer_is_full(in->writer))
        ingest_pause_all(in);
    if (in->is_paused && !writer_is_full(in->writer) &&
        writer_pending_bytes(in->writer) < in->max_pending_bytes / 2) {
        in->is_paused = 0;
        log_info("ingest resumed");
        if (!in->is_shutting_down)
            for (conn_t *x = in->conns; x; x = x->next)
                conn_start_reading(x);
    }
}

/* ---- accepting ---- */

static void conn_peer_name(conn_t *c)
{
    c->uid = c->gid = c->pid = -1;
    if (c->l->is_unix) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        uv_os_fd_t fd;
        if (uv_fileno(&c->h.handle, &fd) == 0 &&
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
            c->uid = (long)cred.uid;
            c->gid = (long)cred.gid;
            c->pid = (long)cred.pid;
            snprintf(c->peer, sizeof c->peer, "unix:pid=%ld,uid=%ld,gid=%ld", (long)cred.pid,
                     (long)cred.uid, (long)cred.gid);
            snprintf(c->peer_key, sizeof c->peer_key, "uid=%ld", (long)cred.uid);
        } else {
            snprintf(c->peer, sizeof c->peer, "unix");
            snprintf(c->peer_key, sizeof c->peer_key, "uid=?");
        }
        snprintf(c->identity, sizeof c->identity, "%s", c->peer);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip,
                     ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            snprintf(c->peer, sizeof c->peer, "%s:%d", ip,
                     ntohs(((struct sockaddr_in *)&ss)->sin_port));
        }
    } else {
        snprintf(c->peer, sizeof c->peer, "tcp:?");
    }
    snprintf(c->peer_key, sizeof c->peer_key, "%s", ip);
    snprintf(c->identity, sizeof c->identity, "%s", c->peer);
}

static int id_listed(const long *ids, int n, long id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* Why this new connection may not stay (NULL: it may): the listener's peer allowlists and the
 * per-peer cap. why is the buffer the reason is written to. */
/* Why the listener's peer allowlists refuse this connection (NULL: they admit it). */
static const char *conn_admission_lists(conn_t *c, char *why, size_t whylen)
{
    listener_t *l = c->l;
    if (l->is_unix && (l->n_uids || l->n_gids) &&
        !(c->uid >= 0 && id_listed(l->uids, l->n_uids, c->uid)) &&
        !(c->gid >= 0 && id_listed(l->gids, l->n_gids, c->gid))) {
        snprintf(why, whylen, "peer uid %ld gid %ld is not in allow_uids/allow_gids", c->uid,
                 c->gid);
        return why;
    }
    return NULL;
}

static const char *conn_admission(conn_t *c, char *why, size_t whylen)
{
    listener_t *l = c->l;
    if (conn_admission_lists(c, why, whylen))
        return why;
    if (l->cfg.max_connections_per_peer > 0) {
        int64_t n = 0;
        for (conn_t *x = l->in->conns; x; x = x->next)
            if (x->l == l && !x->is_closing && strcmp(x->peer_key, c->peer_key) == 0)
                n++;
        if (n > l->cfg.max_connections_per_peer) {
            snprintf(why, whylen, "%s already has %lld connections (max_connections_per_peer)",
                     c->peer_key, (long long)l->cfg.max_connections_per_peer);
            return why;
        }
    }
    return NULL;
}

static void listener_connection_cb(uv_stream_t *server, int status)
{
    listener_t *l = server->data;
    ingest_t *in = l->in;
    if (status < 0) {
        log_warn("listener %s: accept failed: %s", l->name, uv_strerror(status));
        return;
    }
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("listener %s: out of memory for a connection", l->name);
        return;
    }
    c->l = l;
    if (l->is_unix)
        uv_pipe_init(in->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(in->loop, &c->h.tcp);
    uv_timer_init(in->loop, &c->idle);
    c->h.handle.data = c;
    c->idle.data = c;
    c->open_handles = 2;
    frame_init(&c->frame, (size_t)l->cfg.max_event_bytes);
    c->next = in->conns;
    if (in->conns)
        in->conns->prev = c;
    in->conns = c;
    l->n_conns++;
    if (uv_accept(server, &c->h.stream) < 0) {
        conn_close(c);
        return;
    }
    conn_peer_name(c);
    if (l->n_conns > l->cfg.max_connections || in->is_shutting_down) {
        uint64_t now = util_mono_ns();
        in->stats.refused_connections++;
        if (now - l->last_refusal_log_ns > 1000000000ull) { /* one line a second at most */
            l->last_refusal_log_ns = now;
            log_warn("listener %s: refusing %s: connection limit %lld reached (%llu refused so "
                     "far; raise max_connections or spread emitters)",
                     l->name, c->peer, (long long)l->cfg.max_connections,
                     (unsigned long long)in->stats.refused_connections);
        }
        conn_close(c);
        return;
    }
    char why[200];
    if (conn_admission(c, why, sizeof why)) {
        uint64_t now = util_mono_ns();
        in->stats.refused_connections++;
        if (now - l->last_refusal_log_ns > 1000000000ull) { /* one line a second at most */
            l->last_refusal_log_ns = now;
            log_warn("listener %s: refusing %s: %s (%llu refused so far)", l->name, c->peer, why,
                     (unsigned long long)in->stats.refused_connections);
        }
        conn_close(c);
        return;
    }
    if (l->tls) {
        c->tls = ingest_tls_conn_new(l->tls);
        c->tls_in = malloc(FRAME_READ_CHUNK);
        if (!c->tls || !c->tls_in) {
            log_error("listener %s: out of memory for a TLS connection from %s", l->name, c->peer);
            conn_close(c);
            return;
        }
    }
    in->stats.connections++;
    if (!l->is_unix)
        uv_tcp_nodelay(&c->h.tcp, 1);
    uv_timer_start(&c->idle, conn_idle_cb, (uint64_t)l->cfg.idle_timeout_ms,
                   (uint64_t)l->cfg.idle_timeout_ms);
    if (!in->is_paused)
        conn_start_reading(c);
}

/* Removes a stale unix socket file (one nobody listens on). */
static int unix_clear_stale(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen,
                 "unix://%s exists and is not a socket: remove it or pick another path", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    util_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(fd);
        snprintf(err, errlen, "unix://%s: another process is listening there", path);
        return -1;
    }
    if (fd >= 0)
        close(fd);
    unlink(path);
    return 0;
}

/* Parses the listener's allow_types / allow_uids / allow_gids text (checked by cfg). */
static int listener_parse_allowlists(listener_t *l, char *err, size_t errlen)
{
    char ids[sizeof l->cfg.allow_uids];
    util_strlcpy(l->types_buf, l->cfg.allow_types, sizeof l->types_buf);
    for (char *save = NULL, *p = strtok_r(l->types_buf, ",", &save); p;
         p = strtok_r(NULL, ",", &save)) {
        if (l->n_types == LISTENER_MAX_PATTERNS)
            goto too_many;
        l->types[l->n_types++] = p;
    }
    for (int k = 0; k < 2; k++) {
        long *dst = k ? l->gids : l->uids;
        int *n = k ? &l->n_gids : &l->n_uids;
        util_strlcpy(ids, k ? l->cfg.allow_gids : l->cfg.allow_uids, sizeof ids);
        for (char *save = NULL, *p = strtok_r(ids, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            if (*n == LISTENER_MAX_IDS)
                goto too_many;
            dst[(*n)++] = strtol(p, NULL, 10);
        }
    }
    if (l->cfg.n_types_by_identity > 0 && !l->cfg.allow_identities[0] && !l->cfg.allow_types[0])
        log_warn("listener %s: allow_types_by_identity without allow_identities or allow_types: a "
                 "certificate from client_ca that matches none of its names may send any event "
                 "type (list the names in allow_identities to refuse the others)",
                 l->cfg.url_str);
    return 0;
too_many:
    snprintf(err, errlen, "listener %s: more than %d entries in an allow list", l->cfg.url_str,
             LISTENER_MAX_PATTERNS);
    return -1;
}

/* socket_mode and socket_owner, applied between bind and listen so no client can connect to a
 * socket that still has the default permissions. */
static int unix_apply_perms(const cfg_listener_t *c, char *err, size_t errlen)
{
    const char *path = c->url.path;
    if (c->socket_owner[0]) {
        char user[128], *group;
        uid_t uid = (uid_t)-1;
        gid_t gid = (gid_t)-1;
        util_strlcpy(user, c->socket_owner, sizeof user);
        group = strchr(user, ':');
        if (group)
            *group++ = '\0';
        if (user[0]) {
            struct passwd *pw = getpwnam(user);
            if (pw)
                uid = pw->pw_uid;
            else if (strspn(user, "0123456789") == strlen(user))
                uid = (uid_t)strtoul(user, NULL, 10);
            else {
                snprintf(err, errlen, "listener %s: socket_owner: no user '%s'", c->url_str, user);
                return -1;
            }
        }
        if (group && group[0]) {
            struct group *gr = getgrnam(group);
            if (gr)
                gid = gr->gr_gid;
            else if (strspn(group, "0123456789") == strlen(group))
                gid = (gid_t)strtoul(group, NULL, 10);
            else {
                snprintf(err, errlen, "listener %s: socket_owner: no group '%s'", c->url_str,
                         group);
                return -1;
            }
        }
        if (chown(path, uid, gid) < 0) {
            snprintf(err, errlen,
                     "listener %s: socket_owner %s: chown: %s (changing the owner needs root or "
                     "CAP_CHOWN; a group the collector's user is in works without)",
                     c->url_str, c->socket_owner, strerror(errno));
            return -1;
        }
    }
    if (c->socket_mode[0] && chmod(path, (mode_t)strtol(c->socket_mode, NULL, 8)) < 0) {
        snprintf(err, errlen, "listener %s: socket_mode %s: chmod: %s", c->url_str, c->socket_mode,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static int listener_bind(ingest_t *in, listener_t *l, char *err, size_t errlen)
{
    int rc;
    const url_t *u = &l->cfg.url;
    l->in = in;
    l->h.handle.data = l;
    if (listener_parse_allowlists(l, err, errlen) < 0)
        return -1;
    if (strcmp(u->scheme, "unix") == 0) {
        l->is_unix = 1;
        if (strlen(u->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, errlen, "listener unix://%s: path longer than %zu bytes", u->path,
                     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            return -1;
        }
        if (unix_clear_stale(u->path, err, errlen) < 0)
            return -1;
        uv_pipe_init(in->loop, &l->h.pipe, 0);
        rc = uv_pipe_bind(&l->h.pipe, u->path);
        snprintf(l->name, sizeof l->name, "unix://%.1100s", u->path);
        if (rc == 0 && unix_apply_perms(&l->cfg, err, errlen) < 0) {
            uv_close(&l->h.handle, NULL);
            l->is_closed = 1;
            unlink(u->path);
            return -1;
        }
    } else if (strcmp(u->scheme, "tcp") == 0 || strcmp(u->scheme, "tls") == 0) {
        const char *scheme = u->scheme;
        if (strcmp(scheme, "tls") == 0 && ingest_tls_ctx_new(&l->cfg, &l->tls, err, errlen) < 0)
            return -1;
        struct sockaddr_storage ss;
        if (strchr(u->host, ':'))
            rc = uv_ip6_addr(u->host, u->port, (struct sockaddr_in6 *)&ss);
        else
            rc = uv_ip4_addr(strcmp(u->host, "localhost") == 0 ? "127.0.0.1" : u->host, u->port,
                             (struct sockaddr_in *)&ss);
        if (rc < 0) {
            snprintf(err, errlen, "listener %s: '%s' is not an IP address", l->cfg.url_str,
                     u->host);
            return -1;
        }
        uv_tcp_init(in->loop, &l->h.tcp);
        rc = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, 0);
        if (rc == 0) {
            int len = sizeof ss;
            char ip[INET6_ADDRSTRLEN];
            uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len);
            if (ss.ss_family == AF_INET6) {
                uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
                snprintf(l->name, sizeof l->name, "%s://[%s]:%d", scheme, ip,
                         ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
            } else {
                uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
                snprintf(l->name, sizeof l->name, "%s://%s:%d", scheme, ip,
                         ntohs(((struct sockaddr_in *)&ss)->sin_port));
            }
        }
    } else {
        snprintf(err, errlen, "listener %s: unknown scheme '%s' (use tcp://, tls:// or unix://)",
                 l->cfg.url_str, u->scheme);
        return -1;
    }
    if (rc == 0)
        rc = uv_listen(&l->h.stream, 511, listener_connection_cb);
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", l->cfg.url_str, uv_strerror(rc));
        uv_close(&l->h.handle, NULL);
        l->is_closed = 1;
        return -1;
    }
    log_info("listening on %s", l->name);
    return 0;
}

int ingest_start(uv_loop_t *loop, writer_t *w, const ingest_opts_t *opts, ingest_t **out, char *err,
                 size_t errlen)
{
    ingest_t *in = calloc(1, sizeof *in);
    *out = NULL;
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    in->loop = loop;
    in->writer = w;
    in->max_pending_bytes = opts->max_pending_bytes;
    in->next_seq = opts->next_seq;
    in->norm = opts->norm;
    in->listeners = calloc((size_t)opts->n_listeners, sizeof *in->listeners);
    if (!in->listeners) {
        free(in);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    in->n_listeners = opts->n_listeners;
    for (int i = 0; i < opts->n_listeners; i++) {
        in->listeners[i].cfg = opts->listeners[i];
        in->listeners[i].is_closed = 1;
    }
    *out = in; /* even on failure: the caller shuts down and frees what was bound */
    for (int i = 0; i < opts->n_listeners; i++) {
        if (listener_bind(in, &in->listeners[i], err, errlen) < 0)
            return -1;
        in->listeners[i].is_closed = 0;
    }
    return 0;
}

int ingest_submit_own(ingest_t *in, json_t *ocsf, const char *type, int64_t *seq, char *err,
                      size_t errlen)
{
    if (!in->norm) {
        snprintf(err, errlen, "the collector's own events need --normalize on");
        return -1;
    }
    if (in->is_shutting_down) {
        snprintf(err, errlen, "shutting down");
        return -1;
    }
    /* not the listeners' peer: these events come from the collector itself */
    norm_peer_t peer = {.listener = "internal", .uid = -1, .gid = -1, .pid = -1};
    int64_t now = util_now_ms();
    json_t *out = NULL;
    if (norm_event_dump(in->norm, ocsf, &peer, in->next_seq, now, &out, &in->dump, err, errlen) < 0)
        return -1;
    const char *str[SR_NSTR] = {0};
    str[SR_TYPE] = type;
    str[SR_PEER] = "internal";
    spool_record_t *r = record_of_ocsf(in, out, now, str);
    json_decref(out);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *seq = r->seq = in->next_seq++;
    in->stats.events++;
    writer_submit(in->writer, r); /* no owner: nobody waits for its acknowledgement */
    return 0;
}

void ingest_shutdown(ingest_t *in, void (*cb)(void *arg), void *arg)
{
    in->is_shutting_down = 1;
    in->shutdown_cb = cb;
    in->shutdown_arg = arg;
    for (int i = 0; i < in->n_listeners; i++) {
        listener_t *l = &in->listeners[i];
        if (!l->is_closed) {
            l->is_closed = 1;
            uv_close(&l->h.handle, NULL);
            if (l->is_unix)
                unlink(l->cfg.url.path);
        }
    }
    if (!in->conns) {
        in->shutdown_cb = NULL;
        if (cb)
            cb(arg);
        return;
    }
    for (conn_t *c = in->conns, *next; c; c = next) {
        next = c->next;
        if (!c->is_closing)
            conn_drain(c, 0); /* an unfinished line at shutdown is not acked: the emitter resends */
    }
}

void ingest_force_close(ingest_t *in)
{
    for (conn_t *c = in->conns; c; c = c->next)
        conn_close(c);
}

void ingest_free(ingest_t *in)
{
    if (!in)
        return;
    /* Connections are normally freed by the writer's last completions. One still listed here had
     * records the writer gave up on at shutdown (a spool that could not commit): those records are
     * gone, the writer has stopped, and its handles are closed, so nothing refers to it any more.
     */
    for (conn_t *c = in->conns, *next; c; c = next) {
        next = c->next;
        conn_free_memory(c);
    }
    in->conns = NULL;
    for (int i = 0; in->listeners && i < in->n_listeners; i++)
        ingest_tls_ctx_free(in->listeners[i].tls);
    free(in->listeners);
    jsonw_free(&in->dump);
    jalloc_destroy(&in->heap);
    free(in);
}

int ingest_reload_tls(ingest_t *in, int *n_reloaded, char *err, size_t errlen)
{
    int rc = 0;
    *n_reloaded = 0;
    err[0] = '\0';
    for (int i = 0; i < in->n_listeners; i++) {
        listener_t *l = &in->listeners[i];
        char one[1024];
        if (!l->tls)
            continue;
        if (ingest_tls_ctx_reload(l->tls, one, sizeof one) < 0) {
            size_t off = strlen(err);
            snprintf(err + off, errlen - off, "%s%s", off ? "; " : "", one);
            rc = -1;
            continue;
        }
        (*n_reloaded)++;
    }
    return rc;
}

/* Appends "; "-separated text to err. */
static void err_append(char *err, size_t errlen, const char *text)
{
    size_t off = strlen(err);
    if (off < errlen)
        snprintf(err + off, errlen - off, "%s%s", off ? "; " : "", text);
}

/* What a SIGHUP could not apply to listener url: appended to err. */
static void reload_not_applied(char *err, size_t errlen, const char *url, const char *what)
{
    char one[2048];
    snprintf(one, sizeof one, "listener %.1200s%s", url, what);
    err_append(err, errlen, one);
}

int ingest_reload_allowlists(ingest_t *in, const cfg_t *fresh, int *n_changed, char *err,
                             size_t errlen)
{
    char one[2048], why[600];
    int rc = 0;
    *n_changed = 0;
    err[0] = '\0';
    for (int i = 0; i < in->n_listeners; i++) {
        listener_t *l = &in->listeners[i];
        const cfg_listener_t *f = NULL;
        for (int j = 0; j < fresh->n_listeners && !f; j++)
            if (strcmp(fresh->listeners[j].url_str, l->cfg.url_str) == 0)
                f = &fresh->listeners[j];
        if (!f) {
            reload_not_applied(err, errlen, l->cfg.url_str,
                               " is not in the configuration any more: it keeps running with its "
                               "allow lists until a restart");
            rc = -1;
            continue;
        }
        int is_changed = 0;
        if (l->tls && (strcmp(f->allow_identities, l->cfg.allow_identities) != 0 ||
                       f->n_types_by_identity != l->cfg.n_types_by_identity ||
                       memcmp(f->types_by_identity, l->cfg.types_by_identity,
                              sizeof f->types_by_identity) != 0)) {
            if (strcmp(f->client_ca, l->cfg.client_ca) != 0)
                reload_not_applied(err, errlen, l->cfg.url_str,
                                   ": client_ca changes at a restart, not on SIGHUP, and so do the "
                                   "allow_identities and allow_types_by_identity that go with it "
                                   "(the running ones stay)");
            else if (ingest_tls_ctx_set_identities(l->tls, f, one, sizeof one) < 0)
                err_append(err, errlen, one);
            else {
                /* applied: the table the connections are checked against below */
                memcpy(l->cfg.allow_identities, f->allow_identities,
                       sizeof l->cfg.allow_identities);
                memcpy(l->cfg.types_by_identity, f->types_by_identity,
                       sizeof l->cfg.types_by_identity);
                l->cfg.n_types_by_identity = f->n_types_by_identity;
                is_changed = 1;
                log_info("listener %s: allow_identities [%s], allow_types_by_identity with %d "
                         "key%s (SIGHUP)",
                         l->cfg.url_str, l->cfg.allow_identities, l->cfg.n_types_by_identity,
                         l->cfg.n_types_by_identity == 1 ? "" : "s");
            }
            if (!is_changed)
                rc = -1;
        }
        if (strcmp(f->allow_types, l->cfg.allow_types) != 0 ||
            strcmp(f->allow_uids, l->cfg.allow_uids) != 0 ||
            strcmp(f->allow_gids, l->cfg.allow_gids) != 0) {
            cfg_listener_t was = l->cfg;
            memcpy(l->cfg.allow_types, f->allow_types, sizeof l->cfg.allow_types);
            memcpy(l->cfg.allow_uids, f->allow_uids, sizeof l->cfg.allow_uids);
            memcpy(l->cfg.allow_gids, f->allow_gids, sizeof l->cfg.allow_gids);
            l->n_types = l->n_uids = l->n_gids = 0;
            if (listener_parse_allowlists(l, one, sizeof one) < 0) {
                l->cfg = was;
                l->n_types = l->n_uids = l->n_gids = 0;
                /* the old lists parsed before: this cannot fail */
                (void)listener_parse_allowlists(l, why, sizeof why);
                err_append(err, errlen, one);
                rc = -1;
            } else {
                is_changed = 1;
                log_info("listener %s: allow_types [%s], allow_uids [%s], allow_gids [%s] (SIGHUP)",
                         l->cfg.url_str, l->cfg.allow_types, l->cfg.allow_uids, l->cfg.allow_gids);
            }
        }
        if (!is_changed)
            continue;
        (*n_changed)++;
        /* a peer the new lists refuse goes now, like one refused at accept or at the handshake */
        for (conn_t *c = in->conns; c; c = c->next) {
            if (c->l != l || c->is_closing || c->is_draining)
                continue;
            if (conn_admission_lists(c, why, sizeof why) ||
                (c->tls && !ingest_tls_conn_recheck(c->tls, why, sizeof why))) {
                log_warn("listener %s: closing %s: %s (allow lists reloaded)", l->cfg.url_str,
                         c->peer, why);
                conn_drain(c, 0);
            }
        }
    }
    return rc;
}

void ingest_get_stats(const ingest_t *in, ingest_stats_t *st)
{
    *st = in->stats;
    st->open_connections = 0;
    for (int i = 0; i < in->n_listeners; i++)
        st->open_connections += (uint64_t)in->listeners[i].n_conns;
}
