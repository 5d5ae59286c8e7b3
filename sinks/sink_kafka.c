/*
 * sink_kafka.c - the Kafka sink: every event becomes one Kafka message, produced with librdkafka.
 *
 * URL: kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?OPTION=VALUE&...]  options (kafka_options[]):
 *   key=workspace|user|class|none   message key (default workspace; an event without one has none)
 *   compression=lz4|zstd|gzip|snappy|none      (default lz4: cheapest per byte on a busy host)
 *   topic_template=ocsf.{category_name}        route by event: {class_uid} {category_uid}
 *                                   {category_name}; events without a class go to TOPIC
 *   collector_id=ID                 the collector_id header (default: the host name)
 *   sasl_password_file=PATH | sasl_password_env=VAR       secrets, never in the URL itself
 *   ssl_key_password_file=PATH | ssl_key_password_env=VAR
 *   prop.NAME=VALUE                 any librdkafka property (security.protocol, sasl.mechanism,
 *                                   ssl.ca.location, linger.ms, batch.size, message.max.bytes...)
 * In the config file a sink object {"url": ..., "properties": {NAME: VALUE}} becomes prop.NAME.
 * Secret-valued properties (sasl.password, ssl.key.password, ...) are refused as prop.*: the URL
 * is logged and names the sink's cursor in the spool.
 *
 * Defaults (kafka_defaults[], each overridable by prop.*): enable.idempotence=true, acks=all,
 * compression lz4, linger.ms=5, partitioner murmur2_random (the Java client's key hashing, so
 * other producers agree on partitions), message.timeout.ms=120000, reconnect.backoff.max.ms=2000.
 *
 * Message: key as above; value the OCSF JSON as spooled; headers class_uid (when known),
 * ocsf_version, collector_id, seq, and replay=ocsf-replay on events re-shipped by ocsf-replay.
 *
 * NOTES ON THE DESIGN (the cursor):
 *
 *  1. Every produced message has a slot in a ring, in submit order (= seq order). Its opaque is
 *     a counter that only grows; slot = counter - base (the counter of the ring's head).
 *  2. Delivery reports (served by rd_kafka_poll() on the shipper thread, the only thread that
 *     touches this struct) mark slots: delivered, dead-lettered (a permanent refusal: handed to
 *     host->dead_letter() with the broker's reason, then counted as delivered) or failed.
 *  3. poll() pops delivered slots from the head; the last popped seq is what it reports, so the
 *     cursor is always the highest *contiguous* delivered seq.
 *  4. Transient trouble (brokers down, leader moves) is retried inside librdkafka for up to
 *     message.timeout.ms: order per partition holds because the producer is idempotent. Only
 *     when a message fails anyway (timeout, fatal idempotence error, queue full for 5 s) does
 *     the sink reset: purge everything queued or in flight, move base past every counter issued
 *     (reports for purged messages are then ignored), and answer SINK_RETRY. The shipper backs
 *     off and resubmits everything after the cursor, in order. Purged in-flight messages may
 *     still have landed: at-least-once, metadata.uid dedupes.
 *  5. A fatal error (rd_kafka_fatal_error: the idempotent producer lost its guarantees) also
 *     recreates the producer before SINK_RETRY; nothing is dropped.
 *
 * Why a long message.timeout.ms rather than a short one: while librdkafka holds a message it
 * keeps its place in the partition's sequence; a reset replays from the cursor and is correct but
 * costs duplicates. Short outages therefore cost nothing; long ones show as growing lag and a
 * "no delivery for N s" warning every 10 s, and the shipper's backoff paces the replays.
 */
#include "sink.h"
#include "log.h"
#include "util.h"

#include <librdkafka/rdkafka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KAFKA_MAX_IN_FLIGHT   10000 /* x ~1.5 KB: the bound on what librdkafka holds (RSS) */
#define KAFKA_RING_INITIAL    16384
#define KAFKA_TOPIC_MAX       249 /* Kafka's own limit */
#define KAFKA_SECRET_MAX      4096
#define KAFKA_QUEUE_FULL_WAIT 50 /* x 100 ms of polling before a full local queue is a reset */
#define KAFKA_STALL_LOG_MS    10000
#define KAFKA_OCSF_VERSION    "1.8.0"

