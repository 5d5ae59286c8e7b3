/*
 * ocsf-replay - investigate and re-ship what the collector stored.
 *
 *   ocsf-replay --spool PATH | --from-kafka BROKERS/TOPIC
 *               [--since T] [--until T] [--user U] [--workspace W] [--class C]... [--activity A]
 *               [--status S] [--where PATH=VALUE]... [--limit N]
 *               [--format ndjson|table|csv] [--count] [--to SINK_URL [--rate N/s]]
 *   ocsf-replay --spool PATH --verify [--heads FILE]
 *               walk the spool's hash chain (chain.h), report problems; check heads shipped earlier
 *
 * The spool is opened read-only (SQLite URI mode=ro) next to a running collector: WAL lets it read
 * while the writer commits, and the selection is read in pages of REPLAY_PAGE rows, each its own
 * short read transaction, so the WAL can checkpoint and the writer never waits on the replay. The
 * selection is a snapshot of the rows up to the highest seq at start (rows pruned meanwhile are
 * skipped, never invented). Column filters (time, user, workspace, class, activity id, status) are
 * SQL on the spool's indexes (events(event_ms), (workspace, event_ms), (user, event_ms)); body
 * filters (--where, --activity by name) run on the parsed JSON of the rows SQL returns. Output in
 * event-time order ("time"); events stored without a time (normalize off) come first, in seq
 * order, and only when no --since/--until is given.
 *
 * Exit codes: 0 ok, 2 usage (bad flag, bad time, unknown class), 1 runtime (missing or locked
 * spool, sink failure, Kafka unreachable) or, with --verify, a broken chain.
 */
#include "chain.h"
#include "replay.h"
#include "sink.h"
#include "spool.h"
#include "tool_net.h"
#include "util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPLAY_PAGE  2000
#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

enum opt_id {
    O_SPOOL,
    O_FROM_KAFKA,
    O_SINCE,
    O_UNTIL,
    O_USER,
    O_WORKSPACE,
    O_CLASS,
    O_ACTIVITY,
    O_STATUS,
    O_WHERE,
    O_LIMIT,
    O_FORMAT,
    O_COUNT,
    O_TO,
    O_RATE,
    O_KAFKA_LATENESS,
    O_SCHEMAS_DIR,
    O_EXPLAIN,
    O_VERIFY,
    O_HEADS,
    O_HELP,
    O_VERSION
};

static const tool_option_t options[] = {
    {O_SPOOL, "--spool", NULL, "PATH", "the collector's SQLite spool (opened read-only)"},
    {O_FROM_KAFKA, "--from-kafka", NULL, "BROKERS/TOPIC",
     "read a topic instead (h1:9092,h2:9092/ocsf-events), from the offsets for --since"},
    {O_SINCE, "--since", NULL, "T",
     "event time >= T: RFC 3339 (2026-11-28T14:00:00Z) or ago (90m, 2h, 3d)"},
    {O_UNTIL, "--until", NULL, "T", "event time < T (same forms)"},
    {O_USER, "--user", NULL, "NAME", "the envelope's user"},
    {O_WORKSPACE, "--workspace", NULL, "NAME", "the envelope's workspace"},
    {O_CLASS, "--class", NULL, "C",
     "OCSF class uid or name (3002, authentication); repeatable (any of)"},
    {O_ACTIVITY, "--activity", NULL, "A", "activity_id, or activity name (Logon, Refuse)"},
    {O_STATUS, "--status", NULL, "S", "success, failure, unknown, other or a status_id"},
    {O_WHERE, "--where", NULL, "PATH=VALUE",
     "any OCSF field by dotted path (glob with * ?); repeatable (all of)"},
    {O_LIMIT, "--limit", NULL, "N", "stop after N matching events"},
    {O_FORMAT, "--format", NULL, "F", "ndjson (default), table (a timeline), csv"},
    {O_COUNT, "--count", NULL, NULL, "print counts per class and status instead of events"},
    {O_TO, "--to", NULL, "SINK_URL",
     "re-ship the selection through a sink (file, kafka, hec, syslog...)"},
    {O_RATE, "--rate", NULL, "N/s", "with --to: at most N events per second"},
    {O_KAFKA_LATENESS, "--kafka-lateness", NULL, "D",
     "with --from-kafka: stop a partition once its message time passes --until by D [5m]"},
    {O_SCHEMAS_DIR, "--schemas-dir", NULL, "DIR", "OCSF schema tables (class names and captions)"},
    {O_EXPLAIN, "--explain", NULL, NULL, "print SQLite's query plan for the selection and exit"},
    {O_VERIFY, "--verify", NULL, NULL,
     "with --spool: recompute the hash chain, report the first broken link, deleted ranges, "
     "altered events, a truncated spool (exit 1)"},
    {O_HEADS, "--heads", NULL, "FILE",
     "with --verify: also check that the chain heads in FILE (the collector's log, or its shipped "
     "head events; - for stdin) are links of this spool (exit 1 when one is not)"},
    {O_HELP, "--help", NULL, NULL, "this help"},
    {O_VERSION, "--version", NULL, NULL, "print the version"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

typedef struct args {
    const char *spool, *kafka, *to, *schemas_dir, *heads;
    int format, is_format_set, is_count, is_explain, is_verify;
    double rate;
    int64_t lateness_ms;
    replay_filter_t f;
    const char *class_args[REPLAY_MAX_CLASSES];
    int n_class_args;
} args_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: ocsf-replay --spool PATH | --from-kafka BROKERS/TOPIC [filters] [output]\n"
                 "Investigate and re-ship stored OCSF events. Filters combine (AND).\n\n");
    tool_option_usage(out, options, N_OPTIONS, 28);
    fprintf(out,
            "\nsinks in this build: %s\n"
            "exit codes: 0 ok, 1 runtime failure, 2 usage error\n",
            sink_schemes());
}

