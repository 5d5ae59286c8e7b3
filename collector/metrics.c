/*
 * metrics.c - the Prometheus text-format metrics file (contract in metrics.h).
 *
 * One snapshot is formatted into a buffer (metrics_format), written to <path>.tmp and renamed over
 * <path>. The write is small (a few KiB) and not fsynced: the file is a view of counters that live
 * in memory, not data to keep; a crash leaves the last whole snapshot or the .tmp beside it.
 */
#include "metrics.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef OCSF_VERSION
#define OCSF_VERSION "0.0.0"
#endif

#define METRICS_MAX_BYTES (64 * 1024)

struct metrics {
    uv_timer_t timer;
    metrics_sources_t src;
    char path[4096];
    char tmp[4096 + 8];
    int64_t start_ms;
    char *buf;      /* METRICS_MAX_BYTES */
    int is_failing; /* the last write failed (logged once until it works again) */
};

/* A bounded appender: once something did not fit, `need` still counts what would have. */
struct out {
    char *p;
    size_t cap, len, need;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->p + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    o->need += (size_t)n;
    o->len = (size_t)n < room ? o->len + (size_t)n : (o->cap ? o->cap - 1 : 0);
}

/* HELP and TYPE lines of a metric. */
static void head(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP ocsf_collector_%s %s\n# TYPE ocsf_collector_%s %s\n", name, help, name, type);
}

static void one(struct out *o, const char *name, const char *type, const char *help,
                long long value)
{
    head(o, name, type, help);
    put(o, "ocsf_collector_%s %lld\n", name, value);
}

/* A label value with '\\', '"' and newlines escaped (the text format's rules), cut to fit. */
static const char *label_value(const char *s, char *buf, size_t cap)
{
    size_t j = 0;
    for (; *s && j + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            buf[j++] = '\\';
            buf[j++] = *s;
        } else if (*s == '\n') {
            buf[j++] = '\\';
            buf[j++] = 'n';
        } else {
            buf[j++] = *s;
        }
    }
    buf[j] = '\0';
    return buf;
}

/* The text of one snapshot into buf (NUL-terminated, cut at cap); the length it needed (like
 * snprintf). */
static size_t metrics_format(const metrics_sources_t *src, int64_t start_ms, int64_t now_ms,
                             char *buf, size_t cap)
{
    struct out o = {.p = buf, .cap = cap};
    ingest_stats_t in;
    writer_stats_t ws;
    char lv[1100];

    if (cap)
        buf[0] = '\0';
    ingest_get_stats(src->ingest, &in);
    writer_get_stats(src->writer, &ws);

    head(&o, "info", "gauge", "Version of the running collector.");
    put(&o, "ocsf_collector_info{version=\"%s\"} 1\n", OCSF_VERSION);
    one(&o, "start_time_seconds", "gauge", "When the collector started (Unix time).",
        (long long)(start_ms / 1000));
    one(&o, "metrics_written_timestamp_seconds", "gauge",
        "When this file was written (Unix time): an old value means the collector stopped "
        "writing it.",
        (long long)(now_ms / 1000));

    one(&o, "lines_total", "counter", "Lines read from emitters (events, dead letters, blanks).",
        (long long)in.lines);
    one(&o, "events_total", "counter", "Events accepted for the spool.", (long long)in.events);
    one(&o, "dead_letters_total", "counter",
        "Lines stored as dead letters (unparsable, too long, truncated, unknown type, invalid "
        "OCSF, type not allowed).",
        (long long)in.dead_letters);
    one(&o, "dead_letters_type_not_allowed_total", "counter",
        "Dead letters refused by allow_types or allow_types_by_identity.",
        (long long)in.disallowed_types);
    one(&o, "connections_total", "counter", "Connections accepted.", (long long)in.connections);
    one(&o, "connections_refused_total", "counter",
        "Connections refused (allow lists, caps, failed TLS handshakes).",
        (long long)in.refused_connections);
    one(&o, "tls_handshakes_refused_total", "counter",
        "Connections refused because their TLS handshake failed.", (long long)in.tls_refused);
    one(&o, "connections_open", "gauge", "Connections open now.", (long long)in.open_connections);

    if (src->norm) {
        norm_stats_t ns;
        norm_get_stats(src->norm, &ns);
        one(&o, "mapped_total", "counter", "Native events mapped to OCSF and valid.",
            (long long)ns.mapped);
        one(&o, "passthrough_total", "counter", "OCSF events accepted as they came (validated).",
            (long long)ns.passthrough);
        one(&o, "unknown_type_total", "counter",
            "Dead letters with no mapping for their type (or no type).",
            (long long)ns.unknown_type);
        one(&o, "invalid_total", "counter",
            "Dead letters that failed a conversion or the OCSF validator.", (long long)ns.invalid);
        one(&o, "mapping_entries", "gauge", "Entries of the mapping tables in force.",
            (long long)norm_entry_count(src->norm));
        head(&o, "mapping_reloads_total", "counter",
             "SIGHUP reloads of the mapping tables, by result.");
        put(&o, "ocsf_collector_mapping_reloads_total{result=\"ok\"} %llu\n", ns.reloads);
        put(&o, "ocsf_collector_mapping_reloads_total{result=\"refused\"} %llu\n",
            ns.reload_failures);
    }

    one(&o, "spool_committed_seq", "gauge", "Sequence number of the newest committed event.",
        (long long)ws.committed_seq);
    one(&o, "spool_pending_bytes", "gauge", "Bytes of records waiting for their commit.",
        (long long)ws.pending_bytes);
    one(&o, "spool_full", "gauge",
        "1 while a spool cap holds ingest back (spool_full_policy block).", (long long)ws.is_full);
    one(&o, "spool_dropped_total", "counter",
        "Undelivered events deleted by spool_full_policy drop_oldest.",
        (long long)ws.dropped_total);
    head(&o, "sink_cursor_seq", "gauge",
         "Every event up to this sequence number is delivered by the sink.");
    for (int i = 0; i < ws.n_cursors; i++)
        put(&o, "ocsf_collector_sink_cursor_seq{sink=\"%s\"} %lld\n",
            label_value(ws.cursors[i].name, lv, sizeof lv), (long long)ws.cursors[i].seq);
    head(&o, "sink_lag_events", "gauge", "Committed events the sink has not delivered yet.");
    for (int i = 0; i < ws.n_cursors; i++) {
        int64_t lag = ws.committed_seq - ws.cursors[i].seq;
        put(&o, "ocsf_collector_sink_lag_events{sink=\"%s\"} %lld\n",
            label_value(ws.cursors[i].name, lv, sizeof lv), (long long)(lag > 0 ? lag : 0));
    }
    head(&o, "sink_errors_total", "counter",
         "Failed delivery attempts of the sink (each is retried with backoff, or stops the sink).");
    for (int i = 0; i < src->n_shippers; i++) {
        shipper_stats_t ss;
        shipper_get_stats(src->shippers[i], &ss);
        put(&o, "ocsf_collector_sink_errors_total{sink=\"%s\"} %llu\n",
            label_value(ss.name, lv, sizeof lv), ss.errors);
    }
    head(&o, "sink_up", "gauge",
         "1 while the sink delivers, 0 while it retries after a failure or stopped on a fatal "
         "one.");
    for (int i = 0; i < src->n_shippers; i++) {
        shipper_stats_t ss;
        shipper_get_stats(src->shippers[i], &ss);
        put(&o, "ocsf_collector_sink_up{sink=\"%s\"} %d\n", label_value(ss.name, lv, sizeof lv),
            ss.state == SHIPPER_DELIVERING);
    }
    return o.need;
}

