/*
 * spool.c - SQLite spool; the table layout and invariants are in spool.h.
 *
 * Statements are prepared once per connection. Writes happen only inside spool_begin/spool_commit,
 * which the writer thread brackets around a batch: one fsync (synchronous=FULL) covers the batch.
 */
#include "spool.h"
#include "spool_vfs.h"
#include "spool_index.h"
#include "chain.h"
#include "util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum stmt_id {
    ST_INSERT_EVENT,
    ST_INSERT_DEAD,
    ST_PUT_CURSOR,
    ST_GET_CURSOR,
    ST_READ_EVENTS,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PUT_META,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INSERT_EVENT] = "INSERT INTO events(seq, received_ms, event_ms, class_uid, activity_id, "
                        "status_id, type, user, workspace, peer, body, hash) "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_INSERT_DEAD] = "INSERT INTO dead_letters(received_ms, peer, listener, line, reason, raw, "
                       "raw_len) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_PUT_CURSOR] = "INSERT INTO sink_cursors(sink, seq, updated_ms) VALUES(?1, ?2, ?3) "
                      "ON CONFLICT(sink) DO UPDATE SET seq = excluded.seq, "
                      "updated_ms = excluded.updated_ms",
    [ST_GET_CURSOR] = "SELECT seq FROM sink_cursors WHERE sink = ?1",
    [ST_READ_EVENTS] =
        "SELECT seq, body, received_ms, event_ms, class_uid, activity_id, status_id, "
        "user, workspace FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PUT_META] = "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET "
                    "value = excluded.value",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL,"
    " event_ms INTEGER, class_uid INTEGER, activity_id INTEGER, status_id INTEGER, type TEXT,"
    " user TEXT, workspace TEXT, peer TEXT, body TEXT NOT NULL, hash BLOB);"
    "CREATE TABLE IF NOT EXISTS dead_letters(id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL,"
    " peer TEXT, listener TEXT, line INTEGER, reason TEXT NOT NULL, raw BLOB, raw_len INTEGER);"
    "CREATE TABLE IF NOT EXISTS sink_cursors(sink TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
    " updated_ms INTEGER);"
    /* ocsf-replay's filters: time alone here (event_ms only grows, so a commit appends to the
     * index's last leaf); time with user or workspace in the tables of spool_index.h, filled in
     * bulk. Class is filtered on the rows of a time range (a fourth index cost the writer a
     * fifth of its rate). */
    "CREATE INDEX IF NOT EXISTS events_time ON events(event_ms);";

struct spool {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    char path[4096];
    /* read-write connections: the chain head (seq, hash of the newest row written), and the head
     * as of spool_begin, which a rollback restores (chain.h) */
    chain_hasher_t *hasher;
    spool_index_t *index; /* read-write connections: replay's user/workspace tables */
    int wal_frames;       /* the WAL's frames after the last commit (wal hook) */
    int64_t head_seq, saved_seq;
    uint8_t head[CHAIN_HASH_LEN], saved[CHAIN_HASH_LEN];
};

spool_record_t *spool_record_new(int kind, const char *body, size_t body_len,
                                 const char *const str[SR_NSTR])
{
    size_t lens[SR_NSTR] = {0};
    size_t size = sizeof(spool_record_t) + body_len + 1;
    for (int i = 0; i < SR_NSTR; i++)
        if (str && str[i]) {
            lens[i] = strlen(str[i]) + 1;
            size += lens[i];
        }
    spool_record_t *r = malloc(size);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    char *p = (char *)(r + 1);
    memcpy(p, body, body_len);
    p[body_len] = '\0';
    r->body = p;
    r->body_len = body_len;
    r->raw_len = body_len;
    p += body_len + 1;
    for (int i = 0; i < SR_NSTR; i++) {
        if (!lens[i])
            continue;
        memcpy(p, str[i], lens[i]);
        r->str[i] = p;
        p += lens[i];
    }
    r->kind = kind;
    r->event_ms = -1;
    r->class_uid = r->activity_id = r->status_id = -1;
    r->size = size;
    return r;
}

void spool_record_free(spool_record_t *r)
{
    free(r);
}

const char *spool_errmsg(spool_t *s)
{
    return sqlite3_errmsg(s->db);
}

