/*
 * sink_syslog.c - the syslog sink: RFC 5424 messages over TCP (RFC 6587 octet counting) or TLS
 * (RFC 5425, OpenSSL), for rsyslog, syslog-ng and SIEM syslog inputs.
 *
 * URL: syslog+tcp://HOST:PORT or syslog+tls://HOST:PORT, options:
 *   facility=authpriv|local0..local7|N   (default authpriv = 10: audit data is access-restricted)
 *   hostname=NAME                        HOSTNAME field (default gethostname())
 *   timeout_ms=N                         connect, handshake, write and peer-ack timeout (10000)
 *   hold_ms=N                            see "delivery" below (1000)
 *   ca_file=PATH  cert_file=PATH key_file=PATH   TLS trust anchors and client certificate
 *   tls_verify=0                         TLS without certificate/host checks (logged as a warning)
 *
 * One message per event, one line of the wire:
 *   LEN SP <PRI>1 TIMESTAMP HOSTNAME ocsf-collector PROCID MSGID [ocsf@32473 seq="" class_uid=""
 *   user="" workspace=""] MSG
 * PRI = facility*8 + severity, severity from the body's severity_id: 0 Unknown, 1 Informational,
 * 99 Other and absent -> 6 informational; 2 Low -> 5 notice; 3 Medium -> 4 warning; 4 High -> 3
 * err; 5 Critical -> 2 crit; 6 Fatal -> 1 alert (0 emerg, "system unusable", is never produced).
 * TIMESTAMP is the event time (else the receive time) in UTC with milliseconds. MSGID is the OCSF
 * class name with spaces as '_' ("Entity_Management"; "unknown" for events stored as received that
 * carry no class). SD-ID ocsf@32473 uses the documentation PEN (RFC 5612); seq lets a receiver drop
 * the duplicates of at-least-once delivery. MSG is the OCSF JSON as stored (no BOM: MSG-ANY).
 *
 * Delivery (the at-least-once window of a protocol without application acks):
 * RFC 6587/5425 have no acknowledgement, so "written to the socket" is not "received": bytes in our
 * send queue or in the peer's receive buffer are lost when the peer dies. This sink therefore
 * reports a seq delivered only when (1) the kernel says every byte up to that message left our
 * send queue and was TCP-acked by the peer (SIOCOUTQ: bytes written - unacked), and (2) hold_ms
 * later the connection is still healthy (no FIN/RST, no TLS alert). A receiver that dies or closes
 * with unread data resets the connection; we see it within hold_ms, return SINK_RETRY, and the
 * shipper resends everything after the cursor on a new connection (duplicates, never loss). A
 * message is only lost if the receiver's kernel acked it, the receiver then went on running for
 * more than hold_ms without reading it, and later died - or if the receiver itself loses messages
 * it read (rsyslog's in-memory queue on a crash: use a disk-assisted queue there). RELP would close
 * the window fully and is not implemented. A message never peer-acked within timeout_ms (receiver
 * gone without RST, or not reading) also causes SINK_RETRY and a reconnect.
 *
 * Threads: everything runs on the shipper's thread; the socket is non-blocking and every wait is a
 * poll() bounded by timeout_ms, so a slow or dead receiver only delays this sink.
 */
#include "sink.h"
#include "log.h"
#include "sink_ocsf.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SYSLOG_APP_NAME "ocsf-collector"
#define SYSLOG_SD_ID    "ocsf@32473"
#define SYSLOG_MAX_IN_FLIGHT                                                                       \
    65536 /* events and batches; with hold_ms 1000 it bounds the rate at 65,536/s */

/* A submitted batch: its last seq and the socket byte count once it was written whole. */
typedef struct syslog_mark {
    int64_t seq;
    uint64_t end_bytes;
    int64_t acked_ms; /* when the peer's TCP ack covered end_bytes; 0 = not yet */
    int64_t written_ms;
} syslog_mark_t;

