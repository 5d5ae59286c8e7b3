/*
 * replay_kafka.c - ocsf-replay --from-kafka BROKERS/TOPIC: the same selection over a Kafka topic
 * (contract in replay.h).
 *
 * A plain consumer with a manual assignment (no group membership, nothing committed: a replay
 * never moves anybody's offsets). Per partition: the end is the high watermark when the replay
 * starts (so a busy topic still finishes); the start is the offset offsetsForTimes gives for
 * --since (rd_kafka_offsets_for_times), else the beginning. A broker that answers "no offset" for
 * a partition that has messages (librdkafka's mock cluster does not look up timestamps) makes
 * that partition scan from its beginning with the time filter applied to each event: slower,
 * never a silent gap. A partition also stops once its message timestamps (append time, which is
 * after the event's own time) pass --until by --kafka-lateness (default 5m); data produced long
 * after its events happened (a backfill) needs a larger one.
 *
 * Columns: class, activity, status and time come from the body; user and workspace from the
 * message headers "user" / "workspace" when the producing sink set them, else from the body
 * (replay_event_columns_from_body). Events are handed over in consumption order (per partition in
 * offset order).
 */
#include "replay.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_KAFKA_WAIT_MS  10000
#define REPLAY_KAFKA_IDLE_MAX 60 /* polls of 500 ms without a message before giving up */

struct part {
    int32_t id;
    int64_t start, end; /* [start, end) */
    int is_done;
};

static int split_target(const char *s, char *brokers, size_t blen, char *topic, size_t tlen)
{
    const char *slash = strrchr(s, '/');
    if (!slash || slash == s || !slash[1] || (size_t)(slash - s) >= blen ||
        strlen(slash + 1) >= tlen)
        return -1;
    memcpy(brokers, s, (size_t)(slash - s));
    brokers[slash - s] = '\0';
    strcpy(topic, slash + 1); /* length checked */
    return 0;
}

/* A header's value as a NUL-terminated copy in buf, or NULL. */
static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t len)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v || n >= len)
        return NULL;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}