const char *spool_path(const spool_t *s)
{
    return s->path;
}

static int spool_check_format(spool_t *s, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'format_version'", -1,
                                &st, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "spool %s: cannot read meta table: %s", s->path,
                 sqlite3_errmsg(s->db));
        return -1;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        char want[16];
        snprintf(want, sizeof want, "%d", SPOOL_FORMAT_VERSION);
        if (!v || strcmp(v, want) != 0) {
            snprintf(err, errlen,
                     "spool %s has format version %s, this collector reads format version %d: "
                     "run a collector that matches it, or move the spool aside",
                     s->path, v ? v : "(null)", SPOOL_FORMAT_VERSION);
            sqlite3_finalize(st);
            return -1;
        }
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "spool %s: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    return 1; /* no version yet: a new spool */
}

static int spool_step_done(spool_t *s, sqlite3_stmt *st);

static int spool_put_meta(spool_t *s, const char *key, const char *value)
{
    sqlite3_stmt *st = s->stmt[ST_PUT_META];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    return spool_step_done(s, st);
}

/* A spool from before the chain (no hash column) gains the column: ALTER TABLE ADD COLUMN only
 * changes the schema, no row is rewritten, and the format stays 1 (like the replay indexes). */
static int spool_chain_migrate(spool_t *s, char *err, size_t errlen)
{
    sqlite3_stmt *probe = NULL;
    int has_hash =
        sqlite3_prepare_v2(s->db, "SELECT hash FROM events LIMIT 0", -1, &probe, NULL) == SQLITE_OK;
    sqlite3_finalize(probe);
    if (has_hash)
        return 0;
    char *emsg = NULL;
    if (sqlite3_exec(s->db, "ALTER TABLE events ADD COLUMN hash BLOB", NULL, NULL, &emsg) !=
        SQLITE_OK) {
        snprintf(err, errlen, "spool %s: cannot add the hash chain column: %s", s->path,
                 emsg ? emsg : sqlite3_errmsg(s->db));
        sqlite3_free(emsg);
        return -1;
    }
    return 0;
}

/* Loads the chain's anchor and head (chain.h); a spool without an anchor gets one: (last seq,
 * 32 random bytes), so the rows it already holds are "before the chain". */
static int spool_chain_open(spool_t *s, char *err, size_t errlen)
{
    int64_t seq = 0;
    uint8_t h[CHAIN_HASH_LEN];
    if (chain_hasher_new(&s->hasher) < 0) {
        snprintf(err, errlen, "spool %s: cannot set up SHA-256 (OpenSSL)", s->path);
        return -1;
    }
    int rc = chain_meta_point(s->db, "chain_base", &seq, h);
    if (rc == 0) {
        char point[CHAIN_POINT_LEN];
        seq = spool_last_seq(s);
        if (seq < 0 || chain_random(h) < 0) {
            snprintf(err, errlen, "spool %s: cannot start the hash chain: %s", s->path,
                     seq < 0 ? sqlite3_errmsg(s->db) : "no random bytes from OpenSSL");
            return -1;
        }
        chain_point_format(seq, h, point);
        if (spool_put_meta(s, "chain_base", point) < 0) {
            snprintf(err, errlen, "spool %s: cannot write meta chain_base: %s", s->path,
                     sqlite3_errmsg(s->db));
            return -1;
        }
    }
    if (rc >= 0)
        rc = chain_meta_point(s->db, "chain_head", &seq, h) < 0 ? -1 : 0;
    if (rc < 0) {
        snprintf(err, errlen,
                 "spool %s: meta chain_base or chain_head is malformed (want SEQ:64 hex digits), "
                 "so the hash chain cannot go on: run ocsf-replay --verify --spool %s, then move "
                 "the spool aside",
                 s->path, s->path);
        return -1;
    }
    s->head_seq = s->saved_seq = seq;
    memcpy(s->head, h, sizeof s->head);
    memcpy(s->saved, h, sizeof s->saved);
    return 0;
}

int spool_chain_head(spool_t *s, int64_t *seq, uint8_t hash[32])
{
    if (!s->hasher)
        return -1;
    *seq = s->head_seq;
    memcpy(hash, s->head, CHAIN_HASH_LEN);
    return 0;
}