enum kafka_key { KAFKA_KEY_WORKSPACE, KAFKA_KEY_USER, KAFKA_KEY_CLASS, KAFKA_KEY_NONE };
enum kafka_slot_state { SLOT_PENDING = 0, SLOT_DONE, SLOT_FAILED };

typedef struct kafka_slot {
    int64_t seq;
    int state;
} kafka_slot_t;

struct sink {
    sink_host_t host;
    rd_kafka_conf_t *conf; /* the template each producer is created from (a dup of it) */
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt; /* the URL's topic */
    char topic[KAFKA_TOPIC_MAX + 1];
    char topic_template[KAFKA_TOPIC_MAX + 1]; /* "" when not routing */
    int key;
    char collector_id[256];

    kafka_slot_t *ring; /* cap slots; n in use from head (see NOTES 1-3) */
    size_t cap, head, n;
    uint64_t base;         /* counter of ring[head] */
    uint64_t next_counter; /* counter the next produced message gets */
    int64_t submitted_seq, delivered_seq;

    int is_failed; /* a report said a message failed transiently: reset at the next call */
    char fail_reason[512];
    int is_fatal_seen; /* error_cb saw RD_KAFKA_RESP_ERR__FATAL */

    /* state for the logs */
    int is_all_down;
    int is_stall_logged;
    int64_t last_progress_ms;
    int64_t last_stall_log_ms;
    char last_error[256];
    int64_t n_dead;
};

/* Query options this sink knows; anything else in the URL is an error naming these. */
static const char *const kafka_options[] = {
    "key",
    "compression",
    "topic_template",
    "collector_id",
    "sasl_password_file",
    "sasl_password_env",
    "ssl_key_password_file",
    "ssl_key_password_env",
};
#define KAFKA_N_OPTIONS (sizeof kafka_options / sizeof kafka_options[0])

/* librdkafka properties set before the URL's prop.* (which override them). */
static const struct {
    const char *name, *value;
} kafka_defaults[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"compression.type", "lz4"},
    {"linger.ms", "5"},
    {"partitioner", "murmur2_random"},
    {"message.timeout.ms", "120000"},
    {"reconnect.backoff.max.ms", "2000"}, /* drain soon after a broker returns (default 10 s) */
    {"queue.buffering.max.messages", "100000"}, /* > KAFKA_MAX_IN_FLIGHT + a shipper batch */
    {"client.id", "ocsf-collector"},
};

/* Properties whose value is a secret: only from a file or the environment. */
static const char *const kafka_secret_props[] = {
    "sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret",
    "ssl.key.pem",
};

/* OCSF category names (category_uid = class_uid / 1000), in topic-name form. */
static const char *const kafka_category_names[] = {
    "uncategorized",
    "system_activity",
    "findings",
    "identity_access_management",
    "network_activity",
    "discovery",
    "application_activity",
    "remediation",
    "unmanned_systems",
};
#define KAFKA_N_CATEGORIES (sizeof kafka_category_names / sizeof kafka_category_names[0])

static int kafka_is_permanent(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return 1;
    default:
        return 0;
    }
}

/* ---- delivery bookkeeping (NOTES 1-3) ---- */

static kafka_slot_t *kafka_slot(sink_t *s, size_t i)
{
    return &s->ring[(s->head + i) % s->cap];
}

/* Makes room for `more` slots; linearizes the ring when it grows. 0 or -1 (out of memory). */
static int kafka_ring_reserve(sink_t *s, size_t more)
{
    if (s->cap - s->n >= more)
        return 0;
    size_t ncap = s->cap ? s->cap : KAFKA_RING_INITIAL;
    while (ncap - s->n < more)
        ncap *= 2;
    kafka_slot_t *nr = malloc(ncap * sizeof *nr);
    if (!nr)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        nr[i] = *kafka_slot(s, i);
    free(s->ring);
    s->ring = nr;
    s->cap = ncap;
    s->head = 0;
    return 0;
}

/* Appends a slot for the message that gets counter next_counter; the caller reserved room. */
static void kafka_ring_push(sink_t *s, int64_t seq, int state)
{
    kafka_slot_t *sl = &s->ring[(s->head + s->n) % s->cap];
    sl->seq = seq;
    sl->state = state;
    s->n++;
    s->next_counter++;
    s->submitted_seq = seq;
    if (s->n == 1)
        s->last_progress_ms = util_now_ms(); /* a stall is counted from the first waiting event */
}