static int parse_int64(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < 0)
        return -1;
    *v = x;
    return 0;
}

/* 0 ok, 1 exit 0 (help/version printed), -1 usage error (err set). */
static int parse_args(int argc, char **argv, args_t *a, char *err, size_t errlen)
{
    int64_t now = util_now_ms();
    memset(a, 0, sizeof *a);
    replay_filter_init(&a->f);
    a->lateness_ms = 5 * 60 * 1000;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        const tool_option_t *opt =
            tool_option_next(options, N_OPTIONS, argc, argv, &i, &v, err, errlen);
        if (!opt)
            return -1;
        switch (opt->id) {
        case O_SPOOL:
            a->spool = v;
            break;
        case O_FROM_KAFKA:
            a->kafka = v;
            break;
        case O_SINCE:
        case O_UNTIL:
            if (replay_parse_time(v, now, opt->id == O_SINCE ? &a->f.since_ms : &a->f.until_ms, err,
                                  errlen) < 0)
                return -1;
            break;
        case O_USER:
        case O_WORKSPACE: {
            char *dst = opt->id == O_USER ? a->f.user : a->f.workspace;
            if (!*v || util_strlcpy(dst, v, sizeof a->f.user) < 0) {
                snprintf(err, errlen, "%s: empty or longer than %zu bytes", opt->name,
                         sizeof a->f.user - 1);
                return -1;
            }
            break;
        }
        case O_CLASS:
            if (a->n_class_args >= REPLAY_MAX_CLASSES) {
                snprintf(err, errlen, "--class: at most %d", REPLAY_MAX_CLASSES);
                return -1;
            }
            a->class_args[a->n_class_args++] = v; /* resolved once the schema is loaded */
            break;
        case O_ACTIVITY:
            if (replay_parse_activity(&a->f, v, err, errlen) < 0)
                return -1;
            break;
        case O_STATUS:
            if (replay_parse_status(v, &a->f.status_id, err, errlen) < 0)
                return -1;
            break;
        case O_WHERE:
            if (replay_parse_where(&a->f, v, err, errlen) < 0)
                return -1;
            break;
        case O_LIMIT:
            if (parse_int64(v, &a->f.limit) < 0 || a->f.limit == 0) {
                snprintf(err, errlen, "--limit '%.40s': a positive integer", v);
                return -1;
            }
            break;
        case O_FORMAT:
            if (strcmp(v, "ndjson") == 0)
                a->format = REPLAY_NDJSON;
            else if (strcmp(v, "table") == 0)
                a->format = REPLAY_TABLE;
            else if (strcmp(v, "csv") == 0)
                a->format = REPLAY_CSV;
            else {
                snprintf(err, errlen, "--format '%.40s': use ndjson, table or csv", v);
                return -1;
            }
            a->is_format_set = 1;
            break;
        case O_COUNT:
            a->is_count = 1;
            break;
        case O_TO:
            a->to = v;
            break;
        case O_RATE: {
            char *end;
            errno = 0;
            a->rate = strtod(v, &end);
            if (errno || end == v || !(a->rate > 0) || (*end && strcmp(end, "/s") != 0)) {
                snprintf(err, errlen, "--rate '%.40s': events per second, like 500/s", v);
                return -1;
            }
            break;
        }
        case O_KAFKA_LATENESS: {
            int64_t t; /* a duration: the "time ago" form relative to 0 */
            if (replay_parse_time(v, 0, &t, err, errlen) < 0 || t > 0) {
                snprintf(err, errlen, "--kafka-lateness '%.40s': a duration (30s, 5m, 2h, 7d)", v);
                return -1;
            }
            a->lateness_ms = -t;
            break;
        }
        case O_SCHEMAS_DIR:
            a->schemas_dir = v;
            break;
        case O_EXPLAIN:
            a->is_explain = 1;
            break;
        case O_VERIFY:
            a->is_verify = 1;
            break;
        case O_HEADS:
            a->heads = v;
            break;
        case O_HELP:
            usage(stdout);
            return 1;
        case O_VERSION:
            printf("ocsf-replay %s\n", OCSF_VERSION);
            return 1;
        }
    }
    if (!a->spool == !a->kafka) {
        snprintf(err, errlen,
                 "give exactly one source: --spool PATH or --from-kafka BROKERS/TOPIC");
        return -1;
    }
    const char *slash = a->kafka ? strrchr(a->kafka, '/') : NULL;
    if (a->kafka && (!slash || slash == a->kafka || !slash[1])) {
        snprintf(err, errlen, "--from-kafka '%.200s': use BROKERS/TOPIC (127.0.0.1:9092/ocsf)",
                 a->kafka);
        return -1;
    }
    if (a->f.since_ms != INT64_MIN && a->f.until_ms != INT64_MAX &&
        a->f.since_ms >= a->f.until_ms) {
        snprintf(err, errlen, "--since is not before --until: the window is empty");
        return -1;
    }
    if (a->rate > 0 && !a->to) {
        snprintf(err, errlen, "--rate applies to --to (re-shipping) only");
        return -1;
    }
    if (a->to && (a->is_count || a->is_format_set)) {
        snprintf(err, errlen, "--to re-ships events: it does not combine with --count or --format");
        return -1;
    }
    if (a->is_verify && (!a->spool || a->to || a->is_count || a->is_format_set || a->is_explain)) {
        snprintf(err, errlen,
                 "--verify checks a spool's hash chain: give --spool PATH, and no "
                 "--to, --count, --format or --explain");
        return -1;
    }
    if (a->heads && !a->is_verify) {
        snprintf(err, errlen, "--heads is checked by --verify: add --verify");
        return -1;
    }
    if (a->is_count && !a->is_format_set)
        a->format = REPLAY_TABLE;
    return 0;
}