/* After each commit: how big the WAL is (the owner checkpoints, spool_ckpt.h). */
static int spool_wal_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((spool_t *)ctx)->wal_frames = frames;
    return SQLITE_OK;
}

int spool_wal_frames(const spool_t *s)
{
    return s->wal_frames;
}

static int spool_checkpoint_mode(spool_t *s, int mode)
{
    int log_frames = 0, done = 0;
    return sqlite3_wal_checkpoint_v2(s->db, NULL, mode, &log_frames, &done) == SQLITE_OK ? 0 : -1;
}

int spool_checkpoint_passive(spool_t *s)
{
    return spool_checkpoint_mode(s, SQLITE_CHECKPOINT_PASSIVE);
}

int spool_open(const char *path, const spool_opts_t *opts, spool_t **out, char *err, size_t errlen)
{
    static const spool_opts_t defaults = {0, 2, 0, 0, 0};
    spool_t *s = NULL;
    char *emsg = NULL;
    char sql[256];
    int rc;

    if (!opts)
        opts = &defaults;
    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (util_strlcpy(s->path, path, sizeof s->path) < 0) {
        snprintf(err, errlen, "spool path too long");
        goto fail;
    }
    int flags =
        opts->is_read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    /* the read-write connection gathers its writes (spool_vfs.h), safe only when every commit
     * syncs the WAL */
    const char *vfs = !opts->is_read_only && opts->synchronous >= 2 ? spool_vfs_name() : NULL;
    rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, vfs);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open spool %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 10000);
    /* 16 KiB pages. Without is_background_checkpoint, a 64 MiB WAL between checkpoints (4000
     * pages): a page the writer rewrites in many commits (the table's last page) is copied to the
     * database once per checkpoint. With it, the owner's thread checkpoints every 16 MiB
     * (spool_ckpt.h) off the commit path. The WAL file is cut back to 64 MiB. The writer's page
     * cache is 64 MiB unless spool_cache_bytes says otherwise: a commit touches the newest index
     * leaf of every active user and workspace (~10 MiB for 300 of each) besides up to
     * commit_max_events new rows (~12 MiB normalized); with 16 MiB the rows pushed the leaves out
     * and every commit read them back (3.3 KB per normalized event, 2.0 KB with 64 MiB;
     * normalized/as received 0.67 -> 0.73 at ocsf-bench's default window). */
    snprintf(sql, sizeof sql,
             "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=%d;"
             " PRAGMA cache_size=-%d;"
             " PRAGMA journal_size_limit=67108864; PRAGMA wal_autocheckpoint=%d;",
             opts->synchronous, opts->cache_kib > 0 ? opts->cache_kib : 65536,
             opts->is_background_checkpoint ? 0 : 4000);
    if (opts->is_read_only)
        snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d;",
                 opts->cache_kib > 0 ? opts->cache_kib : 8192);
    if (sqlite3_exec(s->db, sql, NULL, NULL, &emsg) != SQLITE_OK) {
        snprintf(err, errlen, "spool %s: %s (is it an SQLite spool? is its directory writable?)",
                 path, emsg ? emsg : sqlite3_errmsg(s->db));
        goto fail;
    }
    if (!opts->is_read_only) {
        if (sqlite3_exec(s->db, schema_sql, NULL, NULL, &emsg) != SQLITE_OK) {
            snprintf(err, errlen, "spool %s: cannot create tables: %s", path, emsg);
            goto fail;
        }
    }
    rc = spool_check_format(s, err, errlen);
    if (rc < 0)
        goto fail;
    if (rc == 1) {
        if (opts->is_read_only) {
            snprintf(err, errlen, "spool %s has no format version: not a collector spool", path);
            goto fail;
        }
        snprintf(sql, sizeof sql,
                 "INSERT INTO meta VALUES('format_version', '%d'), ('created_ms', '%lld')",
                 SPOOL_FORMAT_VERSION, (long long)util_now_ms());
        if (sqlite3_exec(s->db, sql, NULL, NULL, &emsg) != SQLITE_OK) {
            snprintf(err, errlen, "spool %s: cannot write meta: %s", path, emsg);
            goto fail;
        }
    }
    if (!opts->is_read_only && spool_chain_migrate(s, err, errlen) < 0)
        goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (opts->is_read_only &&
            (i == ST_INSERT_EVENT || i == ST_INSERT_DEAD || i == ST_PUT_CURSOR || i == ST_PUT_META))
            continue;
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "spool %s: %s", path, sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    if (!opts->is_read_only && spool_chain_open(s, err, errlen) < 0)
        goto fail;
    /* the hook replaces SQLite's own automatic checkpoint: only when the owner checkpoints */
    if (!opts->is_read_only && opts->is_background_checkpoint)
        sqlite3_wal_hook(s->db, spool_wal_hook, s);
    if (!opts->is_read_only &&
        spool_index_open(s->db, opts->index_merge_ms, &s->index, err, errlen) < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        snprintf(err, errlen, "spool %s: %s", path, msg);
        goto fail;
    }
    *out = s;
    return 0;