/* Pops delivered slots from the head; returns 1 when the cursor moved. */
static int kafka_ring_advance(sink_t *s)
{
    int moved = 0;
    while (s->n > 0 && kafka_slot(s, 0)->state == SLOT_DONE) {
        s->delivered_seq = kafka_slot(s, 0)->seq;
        s->head = (s->head + 1) % s->cap;
        s->n--;
        s->base++;
        moved = 1;
    }
    if (s->n == 0)
        s->delivered_seq = s->submitted_seq;
    return moved;
}

/* Forgets every slot: reports for messages produced so far are ignored from now on (NOTES 4). */
static void kafka_ring_clear(sink_t *s)
{
    s->head = s->n = 0;
    s->base = s->next_counter;
    s->submitted_seq = s->delivered_seq;
    s->is_failed = 0;
}

static void kafka_dead_letter(sink_t *s, int64_t seq, rd_kafka_resp_err_t e, const char *topic,
                              size_t len)
{
    char reason[512];
    snprintf(reason, sizeof reason,
             "kafka refused the message permanently: %s (%s, topic %s, %zu bytes)",
             rd_kafka_err2str(e), rd_kafka_err2name(e), topic, len);
    s->n_dead++;
    s->host.dead_letter(s->host.ctx, seq, reason);
}

/* Delivery report: runs inside rd_kafka_poll() on the shipper thread. */
static void kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    sink_t *s = opaque;
    uint64_t counter = (uint64_t)(uintptr_t)m->_private;
    (void)rk;
    if (counter < s->base || counter - s->base >= s->n)
        return; /* a message purged by a reset: the shipper resubmits it */
    kafka_slot_t *sl = kafka_slot(s, (size_t)(counter - s->base));
    if (!m->err) {
        sl->state = SLOT_DONE;
    } else if (kafka_is_permanent(m->err)) {
        kafka_dead_letter(s, sl->seq, m->err, m->rkt ? rd_kafka_topic_name(m->rkt) : "?", m->len);
        sl->state = SLOT_DONE;
    } else {
        sl->state = SLOT_FAILED;
        if (!s->is_failed)
            snprintf(s->fail_reason, sizeof s->fail_reason, "message seq %lld failed: %s",
                     (long long)sl->seq, rd_kafka_err2str(m->err));
        s->is_failed = 1;
    }
}

/* Client-level errors (also served by rd_kafka_poll): kept for the state logs. */
static void kafka_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    sink_t *s = opaque;
    (void)rk;
    snprintf(s->last_error, sizeof s->last_error, "%s", reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        s->is_fatal_seen = 1;
    } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !s->is_all_down) {
        s->is_all_down = 1;
        log_warn("kafka sink %s: all brokers down (%s); events wait in the spool, lag grows",
                 s->host.name, reason);
    }
}

/* librdkafka's own log lines (from its threads; log_msg is thread-safe). */
static void kafka_on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    log_msg(level <= 4 ? LOG_WARN : LOG_DEBUG, "librdkafka %s: %s", fac, buf);
}

/* ---- producer life cycle ---- */

static void kafka_producer_destroy(sink_t *s)
{
    if (s->rkt)
        rd_kafka_topic_destroy(s->rkt);
    s->rkt = NULL;
    if (s->rk) {
        rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                  RD_KAFKA_PURGE_F_NON_BLOCKING);
        rd_kafka_destroy(s->rk);
    }
    s->rk = NULL;
}

static int kafka_producer_create(sink_t *s, char *err, size_t errlen)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(s->conf);
    if (!conf) {
        snprintf(err, errlen, "kafka sink: out of memory");
        return SINK_RETRY;
    }
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf); /* not taken on failure */
        snprintf(err, errlen, "kafka sink: cannot create the producer: %s", errstr);
        return SINK_FATAL;
    }
    s->rkt = rd_kafka_topic_new(s->rk, s->topic, NULL);
    if (!s->rkt) {
        snprintf(err, errlen, "kafka sink: cannot use topic %s: %s", s->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        kafka_producer_destroy(s);
        return SINK_FATAL;
    }
    return SINK_OK;
}