/* Writes one snapshot; 0, or -1 with err. */
static int metrics_write(metrics_t *m, char *err, size_t errlen)
{
    size_t n = metrics_format(&m->src, m->start_ms, util_now_ms(), m->buf, METRICS_MAX_BYTES);
    if (n >= METRICS_MAX_BYTES) {
        snprintf(err, errlen, "metrics file %s: %zu bytes of metrics exceed %d", m->path, n,
                 METRICS_MAX_BYTES);
        return -1;
    }
    int fd = open(m->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    if (util_write_all(fd, m->buf, n) < 0) {
        int e = errno ? errno : EIO;
        close(fd);
        errno = e;
        goto fail;
    }
    if (close(fd) < 0 || rename(m->tmp, m->path) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen,
             "metrics file %s: %s (check that its directory exists and the collector's user may "
             "write there)",
             m->path, strerror(errno));
    return -1;
}

void metrics_write_now(metrics_t *m)
{
    char err[4400];
    if (!m)
        return;
    if (metrics_write(m, err, sizeof err) < 0) {
        if (!m->is_failing)
            log_error("%s; retrying every interval", err);
        m->is_failing = 1;
        return;
    }
    if (m->is_failing)
        log_info("metrics file %s written again", m->path);
    m->is_failing = 0;
}

static void on_timer(uv_timer_t *t)
{
    metrics_write_now(t->data);
}

int metrics_start(uv_loop_t *loop, const char *path, int64_t interval_ms,
                  const metrics_sources_t *src, metrics_t **out, char *err, size_t errlen)
{
    metrics_t *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m || !(m->buf = malloc(METRICS_MAX_BYTES))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (util_strlcpy(m->path, path, sizeof m->path) < 0) {
        snprintf(err, errlen, "metrics_file: path longer than %zu bytes", sizeof m->path - 1);
        goto fail;
    }
    snprintf(m->tmp, sizeof m->tmp, "%s.tmp", path);
    m->src = *src;
    m->start_ms = util_now_ms();
    if (metrics_write(m, err, errlen) < 0)
        goto fail;
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    uv_timer_start(&m->timer, on_timer, (uint64_t)interval_ms, (uint64_t)interval_ms);
    uv_unref((uv_handle_t *)&m->timer); /* the timer alone does not keep the loop running */
    *out = m;
    return 0;
fail:
    if (m)
        free(m->buf);
    free(m);
    return -1;
}

static void on_closed(uv_handle_t *h)
{
    metrics_t *m = h->data;
    free(m->buf);
    free(m);
}

void metrics_stop(metrics_t *m)
{
    if (!m)
        return;
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, on_closed);
}