fail:
    sqlite3_free(emsg);
    spool_close(s);
    return -1;
}

void spool_close(spool_t *s)
{
    if (!s)
        return;
    /* what waits for the replay tables goes in now (else the next open rebuilds it) */
    if (s->index && spool_index_pending(s->index) > 0 && spool_begin(s) == 0) {
        if (spool_index_before_commit(s->index, 1) < 0 || spool_commit(s) < 0)
            spool_rollback(s);
    }
    spool_index_free(s->index);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    chain_hasher_free(s->hasher);
    free(s);
}

static int spool_step_done(spool_t *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    (void)s;
    return rc == SQLITE_DONE ? 0 : -1;
}

int spool_begin(spool_t *s)
{
    s->saved_seq = s->head_seq;
    memcpy(s->saved, s->head, sizeof s->saved);
    if (s->index)
        spool_index_begin(s->index);
    return spool_step_done(s, s->stmt[ST_BEGIN]);
}

int spool_commit(spool_t *s)
{
    /* the head goes with the rows it covers: a spool cut after this commit no longer ends at it */
    if (s->hasher &&
        (s->head_seq != s->saved_seq || memcmp(s->head, s->saved, sizeof s->head) != 0)) {
        char point[CHAIN_POINT_LEN];
        chain_point_format(s->head_seq, s->head, point);
        if (spool_put_meta(s, "chain_head", point) < 0)
            return -1;
    }
    if (s->index && spool_index_before_commit(s->index, 0) < 0)
        return -1;
    if (spool_step_done(s, s->stmt[ST_COMMIT]) < 0)
        return -1;
    if (s->index)
        spool_index_committed(s->index);
    s->saved_seq = s->head_seq;
    memcpy(s->saved, s->head, sizeof s->saved);
    return 0;
}