/* NOTES 4/5: drop whatever librdkafka holds and let the shipper resubmit after the cursor. */
static int kafka_reset(sink_t *s, const char *why, char *err, size_t errlen)
{
    char fatal[512];
    snprintf(err, errlen, "kafka: %s; %zu events in flight are resubmitted", why, s->n);
    if (s->is_fatal_seen || (s->rk && rd_kafka_fatal_error(s->rk, fatal, sizeof fatal))) {
        if (!s->rk || !rd_kafka_fatal_error(s->rk, fatal, sizeof fatal))
            snprintf(fatal, sizeof fatal, "%s", s->last_error);
        log_warn("kafka sink %s: fatal producer error (%s); recreating the producer", s->host.name,
                 fatal);
        kafka_producer_destroy(s);
        s->is_fatal_seen = 0;
        kafka_ring_clear(s);
        char cerr[512];
        if (kafka_producer_create(s, cerr, sizeof cerr) != SINK_OK)
            snprintf(err, errlen, "%s", cerr); /* retried: the next call tries again */
        return SINK_RETRY;
    }
    if (s->rk)
        rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                  RD_KAFKA_PURGE_F_NON_BLOCKING);
    kafka_ring_clear(s);
    return SINK_RETRY;
}

/* ---- options ---- */

/* Reads a secret from a file (first line, bounded) or an environment variable. */
static int kafka_read_secret(const url_t *url, const char *opt_file, const char *opt_env, char *out,
                             size_t outlen, char *err, size_t errlen)
{
    char where[1024];
    out[0] = '\0';
    if (url_query_get(url, opt_env, where, sizeof where) == 1) {
        const char *v = getenv(where);
        if (!v || !*v) {
            snprintf(err, errlen,
                     "kafka sink: %s=%s but that environment variable is empty or unset", opt_env,
                     where);
            return -1;
        }
        if (util_strlcpy(out, v, outlen) < 0) {
            snprintf(err, errlen, "kafka sink: secret in $%s is longer than %zu bytes", where,
                     outlen - 1);
            return -1;
        }
        return 1;
    }
    if (url_query_get(url, opt_file, where, sizeof where) == 1) {
        int fd = open(where, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(err, errlen, "kafka sink: %s: cannot open %s: %s", opt_file, where,
                     strerror(errno));
            return -1;
        }
        ssize_t n = read(fd, out, outlen - 1);
        close(fd);
        if (n < 0) {
            snprintf(err, errlen, "kafka sink: %s: cannot read %s: %s", opt_file, where,
                     strerror(errno));
            return -1;
        }
        out[n] = '\0';
        out[strcspn(out, "\r\n")] = '\0';
        if (!out[0]) {
            snprintf(err, errlen, "kafka sink: %s: %s is empty", opt_file, where);
            return -1;
        }
        return 1;
    }
    return 0;
}

static int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                          size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka sink: property %s: %s", name, errstr);
        return -1;
    }
    return 0;
}

/* Applies every prop.NAME=VALUE of the query and checks that every other key is known. */
static int kafka_apply_query(const url_t *url, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    const char *p = url->query;
    while (*p) {
        char key[256], value[1024];
        size_t klen = strcspn(p, "=&");
        size_t seglen = strcspn(p, "&");
        if (klen >= sizeof key) {
            snprintf(err, errlen, "kafka sink: query key too long: %.60s...", p);
            return -1;
        }
        memcpy(key, p, klen);
        key[klen] = '\0';
        p += seglen;
        if (*p == '&')
            p++;
        if (klen == 0)
            continue;
        if (strncmp(key, "prop.", 5) == 0) {
            const char *name = key + 5;
            for (size_t i = 0; i < sizeof kafka_secret_props / sizeof kafka_secret_props[0]; i++)
                if (strcmp(name, kafka_secret_props[i]) == 0) {
                    snprintf(err, errlen,
                             "kafka sink: %s is a secret and may not be in the URL or config; use "
                             "sasl_password_file= / sasl_password_env= (or ssl_key_password_*)",
                             name);
                    return -1;
                }
            if (url_query_get(url, key, value, sizeof value) != 1) {
                snprintf(err, errlen, "kafka sink: bad value for %s (too long or bad %%-escape)",
                         key);
                return -1;
            }
            if (kafka_conf_set(conf, name, value, err, errlen) < 0)
                return -1;
            continue;
        }
        size_t i;
        for (i = 0; i < KAFKA_N_OPTIONS; i++)
            if (strcmp(key, kafka_options[i]) == 0)
                break;
        if (i == KAFKA_N_OPTIONS) {
            snprintf(err, errlen,
                     "kafka sink: unknown option '%s' (known: key, compression, topic_template, "
                     "collector_id, sasl_password_file|env, ssl_key_password_file|env, prop.NAME)",
                     key);
            return -1;
        }
    }
    return 0;
}