/* ---- the spool source ----------------------------------------------------------------------- */

typedef struct spool_src {
    sqlite3 *db;
    char path[4096];
    /* the user/workspace postings (collector/spool_index.h): events with seq <= ix_seq are
     * listed there, the rest (not merged yet) are found in the events table; has_ix 0 for a
     * spool the collector has not opened since they exist (then filtered without an index) */
    int has_ix;
    int64_t ix_seq;
} spool_src_t;

static int spool_src_open(spool_src_t *s, const char *path, char *err, size_t errlen)
{
    struct stat st;
    char *uri = NULL;
    sqlite3_stmt *q = NULL;
    int rc = -1;
    memset(s, 0, sizeof *s);
    if (util_strlcpy(s->path, path, sizeof s->path) < 0) {
        snprintf(err, errlen, "--spool: path too long");
        return -1;
    }
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "spool %s: %s (give the collector's --spool path)", path,
                 strerror(errno));
        return -1;
    }
    uri = sqlite3_mprintf("file:%s?mode=ro", path);
    if (!uri ||
        sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "spool %s: cannot open: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(s->db, 3000);
    sqlite3_exec(s->db, "PRAGMA cache_size=-16384", NULL, NULL, NULL);
    /* a spool of this collector's format, not any SQLite file */
    int qrc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'format_version'", -1,
                                 &q, NULL);
    if (qrc == SQLITE_OK)
        qrc = sqlite3_step(q);
    if (qrc == SQLITE_BUSY || qrc == SQLITE_LOCKED) {
        snprintf(err, errlen,
                 "spool %s is locked (%s) for more than 3 s: another process holds it exclusively; "
                 "retry, or replay from a copy",
                 path, sqlite3_errmsg(s->db));
        goto out;
    }
    if (qrc != SQLITE_ROW) {
        snprintf(err, errlen, "spool %s: not a collector spool (%s)", path, sqlite3_errmsg(s->db));
        goto out;
    }
    char want[16];
    snprintf(want, sizeof want, "%d", SPOOL_FORMAT_VERSION);
    const char *v = (const char *)sqlite3_column_text(q, 0);
    if (!v || strcmp(v, want)) {
        snprintf(err, errlen, "spool %s has format version %s; this ocsf-replay reads version %d",
                 path, v ? v : "(null)", SPOOL_FORMAT_VERSION);
        goto out;
    }
    s->has_ix = spool_sql_int(s->db,
                              "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
                              "'postings'",
                              0) == 1;
    s->ix_seq = s->has_ix ? spool_sql_int(s->db,
                                          "SELECT CAST(value AS INTEGER) FROM meta WHERE key = "
                                          "'index_seq'",
                                          0)
                          : 0;
    rc = 0;