struct sink {
    sink_host_t host;
    int is_tls;
    int is_verify;
    char peer_host[1024];
    char port[8];
    int facility;
    char hostname[256];
    char procid[16];
    int timeout_ms;
    int hold_ms;
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    uint64_t plain_bytes; /* bytes written on this connection (plain TCP) */
    syslog_mark_t *marks; /* ring of SYSLOG_MAX_IN_FLIGHT */
    size_t mark_head, mark_count;
    int64_t delivered;
    char *buf;
    size_t len, cap;
};

static const struct {
    const char *name;
    int code;
} facilities[] = {{"kern", 0},    {"user", 1},    {"daemon", 3},  {"auth", 4},    {"authpriv", 10},
                  {"audit", 13},  {"local0", 16}, {"local1", 17}, {"local2", 18}, {"local3", 19},
                  {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23}};

static int syslog_severity(int ocsf_severity_id)
{
    switch (ocsf_severity_id) {
    case 2:
        return 5;
    case 3:
        return 4;
    case 4:
        return 3;
    case 5:
        return 2;
    case 6:
        return 1;
    default:
        return 6; /* 0 Unknown, 1 Informational, 99 Other, absent */
    }
}

static int64_t now_ms(void)
{
    return (int64_t)(util_mono_ns() / 1000000u);
}

static void ssl_errors(char *out, size_t outlen)
{
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(out, outlen, "%s", errno ? strerror(errno) : "connection closed");
        return;
    }
    ERR_error_string_n(e, out, outlen);
    ERR_clear_error();
}

static void syslog_disconnect(sink_t *s)
{
    if (s->ssl) {
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->plain_bytes = 0;
    s->mark_head = s->mark_count = 0;
}

/* Waits until fd is ready for events or the deadline passes. Returns 1 ready, 0 timeout, -1 error.
 */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -1;
        if (rc > 0)
            return 1;
    }
}

/* Drives an SSL call that returned rc <= 0: waits for what it wants. 1 = call again, -1 = failed.
 */
static int ssl_wait(sink_t *s, int rc, int64_t deadline_ms, const char *what, char *err,
                    size_t errlen)
{
    int e = SSL_get_error(s->ssl, rc);
    char detail[256];
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        int w = wait_fd(s->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_ms);
        if (w > 0)
            return 1;
        snprintf(err, errlen, "syslog sink %s: TLS %s %s", s->host.name, what,
                 w == 0 ? "timed out" : strerror(errno));
        return -1;
    }
    ssl_errors(detail, sizeof detail);
    long vr = SSL_get_verify_result(s->ssl);
    snprintf(err, errlen, "syslog sink %s: TLS %s failed: %s%s%s", s->host.name, what, detail,
             vr != X509_V_OK ? "; certificate: " : "",
             vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
    return -1;
}

static int syslog_connect(sink_t *s, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int64_t deadline = now_ms() + s->timeout_ms;
    int gai = getaddrinfo(s->peer_host, s->port, &hints, &res);
    char last[256] = "no address";

    if (gai != 0) {
        snprintf(err, errlen, "syslog sink %s: cannot resolve %s: %s", s->host.name, s->peer_host,
                 gai_strerror(gai));
        return SINK_RETRY;
    }
    for (struct addrinfo *a = res; a && s->fd < 0; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1, so_err = 0;
        socklen_t sl = sizeof so_err;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            snprintf(last, sizeof last, "%s", strerror(errno));
            close(fd);
            continue;
        }
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &sl) < 0 || so_err) {
            snprintf(last, sizeof last, "%s",
                     w == 0 ? "connect timed out" : strerror(so_err ? so_err : errno));
            close(fd);
            continue;
        }
        s->fd = fd;
    }
    freeaddrinfo(res);
    if (s->fd < 0) {
        snprintf(err, errlen, "syslog sink %s: cannot connect to %s port %s: %s", s->host.name,
                 s->peer_host, s->port, last);
        return SINK_RETRY;
    }
    if (!s->is_tls)
        return SINK_OK;

    s->ssl = SSL_new(s->ctx);
    if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1)
        goto tls_fail;
    SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
    unsigned char addr[16];
    int is_ip =
        inet_pton(AF_INET, s->peer_host, addr) == 1 || inet_pton(AF_INET6, s->peer_host, addr) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(s->ssl, s->peer_host) != 1)
        goto tls_fail;
    if (s->is_verify) {
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), s->peer_host)
                       : SSL_set1_host(s->ssl, s->peer_host);
        if (ok != 1)
            goto tls_fail;
    }
    for (;;) {
        int rc = SSL_connect(s->ssl);
        if (rc == 1)
            break;
        if (ssl_wait(s, rc, deadline, "handshake", err, errlen) < 0) {
            syslog_disconnect(s);
            return SINK_RETRY;
        }
    }
    return SINK_OK;
