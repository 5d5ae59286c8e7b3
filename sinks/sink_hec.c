/*
 * sink_hec.c - the Splunk HTTP Event Collector sink: batches of OCSF events POSTed (gzip) to
 * /services/collector/event with libcurl's multi interface on the shipper's thread.
 *
 * URL: hec+https://HOST:PORT[/path] (hec+http:// for tests and local relays), options:
 *   token_file=PATH | token_env=VAR   the HEC token (required; ?token= is refused: URLs end up in
 *                                     logs, the spool's cursor table and `ps`)
 *   ca_file=PATH                      trust anchors (default: the system store)
 *   tls_verify=0                      no certificate/host checks (explicit; logged as a warning)
 *   index=I source=S host=H           event metadata (defaults: none, ocsf-collector, gethostname)
 *   max_batch_events=N (500)  max_batch_bytes=N (1 MiB, before gzip)  gzip=0
 *   timeout_ms=N (30000)              whole-request timeout (connect: at most 10 s)
 *   ack=1  ack_poll_ms=N (1000)  ack_timeout_ms=N (300000)   indexer acknowledgement
 *
 * Each event becomes {"time":SEC.mmm,"host":..,"source":..,"sourcetype":"ocsf:<class_name>",
 * ["index":..,]"event":<OCSF JSON>}; a request body is such objects separated by '\n' (HEC's
 * batch format). time is event_ms, else received_ms; class_name comes from the body (bounded scan,
 * sink_ocsf.c), else the class_uid table, else "unknown" (events stored as received).
 *
 * Queue: submit() formats events into `stage` and appends an item per event; poll() drives at most
 * one HTTP request at a time (in order; the easy handle and its connection are reused, keep-alive)
 * and returns within its timeout - a slow or dead HEC never blocks the shipper's stop checks,
 * ingest or another sink. Items are dropped from the head once delivered: the cursor is the last
 * seq of the contiguous delivered prefix.
 *
 * Answers (Splunk's body is {"text":..,"code":N[,"invalid-event-number":I][,"ackId":A]}):
 *   200                 delivered (with ack=1: sent; delivered once /services/collector/ack says
 * so) 400 one event       dead letter with Splunk's text and code; the cursor moves past it 400
 * with invalid-event-number I: event I is a dead letter, the others are sent again (Splunk may have
 * indexed those before I already: a possible duplicate, never a loss) 400 otherwise       bisect:
 * resend the batch in halves until the failing event is alone 400 code 7/10/11    (unknown index,
 * channel problems) configuration: SINK_FATAL 413                 bisect; a single event too large
 * is a dead letter 401 / 403           SINK_FATAL naming the status and where the token came from
 * (no retry loop) 404 / 405           SINK_FATAL (wrong path) 408, 429, 5xx, connection errors,
 * timeouts: SINK_RETRY - the shipper backs off exponentially with jitter and resubmits everything
 * after the cursor With ack=1, a batch not acknowledged within ack_timeout_ms is SINK_RETRY too
 * (sent again).
 */
#include "sink.h"
#include "log.h"
#include "sink_ocsf.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define HEC_MAX_IN_FLIGHT   20000
#define HEC_MAX_RESPONSE    65536
#define HEC_MAX_ACK_BATCHES 4096

typedef struct hec_item {
    int64_t seq;
    size_t off, len; /* its HEC JSON object in stage */
    int is_done;     /* delivered or dead-lettered */
} hec_item_t;

typedef struct hec_ack {
    long long ack_id;
    int64_t first_seq, last_seq; /* the batch it covers */
    int64_t sent_ms;
} hec_ack_t;

enum hec_request { HEC_IDLE, HEC_EVENTS, HEC_ACKS };

struct sink {
    sink_host_t host;
    char event_url[5200], ack_url[1100];
    char token_source[1100]; /* "token_file=/etc/ocsf/hec.token", for error messages */
    char *meta_json;         /* ,"host":..,"source":.. [,"index":..] (escaped once at open) */
    int is_gzip, is_ack;
    int max_batch_events;
    size_t max_batch_bytes;
    int timeout_ms, ack_poll_ms, ack_timeout_ms;
    CURL *easy;
    CURLM *multi;
    struct curl_slist *headers, *ack_headers;
    char curl_err[CURL_ERROR_SIZE];