out:
    sqlite3_finalize(q);
    sqlite3_free(uri);
    if (rc < 0) { /* the caller gets nothing to close on failure */
        sqlite3_close(s->db);
        s->db = NULL;
    }
    return rc;
}

static void spool_src_close(spool_src_t *s)
{
    sqlite3_close(s->db);
}

enum { W_ALL, W_NO_USER = 1, W_NO_WORKSPACE = 2 };

/* The WHERE clause for the column filters (named parameters bound by bind_filter); `flags` leave
 * out the filter the postings already applied. */
static void build_where(const replay_filter_t *f, int flags, char *sql, size_t len)
{
    size_t o = 0;
#define ADD(...) (o += (size_t)snprintf(sql + o, o < len ? len - o : 0, __VA_ARGS__))
    ADD(" seq <= :hw");
    if (f->user[0] && !(flags & W_NO_USER))
        ADD(" AND user = :user");
    if (f->workspace[0] && !(flags & W_NO_WORKSPACE))
        ADD(" AND workspace = :ws");
    if (f->n_classes) {
        ADD(" AND class_uid IN (");
        for (int i = 0; i < f->n_classes; i++)
            ADD("%s%d", i ? "," : "", f->classes[i]);
        ADD(")");
    }
    if (f->activity_id >= 0)
        ADD(" AND activity_id = :act");
    if (f->status_id >= 0)
        ADD(" AND status_id = :st");
    if (f->until_ms != INT64_MAX)
        ADD(" AND event_ms < :until");
#undef ADD
}

/* With a user or workspace filter on a spool that has postings: which kind (0 user, 1 workspace),
 * its key, and the filter left for the events rows; -1 otherwise (plain SQL on the events). */
static int ix_kind(const spool_src_t *s, const replay_filter_t *f, const char **key, int *flags)
{
    if (!s->has_ix || (!f->user[0] && !f->workspace[0]))
        return -1;
    if (f->user[0]) {
        *key = f->user;
        *flags = W_NO_USER;
        return 0;
    }
    *key = f->workspace;
    *flags = W_NO_WORKSPACE;
    return 1;
}

static int bind_name(sqlite3_stmt *q, const char *name)
{
    return sqlite3_bind_parameter_index(q, name);
}

static void bind_filter(sqlite3_stmt *q, const replay_filter_t *f, int64_t hw)
{
    sqlite3_bind_int64(q, bind_name(q, ":hw"), hw);
    if (f->user[0])
        sqlite3_bind_text(q, bind_name(q, ":user"), f->user, -1, SQLITE_STATIC);
    if (f->workspace[0])
        sqlite3_bind_text(q, bind_name(q, ":ws"), f->workspace, -1, SQLITE_STATIC);
    if (f->activity_id >= 0)
        sqlite3_bind_int(q, bind_name(q, ":act"), f->activity_id);
    if (f->status_id >= 0)
        sqlite3_bind_int(q, bind_name(q, ":st"), f->status_id);
    if (f->until_ms != INT64_MAX)
        sqlite3_bind_int64(q, bind_name(q, ":until"), f->until_ms);
}

