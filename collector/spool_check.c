/*
 * spool_check.c - startup integrity check and salvage of a damaged spool (see spool_check.h).
 *
 * The salvage works on two plain SQLite connections: the fresh spool (created through
 * spool_open, so its schema and format version are the collector's own) with the damaged copy
 * ATTACHed read-only as "old". Events are copied in seq ranges of SALVAGE_CHUNK; a range that
 * fails or comes back short is retried row by row (INSERT OR IGNORE keeps rows already copied),
 * and a row whose lookup fails is counted unreadable.
 */
#include "spool_check.h"
#include "spool.h"
#include "util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SALVAGE_CHUNK 1000

int spool_check(const char *path, char *why, size_t whylen, char *err, size_t errlen)
{
    struct stat stt;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int result = 0;

    why[0] = '\0';
    if (stat(path, &stt) < 0) {
        if (errno == ENOENT)
            return 0; /* a new spool */
        snprintf(err, errlen, "spool %s: %s", path, strerror(errno));
        return -1;
    }
    if (stt.st_size == 0)
        return 0; /* created but never written: SQLite initializes it */
    /* Only a file that is (or was) an SQLite database is ever salvaged: a path that points at
     * something else is a configuration mistake, and moving someone's file aside would be worse. */
    char magic[16] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;
    if (f)
        fclose(f);
    if (got == sizeof magic && memcmp(magic, "SQLite format 3", 16) != 0) {
        snprintf(err, errlen,
                 "spool %s is not an SQLite database (check --spool; the file was not touched)",
                 path);
        return -1;
    }
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(db, 10000);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(20)", -1, &st, NULL);
    if (rc == SQLITE_CANTOPEN || rc == SQLITE_PERM || rc == SQLITE_READONLY || rc == SQLITE_BUSY) {
        snprintf(err, errlen, "spool %s: cannot check it: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        result = -1;
        goto out;
    }
    if (rc != SQLITE_OK) { /* SQLITE_NOTADB, SQLITE_CORRUPT: not readable as a database */
        snprintf(why, whylen, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        result = 1;
        goto out;
    }
    size_t off = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && strcmp(line, "ok") == 0)
            break;
        result = 1;
        if (off < whylen)
            off += (size_t)snprintf(why + off, whylen - off, "%s%s", off ? "; " : "",
                                    line ? line : "?");
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        if (off < whylen)
            snprintf(why + off, whylen - off, "%s%s", off ? "; " : "", sqlite3_errmsg(db));
        result = 1;
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return result;
}

/* Renames path and its -wal/-shm to moved (and the same suffixes). The WAL is renamed too so
 * that opening the moved copy still applies it. */
static int salvage_move(const char *path, const char *moved, char *err, size_t errlen)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char from[4300], to[4300];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(from, sizeof from, "%s%s", path, suffix[i]);
        snprintf(to, sizeof to, "%s%s", moved, suffix[i]);
        if (rename(from, to) < 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot move %s aside to %s: %s", from, to, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* The damaged copy, read through its own connection so that an error there (SQLite may refuse
 * every later read on a connection that met a damaged page) is cured by reopening it. */
typedef struct salvage_src {
    const char *uri;
    sqlite3 *db;
    sqlite3_stmt *sel;
} salvage_src_t;

static void salvage_src_close(salvage_src_t *src)
{
    sqlite3_finalize(src->sel);
    sqlite3_close(src->db);
    src->sel = NULL;
    src->db = NULL;
}

static int salvage_src_open(salvage_src_t *src)
{
    /* with the hash chain's column, or (a spool from before the chain) NULL in its place */
    static const char *const sel[2] = {
        "SELECT seq, received_ms, event_ms, class_uid, activity_id, status_id, type, user, "
        "workspace, peer, body, hash FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
        "SELECT seq, received_ms, event_ms, class_uid, activity_id, status_id, type, user, "
        "workspace, peer, body, NULL FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"};
    salvage_src_close(src);
    if (sqlite3_open_v2(src->uri, &src->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
        SQLITE_OK) {
        salvage_src_close(src);
        return -1;
    }
    for (int i = 0; i < 2; i++)
        if (sqlite3_prepare_v2(src->db, sel[i], -1, &src->sel, NULL) == SQLITE_OK)
            return 0;
    salvage_src_close(src);
    return -1;
}

/* Copies the events with seq in [lo, hi]; the number copied, or -1 when the read failed (what was
 * copied before the failure stays: INSERT OR IGNORE makes a retry harmless). */
static int64_t salvage_copy(salvage_src_t *src, sqlite3_stmt *ins, int64_t lo, int64_t hi)
{
    int64_t n = 0;
    int rc;
    if (!src->db && salvage_src_open(src) < 0)
        return -1;
    sqlite3_bind_int64(src->sel, 1, lo);
    sqlite3_bind_int64(src->sel, 2, hi);
    while ((rc = sqlite3_step(src->sel)) == SQLITE_ROW) {
        for (int i = 0; i < 12; i++)
            sqlite3_bind_value(ins, i + 1, sqlite3_column_value(src->sel, i));
        if (sqlite3_step(ins) == SQLITE_DONE)
            n++;
        sqlite3_reset(ins);
    }
    sqlite3_reset(src->sel);
    if (rc != SQLITE_DONE) {
        salvage_src_close(src); /* reopened for the next read */
        return -1;
    }
    return n;
}

static void salvage_events(sqlite3 *db, const char *uri, spool_salvage_stats_t *st)
{
    sqlite3_stmt *ins = NULL;
    salvage_src_t src = {uri, NULL, NULL};
    st->first = spool_sql_int(db, "SELECT min(seq) FROM old.events", -1);
    st->last = spool_sql_int(db, "SELECT max(seq) FROM old.events", -1);
    if (st->first < 0 || st->last < 0) {
        /* the rowid tree's edges are damaged: try everything up to the high-water mark */
        st->first = 1;
        st->last =
            spool_sql_int(db, "SELECT CAST(value AS INTEGER) FROM old.meta WHERE key='seq_hw'", 0);
    }
    if (st->last < st->first ||
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO main.events(seq, received_ms, event_ms, "
                           "class_uid, activity_id, status_id, type, user, workspace, peer, body, "
                           "hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                           -1, &ins, NULL) != SQLITE_OK) {
        sqlite3_finalize(ins);
        return;
    }
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int64_t lo = st->first; lo <= st->last; lo += SALVAGE_CHUNK) {
        int64_t hi = lo + SALVAGE_CHUNK - 1 < st->last ? lo + SALVAGE_CHUNK - 1 : st->last;
        int64_t n = salvage_copy(&src, ins, lo, hi);
        if (n == hi - lo + 1)
            continue;
        /* an error, or rows missing (a damaged page can end a range scan early without one): one
         * row at a time, so that the rows around the damage are still copied */
        for (int64_t q = lo; q <= hi; q++)
            (void)salvage_copy(&src, ins, q, q);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(ins);
    salvage_src_close(&src);
    /* the spool assigns seqs without gaps and prunes from the bottom: a seq of the range that is
     * not in the fresh spool was on a damaged page */
    st->events = spool_sql_int(db, "SELECT count(*) FROM main.events", 0);
    st->unreadable = st->last - st->first + 1 - st->events;
}

/* "file:PATH?mode=ro" with the URI's special characters percent-encoded: the damaged copy is
 * only ever read (its WAL is applied in memory, never checkpointed into it). */
static void salvage_uri(const char *path, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p && o + 4 < len; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p < 0x20 || *p >= 0x7f)
            o += (size_t)snprintf(out + o, len - o, "%%%02X", *p);
        else
            out[o++] = (char)*p;
    }
    snprintf(out + o, len - o, "?mode=ro");
}

int spool_salvage(const char *path, spool_salvage_stats_t *st, char *err, size_t errlen)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    spool_t *fresh = NULL;
    sqlite3 *db = NULL;
    int rc = -1;

    memset(st, 0, sizeof *st);
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(st->moved_to, sizeof st->moved_to, "%s.corrupt-%s", path, stamp);
    if (salvage_move(path, st->moved_to, err, errlen) < 0)
        return -1;
    spool_opts_t so = {.synchronous = 2};
    if (spool_open(path, &so, &fresh, err, errlen) < 0)
        return -1;
    spool_close(fresh);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "spool %s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    char uri[sizeof st->moved_to * 3 + 32];
    salvage_uri(st->moved_to, uri, sizeof uri);
    sqlite3_stmt *att = NULL;
    int ok = sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS old", -1, &att, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(att, 1, uri, -1, SQLITE_STATIC);
        ok = sqlite3_step(att) == SQLITE_DONE;
    }
    sqlite3_finalize(att);
    if (!ok) {
        /* nothing readable at all (not a database): the fresh spool stands, empty */
        st->first = st->last = 0;
        rc = 0;
        goto out;
    }
    /* meta first: the high-water mark keeps seqs unique across the salvage; the chain's anchor
     * and head come along with the hashes, so a lost range shows as a gap (or a truncation) */
    sqlite3_exec(db,
                 "INSERT OR REPLACE INTO main.meta SELECT key, value FROM old.meta WHERE key IN "
                 "('created_ms', 'seq_hw', 'chain_base', 'chain_head')",
                 NULL, NULL, NULL);
    salvage_events(db, uri, st);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO main.meta VALUES('seq_hw', '%lld') ON CONFLICT(key) DO UPDATE SET value "
             "= max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
             (long long)(st->last > 0 ? st->last : 0));
    sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (sqlite3_exec(db, "INSERT OR IGNORE INTO main.sink_cursors SELECT * FROM old.sink_cursors",
                     NULL, NULL, NULL) == SQLITE_OK)
        st->cursors = sqlite3_changes(db);
    if (sqlite3_exec(db, "INSERT OR IGNORE INTO main.dead_letters SELECT * FROM old.dead_letters",
                     NULL, NULL, NULL) == SQLITE_OK)
        st->dead_letters = sqlite3_changes(db);
    rc = 0;
out:
    sqlite3_close(db);
    return rc;
}