    /* the queue: items[head..n) submitted and not delivered, send_idx the first not yet sent */
    hec_item_t *items;
    size_t head, n, send_idx;
    char *stage;
    size_t stage_len, stage_cap;
    int64_t delivered;

    /* bisecting a 400: batches of at most `limit` events until seq bisect_until_seq is through */
    int limit;
    int64_t bisect_until_seq;

    /* the request in progress */
    enum hec_request request;
    size_t req_first, req_count;
    char *body;
    size_t body_len, body_cap;
    char *gz;
    size_t gz_cap;
    char *resp;
    size_t resp_len;

    hec_ack_t *acks;
    size_t n_acks;
    int64_t next_ack_poll_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void hec_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t now_ms(void)
{
    return (int64_t)(util_mono_ns() / 1000000u);
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t ncap = *cap ? *cap : 64 * 1024;
    while (ncap < need)
        ncap *= 2;
    char *nb = realloc(*buf, ncap);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

static size_t hec_on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
    sink_t *s = ctx;
    size_t n = size * nmemb;
    size_t keep = HEC_MAX_RESPONSE - 1 - s->resp_len;
    if (n < keep)
        keep = n;
    memcpy(s->resp + s->resp_len, p, keep);
    s->resp_len += keep;
    s->resp[s->resp_len] = '\0';
    return n; /* the rest of an oversized answer is dropped, not an error */
}

/* Forgets everything not delivered; the shipper resubmits after the cursor. */
static void hec_reset(sink_t *s)
{
    if (s->request != HEC_IDLE)
        curl_multi_remove_handle(s->multi, s->easy);
    s->request = HEC_IDLE;
    s->head = s->n = s->send_idx = 0;
    s->stage_len = 0;
    s->n_acks = 0;
    s->limit = s->max_batch_events;
    s->bisect_until_seq = -1;
}

/* Drops delivered items from the head and moves the cursor. */
static void hec_advance(sink_t *s)
{
    while (s->head < s->n && s->items[s->head].is_done && s->head < s->send_idx) {
        s->delivered = s->items[s->head].seq;
        s->head++;
    }
    if (s->head == s->n) {
        s->head = s->n = s->send_idx = 0;
        s->stage_len = 0;
    }
}

/* Compacts the queue when the delivered head is more than half of it (called between requests). */
static void hec_compact(sink_t *s)
{
    if (s->head == 0 || s->head < s->n / 2 || s->request != HEC_IDLE)
        return;
    size_t base = s->items[s->head].off, h = s->head;
    memmove(s->stage, s->stage + base, s->stage_len - base);
    s->stage_len -= base;
    memmove(s->items, s->items + h, (s->n - h) * sizeof *s->items);
    for (size_t i = 0; i < s->n - h; i++)
        s->items[i].off -= base;
    s->n -= h;
    s->send_idx -= h;
    s->head = 0;
}

/* Marks items[first..first+count) sent; ends a bisection once its failing stretch is through. */
static void hec_sent(sink_t *s, size_t first, size_t count)
{
    s->send_idx = first + count;
    if (s->bisect_until_seq >= 0 && s->items[first + count - 1].seq >= s->bisect_until_seq) {
        s->limit = s->max_batch_events;
        s->bisect_until_seq = -1;
    }
}

static int hec_submit(sink_t *s, const sink_event_t *ev, size_t n, char *err, size_t errlen)
{
    char head[512], st[80];
    sink_ocsf_fields_t f;
    hec_compact(s);
    if (s->n + n > HEC_MAX_IN_FLIGHT) {
        snprintf(err, errlen, "HEC sink %s: more than %d events queued", s->host.name,
                 HEC_MAX_IN_FLIGHT);
        hec_reset(s);
        return SINK_RETRY;
    }
    for (size_t i = 0; i < n; i++) {
        const sink_event_t *e = &ev[i];
        sink_ocsf_scan(e->body, e->len, &f);
        int class_uid = e->class_uid >= 0 ? e->class_uid : f.class_uid;
        sink_ocsf_token(f.class_name[0] ? f.class_name : sink_ocsf_class_name(class_uid), 1, st,
                        sizeof st);
        int64_t t = e->event_ms >= 0 ? e->event_ms : e->received_ms;
        int hn = snprintf(head, sizeof head, "{\"time\":%lld.%03d,\"sourcetype\":\"ocsf:%s\"%s",
                          (long long)(t / 1000), (int)(t % 1000), st, s->meta_json);
        size_t need = (size_t)hn + 10 + e->len + 2;
        if (grow(&s->stage, &s->stage_cap, s->stage_len + need) < 0) {
            snprintf(err, errlen, "HEC sink %s: out of memory queueing %zu events", s->host.name,
                     n);
            hec_reset(s);
            return SINK_RETRY;
        }
        hec_item_t *it = &s->items[s->n++];
        it->seq = e->seq;
        it->off = s->stage_len;
        it->is_done = 0;
        char *p = s->stage + s->stage_len;
        memcpy(p, head, (size_t)hn);
        p += hn;
        memcpy(p, ",\"event\":", 9);
        p += 9;
        memcpy(p, e->body, e->len);
        p += e->len;
        *p++ = '}';
        *p++ = '\n';
        it->len = (size_t)(p - (s->stage + s->stage_len));
        s->stage_len += it->len;
    }
    return SINK_OK;
}

/* gzip body[0..body_len) into gz; returns the compressed length or 0 on failure. */
static size_t hec_gzip(sink_t *s)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    size_t bound = deflateBound(&z, (uLong)s->body_len) + 32;
    if (grow(&s->gz, &s->gz_cap, bound) < 0) {
        deflateEnd(&z);
        return 0;
    }
    z.next_in = (Bytef *)s->body;
    z.avail_in = (uInt)s->body_len;
    z.next_out = (Bytef *)s->gz;
    z.avail_out = (uInt)s->gz_cap;
    int rc = deflate(&z, Z_FINISH);
    size_t out = rc == Z_STREAM_END ? s->gz_cap - z.avail_out : 0;
    deflateEnd(&z);
    return out;
}