tls_fail : {
    char detail[256];
    ssl_errors(detail, sizeof detail);
    snprintf(err, errlen, "syslog sink %s: TLS setup failed: %s", s->host.name, detail);
    syslog_disconnect(s);
    return SINK_RETRY;
}
}

/* Bytes this connection handed to the kernel (TLS: records, counted by the socket BIO). */
static uint64_t syslog_bytes_out(sink_t *s)
{
    return s->ssl ? BIO_number_written(SSL_get_wbio(s->ssl)) : s->plain_bytes;
}

/* Writes buf[0..len) whole before the deadline. */
static int syslog_write_all(sink_t *s, const char *buf, size_t len, char *err, size_t errlen)
{
    int64_t deadline = now_ms() + s->timeout_ms;
    size_t off = 0;
    while (off < len) {
        if (s->ssl) {
            size_t chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
            int rc = SSL_write(s->ssl, buf + off, (int)chunk);
            if (rc > 0) {
                off += (size_t)rc;
                continue;
            }
            if (ssl_wait(s, rc, deadline, "write", err, errlen) < 0)
                return SINK_RETRY;
        } else {
            ssize_t n = send(s->fd, buf + off, len - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
                s->plain_bytes += (uint64_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                int w = wait_fd(s->fd, POLLOUT, deadline);
                if (w > 0)
                    continue;
                snprintf(err, errlen,
                         "syslog sink %s: write %s (the receiver is not reading); reconnecting",
                         s->host.name, w == 0 ? "timed out" : strerror(errno));
                return SINK_RETRY;
            }
            snprintf(err, errlen, "syslog sink %s: write failed: %s", s->host.name,
                     strerror(errno));
            return SINK_RETRY;
        }
    }
    return SINK_OK;
}

/* 1 while the connection shows no FIN, RST or TLS alert from the peer, else 0. Reads and drops
 * anything the receiver sent (syslog receivers send nothing; TLS 1.3 sends session tickets). */
static int syslog_is_alive(sink_t *s)
{
    char scratch[4096];
    for (int i = 0; i < 64; i++) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN | POLLRDHUP};
        if (poll(&p, 1, 0) < 0)
            return errno == EINTR;
        if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL))
            return 0;
        if (!(p.revents & POLLIN))
            return 1;
        if (s->ssl) {
            int rc = SSL_read(s->ssl, scratch, sizeof scratch);
            if (rc <= 0) {
                int e = SSL_get_error(s->ssl, rc);
                ERR_clear_error();
                return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
            }
        } else {
            ssize_t n = recv(s->fd, scratch, sizeof scratch, MSG_DONTWAIT);
            if (n == 0)
                return 0;
            if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
    }
    return 1;
}

static int buf_reserve(sink_t *s, size_t more)
{
    return util_buf_reserve(&s->buf, &s->cap, s->len, more, 256 * 1024);
}

/* Appends v as an SD-PARAM value: '"', '\' and ']' escaped with '\' (RFC 5424 6.3.3). */
static int put_sd_value(sink_t *s, const char *v)
{
    size_t n = strlen(v);
    if (buf_reserve(s, 2 * n + 1) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"' || v[i] == '\\' || v[i] == ']')
            s->buf[s->len++] = '\\';
        s->buf[s->len++] = v[i];
    }
    return 0;
}

static int put_str(sink_t *s, const char *v, size_t n)
{
    if (buf_reserve(s, n) < 0)
        return -1;
    memcpy(s->buf + s->len, v, n);
    s->len += n;
    return 0;
}