int replay_kafka_run(const char *target, const replay_filter_t *f, int64_t lateness_ms,
                     replay_out_t *o, int64_t *read, char *err, size_t errlen)
{
    char brokers[1024], topic[256], errstr[512];
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *assign = NULL, *times = NULL;
    const struct rd_kafka_metadata *md = NULL;
    struct part *parts = NULL;
    int n_parts = 0, rc = -1;

    if (split_target(target, brokers, sizeof brokers, topic, sizeof topic) < 0) {
        snprintf(err, errlen, "--from-kafka '%.200s': use BROKERS/TOPIC (127.0.0.1:9092/ocsf)",
                 target);
        return -1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const props[][2] = {
        {"group.id", "ocsf-replay"},     /* required by the consumer API; never joined */
        {"enable.auto.commit", "false"}, /* a replay never moves a group's offsets */
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"}, /* to know when a partition is read to its end */
        {"auto.offset.reset", "earliest"},
        {"client.id", "ocsf-replay"},
    };
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "--from-kafka: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof errstr);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        snprintf(err, errlen, "--from-kafka: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* all topics: asking for one by handle would let a broker auto-create a mistyped name */
    rd_kafka_resp_err_t kerr = rd_kafka_metadata(rk, 1, NULL, &md, REPLAY_KAFKA_WAIT_MS);
    const rd_kafka_metadata_topic_t *mt = NULL;
    for (int i = 0; !kerr && i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            mt = &md->topics[i];
    if (kerr || !mt || mt->err) {
        snprintf(err, errlen,
                 "kafka %s: cannot read topic %s: %s (are the brokers up, does the topic exist?)",
                 brokers, topic,
                 rd_kafka_err2str(kerr ? kerr
                                  : mt ? mt->err
                                       : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        goto out;
    }
    n_parts = mt->partition_cnt;
    parts = calloc((size_t)(n_parts > 0 ? n_parts : 1), sizeof *parts);
    assign = rd_kafka_topic_partition_list_new(n_parts);
    times = rd_kafka_topic_partition_list_new(n_parts);
    if (!parts || !assign || !times) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < n_parts; i++) {
        int64_t lo, hi;
        parts[i].id = mt->partitions[i].id;
        kerr = rd_kafka_query_watermark_offsets(rk, topic, parts[i].id, &lo, &hi,
                                                REPLAY_KAFKA_WAIT_MS);
        if (kerr) {
            snprintf(err, errlen, "kafka %s: topic %s partition %d: watermarks: %s", brokers, topic,
                     (int)parts[i].id, rd_kafka_err2str(kerr));
            goto out;
        }
        parts[i].start = lo;
        parts[i].end = hi;
        parts[i].is_done = hi <= lo;
        if (f->since_ms != INT64_MIN && !parts[i].is_done)
            rd_kafka_topic_partition_list_add(times, topic, parts[i].id)->offset = f->since_ms;
    }
    if (times->cnt > 0) {
        kerr = rd_kafka_offsets_for_times(rk, times, REPLAY_KAFKA_WAIT_MS);
        if (kerr) {
            snprintf(err, errlen, "kafka %s: offsetsForTimes on %s: %s", brokers, topic,
                     rd_kafka_err2str(kerr));
            goto out;
        }
        for (int i = 0; i < times->cnt; i++)
            for (int k = 0; k < n_parts; k++)
                if (parts[k].id == times->elems[i].partition && !times->elems[i].err &&
                    times->elems[i].offset >= parts[k].start) /* else: scan from the start */
                    parts[k].start = times->elems[i].offset;
    }
    int n_open = 0;
    for (int i = 0; i < n_parts; i++) {
        if (parts[i].start >= parts[i].end)
            parts[i].is_done = 1;
        if (parts[i].is_done)
            continue;
        rd_kafka_topic_partition_list_add(assign, topic, parts[i].id)->offset = parts[i].start;
        n_open++;
    }
    if (n_open == 0) {
        rc = 0;
        goto out;
    }
    kerr = rd_kafka_assign(rk, assign);
    if (kerr) {
        snprintf(err, errlen, "kafka %s: assign %s: %s", brokers, topic, rd_kafka_err2str(kerr));
        goto out;
    }
    int idle = 0;
    while (n_open > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            if (++idle > REPLAY_KAFKA_IDLE_MAX) {
                snprintf(err, errlen,
                         "kafka %s: topic %s: no progress for %d s with %d partitions unfinished",
                         brokers, topic, REPLAY_KAFKA_IDLE_MAX / 2, n_open);
                goto out;
            }
            continue;
        }
        idle = 0;
        struct part *p = NULL;
        for (int i = 0; i < n_parts; i++)
            if (parts[i].id == m->partition)
                p = &parts[i];
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p && !p->is_done) {
                p->is_done = 1;
                n_open--;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            snprintf(err, errlen, "kafka %s: topic %s: %s", brokers, topic,
                     rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto out;
        }
        if (!p || p->is_done || m->offset >= p->end) {
            if (p && !p->is_done) {
                p->is_done = 1;
                n_open--;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        (*read)++;
        char ubuf[256], wbuf[256];
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        replay_event_t ev = {.seq = m->offset,
                             .received_ms = ts,
                             .event_ms = -1,
                             .class_uid = -1,
                             .activity_id = -1,
                             .status_id = -1,
                             .user = header(m, "user", ubuf, sizeof ubuf),
                             .workspace = header(m, "workspace", wbuf, sizeof wbuf),
                             .body = m->payload ? (const char *)m->payload : "",
                             .len = m->payload ? m->len : 0};
        replay_event_columns_from_body(&ev);
        int r = 0;
        if (replay_filter_match_columns(f, &ev) && replay_filter_match_body(f, &ev))
            r = replay_out_event(o, &ev, err, errlen);
        replay_event_release(&ev);
        int is_last =
            m->offset + 1 >= p->end || (f->until_ms != INT64_MAX && ts > f->until_ms + lateness_ms);
        rd_kafka_message_destroy(m);
        if (r < 0)
            goto out;
        if (f->limit && replay_out_count(o) >= f->limit)
            break;
        if (is_last && !p->is_done) {
            p->is_done = 1;
            n_open--;
        }
    }
    rc = 0;
out:
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    if (times)
        rd_kafka_topic_partition_list_destroy(times);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    free(parts);
    return rc;
}