static int hec_start(sink_t *s, enum hec_request kind, const char *body, size_t len, char *err,
                     size_t errlen)
{
    s->resp_len = 0;
    s->resp[0] = '\0';
    s->curl_err[0] = '\0';
    curl_easy_setopt(s->easy, CURLOPT_URL, kind == HEC_ACKS ? s->ack_url : s->event_url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, kind == HEC_ACKS ? s->ack_headers : s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK) {
        snprintf(err, errlen, "HEC sink %s: curl_multi_add_handle failed", s->host.name);
        return SINK_RETRY;
    }
    s->request = kind;
    return SINK_OK;
}

/* Starts a POST of the next batch of unsent items. */
static int hec_start_events(sink_t *s, char *err, size_t errlen)
{
    size_t i = s->send_idx, count = 0;
    s->body_len = 0;
    while (i < s->n && (int)count < s->limit) {
        hec_item_t *it = &s->items[i];
        if (!it->is_done) {
            if (count > 0 && s->body_len + it->len > s->max_batch_bytes)
                break;
            if (grow(&s->body, &s->body_cap, s->body_len + it->len) < 0) {
                snprintf(err, errlen, "HEC sink %s: out of memory for a request", s->host.name);
                hec_reset(s);
                return SINK_RETRY;
            }
            memcpy(s->body + s->body_len, s->stage + it->off, it->len);
            s->body_len += it->len;
        }
        count++;
        i++;
    }
    s->req_first = s->send_idx;
    s->req_count = count;
    if (s->body_len == 0) { /* only dead-lettered items: nothing to send */
        hec_sent(s, s->req_first, count);
        return SINK_OK;
    }
    if (!s->is_gzip)
        return hec_start(s, HEC_EVENTS, s->body, s->body_len, err, errlen);
    size_t zlen = hec_gzip(s);
    if (zlen == 0) {
        snprintf(err, errlen, "HEC sink %s: gzip failed", s->host.name);
        hec_reset(s);
        return SINK_RETRY;
    }
    return hec_start(s, HEC_EVENTS, s->gz, zlen, err, errlen);
}

