/*
 * chain_event.h - the spool's hash chain head shipped downstream as an OCSF event.
 *
 * The writer logs the chain head (chain.h) every chain_head_interval_s; with chain_head_events on,
 * the same head also becomes an event of the collector's own, stored in the spool and delivered by
 * every sink like the emitters' events: a SIEM or Kafka topic then holds heads it received from
 * the collector, so a spool deleted or rewritten later (hashes included) no longer contains a head
 * that was shipped, and this is visible where the SOC looks, not only in the collector's logs.
 *
 * The event is OCSF 1.8 Event Log Activity (class 1008, category System Activity), activity Other
 * (99) with activity_name "Chain Head", log_provider "ocsf-collector", log_name "spool", type
 * "collector.chain_head" in metadata.event_code and the spool's type column, and the head under
 * unmapped.chain_head {seq, hash (64 hex), algorithm "sha256"}. It goes through the normalizer as
 * an OCSF pass-through (validated; metadata.uid, sequence, logged_time added; peer "internal").
 *
 * A head event covers the newest committed event, so it is emitted only when something was
 * committed after the previous head event: an idle collector does not ship a heartbeat forever.
 * Loop thread only.
 */
#ifndef OCSF_CHAIN_EVENT_H
#define OCSF_CHAIN_EVENT_H

#include "chain.h"
#include "ingest.h"
#include "writer.h"

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#define CHAIN_EVENT_TYPE "collector.chain_head"

typedef struct chain_event chain_event_t;

/* The OCSF event (before enrichment) for head (seq, hash) at time now_ms: a NEW reference, or NULL
 * when out of memory. */
json_t *chain_event_build(int64_t seq, const uint8_t hash[CHAIN_HASH_LEN], int64_t now_ms);

/* Starts a timer on loop that, every interval_ms, stores a head event through ingest when the
 * writer committed something since the previous one. 0 or -1 (out of memory). */
int chain_event_start(uv_loop_t *loop, writer_t *w, ingest_t *in, int64_t interval_ms,
                      chain_event_t **out);
/* Stops the timer (before ingest_shutdown) and frees once libuv closed it. NULL is fine. */
void chain_event_stop(chain_event_t *ce);

#endif
