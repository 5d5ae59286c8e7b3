/*
 * shipper.h - one thread per sink: reads the spool after the sink's cursor, hands batches to the
 * sink, and advances the cursor to the highest contiguous delivered seq.
 *
 * Invariants:
 *   1. The cursor (stored through the writer) never passes a seq the sink has not reported
 *      delivered, so after any crash every event after the cursor is shipped again: at-least-once,
 *      in seq order, never a gap.
 *   2. A sink that fails makes only its own lag grow: each shipper has its own thread and its own
 *      read-only spool connection; it never blocks ingest or another sink.
 *   3. Retries belong to the shipper: on SINK_RETRY it backs off (100 ms doubling to 10 s) and
 *      resubmits from the last delivered seq. On SINK_FATAL it stops and logs once.
 */
#ifndef OCSF_SHIPPER_H
#define OCSF_SHIPPER_H

#include "sink.h"
#include "writer.h"

typedef struct shipper shipper_t;

/* Opens the sink for url, reads its cursor, registers it with the writer (before writer_run). */
int shipper_open(const char *url, const char *spool_path, writer_t *w, shipper_t **out, char *err,
                 size_t errlen);
int shipper_run(shipper_t *sh);
/* Ships everything committed up to now (until timeout_ms), then stops the thread and closes the
 * sink. The final cursor has been given to the writer when this returns. */
void shipper_stop(shipper_t *sh, int timeout_ms);
void shipper_free(shipper_t *sh);
const char *shipper_name(const shipper_t *sh);

/* For the metrics (any thread): failed attempts so far and what the sink is doing now. */
enum { SHIPPER_DELIVERING = 1, SHIPPER_RETRYING = 0, SHIPPER_STOPPED = -1 };
typedef struct shipper_stats {
    const char *name; /* valid while the shipper lives */
    unsigned long long errors;
    int state;
} shipper_stats_t;
void shipper_get_stats(const shipper_t *sh, shipper_stats_t *st);

#endif