static int hec_start_acks(sink_t *s, char *err, size_t errlen)
{
    s->body_len = 0;
    if (grow(&s->body, &s->body_cap, 16 + s->n_acks * 24) < 0) {
        snprintf(err, errlen, "HEC sink %s: out of memory for an ack query", s->host.name);
        hec_reset(s);
        return SINK_RETRY;
    }
    s->body_len = (size_t)sprintf(s->body, "{\"acks\":[");
    for (size_t i = 0; i < s->n_acks; i++)
        s->body_len +=
            (size_t)sprintf(s->body + s->body_len, "%s%lld", i ? "," : "", s->acks[i].ack_id);
    s->body_len += (size_t)sprintf(s->body + s->body_len, "]}");
    return hec_start(s, HEC_ACKS, s->body, s->body_len, err, errlen);
}

/* Splunk's answer: text and code (code -1 when the body is not Splunk JSON). */
typedef struct hec_answer {
    char text[256];
    int code;
    long long invalid_event, ack_id; /* -1 when absent */
} hec_answer_t;

static void hec_parse_answer(const sink_t *s, hec_answer_t *a, json_t **root_out)
{
    json_error_t jerr;
    json_t *root = json_loadb(s->resp, s->resp_len, 0, &jerr);
    a->code = -1;
    a->invalid_event = a->ack_id = -1;
    snprintf(a->text, sizeof a->text, "%.200s", s->resp_len ? s->resp : "(empty body)");
    if (json_is_object(root)) {
        json_t *v;
        if (json_is_string(v = json_object_get(root, "text")))
            snprintf(a->text, sizeof a->text, "%s", json_string_value(v));
        if (json_is_integer(v = json_object_get(root, "code")))
            a->code = (int)json_integer_value(v);
        if (json_is_integer(v = json_object_get(root, "invalid-event-number")))
            a->invalid_event = json_integer_value(v);
        if (json_is_integer(v = json_object_get(root, "ackId")))
            a->ack_id = json_integer_value(v);
    }
    if (root_out)
        *root_out = root;
    else
        json_decref(root);
}

/* Dead-letters item i with Splunk's reason. */
static void hec_dead_letter(sink_t *s, size_t i, long status, const hec_answer_t *a)
{
    char reason[400];
    snprintf(reason, sizeof reason, "HEC answered %ld: %s (code %d)", status, a->text, a->code);
    s->host.dead_letter(s->host.ctx, s->items[i].seq, reason);
    s->items[i].is_done = 1;
}

/* Handles a finished POST of events. */
static int hec_done_events(sink_t *s, long status, char *err, size_t errlen)
{
    hec_answer_t a;
    size_t first = s->req_first, count = s->req_count;
    size_t live = 0, only = first;
    for (size_t i = first; i < first + count; i++)
        if (!s->items[i].is_done) {
            live++;
            only = i;
        }
    hec_parse_answer(s, &a, NULL);
    if (status == 200) {
        if (s->is_ack) {
            if (a.ack_id < 0) {
                snprintf(err, errlen,
                         "HEC sink %s: ack=1 but the HEC answered without an ackId (is indexer "
                         "acknowledgement enabled for this token?)",
                         s->host.name);
                return SINK_FATAL;
            }
            if (s->n_acks == HEC_MAX_ACK_BATCHES) {
                snprintf(err, errlen, "HEC sink %s: %d batches wait for acks", s->host.name,
                         HEC_MAX_ACK_BATCHES);
                hec_reset(s);
                return SINK_RETRY;
            }
            s->acks[s->n_acks++] = (hec_ack_t){a.ack_id, s->items[first].seq,
                                               s->items[first + count - 1].seq, now_ms()};
        } else {
            for (size_t i = first; i < first + count; i++)
                s->items[i].is_done = 1;
        }
        hec_sent(s, first, count);
        return SINK_OK;
    }
    if (status == 401 || status == 403) {
        snprintf(err, errlen,
                 "HEC answered %ld (%s, code %d): the token from %s is not accepted; fix it and "
                 "reload",
                 status, a.text, a.code, s->token_source);
        return SINK_FATAL;
    }
    if (status == 404 || status == 405 ||
        (status == 400 && (a.code == 7 || a.code == 10 || a.code == 11))) {
        snprintf(err, errlen,
                 "HEC sink %s: %s answered %ld: %s (code %d); check the URL, index "
                 "and token settings, then reload",
                 s->host.name, s->event_url, status, a.text, a.code);
        return SINK_FATAL;
    }
    if (status == 400 || status == 413) {
        if (live == 1) {
            hec_dead_letter(s, only, status, &a);
            hec_sent(s, first, count);
            return SINK_OK;
        }
        if (status == 400 && a.invalid_event >= 0 && (size_t)a.invalid_event < live) {
            size_t k = 0; /* the number counts the events in the body, i.e. the live ones */
            for (size_t i = first; i < first + count; i++)
                if (!s->items[i].is_done && k++ == (size_t)a.invalid_event) {
                    hec_dead_letter(s, i, status, &a);
                    break;
                }
            return SINK_OK; /* the rest of the batch goes again */
        }
        s->limit = (int)(live / 2 > 0 ? live / 2 : 1);
        s->bisect_until_seq = s->items[first + count - 1].seq;
        log_info("HEC sink %s: %ld (%s) for a batch of %zu; retrying in batches of %d to find "
                 "the event",
                 s->host.name, status, a.text, live, s->limit);
        return SINK_OK;
    }
    snprintf(err, errlen, "HEC sink %s: HEC answered %ld: %s", s->host.name, status, a.text);
    hec_reset(s);
    return SINK_RETRY;
}

