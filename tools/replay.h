/*
 * replay.h - the pieces of ocsf-replay (tools/ocsf-replay.c): a selection (replay_filter_t) applied
 * to events from a source (the spool, read-only, or a Kafka topic) and handed to an output (a
 * printer, a counter, or a sink from the registry, the same code the daemon ships with).
 *
 *   source (spool: indexed SQL, then replay_filter_match_body; kafka: replay_filter_match_event)
 *     -> replay_out_event() -> ndjson | table | csv | counts | sink submit/poll
 *
 * Ownership: a replay_event_t and its strings are borrowed for the duration of one
 * replay_out_event() call; the output copies what it keeps. json (the parsed body) is owned by the
 * source, which parses it at most once per event (replay_event_json) and frees it after the call.
 */
#ifndef OCSF_REPLAY_H
#define OCSF_REPLAY_H

#include "schema.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define REPLAY_MAX_WHERE   16
#define REPLAY_MAX_CLASSES 16

/* One event as the sources see it. Columns are -1 / NULL when unknown. */
typedef struct replay_event {
    int64_t seq; /* spool seq, or the Kafka offset */
    int64_t received_ms, event_ms;
    int class_uid, activity_id, status_id;
    const char *user, *workspace;
    const char *body;
    size_t len;
    json_t *json; /* parsed body, NULL until replay_event_json() */
} replay_event_t;

/* The body as JSON (parsed once, kept in ev->json, released by replay_event_release); NULL when the
 * body is not a JSON object. */
json_t *replay_event_json(replay_event_t *ev);
void replay_event_release(replay_event_t *ev);

typedef struct replay_where {
    char path[256];  /* dotted path into the body: "dst_endpoint.hostname" */
    char value[512]; /* compared with the value found; '*' and '?' glob strings */
    int is_glob;
} replay_where_t;

/* Filters combine with AND; INT64_MIN / INT64_MAX / -1 / "" mean "not given". */
typedef struct replay_filter {
    int64_t since_ms, until_ms; /* event time in [since, until) */
    char user[256], workspace[256];
    int classes[REPLAY_MAX_CLASSES];
    int n_classes;
    int activity_id;         /* -1 not given */
    char activity_name[128]; /* matched against activity_name in the body (any class) */
    int status_id;           /* -1 not given */
    replay_where_t where[REPLAY_MAX_WHERE];
    int n_where;
    int64_t limit; /* 0 no limit */
} replay_filter_t;

void replay_filter_init(replay_filter_t *f);
/* RFC 3339 ("2026-11-28T14:00:00Z", "...:00.123+02:00", "2026-11-28"), "now", or relative to
 * now_ms ("90m", "2h", "3d", "45s", "1w"). 0, or -1 with err saying what is accepted. */
int replay_parse_time(const char *s, int64_t now_ms, int64_t *out_ms, char *err, size_t errlen);
/* --class: a uid ("3002") or a class name/caption, case-insensitive, spaces, '_' and '-' alike
 * ("authentication", "network activity", "Network_Activity"). schema may be NULL for uids only. */
int replay_parse_class(const schema_t *schema, const char *s, int *uid, char *err, size_t errlen);
/* --status: success, failure, unknown, other, or a number. */
int replay_parse_status(const char *s, int *status_id, char *err, size_t errlen);
/* --activity: a number (activity_id column) or a caption ("Logon", "refuse") matched against the
 * body's activity_name. */
int replay_parse_activity(replay_filter_t *f, const char *s, char *err, size_t errlen);
/* --where PATH=VALUE. */
int replay_parse_where(replay_filter_t *f, const char *s, char *err, size_t errlen);

/* Filters that need the body (activity by name, --where): 1 when there are any. */
int replay_filter_needs_body(const replay_filter_t *f);
/* The column filters, for sources without SQL (Kafka): 1 match, 0 not. */
int replay_filter_match_columns(const replay_filter_t *f, const replay_event_t *ev);
/* The body filters: 1 match, 0 not (a body that is not JSON never matches a body filter). */
int replay_filter_match_body(const replay_filter_t *f, replay_event_t *ev);

/* Looks up a dotted path in an OCSF object, following arrays of objects (the first element that has
 * it). Borrowed reference or NULL. */
json_t *replay_json_path(json_t *obj, const char *path);

/* ------------------------------------------------------------------------------------------ */
/* Outputs */

enum replay_format { REPLAY_NDJSON, REPLAY_TABLE, REPLAY_CSV };