/* Checks a topic template: only known {placeholders}, only topic characters around them. */
static int kafka_check_template(const char *t, char *err, size_t errlen)
{
    for (const char *p = t; *p; p++) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            size_t len = end ? (size_t)(end - p - 1) : 0;
            if (!end || !((len == 9 && strncmp(p + 1, "class_uid", 9) == 0) ||
                          (len == 12 && strncmp(p + 1, "category_uid", 12) == 0) ||
                          (len == 13 && strncmp(p + 1, "category_name", 13) == 0))) {
                snprintf(err, errlen,
                         "kafka sink: topic_template '%s': unknown placeholder (known: "
                         "{class_uid}, {category_uid}, {category_name})",
                         t);
                return -1;
            }
            p = end;
        } else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')) {
            snprintf(err, errlen,
                     "kafka sink: topic_template '%s' has '%c' (allowed: A-Z a-z 0-9 . _ - and "
                     "{placeholders})",
                     t, *p);
            return -1;
        }
    }
    return 0;
}

/* The topic for one event: the template expanded, or the URL's topic when the event has no class
 * (stored as received) or the expansion would not fit. */
static const char *kafka_route(const sink_t *s, const sink_event_t *ev, char *buf, size_t len)
{
    if (!s->topic_template[0] || ev->class_uid < 0)
        return s->topic;
    int category = ev->class_uid / 1000;
    const char *name = category < (int)KAFKA_N_CATEGORIES ? kafka_category_names[category]
                                                          : kafka_category_names[0];
    size_t off = 0;
    for (const char *p = s->topic_template; *p && off < len; p++) {
        int n = 0;
        if (*p != '{') {
            buf[off++] = *p;
            continue;
        }
        if (strncmp(p, "{class_uid}", 11) == 0)
            n = snprintf(buf + off, len - off, "%d", ev->class_uid);
        else if (strncmp(p, "{category_uid}", 14) == 0)
            n = snprintf(buf + off, len - off, "%d", category);
        else
            n = snprintf(buf + off, len - off, "%s", name);
        off += (size_t)n;
        p = strchr(p, '}');
    }
    if (off >= len || off > KAFKA_TOPIC_MAX)
        return s->topic;
    buf[off] = '\0';
    return buf;
}

static void kafka_close(sink_t *s)
{
    if (!s)
        return;
    kafka_producer_destroy(s);
    if (s->conf)
        rd_kafka_conf_destroy(s->conf);
    free(s->ring);
    free(s);
}