static int hec_done_acks(sink_t *s, long status, char *err, size_t errlen)
{
    json_t *root = NULL;
    hec_answer_t a;
    hec_parse_answer(s, &a, &root);
    json_t *acks = json_object_get(root, "acks");
    if (status != 200 || !json_is_object(acks)) {
        snprintf(err, errlen, "HEC sink %s: ack query answered %ld: %s", s->host.name, status,
                 a.text);
        json_decref(root);
        if (status == 401 || status == 403)
            return SINK_FATAL;
        hec_reset(s);
        return SINK_RETRY;
    }
    size_t keep = 0;
    for (size_t i = 0; i < s->n_acks; i++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", s->acks[i].ack_id);
        if (json_is_true(json_object_get(acks, key))) {
            hec_ack_t *k = &s->acks[i];
            for (size_t j = 0; j < s->n; j++) /* by seq: the queue may have been compacted */
                if (s->items[j].seq >= k->first_seq && s->items[j].seq <= k->last_seq)
                    s->items[j].is_done = 1;
        } else {
            s->acks[keep++] = s->acks[i];
        }
    }
    s->n_acks = keep;
    json_decref(root);
    return SINK_OK;
}

static int hec_poll(sink_t *s, int timeout_ms, int64_t *delivered, char *err, size_t errlen)
{
    int64_t deadline = now_ms() + timeout_ms;
    int rc = SINK_OK;
    for (int pass = 0;; pass++) {
        int64_t now = now_ms();
        if (s->request == HEC_IDLE) {
            hec_compact(s);
            if (s->is_ack && s->n_acks > 0 && now - s->acks[0].sent_ms > s->ack_timeout_ms) {
                snprintf(err, errlen,
                         "HEC sink %s: seqs %lld..%lld not acknowledged within %d ms; sending "
                         "them again",
                         s->host.name, (long long)s->acks[0].first_seq,
                         (long long)s->acks[0].last_seq, s->ack_timeout_ms);
                hec_reset(s);
                return SINK_RETRY;
            }
            if (s->is_ack && s->n_acks > 0 && now >= s->next_ack_poll_ms) {
                s->next_ack_poll_ms = now + s->ack_poll_ms;
                rc = hec_start_acks(s, err, errlen);
            } else if (s->send_idx < s->n) {
                rc = hec_start_events(s, err, errlen);
            } else {
                hec_advance(s);
                int64_t until = s->is_ack && s->n_acks > 0 ? s->next_ack_poll_ms : deadline;
                if (until > deadline)
                    until = deadline;
                if (until > now)
                    usleep((useconds_t)(until - now) * 1000);
                if (now_ms() >= deadline)
                    break;
                continue;
            }
            if (rc != SINK_OK)
                return rc;
            if (s->request == HEC_IDLE)
                continue; /* nothing needed sending */
        }
        int running = 0;
        if (curl_multi_perform(s->multi, &running) != CURLM_OK) {
            snprintf(err, errlen, "HEC sink %s: curl_multi_perform failed", s->host.name);
            hec_reset(s);
            return SINK_RETRY;
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(s->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURLcode res = msg->data.result;
            long status = 0;
            enum hec_request kind = s->request;
            curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(s->multi, s->easy);
            s->request = HEC_IDLE;
            if (res != CURLE_OK) {
                snprintf(err, errlen, "HEC sink %s: request failed: %s", s->host.name,
                         s->curl_err[0] ? s->curl_err : curl_easy_strerror(res));
                hec_reset(s);
                return SINK_RETRY;
            }
            rc = kind == HEC_ACKS ? hec_done_acks(s, status, err, errlen)
                                  : hec_done_events(s, status, err, errlen);
            if (rc != SINK_OK)
                return rc;
            hec_advance(s);
        }
        if (s->request == HEC_IDLE)
            continue;
        now = now_ms();
        if (now >= deadline && pass > 0)
            break;
        int wait = (int)(deadline - now);
        curl_multi_poll(s->multi, NULL, 0, wait > 0 ? (wait > 1000 ? 1000 : wait) : 0, NULL);
        if (now_ms() >= deadline && timeout_ms == 0)
            break;
    }
    hec_advance(s);
    *delivered = s->delivered;
    return SINK_OK;
}

static void hec_close(sink_t *s)
{
    if (!s)
        return;
    if (s->multi && s->easy && s->request != HEC_IDLE)
        curl_multi_remove_handle(s->multi, s->easy);
    if (s->easy)
        curl_easy_cleanup(s->easy);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    for (struct curl_slist *h = s->headers; h; h = h->next) /* the token */
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(s->headers);
    for (struct curl_slist *h = s->ack_headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(s->ack_headers);
    free(s->meta_json);
    free(s->items);
    free(s->stage);
    free(s->body);
    free(s->gz);
    free(s->resp);
    free(s->acks);
    free(s);
}

/* Reads the token from token_file= or token_env=; refuses token= in the URL. */
static int hec_token(sink_t *s, const url_t *url, char *tok, size_t toklen, char *err,
                     size_t errlen)
{
    char path[1024], var[128];
    if (url_query_get(url, "token", NULL, 0) == 1) {
        snprintf(err, errlen,
                 "HEC sink: token= in the URL is refused (URLs appear in logs, the "
                 "spool and ps); use token_file=PATH or token_env=VAR");
        return -1;
    }
    if (url_query_get(url, "token_file", path, sizeof path) == 1) {
        snprintf(s->token_source, sizeof s->token_source, "token_file=%s", path);
        FILE *f = fopen(path, "re");
        if (!f) {
            snprintf(err, errlen, "HEC sink: cannot read token file %s: %s", path, strerror(errno));
            return -1;
        }
        size_t n = fread(tok, 1, toklen - 1, f);
        int is_long = n == toklen - 1 && fgetc(f) != EOF;
        fclose(f);
        if (is_long) {
            snprintf(err, errlen, "HEC sink: token file %s is longer than %zu bytes", path,
                     toklen - 2);
            return -1;
        }
        tok[n] = '\0';
    } else if (url_query_get(url, "token_env", var, sizeof var) == 1) {
        snprintf(s->token_source, sizeof s->token_source, "token_env=%s", var);
        const char *v = getenv(var);
        if (!v || strlen(v) >= toklen) {
            snprintf(err, errlen, "HEC sink: environment variable %s is %s", var,
                     v ? "too long for a token" : "not set");
            return -1;
        }
        snprintf(tok, toklen, "%s", v);
    } else {
        snprintf(err, errlen, "HEC sink needs token_file=PATH or token_env=VAR");
        return -1;
    }
    size_t n = strlen(tok);
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        tok[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (tok[i] <= ' ' || tok[i] > '~') { /* a header: no CR/LF injection, no spaces */
            snprintf(err, errlen,
                     "HEC sink: the token from %s has a character that is not "
                     "printable ASCII at byte %zu",
                     s->token_source, i);
            return -1;
        }
    if (n == 0) {
        snprintf(err, errlen, "HEC sink: the token from %s is empty", s->token_source);
        return -1;
    }
    return 0;
}

static int opt_int(const url_t *url, const char *key, long min, long max, long *out, char *err,
                   size_t errlen)
{
    return url_query_long(url, key, min, max, out, "HEC sink", err, errlen) < 0 ? -1 : 0;
}

/* ,"host":H,"source":S[,"index":I] with JSON escaping. */
static char *hec_meta(const url_t *url, char *err, size_t errlen)
{
    char host[256] = "", source[256] = "ocsf-collector", index[256] = "";
    if (url_query_get(url, "host", host, sizeof host) < 0 ||
        url_query_get(url, "source", source, sizeof source) < 0 ||
        url_query_get(url, "index", index, sizeof index) < 0) {
        snprintf(err, errlen, "HEC sink: host, source or index is malformed or too long");
        return NULL;
    }
    if (!host[0] && gethostname(host, sizeof host - 1) < 0)
        snprintf(host, sizeof host, "unknown");
    json_t *o = json_object();
    json_object_set_new(o, "host", json_string(host));
    json_object_set_new(o, "source", json_string(source));
    if (index[0])
        json_object_set_new(o, "index", json_string(index));
    char *d = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!d) {
        snprintf(err, errlen, "HEC sink: host, source or index is not valid UTF-8");
        return NULL;
    }
    d[0] = ','; /* {"host"...} -> ,"host"... */
    d[strlen(d) - 1] = '\0';
    return d;
}

static int hec_open(const url_t *url, const sink_host_t *host, sink_t **out, char *err,
                    size_t errlen)
{
    char tok[1024] = "", hdr[1200], v[16], ca[1024] = "";
    unsigned char uuid[16];
    long n;
    sink_t *s = calloc(1, sizeof *s);

    *out = NULL;
    pthread_once(&curl_once, hec_curl_init);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return SINK_FATAL;
    }
    s->host = *host;
    s->is_gzip = 1;
    s->max_batch_events = 500;
    s->max_batch_bytes = 1 << 20;
    s->timeout_ms = 30000;
    s->ack_poll_ms = 1000;
    s->ack_timeout_ms = 300000;
    int is_https = strcmp(url->scheme, "hec+https") == 0;
    if (!url->host[0] || url->port <= 0) {
        snprintf(err, errlen, "HEC sink needs a host and a port: %s://HOST:8088", url->scheme);
        goto fail;
    }
    const char *path =
        url->path[0] && strcmp(url->path, "/") ? url->path : "/services/collector/event";
    int v6 = url_host_is_ipv6(url);
    snprintf(s->event_url, sizeof s->event_url, "%s://%s%s%s:%d%s", is_https ? "https" : "http",
             v6 ? "[" : "", url->host, v6 ? "]" : "", url->port, path);
    snprintf(s->ack_url, sizeof s->ack_url, "%s://%s%s%s:%d/services/collector/ack",
             is_https ? "https" : "http", v6 ? "[" : "", url->host, v6 ? "]" : "", url->port);
    if (hec_token(s, url, tok, sizeof tok, err, errlen) < 0)
        goto fail;
    if (!(s->meta_json = hec_meta(url, err, errlen)))
        goto fail;
    if (url_query_get(url, "gzip", v, sizeof v) == 1 && strcmp(v, "0") == 0)
        s->is_gzip = 0;
    if (url_query_get(url, "ack", v, sizeof v) == 1 && strcmp(v, "1") == 0)
        s->is_ack = 1;
    n = s->max_batch_events;
    if (opt_int(url, "max_batch_events", 1, 100000, &n, err, errlen) < 0)
        goto fail;
    s->max_batch_events = (int)n;
    n = (long)s->max_batch_bytes;
    if (opt_int(url, "max_batch_bytes", 1024, 256L << 20, &n, err, errlen) < 0)
        goto fail;
    s->max_batch_bytes = (size_t)n;
    n = s->timeout_ms;
    if (opt_int(url, "timeout_ms", 100, 600000, &n, err, errlen) < 0)
        goto fail;
    s->timeout_ms = (int)n;
    n = s->ack_poll_ms;
    if (opt_int(url, "ack_poll_ms", 10, 600000, &n, err, errlen) < 0)
        goto fail;
    s->ack_poll_ms = (int)n;
    n = s->ack_timeout_ms;
    if (opt_int(url, "ack_timeout_ms", 100, 86400000, &n, err, errlen) < 0)
        goto fail;
    s->ack_timeout_ms = (int)n;
    s->limit = s->max_batch_events;
    s->bisect_until_seq = -1;

    if (!(s->items = calloc(HEC_MAX_IN_FLIGHT, sizeof *s->items)) ||
        !(s->acks = calloc(HEC_MAX_ACK_BATCHES, sizeof *s->acks)) ||
        !(s->resp = malloc(HEC_MAX_RESPONSE)) || !(s->easy = curl_easy_init()) ||
        !(s->multi = curl_multi_init())) {
        snprintf(err, errlen, "HEC sink: out of memory");
        goto fail;
    }
    s->resp[0] = '\0';
    if (RAND_bytes(uuid, sizeof uuid) != 1) {
        snprintf(err, errlen, "HEC sink: no randomness for the channel id");
        goto fail;
    }
    uuid[6] = (unsigned char)((uuid[6] & 0x0f) | 0x40);
    uuid[8] = (unsigned char)((uuid[8] & 0x3f) | 0x80);
    char channel[40];
    snprintf(channel, sizeof channel,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0],
             uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9],
             uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
    struct curl_slist **lists[2] = {&s->headers, &s->ack_headers};
    for (int i = 0; i < 2; i++) {
        struct curl_slist *l = NULL, *t;
        snprintf(hdr, sizeof hdr, "Authorization: Splunk %s", tok);
        l = curl_slist_append(l, hdr);
        explicit_bzero(hdr, sizeof hdr);
        if (l && (t = curl_slist_append(l, "Content-Type: application/json")))
            l = t;
        snprintf(hdr, sizeof hdr, "X-Splunk-Request-Channel: %s", channel);
        if (l && (t = curl_slist_append(l, hdr)))
            l = t;
        if (l && i == 0 && s->is_gzip && (t = curl_slist_append(l, "Content-Encoding: gzip")))
            l = t;
        if (l && (t = curl_slist_append(l, "Expect:"))) /* no 100-continue round trip */
            l = t;
        *lists[i] = l;
        if (!l) {
            snprintf(err, errlen, "HEC sink: out of memory");
            goto fail;
        }
    }
    explicit_bzero(tok, sizeof tok);

    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, hec_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(s->timeout_ms < 10000 ? s->timeout_ms : 10000));
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, is_https ? "https" : "http");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ocsf-collector/" OCSF_VERSION);
    if (is_https) {
        if (url_query_get(url, "ca_file", ca, sizeof ca) < 0) {
            snprintf(err, errlen, "HEC sink: ca_file is malformed or too long");
            goto fail;
        }
        if (ca[0] && access(ca, R_OK) < 0) {
            snprintf(err, errlen, "HEC sink: cannot read ca_file %s: %s", ca, strerror(errno));
            goto fail;
        }
        if (ca[0])
            curl_easy_setopt(e, CURLOPT_CAINFO, ca);
        if (url_query_get(url, "tls_verify", v, sizeof v) == 1 && strcmp(v, "0") == 0) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
            log_warn("HEC sink %s: tls_verify=0: the HEC's certificate and name are NOT checked "
                     "(the token and the audit stream can be intercepted)",
                     host->name);
        }
    } else {
        log_warn("HEC sink %s: plain http: the token and events travel unencrypted (use "
                 "hec+https:// outside tests)",
                 host->name);
    }
    *out = s;
    return SINK_OK;
fail:
    explicit_bzero(tok, sizeof tok);
    hec_close(s);
    return SINK_FATAL;
}

SINK_DEFINE_OPS(sink_hec_https_ops, "hec+https", hec, HEC_MAX_IN_FLIGHT);

SINK_DEFINE_OPS(sink_hec_http_ops, "hec+http", hec, HEC_MAX_IN_FLIGHT);