#define SELECT_COLS                                                                                \
    "SELECT seq, received_ms, event_ms, class_uid, activity_id, status_id, user, workspace, body " \
    "FROM events WHERE"

/* The page queries: phase 0, events without a time (seq order); phase 1, events in time order
 * from (:lo_ms, :lo_seq) on; or, with postings (ix_kind >= 0), phase 1 reads the listed events
 * one by one (:seq), with the other column filters. */
static int prepare_pages(spool_src_t *s, const replay_filter_t *f, sqlite3_stmt **q0,
                         sqlite3_stmt **q1, char *err, size_t errlen)
{
    char where[1024], sql[2048];
    const char *key = NULL;
    int flags = 0;
    int kind = ix_kind(s, f, &key, &flags);
    build_where(f, W_ALL, where, sizeof where);
    snprintf(sql, sizeof sql,
             SELECT_COLS "%s AND event_ms IS NULL AND seq > :lo_seq ORDER BY seq LIMIT %d", where,
             REPLAY_PAGE);
    if (sqlite3_prepare_v2(s->db, sql, -1, q0, NULL) != SQLITE_OK)
        goto fail;
    if (kind >= 0) {
        build_where(f, flags, where, sizeof where);
        snprintf(sql, sizeof sql, SELECT_COLS "%s AND seq = :seq", where);
    } else {
        snprintf(sql, sizeof sql,
                 SELECT_COLS "%s AND event_ms >= :lo_ms AND (event_ms > :lo_ms OR seq > :lo_seq) "
                             "ORDER BY event_ms, seq LIMIT %d",
                 where, REPLAY_PAGE);
    }
    if (sqlite3_prepare_v2(s->db, sql, -1, q1, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "spool %s: %s", s->path, sqlite3_errmsg(s->db));
    return -1;
}

/* The listed events of the filter's user or workspace (replay_postings.c). */
static int spool_src_candidates(spool_src_t *s, const replay_filter_t *f, int64_t hw,
                                replay_cand_t **out, size_t *n, char *err, size_t errlen)
{
    const char *key = NULL;
    int flags = 0;
    int kind = ix_kind(s, f, &key, &flags);
    char why[1024];
    if (replay_postings_collect(s->db, kind, key, f->since_ms, f->until_ms, s->ix_seq, hw, out, n,
                                why, sizeof why) < 0) {
        snprintf(err, errlen, "spool %s: %s", s->path, why);
        return -1;
    }
    return 0;
}

static int64_t col_or(sqlite3_stmt *q, int i, int64_t dflt)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(q, i);
}

/* How many rows the column filters select (for the progress bar), -1 on error. With postings,
 * how many events the user or workspace has in the window (an estimate: the other filters and
 * events without a time are not counted). */
static int64_t spool_src_estimate(spool_src_t *s, const replay_filter_t *f, int64_t hw)
{
    char where[1024], sql[1400];
    sqlite3_stmt *q = NULL;
    int64_t n = -1;
    const char *key = NULL;
    int flags = 0;
    if (ix_kind(s, f, &key, &flags) >= 0) {
        replay_cand_t *c = NULL;
        size_t nc = 0;
        char err[256];
        if (spool_src_candidates(s, f, hw, &c, &nc, err, sizeof err) == 0)
            n = (int64_t)nc;
        free(c);
        return n;
    }
    build_where(f, W_ALL, where, sizeof where);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE%s%s", where,
             f->since_ms != INT64_MIN ? " AND event_ms >= :lo_ms" : "");
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) == SQLITE_OK) {
        bind_filter(q, f, hw);
        if (f->since_ms != INT64_MIN)
            sqlite3_bind_int64(q, bind_name(q, ":lo_ms"), f->since_ms);
        if (sqlite3_step(q) == SQLITE_ROW)
            n = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    return n;
}

