/*
 * metrics.h - the collector's counters and gauges, written as a Prometheus text-format file.
 *
 * With `metrics_file` set, every `metrics_interval_ms` (and once more at shutdown) the loop thread
 * collects the ingest, normalizer and spool-writer figures and writes them to <metrics_file>.tmp,
 * then renames it over <metrics_file>: a reader (node_exporter's textfile collector, a monitoring
 * agent, `cat`) always sees one whole snapshot. No socket is opened: the file needs no port, no
 * HTTP parser and no access control beyond the directory's.
 *
 * What is in it (all prefixed ocsf_collector_; counters end in _total and count since start):
 *   lines_total, events_total, dead_letters_total, dead_letters_type_not_allowed_total,
 *   connections_total, connections_refused_total, tls_handshakes_refused_total,
 *   connections_open; normalizer (when normalize is on): mapped_total, passthrough_total,
 *   unknown_type_total, invalid_total, mapping_entries, mapping_reloads_total{result};
 *   spool: committed_seq, pending_bytes, full, dropped_total; per sink:
 *   sink_cursor_seq{sink}, sink_lag_events{sink}, sink_errors_total{sink}, sink_up{sink}; and
 *   start_time_seconds,
 *   metrics_written_timestamp_seconds (a stale file shows), info{version}.
 *
 * Threads: the loop thread only (the writer's figures are read under its lock).
 */
#ifndef OCSF_METRICS_H
#define OCSF_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ingest.h"
#include "norm.h"
#include "shipper.h"
#include "writer.h"

typedef struct metrics metrics_t;

/* Where the figures come from; all borrowed, and must outlive the metrics. norm may be NULL
 * (normalize off). */
typedef struct metrics_sources {
    ingest_t *ingest;
    norm_t *norm;
    writer_t *writer;
    shipper_t *const *shippers;
    int n_shippers;
} metrics_sources_t;

/* Writes the file once now (so a bad path fails at start, with err naming it) and then every
 * interval_ms on loop. 0 and *out, or -1 with err. */
int metrics_start(uv_loop_t *loop, const char *path, int64_t interval_ms,
                  const metrics_sources_t *src, metrics_t **out, char *err, size_t errlen);

/* Writes the file now (at shutdown, after the last commit). A failure is logged, not returned. */
void metrics_write_now(metrics_t *m);

/* Stops the timer and frees m once the loop has closed it. NULL is fine. */
void metrics_stop(metrics_t *m);

#endif /* OCSF_METRICS_H */