static int kafka_open(const url_t *url, const sink_host_t *host, sink_t **out, char *err,
                      size_t errlen)
{
    char v[1024], secret[KAFKA_SECRET_MAX];
    int rc = SINK_FATAL;
    sink_t *s = calloc(1, sizeof *s);

    *out = NULL;
    secret[0] = '\0';
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return SINK_FATAL;
    }
    s->host = *host;
    s->delivered_seq = s->submitted_seq = -1;
    if (util_strlcpy(s->topic, url->path + 1, sizeof s->topic) < 0) {
        snprintf(err, errlen, "kafka sink: topic longer than %d bytes", KAFKA_TOPIC_MAX);
        goto fail;
    }
    if (url_query_get(url, "key", v, sizeof v) == 1) {
        static const char *const names[] = {"workspace", "user", "class", "none"};
        for (s->key = 0; s->key < 4 && strcmp(v, names[s->key]) != 0; s->key++)
            ;
        if (s->key == 4) {
            snprintf(err, errlen, "kafka sink: key=%s (expected workspace, user, class or none)",
                     v);
            goto fail;
        }
    }
    if (url_query_get(url, "topic_template", v, sizeof v) == 1) {
        if (util_strlcpy(s->topic_template, v, sizeof s->topic_template) < 0) {
            snprintf(err, errlen, "kafka sink: topic_template longer than %d bytes",
                     KAFKA_TOPIC_MAX);
            goto fail;
        }
        if (kafka_check_template(s->topic_template, err, errlen) < 0)
            goto fail;
    }
    if (url_query_get(url, "collector_id", v, sizeof v) == 1 && v[0]) {
        util_strlcpy(s->collector_id, v, sizeof s->collector_id);
    } else if (gethostname(s->collector_id, sizeof s->collector_id) < 0 || !s->collector_id[0]) {
        snprintf(s->collector_id, sizeof s->collector_id, "unknown");
    }
    s->collector_id[sizeof s->collector_id - 1] = '\0';

    s->conf = rd_kafka_conf_new();
    if (kafka_conf_set(s->conf, "bootstrap.servers", url->host, err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof kafka_defaults / sizeof kafka_defaults[0]; i++)
        if (kafka_conf_set(s->conf, kafka_defaults[i].name, kafka_defaults[i].value, err, errlen) <
            0)
            goto fail;
    if (url_query_get(url, "compression", v, sizeof v) == 1 &&
        kafka_conf_set(s->conf, "compression.type", v, err, errlen) < 0)
        goto fail;
    if (kafka_apply_query(url, s->conf, err, errlen) < 0)
        goto fail;
    int got = kafka_read_secret(url, "sasl_password_file", "sasl_password_env", secret,
                                sizeof secret, err, errlen);
    if (got < 0 || (got == 1 && kafka_conf_set(s->conf, "sasl.password", secret, err, errlen) < 0))
        goto fail;
    got = kafka_read_secret(url, "ssl_key_password_file", "ssl_key_password_env", secret,
                            sizeof secret, err, errlen);
    if (got < 0 ||
        (got == 1 && kafka_conf_set(s->conf, "ssl.key.password", secret, err, errlen) < 0))
        goto fail;
    rd_kafka_conf_set_opaque(s->conf, s);
    rd_kafka_conf_set_dr_msg_cb(s->conf, kafka_on_delivery);
    rd_kafka_conf_set_error_cb(s->conf, kafka_on_error);
    rd_kafka_conf_set_log_cb(s->conf, kafka_on_log);
    if (kafka_ring_reserve(s, KAFKA_RING_INITIAL) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* connects lazily: an unreachable cluster at start is lag, not a configuration error */
    if (kafka_producer_create(s, err, errlen) != SINK_OK)
        goto fail;
    s->last_progress_ms = util_now_ms();
    log_info("kafka sink %s: producing to %s%s%s, key %s, collector_id %s", host->name, s->topic,
             s->topic_template[0] ? " routed by " : "", s->topic_template,
             (const char *[]){"workspace", "user", "class", "none"}[s->key], s->collector_id);
    *out = s;
    s = NULL;
    rc = SINK_OK;
fail:
    memset(secret, 0, sizeof secret);
    kafka_close(s);
    return rc;
}

/* Produces one event; returns its error (0 when queued in librdkafka). *topic is set to the topic
 * used (s->topic or topic_buf, which the caller provides, KAFKA_TOPIC_MAX + 64 bytes). */
static rd_kafka_resp_err_t kafka_produce(sink_t *s, const sink_event_t *ev, char *topic_buf,
                                         size_t topic_len, const char **topic)
{
    char class_buf[16], seq_buf[24];
    const char *key = NULL;
    rd_kafka_resp_err_t e;

    snprintf(class_buf, sizeof class_buf, "%d", ev->class_uid);
    snprintf(seq_buf, sizeof seq_buf, "%lld", (long long)ev->seq);
    if (s->key == KAFKA_KEY_WORKSPACE)
        key = ev->workspace;
    else if (s->key == KAFKA_KEY_USER)
        key = ev->user;
    else if (s->key == KAFKA_KEY_CLASS && ev->class_uid >= 0)
        key = class_buf;
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    if (ev->class_uid >= 0)
        rd_kafka_header_add(h, "class_uid", -1, class_buf, -1);
    rd_kafka_header_add(h, "ocsf_version", -1, KAFKA_OCSF_VERSION, -1);
    rd_kafka_header_add(h, "collector_id", -1, s->collector_id, -1);
    rd_kafka_header_add(h, "seq", -1, seq_buf, -1);
    if (ev->is_replay) /* re-shipped by ocsf-replay: consumers can tell it from live data */
        rd_kafka_header_add(h, "replay", -1, "ocsf-replay", -1);
    *topic = kafka_route(s, ev, topic_buf, topic_len);
    void *opaque = (void *)(uintptr_t)s->next_counter;
    if (*topic == s->topic)
        e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_RKT(s->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)ev->body, ev->len), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    else
        e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_TOPIC(*topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)ev->body, ev->len), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e)
        rd_kafka_headers_destroy(h); /* taken only on success */
    return e;
}