/* Prints sql and SQLite's plan for it. 0 or -1. */
static int explain_one(spool_src_t *s, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *e = NULL;
    char *eqp = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
    int rc = -1;
    printf("%s\n", sql);
    if (eqp && sqlite3_prepare_v2(s->db, eqp, -1, &e, NULL) == SQLITE_OK) {
        while (sqlite3_step(e) == SQLITE_ROW)
            printf("  %s\n", (const char *)sqlite3_column_text(e, 3));
        rc = 0;
    } else {
        snprintf(err, errlen, "spool %s: %s", s->path, sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(e);
    sqlite3_free(eqp);
    return rc;
}

static int spool_src_explain(spool_src_t *s, const replay_filter_t *f, char *err, size_t errlen)
{
    sqlite3_stmt *q0 = NULL, *q1 = NULL;
    const char *key = NULL;
    int flags = 0, rc = -1;
    if (prepare_pages(s, f, &q0, &q1, err, errlen) < 0)
        goto out;
    /* with postings: the key's rows, then each listed event by seq */
    if (ix_kind(s, f, &key, &flags) >= 0 && explain_one(s, replay_postings_sql, err, errlen) < 0)
        goto out;
    rc = explain_one(s, sqlite3_sql(q1), err, errlen);
out:
    sqlite3_finalize(q0);
    sqlite3_finalize(q1);
    return rc;
}

/* Reads the rows from a row of q (SELECT_COLS order) into ev. */
static void event_of_row(sqlite3_stmt *q, replay_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->seq = sqlite3_column_int64(q, 0);
    ev->received_ms = sqlite3_column_int64(q, 1);
    ev->event_ms = col_or(q, 2, -1);
    ev->class_uid = (int)col_or(q, 3, -1);
    ev->activity_id = (int)col_or(q, 4, -1);
    ev->status_id = (int)col_or(q, 5, -1);
    ev->user = (const char *)sqlite3_column_text(q, 6);
    ev->workspace = (const char *)sqlite3_column_text(q, 7);
    ev->body = (const char *)sqlite3_column_text(q, 8);
    ev->len = (size_t)sqlite3_column_bytes(q, 8);
    if (!ev->body)
        ev->body = "";
}

/* Hands ev to the output when the body filters match; 1 when --limit is reached, 0 go on, -1
 * error. */
static int event_out(const replay_filter_t *f, replay_event_t *ev, replay_out_t *o, char *err,
                     size_t errlen)
{
    int r = 0;
    if (replay_filter_match_body(f, ev))
        r = replay_out_event(o, ev, err, errlen);
    replay_event_release(ev);
    if (r < 0)
        return -1;
    return f->limit && replay_out_count(o) >= f->limit;
}

/* One page of listed events (q: by :seq with the other column filters), in one read transaction;
 * a listed event that is gone (pruned since) or filtered out yields nothing. */
static int spool_src_listed_page(spool_src_t *s, const replay_filter_t *f, int64_t hw,
                                 sqlite3_stmt *q, const replay_cand_t *cand, size_t n_cand,
                                 size_t *next, replay_out_t *o, int64_t *read, int *is_done,
                                 char *err, size_t errlen)
{
    size_t end = *next + REPLAY_PAGE < n_cand ? *next + REPLAY_PAGE : n_cand;
    int rc = -1;
    sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    for (; *next < end; (*next)++) {
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
        bind_filter(q, f, hw);
        sqlite3_bind_int64(q, bind_name(q, ":seq"), cand[*next].seq);
        int step = sqlite3_step(q);
        if (step == SQLITE_DONE)
            continue;
        if (step != SQLITE_ROW) {
            snprintf(err, errlen, "spool %s: reading events failed: %s%s", s->path,
                     sqlite3_errmsg(s->db),
                     step == SQLITE_BUSY ? " (locked by another process; retry)" : "");
            goto out;
        }
        replay_event_t ev;
        event_of_row(q, &ev);
        (*read)++;
        int r = event_out(f, &ev, o, err, errlen);
        if (r < 0)
            goto out;
        if (r > 0) {
            *is_done = 1;
            break;
        }
    }
    if (*next >= n_cand)
        *is_done = 1;
    rc = 0;
out:
    sqlite3_reset(q);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* Pages through the selection; each page is its own short read transaction. */
static int spool_src_run(spool_src_t *s, const replay_filter_t *f, int64_t hw, replay_out_t *o,
                         int64_t *read, char *err, size_t errlen)
{
    sqlite3_stmt *q0 = NULL, *q1 = NULL;
    int rc = -1, is_done = 0;
    int64_t lo_ms = f->since_ms != INT64_MIN ? f->since_ms : INT64_MIN, lo_seq = 0;
    const char *key = NULL;
    int flags = 0;
    int is_listed = ix_kind(s, f, &key, &flags) >= 0; /* phase 1 reads listed events by seq */
    replay_cand_t *cand = NULL;
    size_t n_cand = 0, next_cand = 0;
    if (prepare_pages(s, f, &q0, &q1, err, errlen) < 0)
        return -1;
    if (is_listed && spool_src_candidates(s, f, hw, &cand, &n_cand, err, errlen) < 0)
        goto out;
    /* without a time window, events that have no time come first */
    int phase = f->since_ms == INT64_MIN && f->until_ms == INT64_MAX ? 0 : 1;
    lo_seq = phase == 1 && lo_ms == INT64_MIN ? -1 : 0;
    while (!is_done) {
        if (phase == 1 && is_listed) {
            if (spool_src_listed_page(s, f, hw, q1, cand, n_cand, &next_cand, o, read, &is_done,
                                      err, errlen) < 0)
                goto out;
            continue;
        }
        sqlite3_stmt *q = phase == 0 ? q0 : q1;
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
        bind_filter(q, f, hw);
        sqlite3_bind_int64(q, bind_name(q, ":lo_seq"), lo_seq);
        if (phase == 1)
            sqlite3_bind_int64(q, bind_name(q, ":lo_ms"), lo_ms);
        int n = 0, step;
        while ((step = sqlite3_step(q)) == SQLITE_ROW) {
            replay_event_t ev;
            event_of_row(q, &ev);
            n++;
            (*read)++;
            lo_seq = ev.seq;
            if (phase == 1)
                lo_ms = ev.event_ms;
            int r = event_out(f, &ev, o, err, errlen);
            if (r < 0)
                goto out;
            if (r > 0) {
                is_done = 1;
                break;
            }
        }
        if (!is_done && step != SQLITE_DONE) {
            snprintf(err, errlen, "spool %s: reading events failed: %s%s", s->path,
                     sqlite3_errmsg(s->db),
                     step == SQLITE_BUSY ? " (locked by another process; retry)" : "");
            goto out;
        }
        sqlite3_reset(q); /* ends this page's read transaction */
        if (n < REPLAY_PAGE && !is_done) {
            if (phase == 1)
                is_done = 1;
            else {
                phase = 1;
                lo_ms = f->since_ms != INT64_MIN ? f->since_ms : INT64_MIN;
                lo_seq = -1;
            }
        }
    }
    rc = 0;
out:
    free(cand);
    sqlite3_finalize(q0);
    sqlite3_finalize(q1);
    return rc;
}

/* ---- --verify ------------------------------------------------------------------------------ */

#define VERIFY_MAX_LINES 100

static void verify_problem(void *ctx, const chain_problem_t *p)
{
    int64_t *n = ctx;
    char line[512];
    if (++*n > VERIFY_MAX_LINES)
        return;
    chain_problem_text(p, line, sizeof line);
    printf("%s%s\n", *n == 1 ? "FIRST BROKEN LINK: " : "", line);
}

/* Walks the chain, prints one line per problem (the first marked) and a summary. 0 when the
 * chain holds, EXIT_RUNTIME when it does not or cannot be read. */
static int verify_spool(spool_src_t *src, const char *heads)
{
    chain_report_t rep;
    char err[1024] = "", hex[2 * CHAIN_HASH_LEN + 1];
    int64_t n = 0;
    if (chain_verify(src->db, &rep, verify_problem, &n, err, sizeof err) < 0) {
        fprintf(stderr, "ocsf-replay: --verify %s: %s\n", src->path, err);
        return EXIT_RUNTIME;
    }
    if (n > VERIFY_MAX_LINES)
        printf("... and %lld more problems\n", (long long)(n - VERIFY_MAX_LINES));
    chain_hex(rep.head, hex);
    char anchor[96];
    if (rep.is_genesis)
        snprintf(anchor, sizeof anchor, "genesis");
    else
        snprintf(anchor, sizeof anchor, "anchor seq=%lld (pruned or pre-chain up to it)",
                 (long long)rep.base_seq);
    printf("chain %s: %s, %lld events verified (seq %lld..%lld), %lld before the chain, head "
           "seq=%lld hash=%s\n",
           rep.problems ? "BROKEN" : "OK", anchor, (long long)rep.verified,
           (long long)rep.first_seq, (long long)rep.last_seq, (long long)rep.before,
           (long long)rep.head_seq, rep.head_seq >= 0 ? hex : "(none yet)");
    if (rep.problems)
        printf("%lld problems in spool %s\n", (long long)rep.problems, src->path);
    if (!heads)
        return rep.problems ? EXIT_RUNTIME : 0;
    replay_heads_report_t hr;
    if (replay_verify_heads(src->db, heads, &hr, err, sizeof err) < 0) {
        fprintf(stderr, "ocsf-replay: %s\n", err);
        return EXIT_RUNTIME;
    }
    printf("heads %s: %lld found in %lld lines of %s, %lld held, %lld pruned (before the anchor), "
           "%lld not in this spool\n",
           hr.problems ? "BROKEN"
           : hr.held   ? "OK"
           : hr.heads  ? "UNCHECKED"
                       : "NONE",
           (long long)hr.heads, (long long)hr.lines, heads, (long long)hr.held,
           (long long)hr.pruned, (long long)hr.problems);
    return rep.problems || hr.problems ? EXIT_RUNTIME : 0;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
    args_t a;
    char err[8192] = "";
    schema_t *schema = NULL;
    replay_out_t *out = NULL;
    spool_src_t src = {0};
    int code = EXIT_RUNTIME, is_src_open = 0;
    int64_t read = 0;
    struct timespec t0;
    char source[4200];

    clock_gettime(CLOCK_MONOTONIC, &t0);
    int prc = parse_args(argc, argv, &a, err, sizeof err);
    if (prc != 0) {
        if (prc < 0)
            fprintf(stderr, "ocsf-replay: %s\n", err);
        return prc < 0 ? EXIT_USAGE : 0;
    }
    /* class names, and captions for the table, csv and counts, come from the OCSF tables */
    if (a.n_class_args || a.format != REPLAY_NDJSON || a.is_count) {
        if (schema_load(a.schemas_dir, &schema, err, sizeof err) < 0) {
            fprintf(stderr, "ocsf-replay: cannot load the OCSF tables: %s (--schemas-dir)\n", err);
            return EXIT_RUNTIME;
        }
    }
    for (int i = 0; i < a.n_class_args; i++)
        if (replay_parse_class(schema, a.class_args[i], &a.f.classes[a.f.n_classes++], err,
                               sizeof err) < 0) {
            fprintf(stderr, "ocsf-replay: %s\n", err);
            code = EXIT_USAGE;
            goto done;
        }

    int64_t hw = 0, expected = -1;
    if (a.spool) {
        if (spool_src_open(&src, a.spool, err, sizeof err) < 0)
            goto fail;
        is_src_open = 1;
        if (a.is_verify) {
            code = verify_spool(&src, a.heads);
            goto done;
        }
        if (a.is_explain) {
            if (spool_src_explain(&src, &a.f, err, sizeof err) < 0)
                goto fail;
            code = 0;
            goto done;
        }
        hw = spool_sql_int(src.db, "SELECT max(seq) FROM events", 0);
        if (a.to && isatty(STDERR_FILENO))
            expected = spool_src_estimate(&src, &a.f, hw);
        snprintf(source, sizeof source, "spool:%.4000s", a.spool);
    } else {
        snprintf(source, sizeof source, "kafka:%.4000s", a.kafka);
    }
    replay_out_opts_t oo = {.format = a.format,
                            .is_count = a.is_count,
                            .sink_url = a.to,
                            .rate_per_s = a.rate,
                            .source = source,
                            .expected = expected,
                            .schema = schema,
                            .out = stdout};
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    if (replay_out_open(&oo, &out, err, sizeof err) < 0)
        goto fail;
    int rc = a.spool ? spool_src_run(&src, &a.f, hw, out, &read, err, sizeof err)
                     : replay_kafka_run(a.kafka, &a.f, a.lateness_ms, out, &read, err, sizeof err);
    char err2[1024] = "";
    int frc = replay_out_finish(out, read, seconds_since(&t0), err2, sizeof err2);
    if (rc < 0)
        goto fail;
    if (frc < 0) {
        snprintf(err, sizeof err, "%s", err2);
        goto fail;
    }
    code = 0;
    goto done;
fail:
    fprintf(stderr, "ocsf-replay: %s\n", err);
    code = EXIT_RUNTIME;
done:
    replay_out_close(out);
    if (is_src_open)
        spool_src_close(&src);
    schema_free(schema);
    return code;
}
