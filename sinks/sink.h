/*
 * sink.h - the one interface every sink implements, and the registry that finds them by URL scheme.
 *
 * A sink is a struct of function pointers (sink_ops_t) plus its private state (sink_t). The shipper
 * (collector/shipper.c) owns retries, cursors and threads; a sink only delivers:
 *
 *   open(url)            parse the URL and options, connect or open lazily
 *   submit(events)       take a batch in seq order; deliver now or queue (copy what you keep:
 *                        events are valid only during the call)
 *   poll(timeout, &upto) make progress; report the highest seq such that every submitted event at
 * or below it is durably delivered (or handed to host->dead_letter) close()
 *
 * Results: SINK_OK; SINK_RETRY (transient: the shipper backs off, then resubmits everything after
 * the last delivered seq, so a sink must tolerate seeing events again); SINK_FATAL (configuration
 * or credentials: the shipper stops this sink with the message until a reload; no hot retry loop).
 *
 * Adding a sink: one file sinks/<name>.c defining a `const sink_ops_t sink_<name>_ops`, and one row
 * in sinks/sink_registry.c. No core file changes.
 */
#ifndef OCSF_SINK_H
#define OCSF_SINK_H

#include "url.h"

#include <stddef.h>
#include <stdint.h>

enum sink_result { SINK_OK = 0, SINK_RETRY = -1, SINK_FATAL = -2 };

/* One event to deliver, with the columns the spool indexes so that a sink can key, route and
 * label without parsing the body. */
typedef struct sink_event {
    int64_t seq;
    const char *body; /* the OCSF JSON, no trailing newline */
    size_t len;
    int64_t received_ms;
    int64_t event_ms;                      /* the event's own time, -1 when unknown */
    int class_uid, activity_id, status_id; /* -1 when stored as received (normalize off) */
    const char *user, *workspace;          /* NULL when the event had none */
    /* 1 when ocsf-replay re-ships the event (the body then carries unmapped.replay and the label
     * "ocsf-replay" in metadata.labels); a sink that can label out of band should too (Kafka: a
     * header "ocsf-replay: 1"). 0 for live delivery by the shipper. */
    int is_replay;
} sink_event_t;

/* What the shipper offers its sink. */
typedef struct sink_host {
    const char *name; /* "file:///var/lib/ocsf/events.ndjson", for log lines */
    /* A permanent, per-event refusal (e.g. too large for the broker): the shipper stores a dead
     * letter with the reason and counts the event as delivered. */
    void (*dead_letter)(void *ctx, int64_t seq, const char *reason);
    void *ctx;
} sink_host_t;

typedef struct sink sink_t;

typedef struct sink_ops {
    const char *scheme; /* URL scheme handled: "file" */
    int (*open)(const url_t *url, const sink_host_t *host, sink_t **out, char *err, size_t errlen);
    int (*submit)(sink_t *s, const sink_event_t *ev, size_t n, char *err, size_t errlen);
    int (*poll)(sink_t *s, int timeout_ms, int64_t *delivered, char *err, size_t errlen);
    void (*close)(sink_t *s);
    /* How many events may be submitted but not yet delivered (1 batch for synchronous sinks). */
    int max_in_flight;
} sink_ops_t;

/* Defines `const sink_ops_t var` for a sink whose functions are prefix_open, prefix_submit,
 * prefix_poll and prefix_close (one sink file may serve several schemes). */
#define SINK_DEFINE_OPS(var, scheme_name, prefix, in_flight)                                       \
    const sink_ops_t var = {.scheme = scheme_name,                                                 \
                            .open = prefix##_open,                                                 \
                            .submit = prefix##_submit,                                             \
                            .poll = prefix##_poll,                                                 \
                            .close = prefix##_close,                                               \
                            .max_in_flight = in_flight}

/* The registry: the ops for a URL scheme, or NULL. */
const sink_ops_t *sink_lookup(const char *scheme);
/* "file, kafka, ..." for error messages. */
const char *sink_schemes(void);

#endif