void spool_rollback(spool_t *s)
{
    /* the rows are gone, so is their part of the chain: a retry links from the committed head */
    s->head_seq = s->saved_seq;
    memcpy(s->head, s->saved, sizeof s->head);
    if (s->index)
        spool_index_rollback(s->index);
    if (!sqlite3_get_autocommit(s->db))
        spool_step_done(s, s->stmt[ST_ROLLBACK]);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_int_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

int spool_insert(spool_t *s, const spool_record_t *r)
{
    sqlite3_stmt *st;
    uint8_t link[CHAIN_HASH_LEN];
    switch (r->kind) {
    case SPOOL_EVENT:
        if (s->hasher) {
            chain_fields_t f = {.seq = r->seq,
                                .received_ms = r->received_ms,
                                .event_ms = r->event_ms,
                                .class_uid = r->class_uid,
                                .activity_id = r->activity_id,
                                .status_id = r->status_id,
                                .type = r->str[SR_TYPE],
                                .user = r->str[SR_USER],
                                .workspace = r->str[SR_WORKSPACE],
                                .peer = r->str[SR_PEER],
                                .body = r->body,
                                .body_len = r->body_len};
            if (chain_link(s->hasher, s->head, &f, link) < 0)
                return -1;
        }
        st = s->stmt[ST_INSERT_EVENT];
        sqlite3_bind_int64(st, 1, r->seq);
        sqlite3_bind_int64(st, 2, r->received_ms);
        bind_int_or_null(st, 3, r->event_ms);
        bind_int_or_null(st, 4, r->class_uid);
        bind_int_or_null(st, 5, r->activity_id);
        bind_int_or_null(st, 6, r->status_id);
        bind_text_or_null(st, 7, r->str[SR_TYPE]);
        bind_text_or_null(st, 8, r->str[SR_USER]);
        bind_text_or_null(st, 9, r->str[SR_WORKSPACE]);
        bind_text_or_null(st, 10, r->str[SR_PEER]);
        sqlite3_bind_text(st, 11, r->body, (int)r->body_len, SQLITE_STATIC);
        if (s->hasher)
            sqlite3_bind_blob(st, 12, link, CHAIN_HASH_LEN, SQLITE_STATIC);
        if (spool_step_done(s, st) < 0)
            return -1;
        if (s->index && spool_index_add(s->index, r->seq, r->event_ms, r->str[SR_USER],
                                        r->str[SR_WORKSPACE]) < 0)
            return -1;
        if (s->hasher) {
            s->head_seq = r->seq;
            memcpy(s->head, link, sizeof s->head);
        }
        return 0;
    case SPOOL_DEAD:
        st = s->stmt[ST_INSERT_DEAD];
        sqlite3_bind_int64(st, 1, r->received_ms);
        bind_text_or_null(st, 2, r->str[SR_PEER]);
        bind_text_or_null(st, 3, r->str[SR_LISTENER]);
        sqlite3_bind_int64(st, 4, r->line);
        sqlite3_bind_text(st, 5, r->str[SR_REASON] ? r->str[SR_REASON] : "unknown", -1,
                          SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, r->body, (int)r->body_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (int64_t)r->raw_len);
        return spool_step_done(s, st);
    default:
        return 0;
    }
}

int spool_put_cursor(spool_t *s, const char *sink, int64_t seq, int64_t now_ms)
{
    sqlite3_stmt *st = s->stmt[ST_PUT_CURSOR];
    sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_int64(st, 3, now_ms);
    return spool_step_done(s, st);
}

int spool_get_cursor(spool_t *s, const char *sink, int64_t *seq)
{
    sqlite3_stmt *st = s->stmt[ST_GET_CURSOR];
    sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *seq = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int64_t spool_query_int(spool_t *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        v = 0;
    sqlite3_finalize(st);
    return v;
}

int64_t spool_last_seq(spool_t *s)
{
    int64_t a = spool_query_int(s, "SELECT coalesce(max(seq), 0) FROM events");
    int64_t b = spool_query_int(
        s, "SELECT coalesce(max(CAST(value AS INTEGER)), 0) FROM meta WHERE key = 'seq_hw'");
    if (a < 0 || b < 0)
        return -1;
    return a > b ? a : b;
}

int64_t spool_count(spool_t *s, const char *table)
{
    char sql[128];
    if (strcmp(table, "events") && strcmp(table, "dead_letters") && strcmp(table, "sink_cursors"))
        return -1;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return spool_query_int(s, sql);
}

/* Before the rows up to seq are deleted: meta chain_base = (seq, its hash), so the chain is
 * verifiable from the oldest row left. Inside the prune's transaction (a rollback undoes it). A
 * row from before the chain (no hash) leaves the anchor where it is; so does a seq at or below
 * it. 0 or -1. */
static int spool_prune_anchor(spool_t *s, int64_t seq)
{
    sqlite3_stmt *st = NULL;
    int64_t base_seq = 0;
    uint8_t base[CHAIN_HASH_LEN];
    int rc = 0;
    if (!s->hasher)
        return 0; /* read-only connections never prune; nothing to anchor */
    if (chain_meta_point(s->db, "chain_base", &base_seq, base) == 1 && base_seq >= seq)
        return 0;
    if (sqlite3_prepare_v2(s->db, "SELECT hash FROM events WHERE seq = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CHAIN_HASH_LEN) {
        char point[CHAIN_POINT_LEN];
        chain_point_format(seq, sqlite3_column_blob(st, 0), point);
        rc = spool_put_meta(s, "chain_base", point);
    } else if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

int spool_prune(spool_t *s, int64_t upto_seq, int64_t before_ms, int max_rows)
{
    sqlite3_stmt *st = NULL;
    int n = 0, rc;
    int64_t highest = 0;
    /* The oldest events in seq order, up to the first one still inside retention: rows come in
     * receive order, so the scan reads only what it deletes plus one row. (A condition on
     * received_ms in SQL instead made SQLite walk every row up to upto_seq, the whole spool,
     * each time nothing was old enough.) */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT seq, received_ms FROM events WHERE seq <= ?1 ORDER BY seq "
                           "LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, upto_seq);
    sqlite3_bind_int(st, 2, max_rows);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_int64(st, 1) < before_ms) {
        highest = sqlite3_column_int64(st, 0);
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    if (n == 0)
        return 0;
    /* the highest seq deleted is recorded in seq_hw (below) so no seq is ever reused */
    if (spool_prune_anchor(s, highest) < 0)
        return -1;
    if (s->index && spool_index_prune(s->index, highest) < 0)
        return -1;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM events WHERE seq <= ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, highest);
    rc = sqlite3_step(st);
    int deleted = rc == SQLITE_DONE ? sqlite3_changes(s->db) : -1;
    sqlite3_finalize(st);
    if (deleted < 0)
        return -1;
    if (deleted > 0) {
        char hw[160];
        snprintf(hw, sizeof hw,
                 "INSERT INTO meta VALUES('seq_hw', '%lld') ON CONFLICT(key) DO UPDATE SET "
                 "value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                 (long long)highest);
        if (sqlite3_exec(s->db, hw, NULL, NULL, NULL) != SQLITE_OK)
            return -1;
    }
    return deleted;
}

int64_t spool_sql_int(sqlite3 *db, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st = NULL;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int64_t spool_first_seq(spool_t *s)
{
    return spool_query_int(s, "SELECT coalesce(min(seq), 0) FROM events");
}

int64_t spool_used_bytes(spool_t *s)
{
    int64_t pages = spool_query_int(s, "PRAGMA page_count");
    int64_t free_pages = spool_query_int(s, "PRAGMA freelist_count");
    int64_t page_size = spool_query_int(s, "PRAGMA page_size");
    if (pages < 0 || free_pages < 0 || page_size <= 0)
        return -1;
    return (pages - free_pages) * page_size;
}

int spool_prune_bytes(spool_t *s, int64_t upto_seq, int64_t max_bytes, int max_rows)
{
    int64_t used = spool_used_bytes(s);
    if (used < 0)
        return -1;
    if (used <= max_bytes)
        return 0;
    /* rows by the seq span (cheap; an estimate when seqs have gaps), bytes per row from it */
    int64_t lo = spool_query_int(s, "SELECT coalesce(min(seq), 0) FROM events");
    int64_t hi = spool_query_int(s, "SELECT coalesce(max(seq), 0) FROM events");
    if (lo < 0 || hi < 0)
        return -1;
    if (hi == 0)
        return 0; /* over the cap with no events: dead letters or free space, not ours to prune */
    int64_t per_row = used / (hi - lo + 1);
    int64_t want = (used - max_bytes) / (per_row > 0 ? per_row : 1) + 1;
    return spool_prune(s, upto_seq, INT64_MAX, want < max_rows ? (int)want : max_rows);
}

static int64_t column_int64_or(sqlite3_stmt *st, int col, int64_t dflt)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, col);
}

int spool_read_events(spool_t *s, int64_t after, int limit, spool_row_cb cb, void *ctx)
{
    sqlite3_stmt *st = s->stmt[ST_READ_EVENTS];
    int n = 0, rc;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        spool_row_t row;
        const char *body = (const char *)sqlite3_column_text(st, 1);
        row.seq = sqlite3_column_int64(st, 0);
        row.body = body ? body : "";
        row.len = (size_t)sqlite3_column_bytes(st, 1);
        row.received_ms = sqlite3_column_int64(st, 2);
        row.event_ms = column_int64_or(st, 3, -1);
        row.class_uid = (int)column_int64_or(st, 4, -1);
        row.activity_id = (int)column_int64_or(st, 5, -1);
        row.status_id = (int)column_int64_or(st, 6, -1);
        row.user = (const char *)sqlite3_column_text(st, 7);
        row.workspace = (const char *)sqlite3_column_text(st, 8);
        n++;
        int stop = cb(ctx, &row);
        if (stop) {
            sqlite3_reset(st);
            return stop;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? n : -1;
}

int spool_checkpoint(spool_t *s)
{
    return spool_checkpoint_mode(s, SQLITE_CHECKPOINT_TRUNCATE);
}
