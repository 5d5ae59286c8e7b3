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
 */
#include "ingest.h"
#include "jalloc.h"
#include "jsonw.h"
#include "envelope.h"
#include "frame.h"
#include "log.h"
#include "norm.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONN_MAX_NOTICE_BYTES (64 * 1024)

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
    long uid, gid, pid;     /* unix peer credentials, -1 for TCP */
    uint64_t lines_read;    /* lines framed */
    uint64_t lines_durable; /* lines whose record is committed */
    uint64_t ack_sent;      /* the last ack written (or in flight) */
    int refs;               /* records in the writer that name this connection */
    size_t pending_bytes;   /* their size: a connection over its share stops reading */
    int open_handles;       /* 2 while open; freed at 0 with refs == 0 */
    int is_draining;        /* no more reads: waiting to write the final ack */
    int is_closing;         /* handles being closed */
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

/* Writes pending notices and the latest ack, if any and no write is in flight. */
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
    if (n == 0)
        return;
    if (c->wbuf_cap < n) {
        char *nb = realloc(c->wbuf, n);
        if (!nb)
            return; /* try again on the next completion */
        c->wbuf = nb;
        c->wbuf_cap = n;
    }
    if (c->notice_len)
        memcpy(c->wbuf, c->notice, c->notice_len);
    if (ack_len)
        memcpy(c->wbuf + c->notice_len, ack, ack_len);
    c->notice_len = 0;
    if (ack_len)
        c->ack_sent = c->lines_durable;
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

static void conn_unlink_free(conn_t *c)
{
    ingest_t *in = c->l->in;
    if (c->prev)
        c->prev->next = c->next;
    else
        in->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    frame_free(&c->frame);
    free(c->wbuf);
    free(c->notice);
    free(c);
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

/* A draining connection closes once every line is durable and its final ack went out. */
static void conn_maybe_finish(conn_t *c)
{
    conn_flush_writes(c);
    if (c->is_draining && !c->is_closing && !c->is_write_busy && c->refs == 0 &&
        c->ack_sent == c->lines_read && c->notice_len == 0)
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

/* Parses, normalizes and serializes one line inside the jansson arena. Returns the record to
 * store, or NULL with *is_rejected set and reason filled (a dead letter), or NULL without it (out
 * of memory). */
static spool_record_t *conn_make_record(conn_t *c, const char *p, size_t len, char *reason,
                                        size_t reasonlen, int *is_rejected)
{
    ingest_t *in = c->l->in;
    json_t *obj = NULL;
    spool_record_t *r = NULL;

    *is_rejected = 0;
    jalloc_begin(&in->heap);
    if (envelope_parse(p, len, ENVELOPE_MAX_DEPTH, &obj, reason, reasonlen) < 0) {
        *is_rejected = 1;
        goto out;
    }
    const char *str[SR_NSTR] = {0};
    str[SR_TYPE] = json_str(obj, "type");
    str[SR_USER] = json_str(obj, "user");
    str[SR_WORKSPACE] = json_str(obj, "workspace");
    str[SR_PEER] = c->peer;
    if (in->norm) {
        json_t *ocsf = NULL;
        int64_t now = util_now_ms();
        norm_peer_t peer = {c->l->name, c->l->is_unix ? NULL : c->peer, c->uid, c->gid, c->pid};
        if (norm_event(in->norm, obj, &peer, in->next_seq, now, &ocsf, reason, reasonlen) < 0) {
            *is_rejected = 1;
            goto out;
        }
        r = jsonw_dump(ocsf, &in->dump, 0) == 0
                ? spool_record_new(SPOOL_EVENT, in->dump.data, in->dump.len, str)
                : NULL;
        if (r) {
            r->received_ms = now;
            r->class_uid = (int)json_integer_value(json_object_get(ocsf, "class_uid"));
            r->activity_id = (int)json_integer_value(json_object_get(ocsf, "activity_id"));
            json_t *st = json_object_get(ocsf, "status_id");
            r->status_id = json_is_integer(st) ? (int)json_integer_value(st) : -1;
            json_t *t = json_object_get(ocsf, "time");
            r->event_ms = json_is_integer(t) ? json_integer_value(t) : -1;
        }
        json_decref(ocsf);
    } else {
        r = spool_record_new(SPOOL_EVENT, p, len, str);
        json_t *t = json_object_get(obj, "time");
        if (r && json_is_integer(t))
            r->event_ms = json_integer_value(t);
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
    if (frame_reserve(&c->frame, suggested, &p, &avail) < 0) {
        buf->base = NULL;
        buf->len = 0; /* libuv reports UV_ENOBUFS */
        return;
    }
    buf->base = p;
    buf->len = avail;
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    frame_item_t it;
    int kind;
    (void)buf;

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
        } else {
            snprintf(c->peer, sizeof c->peer, "unix");
        }
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

static int listener_bind(ingest_t *in, listener_t *l, char *err, size_t errlen)
{
    int rc;
    const url_t *u = &l->cfg.url;
    l->in = in;
    l->h.handle.data = l;
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
    } else if (strcmp(u->scheme, "tcp") == 0) {
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
                snprintf(l->name, sizeof l->name, "tcp://[%s]:%d", ip,
                         ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
            } else {
                uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
                snprintf(l->name, sizeof l->name, "tcp://%s:%d", ip,
                         ntohs(((struct sockaddr_in *)&ss)->sin_port));
            }
        }
    } else {
        snprintf(err, errlen, "listener %s: unknown scheme '%s' (use tcp:// or unix://)",
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
        frame_free(&c->frame);
        free(c->wbuf);
        free(c->notice);
        free(c);
    }
    in->conns = NULL;
    free(in->listeners);
    jsonw_free(&in->dump);
    jalloc_destroy(&in->heap);
    free(in);
}

void ingest_get_stats(const ingest_t *in, ingest_stats_t *st)
{
    *st = in->stats;
}