/* Appends one octet-counted RFC 5424 message for ev. */
static int syslog_format(sink_t *s, const sink_event_t *ev)
{
    sink_ocsf_fields_t f;
    char head[1024], msgid[33], ts[80], num[64];
    struct tm tm;

    sink_ocsf_scan(ev->body, ev->len, &f);
    int class_uid = ev->class_uid >= 0 ? ev->class_uid : f.class_uid;
    const char *cname = f.class_name[0] ? f.class_name : sink_ocsf_class_name(class_uid);
    sink_ocsf_token(cname, 0, msgid, sizeof msgid);
    int64_t t = ev->event_ms >= 0 ? ev->event_ms : ev->received_ms;
    time_t sec = (time_t)(t / 1000);
    gmtime_r(&sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t % 1000));
    int hn = snprintf(head, sizeof head,
                      "<%d>1 %s %s " SYSLOG_APP_NAME " %s %s [" SYSLOG_SD_ID
                      " seq=\"%lld\" class_uid=\"%d\"",
                      s->facility * 8 + syslog_severity(f.severity_id), ts, s->hostname, s->procid,
                      msgid, (long long)ev->seq, class_uid);
    /* reserve room for the length prefix; it is written once the message is complete */
    size_t start = s->len;
    if (buf_reserve(s, 24) < 0)
        return -1;
    s->len += 24;
    size_t msg_start = s->len;
    if (put_str(s, head, (size_t)hn) < 0)
        return -1;
    if (ev->user &&
        (put_str(s, " user=\"", 7) < 0 || put_sd_value(s, ev->user) < 0 || put_str(s, "\"", 1) < 0))
        return -1;
    if (ev->workspace && (put_str(s, " workspace=\"", 12) < 0 ||
                          put_sd_value(s, ev->workspace) < 0 || put_str(s, "\"", 1) < 0))
        return -1;
    if (put_str(s, "] ", 2) < 0 || put_str(s, ev->body, ev->len) < 0)
        return -1;
    /* "LEN SP" right before the message: move the message down over the unused reserve */
    int pn = snprintf(num, sizeof num, "%zu ", s->len - msg_start);
    memmove(s->buf + start + (size_t)pn, s->buf + msg_start, s->len - msg_start);
    memcpy(s->buf + start, num, (size_t)pn);
    s->len = start + (size_t)pn + (s->len - msg_start);
    return 0;
}