static int kafka_submit(sink_t *s, const sink_event_t *ev, size_t n, char *err, size_t errlen)
{
    if (!s->rk && kafka_producer_create(s, err, errlen) != SINK_OK)
        return SINK_RETRY;
    if (s->is_failed || s->is_fatal_seen)
        return kafka_reset(s, s->is_failed ? s->fail_reason : "fatal producer error", err, errlen);
    if (kafka_ring_reserve(s, n) < 0) {
        snprintf(err, errlen, "kafka sink: out of memory tracking %zu events", n);
        return kafka_reset(s, "out of memory", err, errlen);
    }
    for (size_t i = 0; i < n; i++) {
        char topic_buf[KAFKA_TOPIC_MAX + 64];
        const char *topic;
        rd_kafka_resp_err_t e = kafka_produce(s, &ev[i], topic_buf, sizeof topic_buf, &topic);
        for (int waited = 0; e == RD_KAFKA_RESP_ERR__QUEUE_FULL && waited < KAFKA_QUEUE_FULL_WAIT;
             waited++) {
            rd_kafka_poll(s->rk, 100); /* serves reports, which frees room */
            e = kafka_produce(s, &ev[i], topic_buf, sizeof topic_buf, &topic);
        }
        if (!e) {
            kafka_ring_push(s, ev[i].seq, SLOT_PENDING);
        } else if (kafka_is_permanent(e)) {
            kafka_dead_letter(s, ev[i].seq, e, topic, ev[i].len);
            kafka_ring_push(s, ev[i].seq, SLOT_DONE);
        } else {
            char why[256];
            snprintf(why, sizeof why, "cannot queue seq %lld: %s", (long long)ev[i].seq,
                     rd_kafka_err2str(e));
            return kafka_reset(s, why, err, errlen);
        }
    }
    return SINK_OK;
}

/* The state lines: a stall every KAFKA_STALL_LOG_MS, and the recovery after one. */
static void kafka_log_state(sink_t *s, int is_moved)
{
    int64_t now = util_now_ms();
    if (is_moved || s->n == 0) {
        if (is_moved && (s->is_stall_logged || s->is_all_down))
            log_info("kafka sink %s: delivering again (delivered up to seq %lld, %zu in flight)",
                     s->host.name, (long long)s->delivered_seq, s->n);
        if (is_moved)
            s->is_stall_logged = s->is_all_down = 0;
        s->last_progress_ms = now;
        return;
    }
    if (now - s->last_progress_ms >= KAFKA_STALL_LOG_MS &&
        now - s->last_stall_log_ms >= KAFKA_STALL_LOG_MS) {
        s->last_stall_log_ms = now;
        s->is_stall_logged = 1;
        log_warn("kafka sink %s: no delivery for %lld s; %zu events in flight from seq %lld, "
                 "%d waiting in librdkafka; last error: %s",
                 s->host.name, (long long)((now - s->last_progress_ms) / 1000), s->n,
                 (long long)kafka_slot(s, 0)->seq, rd_kafka_outq_len(s->rk),
                 s->last_error[0] ? s->last_error : "none");
    }
}

static int kafka_poll(sink_t *s, int timeout_ms, int64_t *delivered, char *err, size_t errlen)
{
    if (!s->rk && kafka_producer_create(s, err, errlen) != SINK_OK)
        return SINK_RETRY;
    rd_kafka_poll(s->rk, s->n > 0 ? timeout_ms : 0);
    if (s->is_failed || s->is_fatal_seen)
        return kafka_reset(s, s->is_failed ? s->fail_reason : "fatal producer error", err, errlen);
    int is_moved = kafka_ring_advance(s);
    kafka_log_state(s, is_moved);
    *delivered = s->delivered_seq;
    return SINK_OK;
}

const sink_ops_t sink_kafka_ops = {
    .scheme = "kafka",
    .open = kafka_open,
    .submit = kafka_submit,
    .poll = kafka_poll,
    .close = kafka_close,
    .max_in_flight = KAFKA_MAX_IN_FLIGHT,
};
