/*
 * replay_out.c - where ocsf-replay's selection goes: stdout as NDJSON (jq-ready), a table (a
 * timeline a person reads), CSV, counts per class and status, or a sink from the registry (--to),
 * the same sink code the daemon ships with. Contracts in replay.h.
 *
 * Re-shipping: every event gets the replay marker (unmapped.replay {replayed_at, source,
 * original_seq} and "ocsf-replay" in metadata.labels, both allowed by OCSF 1.8; and is_replay for
 * sinks that label out of band) and a replay-local seq 1, 2, 3... (the selection is in event-time
 * order, not spool order, and a sink reports delivery by seq). A batch is submitted and polled
 * until delivered; SINK_RETRY resubmits what is not delivered after a backoff (the sink tolerates
 * duplicates, as with the shipper), SINK_FATAL stops the replay with the sink's message.
 */
#include "replay.h"
#include "sink.h"
#include "url.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OUT_BATCH          512
#define OUT_RETRY_ATTEMPTS 8

struct count_row {
    int class_uid, status_id;
    int64_t n;
};

struct replay_out {
    replay_out_opts_t o;
    int64_t n_events;
    int is_header_done;
    /* counts */
    struct count_row *counts;
    size_t n_counts, cap_counts;
    /* sink */
    url_t url;
    char sink_name[1100];
    const sink_ops_t *ops;
    sink_t *sink;
    sink_host_t host;
    sink_event_t batch[OUT_BATCH];
    char *bodies[OUT_BATCH];
    char *users[OUT_BATCH], *workspaces[OUT_BATCH];
    size_t n_batch, max_batch;
    int64_t next_seq, delivered;
    int64_t refused;
    uint64_t start_ns;
    /* progress bar */
    int is_tty;
    uint64_t last_progress_ns;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

static void out_dead_letter(void *ctx, int64_t seq, const char *reason)
{
    replay_out_t *o = ctx;
    o->refused++;
    fprintf(stderr, "\nocsf-replay: sink %s refused replayed event #%lld: %s\n", o->sink_name,
            (long long)seq, reason);
}

int replay_out_open(const replay_out_opts_t *opts, replay_out_t **out, char *err, size_t errlen)
{
    char uerr[256];
    replay_out_t *o = calloc(1, sizeof *o);
    *out = NULL;
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    o->o = *opts;
    o->start_ns = now_ns();
    o->is_tty = isatty(STDERR_FILENO);
    if (opts->sink_url) {
        if (url_parse(opts->sink_url, &o->url, uerr, sizeof uerr) < 0) {
            snprintf(err, errlen, "--to %s: %s", opts->sink_url, uerr);
            goto fail;
        }
        url_format(&o->url, o->sink_name, sizeof o->sink_name);
        o->ops = sink_lookup(o->url.scheme);
        if (!o->ops) {
            snprintf(err, errlen, "--to %s: unknown sink scheme '%s' (this build has: %s)",
                     opts->sink_url, o->url.scheme, sink_schemes());
            goto fail;
        }
        o->host.name = o->sink_name;
        o->host.dead_letter = out_dead_letter;
        o->host.ctx = o;
        if (o->ops->open(&o->url, &o->host, &o->sink, err, errlen) != SINK_OK)
            goto fail;
        o->max_batch = OUT_BATCH;
        if (o->ops->max_in_flight > 0 && (size_t)o->ops->max_in_flight < o->max_batch)
            o->max_batch = (size_t)o->ops->max_in_flight;
        if (opts->rate_per_s > 0 && opts->rate_per_s / 10 < (double)o->max_batch)
            o->max_batch = opts->rate_per_s >= 10 ? (size_t)(opts->rate_per_s / 10) : 1;
    }
    *out = o;
    return 0;
fail:
    replay_out_close(o);
    return -1;
}

int64_t replay_out_count(const replay_out_t *o)
{
    return o->n_events;
}

/* ---- text helpers ------------------------------------------------------------------------- */

static void fmt_time(int64_t ms, char *buf, size_t len)
{
    if (ms < 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Copies s into buf for a terminal or a CSV cell: control characters become '?', cut at max bytes
 * on a UTF-8 boundary (a cut ends in "~"). */
static void clean_text(const char *s, char *buf, size_t len, size_t max)
{
    size_t o = 0, n = s ? strlen(s) : 0;
    if (max >= len)
        max = len - 1;
    for (size_t i = 0; i < n; i++) {
        if (o >= max) {
            while (o > 0 && ((unsigned char)buf[o - 1] & 0xC0) == 0x80)
                o--; /* drop a partial UTF-8 sequence */
            if (o > 0 && ((unsigned char)buf[o - 1] & 0xC0) == 0xC0)
                o--;
            if (o > 0)
                buf[o - 1] = '~';
            break;
        }
        unsigned char c = (unsigned char)s[i];
        buf[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[o] = '\0';
}

/* The one-line summary: the first few of these that the event has, as key=value. */
static const struct {
    const char *label, *path;
} summary_fields[] = {
    {"tool", "api.operation"},
    {"host", "dst_endpoint.hostname"},
    {"ip", "dst_endpoint.ip"},
    {"port", "dst_endpoint.port"},
    {"url", "http_request.url.url_string"},
    {"method", "http_request.http_method"},
    {"code", "http_response.code"},
    {"file", "file.path"},
    {"cmd", "process.cmd_line"},
    {"policy", "policy.name"},
    {"rule", "firewall_rule.name"},
    {"entity", "entity.name"},
    {"model", "ai_model.name"},
    {"from", "src_endpoint.ip"},
    {"service", "service.name"},
    {"disposition", "disposition"},
    {"detail", "status_detail"},
};

static void summary(replay_event_t *ev, char *buf, size_t len)
{
    size_t o = 0;
    int shown = 0;
    buf[0] = '\0';
    json_t *j = replay_event_json(ev);
    if (!j)
        return;
    const char *code = json_string_value(replay_json_path(j, "metadata.event_code"));
    if (code)
        o += (size_t)snprintf(buf, len, "%s", code);
    for (size_t i = 0; i < sizeof summary_fields / sizeof summary_fields[0] && shown < 5; i++) {
        json_t *v = replay_json_path(j, summary_fields[i].path);
        char val[160];
        if (json_is_string(v))
            snprintf(val, sizeof val, "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
        else
            continue;
        if (o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s=%s", o ? " " : "",
                                  summary_fields[i].label, val);
        shown++;
    }
}

static const char *class_caption(const replay_out_t *o, replay_event_t *ev, char *buf, size_t len)
{
    const char *c =
        o->o.schema && ev->class_uid >= 0 ? schema_class_name(o->o.schema, ev->class_uid) : NULL;
    if (!c) {
        snprintf(buf, len, "%d", ev->class_uid);
        return ev->class_uid >= 0 ? buf : "-";
    }
    return c;
}

static const char *enum_caption(const replay_out_t *o, int class_uid, const char *attr, int value,
                                char *buf, size_t len)
{
    const char *c = o->o.schema && class_uid >= 0 && value >= 0
                        ? schema_enum_caption(o->o.schema, class_uid, attr, value)
                        : NULL;
    if (c)
        return c;
    if (value < 0)
        return "-";
    snprintf(buf, len, "%d", value);
    return buf;
}

static void csv_cell(FILE *f, const char *s, int is_last)
{
    char buf[2048];
    clean_text(s, buf, sizeof buf, sizeof buf - 1);
    if (strpbrk(buf, ",\"\r\n")) {
        fputc('"', f);
        for (const char *p = buf; *p; p++) {
            if (*p == '"')
                fputc('"', f);
            fputc(*p, f);
        }
        fputc('"', f);
    } else {
        fputs(buf, f);
    }
    fputs(is_last ? "\r\n" : ",", f);
}

static void print_table_row(replay_out_t *o, replay_event_t *ev)
{
    char t[96], user[64], ws[64], ca[64], st[16], sum[512], line[600], b1[32], b2[32], b3[32];
    if (!o->is_header_done) {
        fprintf(o->o.out, "%-24s  %-22s  %-16s  %-32s  %-8s  %s\n", "TIME", "USER", "WORKSPACE",
                "CLASS/ACTIVITY", "STATUS", "SUMMARY");
        o->is_header_done = 1;
    }
    fmt_time(ev->event_ms >= 0 ? ev->event_ms : ev->received_ms, t, sizeof t);
    clean_text(ev->user ? ev->user : "-", user, sizeof user, 22);
    clean_text(ev->workspace ? ev->workspace : "-", ws, sizeof ws, 16);
    snprintf(line, sizeof line, "%s/%s", class_caption(o, ev, b1, sizeof b1),
             enum_caption(o, ev->class_uid, "activity_id", ev->activity_id, b2, sizeof b2));
    clean_text(line, ca, sizeof ca, 32);
    clean_text(enum_caption(o, ev->class_uid, "status_id", ev->status_id, b3, sizeof b3), st,
               sizeof st, 8);
    summary(ev, line, sizeof line);
    clean_text(line, sum, sizeof sum, 160);
    fprintf(o->o.out, "%-24s  %-22s  %-16s  %-32s  %-8s  %s\n", t, user, ws, ca, st, sum);
}

static void print_csv_row(replay_out_t *o, replay_event_t *ev)
{
    static const char *const header[] = {"time",      "seq",    "user",        "workspace",
                                         "class_uid", "class",  "activity_id", "activity",
                                         "status_id", "status", "summary"};
    char t[96], seq[24], cu[16], ai[16], si[16], sum[512], b1[32], b2[32], b3[32];
    size_t nh = sizeof header / sizeof header[0];
    if (!o->is_header_done) {
        for (size_t i = 0; i < nh; i++)
            csv_cell(o->o.out, header[i], i + 1 == nh);
        o->is_header_done = 1;
    }
    fmt_time(ev->event_ms >= 0 ? ev->event_ms : ev->received_ms, t, sizeof t);
    snprintf(seq, sizeof seq, "%lld", (long long)ev->seq);
    snprintf(cu, sizeof cu, "%d", ev->class_uid);
    snprintf(ai, sizeof ai, "%d", ev->activity_id);
    snprintf(si, sizeof si, "%d", ev->status_id);
    summary(ev, sum, sizeof sum);
    csv_cell(o->o.out, t, 0);
    csv_cell(o->o.out, seq, 0);
    csv_cell(o->o.out, ev->user ? ev->user : "", 0);
    csv_cell(o->o.out, ev->workspace ? ev->workspace : "", 0);
    csv_cell(o->o.out, ev->class_uid >= 0 ? cu : "", 0);
    csv_cell(o->o.out, ev->class_uid >= 0 ? class_caption(o, ev, b1, sizeof b1) : "", 0);
    csv_cell(o->o.out, ev->activity_id >= 0 ? ai : "", 0);
    csv_cell(o->o.out,
             ev->activity_id >= 0
                 ? enum_caption(o, ev->class_uid, "activity_id", ev->activity_id, b2, sizeof b2)
                 : "",
             0);
    csv_cell(o->o.out, ev->status_id >= 0 ? si : "", 0);
    csv_cell(o->o.out,
             ev->status_id >= 0
                 ? enum_caption(o, ev->class_uid, "status_id", ev->status_id, b3, sizeof b3)
                 : "",
             0);
    csv_cell(o->o.out, sum, 1);
}

static int count_event(replay_out_t *o, const replay_event_t *ev)
{
    for (size_t i = 0; i < o->n_counts; i++)
        if (o->counts[i].class_uid == ev->class_uid && o->counts[i].status_id == ev->status_id) {
            o->counts[i].n++;
            return 0;
        }
    if (o->n_counts == o->cap_counts) {
        size_t ncap = o->cap_counts ? o->cap_counts * 2 : 64;
        struct count_row *nc = realloc(o->counts, ncap * sizeof *nc);
        if (!nc)
            return -1;
        o->counts = nc;
        o->cap_counts = ncap;
    }
    o->counts[o->n_counts++] = (struct count_row){ev->class_uid, ev->status_id, 1};
    return 0;
}

static int count_cmp(const void *a, const void *b)
{
    const struct count_row *x = a, *y = b;
    if (x->class_uid != y->class_uid)
        return x->class_uid < y->class_uid ? -1 : 1;
    return x->status_id < y->status_id ? -1 : x->status_id > y->status_id;
}

static void print_counts(replay_out_t *o)
{
    char b1[32], b2[32], name[80];
    int64_t total = 0;
    qsort(o->counts, o->n_counts, sizeof *o->counts, count_cmp);
    if (o->o.format == REPLAY_TABLE)
        fprintf(o->o.out, "%-40s  %-10s  %10s\n", "CLASS", "STATUS", "COUNT");
    if (o->o.format == REPLAY_CSV)
        fprintf(o->o.out, "class_uid,class,status_id,status,count\r\n");
    for (size_t i = 0; i < o->n_counts; i++) {
        const struct count_row *c = &o->counts[i];
        replay_event_t ev = {.class_uid = c->class_uid};
        const char *cls = c->class_uid >= 0 ? class_caption(o, &ev, b1, sizeof b1) : "-";
        const char *st = enum_caption(o, c->class_uid, "status_id", c->status_id, b2, sizeof b2);
        total += c->n;
        if (o->o.format == REPLAY_TABLE) {
            snprintf(name, sizeof name, "%d %s", c->class_uid, cls);
            fprintf(o->o.out, "%-40s  %-10s  %10lld\n",
                    c->class_uid >= 0 ? name : "- (as received)", st, (long long)c->n);
        } else if (o->o.format == REPLAY_CSV) {
            fprintf(o->o.out, "%d,%s,%d,%s,%lld\r\n", c->class_uid, cls, c->status_id, st,
                    (long long)c->n);
        } else {
            json_t *j =
                json_pack("{s:i,s:s,s:i,s:s,s:I}", "class_uid", c->class_uid, "class_name", cls,
                          "status_id", c->status_id, "status", st, "count", (json_int_t)c->n);
            if (j) {
                json_dumpf(j, o->o.out, JSON_COMPACT);
                fputc('\n', o->o.out);
                json_decref(j);
            }
        }
    }
    if (o->o.format == REPLAY_TABLE)
        fprintf(o->o.out, "%-40s  %-10s  %10lld\n", "TOTAL", "", (long long)total);
}

/* ---- re-shipping --------------------------------------------------------------------------- */

/* The body with the replay marker, as a malloc'd string (owned by the caller), or NULL. */
static char *marked_body(replay_out_t *o, replay_event_t *ev, size_t *len)
{
    json_t *j = replay_event_json(ev);
    if (!j)
        return NULL;
    json_t *copy = json_deep_copy(j); /* the event's own tree stays as read */
    if (!copy)
        return NULL;
    char *out = NULL;
    json_t *unmapped = json_object_get(copy, "unmapped");
    if (!json_is_object(unmapped)) {
        unmapped = json_object();
        if (!unmapped || json_object_set_new(copy, "unmapped", unmapped) < 0)
            goto done;
    }
    if (json_object_set_new(unmapped, "replay",
                            json_pack("{s:I,s:s,s:I}", "replayed_at", (json_int_t)util_now_ms(),
                                      "source", o->o.source ? o->o.source : "", "original_seq",
                                      (json_int_t)ev->seq)) < 0)
        goto done;
    json_t *meta = json_object_get(copy, "metadata");
    if (json_is_object(meta)) {
        json_t *labels = json_object_get(meta, "labels");
        if (!json_is_array(labels)) {
            labels = json_array();
            if (!labels || json_object_set_new(meta, "labels", labels) < 0)
                goto done;
        }
        if (json_array_append_new(labels, json_string("ocsf-replay")) < 0)
            goto done;
    }
    out = json_dumps(copy, JSON_COMPACT);
    if (out)
        *len = strlen(out);
done:
    json_decref(copy);
    return out;
}

static void batch_clear(replay_out_t *o)
{
    for (size_t i = 0; i < o->n_batch; i++) {
        free(o->bodies[i]);
        free(o->users[i]);
        free(o->workspaces[i]);
        o->bodies[i] = o->users[i] = o->workspaces[i] = NULL;
    }
    o->n_batch = 0;
}

static void progress(replay_out_t *o, int is_final)
{
    if (!o->is_tty)
        return;
    uint64_t t = now_ns();
    if (!is_final && t - o->last_progress_ns < 200000000ull)
        return;
    o->last_progress_ns = t;
    double secs = (double)(t - o->start_ns) / 1e9;
    double rate = secs > 0 ? (double)o->delivered / secs : 0;
    if (o->o.expected > 0) {
        int width = 30;
        int64_t done = o->delivered < o->o.expected ? o->delivered : o->o.expected;
        int fill = (int)(done * width / o->o.expected);
        fprintf(stderr, "\rreplay [%.*s%*s] %lld/%lld %.0f ev/s ", fill,
                "##############################", width - fill, "", (long long)o->delivered,
                (long long)o->o.expected, rate);
    } else {
        fprintf(stderr, "\rreplay %lld events %.0f ev/s ", (long long)o->delivered, rate);
    }
    if (is_final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Submits the batch and polls until the sink delivered all of it. */
static int batch_ship(replay_out_t *o, char *err, size_t errlen)
{
    if (o->n_batch == 0)
        return 0;
    /* --rate: the batch may start once the events before it had their share of time */
    if (o->o.rate_per_s > 0) {
        uint64_t due = o->start_ns + (uint64_t)((double)o->delivered / o->o.rate_per_s * 1e9);
        uint64_t t = now_ns();
        if (due > t)
            sleep_ns(due - t);
    }
    int64_t last = o->batch[o->n_batch - 1].seq;
    int attempts = 0, backoff_ms = 100;
    size_t from = 0; /* first event not yet delivered */
    int need_submit = 1;
    while (o->delivered < last) {
        int rc = SINK_OK;
        if (need_submit) {
            rc = o->ops->submit(o->sink, &o->batch[from], o->n_batch - from, err, errlen);
            need_submit = rc != SINK_OK;
        }
        if (rc == SINK_OK) {
            int64_t d = o->delivered;
            rc = o->ops->poll(o->sink, 100, &d, err, errlen);
            if (rc == SINK_OK && d > o->delivered)
                o->delivered = d;
        }
        if (rc == SINK_FATAL)
            return -1;
        if (rc == SINK_RETRY) {
            if (++attempts > OUT_RETRY_ATTEMPTS)
                return -1; /* err holds the sink's message */
            fprintf(stderr, "\nocsf-replay: sink %s: %s; retrying in %d ms\n", o->sink_name, err,
                    backoff_ms);
            sleep_ns((uint64_t)backoff_ms * 1000000ull);
            backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : backoff_ms;
            while (from < o->n_batch && o->batch[from].seq <= o->delivered)
                from++;
            need_submit = 1;
        }
        progress(o, 0);
    }
    batch_clear(o);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int ship_event(replay_out_t *o, replay_event_t *ev, char *err, size_t errlen)
{
    size_t len = 0;
    char *body = marked_body(o, ev, &len);
    if (!body) {
        snprintf(err, errlen,
                 "event seq %lld: body is not a JSON object (or out of memory); cannot mark it "
                 "as a replay",
                 (long long)ev->seq);
        return -1;
    }
    size_t i = o->n_batch;
    o->bodies[i] = body;
    o->users[i] = dup_or_null(ev->user);
    o->workspaces[i] = dup_or_null(ev->workspace);
    sink_event_t *e = &o->batch[i];
    memset(e, 0, sizeof *e);
    e->seq = ++o->next_seq;
    e->body = body;
    e->len = len;
    e->received_ms = ev->received_ms;
    e->event_ms = ev->event_ms;
    e->class_uid = ev->class_uid;
    e->activity_id = ev->activity_id;
    e->status_id = ev->status_id;
    e->user = o->users[i];
    e->workspace = o->workspaces[i];
    e->is_replay = 1;
    o->n_batch++;
    if (o->n_batch >= o->max_batch)
        return batch_ship(o, err, errlen);
    return 0;
}

int replay_out_event(replay_out_t *o, replay_event_t *ev, char *err, size_t errlen)
{
    o->n_events++;
    if (o->o.is_count) {
        if (count_event(o, ev) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    if (o->sink)
        return ship_event(o, ev, err, errlen);
    switch (o->o.format) {
    case REPLAY_TABLE:
        print_table_row(o, ev);
        break;
    case REPLAY_CSV:
        print_csv_row(o, ev);
        break;
    default:
        fwrite(ev->body, 1, ev->len, o->o.out);
        fputc('\n', o->o.out);
    }
    if (ferror(o->o.out)) {
        snprintf(err, errlen, "writing to stdout failed");
        return -1;
    }
    return 0;
}

int replay_out_finish(replay_out_t *o, int64_t read, double seconds, char *err, size_t errlen)
{
    int rc = 0;
    if (o->sink && batch_ship(o, err, errlen) < 0)
        rc = -1;
    if (o->o.is_count)
        print_counts(o);
    if (fflush(o->o.out) != 0 || ferror(o->o.out)) {
        snprintf(err, errlen, "writing to stdout failed");
        rc = -1;
    }
    if (o->sink) {
        progress(o, 1);
        fprintf(stderr,
                "ocsf-replay: %lld events matched (%lld read) from %s; %lld delivered to %s, %lld "
                "refused, in %.2f s (%.0f ev/s)%s\n",
                (long long)o->n_events, (long long)read, o->o.source, (long long)o->delivered,
                o->sink_name, (long long)o->refused, seconds,
                seconds > 0 ? (double)o->delivered / seconds : 0.0, rc ? ": FAILED" : "");
    } else {
        fprintf(stderr, "ocsf-replay: %lld events matched (%lld read) from %s in %.3f s\n",
                (long long)o->n_events, (long long)read, o->o.source, seconds);
    }
    return rc;
}

void replay_out_close(replay_out_t *o)
{
    if (!o)
        return;
    batch_clear(o);
    if (o->sink)
        o->ops->close(o->sink);
    free(o->counts);
    free(o);
}