static int syslog_submit(sink_t *s, const sink_event_t *ev, size_t n, char *err, size_t errlen)
{
    int rc;
    if (s->mark_count == SYSLOG_MAX_IN_FLIGHT) {
        snprintf(err, errlen, "syslog sink %s: too many batches in flight", s->host.name);
        syslog_disconnect(s);
        return SINK_RETRY;
    }
    if (s->fd < 0 && (rc = syslog_connect(s, err, errlen)) != SINK_OK)
        return rc;
    s->len = 0;
    for (size_t i = 0; i < n; i++)
        if (syslog_format(s, &ev[i]) < 0) {
            snprintf(err, errlen, "syslog sink %s: out of memory formatting %zu events",
                     s->host.name, n);
            return SINK_RETRY;
        }
    rc = syslog_write_all(s, s->buf, s->len, err, errlen);
    if (rc != SINK_OK) {
        syslog_disconnect(s);
        return rc;
    }
    if (s->cap > 8 * 1024 * 1024) { /* one huge batch does not pin its buffer forever */
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
    s->len = 0;
    syslog_mark_t *m = &s->marks[(s->mark_head + s->mark_count) % SYSLOG_MAX_IN_FLIGHT];
    m->seq = ev[n - 1].seq;
    m->end_bytes = syslog_bytes_out(s);
    m->acked_ms = 0;
    m->written_ms = now_ms();
    s->mark_count++;
    return SINK_OK;
}

/* Moves delivered over every batch the peer acked at least hold_ms ago; see the file comment. */
static int syslog_poll(sink_t *s, int timeout_ms, int64_t *delivered, char *err, size_t errlen)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (s->fd < 0 || s->mark_count == 0)
            break;
        if (!syslog_is_alive(s)) {
            snprintf(err, errlen,
                     "syslog sink %s: the receiver closed the connection with %zu batches not "
                     "confirmed; resending them",
                     s->host.name, s->mark_count);
            syslog_disconnect(s);
            return SINK_RETRY;
        }
        int outq = 0;
        if (ioctl(s->fd, SIOCOUTQ, &outq) < 0) {
            snprintf(err, errlen, "syslog sink %s: SIOCOUTQ: %s", s->host.name, strerror(errno));
            syslog_disconnect(s);
            return SINK_RETRY;
        }
        uint64_t acked = syslog_bytes_out(s) - (uint64_t)outq;
        int64_t now = now_ms(), next_ms = deadline;
        for (size_t i = 0; i < s->mark_count; i++) {
            syslog_mark_t *m = &s->marks[(s->mark_head + i) % SYSLOG_MAX_IN_FLIGHT];
            if (m->acked_ms || m->end_bytes > acked)
                break;
            m->acked_ms = now;
        }
        while (s->mark_count > 0) {
            syslog_mark_t *m = &s->marks[s->mark_head];
            if (!m->acked_ms) {
                if (now - m->written_ms > s->timeout_ms) {
                    snprintf(err, errlen,
                             "syslog sink %s: the receiver has not acknowledged data written "
                             "%d ms ago; reconnecting",
                             s->host.name, s->timeout_ms);
                    syslog_disconnect(s);
                    return SINK_RETRY;
                }
                if (now + 5 < next_ms)
                    next_ms = now + 5; /* peer acks come within a round trip */
                break;
            }
            if (now - m->acked_ms < s->hold_ms) {
                if (m->acked_ms + s->hold_ms < next_ms)
                    next_ms = m->acked_ms + s->hold_ms;
                break;
            }
            s->delivered = m->seq;
            s->mark_head = (s->mark_head + 1) % SYSLOG_MAX_IN_FLIGHT;
            s->mark_count--;
        }
        if (s->mark_count == 0 || now >= deadline)
            break;
        /* sleep until the next hold expires, waking on a FIN/RST from the receiver */
        struct pollfd p = {.fd = s->fd, .events = POLLRDHUP};
        int wait = (int)(next_ms - now);
        poll(&p, 1, wait > 0 ? wait : 1);
    }
    *delivered = s->delivered;
    return SINK_OK;
}

static void syslog_close(sink_t *s)
{
    if (!s)
        return;
    syslog_disconnect(s);
    SSL_CTX_free(s->ctx);
    free(s->marks);
    free(s->buf);
    free(s);
}

/* Reads a positive integer option into *out (left alone when absent). */
static int opt_int(const url_t *url, const char *key, int min, int max, int *out, char *err,
                   size_t errlen)
{
    long n = 0;
    int rc = url_query_long(url, key, min, max, &n, "syslog sink", err, errlen);
    if (rc == 1)
        *out = (int)n;
    return rc < 0 ? -1 : 0;
}

static int syslog_tls_setup(sink_t *s, const url_t *url, char *err, size_t errlen)
{
    char ca[4096] = "", cert[4096] = "", key[4096] = "", v[8], detail[256];
    if (url_query_get(url, "ca_file", ca, sizeof ca) < 0 ||
        url_query_get(url, "cert_file", cert, sizeof cert) < 0 ||
        url_query_get(url, "key_file", key, sizeof key) < 0) {
        snprintf(err, errlen,
                 "syslog sink: ca_file, cert_file or key_file is malformed or too long");
        return -1;
    }
    if (url_query_get(url, "tls_verify", v, sizeof v) == 1 && strcmp(v, "0") == 0)
        s->is_verify = 0;
    if (!s->is_tls) {
        if (ca[0] || cert[0] || key[0]) {
            snprintf(err, errlen, "syslog sink: ca_file/cert_file/key_file need syslog+tls://");
            return -1;
        }
        return 0;
    }
    if (!!cert[0] != !!key[0]) {
        snprintf(err, errlen,
                 "syslog sink: a client certificate needs both cert_file and key_file");
        return -1;
    }
    s->ctx = SSL_CTX_new(TLS_client_method());
    if (!s->ctx || SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION) != 1)
        goto fail;
    if (s->is_verify) {
        SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
        if (ca[0] ? SSL_CTX_load_verify_locations(s->ctx, ca, NULL) != 1
                  : SSL_CTX_set_default_verify_paths(s->ctx) != 1) {
            ssl_errors(detail, sizeof detail);
            snprintf(err, errlen, "syslog sink: cannot load CA file '%s': %s", ca, detail);
            return -1;
        }
    } else {
        SSL_CTX_set_verify(s->ctx, SSL_VERIFY_NONE, NULL);
        log_warn("syslog sink %s: tls_verify=0: the receiver's certificate and name are NOT "
                 "checked (anyone on the path can read and change the audit stream)",
                 s->host.name);
    }
    if (cert[0] && (SSL_CTX_use_certificate_chain_file(s->ctx, cert) != 1 ||
                    SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) != 1 ||
                    SSL_CTX_check_private_key(s->ctx) != 1)) {
        ssl_errors(detail, sizeof detail);
        snprintf(err, errlen, "syslog sink: cannot load client certificate '%s' / key '%s': %s",
                 cert, key, detail);
        return -1;
    }
    return 0;