typedef struct replay_out replay_out_t;

typedef struct replay_out_opts {
    int format;             /* enum replay_format */
    int is_count;           /* counts per class and status instead of events */
    const char *sink_url;   /* --to: re-ship through the sink registry; NULL prints */
    double rate_per_s;      /* --to: at most this many events per second; 0 unlimited */
    const char *source;     /* "spool:/path" or "kafka:brokers/topic", for the replay marker */
    int64_t expected;       /* events the source expects to hand over, -1 unknown (progress bar) */
    const schema_t *schema; /* captions for table/csv/counts; may be NULL */
    FILE *out;
} replay_out_opts_t;

/* 0, or -1 with err (a sink that cannot be opened: bad URL, unknown scheme, sink refusal). */
int replay_out_open(const replay_out_opts_t *opts, replay_out_t **out, char *err, size_t errlen);
/* One selected event. 0, or -1 with err (a sink failed for good, stdout write error). */
int replay_out_event(replay_out_t *o, replay_event_t *ev, char *err, size_t errlen);
/* Flushes (waits for the sink to deliver everything), prints counts, writes the summary line to
 * stderr. 0 or -1 with err. */
int replay_out_finish(replay_out_t *o, int64_t read, double seconds, char *err, size_t errlen);
void replay_out_close(replay_out_t *o);
/* Events handed to replay_out_event so far. */
int64_t replay_out_count(const replay_out_t *o);

/* ------------------------------------------------------------------------------------------ */
/* Kafka source (replay_kafka.c) */

/* Reads BROKERS/TOPIC from the offsets for f->since_ms (offsetsForTimes) to the end of each
 * partition as it was at start (or once a message's Kafka timestamp passes f->until_ms by more than
 * lateness_ms: how far append time may run behind the event's own time), applies f, hands matches
 * to o. *read counts the messages consumed. 0, or -1 with err (brokers unreachable, unknown topic).
 * A Kafka message header "user" / "workspace" fills those columns, else they come from the body. */
int replay_kafka_run(const char *brokers_topic, const replay_filter_t *f, int64_t lateness_ms,
                     replay_out_t *o, int64_t *read, char *err, size_t errlen);

/* Fills class_uid/activity_id/status_id/event_ms/user/workspace of ev from its body where the
 * source has no columns. */
void replay_event_columns_from_body(replay_event_t *ev);

/* ---- the events of one user or workspace (replay_postings.c) ---- */

typedef struct replay_cand {
    int64_t event_ms, seq;
} replay_cand_t;

/* The query on the postings table, for --explain. */
extern const char replay_postings_sql[];

/* The (event_ms, seq) of every event of user (kind 0) or workspace (kind 1) `key` with
 * since_ms <= event_ms < until_ms and seq <= hw: postings entries up to ix_seq, events after it.
 * Sorted by (event_ms, seq); *out is the caller's (free). Pruned events may still be listed.
 * 0, or -1 with err. */
struct sqlite3;
int replay_postings_collect(struct sqlite3 *db, int kind, const char *key, int64_t since_ms,
                            int64_t until_ms, int64_t ix_seq, int64_t hw, replay_cand_t **out,
                            size_t *n, char *err, size_t errlen);

/* ---- --verify --heads (replay_heads.c) ---- */

typedef struct replay_heads_report {
    int64_t lines, heads; /* lines read, heads found in them (the rest are skipped) */
    int64_t held;         /* heads that are links of this spool */
    int64_t pruned;       /* heads below the chain's anchor: pruned by retention, not checkable */
    int64_t problems;     /* heads the spool no longer holds (rewritten, deleted, truncated) */
} replay_heads_report_t;

/* The chain head in one line (NUL-terminated, len bytes without the NUL): the collector's log
 * line "... chain head seq=S hash=H ..." or a shipped head event {"unmapped":{"chain_head":{"seq":
 * S,"hash":"H"}}}. 1 with seq and hash, 0 when the line holds none. */
int replay_heads_parse_line(const char *line, size_t len, int64_t *seq, uint8_t hash[32]);
/* Looks up every chain head found in file `path` ("-": stdin; log lines "chain head seq=S
 * hash=H" or shipped head events with unmapped.chain_head) in the open spool db, printing one
 * line per head it does not hold. 0 (r says what held), or -1 with err (unreadable file or
 * spool). */
struct sqlite3;
int replay_verify_heads(struct sqlite3 *db, const char *path, replay_heads_report_t *r, char *err,
                        size_t errlen);

#endif
