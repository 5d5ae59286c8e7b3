/*
 * chain_event.c - the hash chain head as an OCSF event of the collector's own (see chain_event.h).
 *
 * A libuv timer on the loop thread reads the head the writer published after its last commit
 * (writer_committed_head), builds an Event Log Activity event for it and hands it to
 * ingest_submit_own(), which validates it, gives it the next seq and queues it for the writer like
 * any event. The head event is itself a link of the chain, so the timer remembers its seq: a head
 * at or below it means nothing else was committed since, and no new event is due.
 */
#include "chain_event.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>

struct chain_event {
    uv_timer_t timer;
    writer_t *w;
    ingest_t *in;
    int64_t last_event_seq; /* seq given to the last head event, -1 before the first */
    int is_failure_logged;
};

json_t *chain_event_build(int64_t seq, const uint8_t hash[CHAIN_HASH_LEN], int64_t now_ms)
{
    char hex[2 * CHAIN_HASH_LEN + 1];
    chain_hex(hash, hex);
    char message[160];
    snprintf(message, sizeof message, "spool hash chain head seq=%lld hash=%s", (long long)seq,
             hex);
    return json_pack("{s:i, s:s, s:i, s:s, s:i, s:s, s:I, s:s, s:I, s:i, s:s, s:i, s:s, s:s, "
                     "s:s, s:s, s:{s:s}, s:{s:{s:I, s:s, s:s}}}",
                     "class_uid", 1008, "class_name", "Event Log Activity", "category_uid", 1,
                     "category_name", "System Activity", "activity_id", 99, "activity_name",
                     "Chain Head", "type_uid", (json_int_t)100899, "type_name",
                     "Event Log Activity: Other", "time", (json_int_t)now_ms, "severity_id", 1,
                     "severity", "Informational", "status_id", 1, "status", "Success",
                     "log_provider", "ocsf-collector", "log_name", "spool", "message", message,
                     "metadata", "event_code", CHAIN_EVENT_TYPE, "unmapped", "chain_head", "seq",
                     (json_int_t)seq, "hash", hex, "algorithm", "sha256");
}

static void chain_event_tick(uv_timer_t *t)
{
    chain_event_t *ce = t->data;
    int64_t seq;
    uint8_t hash[CHAIN_HASH_LEN];
    char err[1024];
    if (writer_committed_head(ce->w, &seq, hash) < 0 || seq <= 0 || seq <= ce->last_event_seq)
        return; /* no chain, an empty spool, or nothing committed since the last head event */
    json_t *ev = chain_event_build(seq, hash, util_now_ms());
    int64_t ev_seq;
    if (!ev) {
        snprintf(err, sizeof err, "out of memory");
    } else if (ingest_submit_own(ce->in, ev, CHAIN_EVENT_TYPE, &ev_seq, err, sizeof err) == 0) {
        ce->last_event_seq = ev_seq;
        ce->is_failure_logged = 0;
        json_decref(ev);
        return;
    }
    json_decref(ev);
    if (!ce->is_failure_logged)
        log_error("chain head event for seq=%lld not stored: %s (the head is still logged)",
                  (long long)seq, err);
    ce->is_failure_logged = 1;
}

int chain_event_start(uv_loop_t *loop, writer_t *w, ingest_t *in, int64_t interval_ms,
                      chain_event_t **out)
{
    chain_event_t *ce = calloc(1, sizeof *ce);
    *out = NULL;
    if (!ce)
        return -1;
    ce->w = w;
    ce->in = in;
    ce->last_event_seq = -1;
    uv_timer_init(loop, &ce->timer);
    ce->timer.data = ce;
    uv_timer_start(&ce->timer, chain_event_tick, (uint64_t)interval_ms, (uint64_t)interval_ms);
    *out = ce;
    return 0;
}

static void chain_event_closed(uv_handle_t *h)
{
    free(h->data);
}

void chain_event_stop(chain_event_t *ce)
{
    if (!ce)
        return;
    uv_timer_stop(&ce->timer);
    uv_close((uv_handle_t *)&ce->timer, chain_event_closed);
}