fail:
    ssl_errors(detail, sizeof detail);
    snprintf(err, errlen, "syslog sink: OpenSSL setup failed: %s", detail);
    return -1;
}

static int syslog_open(const url_t *url, const sink_host_t *host, sink_t **out, char *err,
                       size_t errlen)
{
    char v[64];
    sink_t *s = calloc(1, sizeof *s);

    *out = NULL;
    if (!s || !(s->marks = calloc(SYSLOG_MAX_IN_FLIGHT, sizeof *s->marks))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->fd = -1;
    s->host = *host;
    s->is_tls = strcmp(url->scheme, "syslog+tls") == 0;
    s->is_verify = 1;
    s->facility = 10;
    s->timeout_ms = 10000;
    s->hold_ms = 1000;
    if (url->port <= 0 || !url->host[0]) {
        snprintf(err, errlen, "syslog sink needs a host and a port: %s://HOST:PORT", url->scheme);
        goto fail;
    }
    util_strlcpy(s->peer_host, url->host, sizeof s->peer_host);
    snprintf(s->port, sizeof s->port, "%d", url->port);
    snprintf(s->procid, sizeof s->procid, "%d", (int)getpid());
    int rc = url_query_get(url, "facility", v, sizeof v);
    if (rc != 0) {
        s->facility = -1;
        for (size_t i = 0; rc == 1 && i < sizeof facilities / sizeof facilities[0]; i++)
            if (strcmp(v, facilities[i].name) == 0)
                s->facility = facilities[i].code;
        char *end;
        long n = rc == 1 ? strtol(v, &end, 10) : -1;
        if (s->facility < 0 && rc == 1 && end != v && !*end && n >= 0 && n <= 23)
            s->facility = (int)n;
        if (s->facility < 0) {
            snprintf(err, errlen,
                     "syslog sink: facility must be 0..23 or a name (authpriv, "
                     "audit, local0..local7, ...)");
            goto fail;
        }
    }
    rc = url_query_get(url, "hostname", s->hostname, sizeof s->hostname);
    if (rc < 0) {
        snprintf(err, errlen, "syslog sink: hostname is malformed or longer than 255 bytes");
        goto fail;
    }
    if (rc == 0 && gethostname(s->hostname, sizeof s->hostname - 1) < 0)
        snprintf(s->hostname, sizeof s->hostname, "-");
    sink_ocsf_token(s->hostname, 0, s->hostname, sizeof s->hostname); /* printable, no spaces */
    if (opt_int(url, "timeout_ms", 100, 600000, &s->timeout_ms, err, errlen) < 0 ||
        opt_int(url, "hold_ms", 0, 600000, &s->hold_ms, err, errlen) < 0 ||
        syslog_tls_setup(s, url, err, errlen) < 0)
        goto fail;
    *out = s;
    return SINK_OK;
fail:
    syslog_close(s);
    return SINK_FATAL;
}

SINK_DEFINE_OPS(sink_syslog_tcp_ops, "syslog+tcp", syslog, SYSLOG_MAX_IN_FLIGHT);

SINK_DEFINE_OPS(sink_syslog_tls_ops, "syslog+tls", syslog, SYSLOG_MAX_IN_FLIGHT);
