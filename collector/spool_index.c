/*
 * spool_index.c - replay's user and workspace lookups as posting lists (contract in
 * spool_index.h).
 *
 * Waiting entries are kept in insertion (seq) order: a fixed-size record per entry plus its two
 * strings in one growing arena, so adding one costs a copy and no allocation in the steady state.
 * A merge sorts two arrays of entry numbers (by a 64-bit hash of the user, then of the workspace,
 * each then by time and seq: integer compares only, the hashes taken once when the entry is added)
 * and writes one postings row per run of the same key (at most SPOOL_POSTING_MAX entries; two keys
 * whose hashes collide may interleave, which only splits their runs into more rows):
 * a few hundred row inserts per merge where an index entry per event cost the writer ~2 us each.
 */
#include "spool_index.h"
#include "spool.h"
#include "util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_STR UINT32_MAX

struct ix_entry {
    int64_t seq, event_ms;
    uint64_t hash[2];         /* of the user and of the workspace (IX_USER, IX_WORKSPACE) */
    uint32_t user, workspace; /* offsets into the arena, NO_STR when none */
};

enum { IX_USER = SPOOL_POSTING_KIND_USER, IX_WORKSPACE = SPOOL_POSTING_KIND_WORKSPACE, IX_N };

static const char ix_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS postings(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL,"
    " key TEXT NOT NULL, first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,"
    " seq_max INTEGER NOT NULL, n INTEGER NOT NULL, entries BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS postings_key ON postings(kind, key, last_ms);"
    "CREATE INDEX IF NOT EXISTS postings_seq ON postings(seq_max);"
    /* what these replace: row-by-row indexes on the events */
    "DROP INDEX IF EXISTS events_user_time;"
    "DROP INDEX IF EXISTS events_workspace_time;";

struct spool_index {
    sqlite3 *db;
    sqlite3_stmt *insert; /* one postings row */
    uint8_t *blob;        /* SPOOL_POSTING_MAX entries, encoded */
    struct ix_entry *e;
    size_t n, cap;
    char *str;
    size_t str_len, str_cap;
    int64_t last_seq;   /* highest seq added (with an entry or not) */
    int64_t stored_seq; /* meta.index_seq as committed */
    uint64_t first_ns;  /* when the oldest event not covered by index_seq was added, 0 none */
    uint64_t merge_ns;  /* how long entries may wait */
    int is_merged;      /* this transaction merged everything added before it */
    size_t begin_n, begin_str_len; /* the state at BEGIN, for a rollback */
    int64_t begin_last_seq;
    uint64_t begin_first_ns;
};

#define INDEX_SEQ_SQL "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'index_seq'"
#define SEQ_HW_SQL    "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'seq_hw'"

static int put_index_seq(sqlite3 *db, int64_t seq)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "INSERT INTO meta VALUES('index_seq', '%lld') ON CONFLICT(key) DO UPDATE SET value = "
             "excluded.value",
             (long long)seq);
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* FNV-1a, 64 bits: groups equal keys for the merge's sort (not a defence against anything). */
static uint64_t key_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* Copies s into the arena; its offset, or NO_STR for NULL, or -1 when out of memory. */
static int64_t arena_put(spool_index_t *ix, const char *s)
{
    if (!s)
        return NO_STR;
    size_t n = strlen(s) + 1;
    if (ix->str_len + n > ix->str_cap) {
        size_t cap = ix->str_cap ? ix->str_cap : 1 << 16;
        while (cap < ix->str_len + n)
            cap *= 2;
        if (cap >= NO_STR)
            return -1;
        char *p = realloc(ix->str, cap);
        if (!p)
            return -1;
        ix->str = p;
        ix->str_cap = cap;
    }
    memcpy(ix->str + ix->str_len, s, n);
    ix->str_len += n;
    return (int64_t)(ix->str_len - n);
}

int spool_index_add(spool_index_t *ix, int64_t seq, int64_t event_ms, const char *user,
                    const char *workspace)
{
    if (seq > ix->last_seq)
        ix->last_seq = seq;
    if (!ix->first_ns)
        ix->first_ns = util_mono_ns();
    if (event_ms < 0 || (!user && !workspace))
        return 0;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 4096;
        struct ix_entry *e = realloc(ix->e, cap * sizeof *e);
        if (!e)
            return -1;
        ix->e = e;
        ix->cap = cap;
    }
    int64_t u = arena_put(ix, user), w = arena_put(ix, workspace);
    if (u < 0 || w < 0)
        return -1;
    ix->e[ix->n++] = (struct ix_entry){
        seq, event_ms, {key_hash(user), key_hash(workspace)}, (uint32_t)u, (uint32_t)w};
    return 0;
}

void spool_index_begin(spool_index_t *ix)
{
    ix->begin_n = ix->n;
    ix->begin_str_len = ix->str_len;
    ix->begin_last_seq = ix->last_seq;
    ix->begin_first_ns = ix->first_ns;
    ix->is_merged = 0;
}

/* qsort has no context argument: the index being merged, set by merge_table (one thread). */
static _Thread_local const spool_index_t *sorting;
static _Thread_local int sorting_table;

static int entry_cmp(const void *a, const void *b)
{
    const struct ix_entry *x = &sorting->e[*(const uint32_t *)a];
    const struct ix_entry *y = &sorting->e[*(const uint32_t *)b];
    uint64_t hx = x->hash[sorting_table], hy = y->hash[sorting_table];
    if (hx != hy)
        return hx < hy ? -1 : 1;
    if (x->event_ms != y->event_ms)
        return x->event_ms < y->event_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void put_le64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}

/* Writes one postings row for order[from..to), entries of one key sorted by (time, seq). */
static int put_posting(spool_index_t *ix, int kind, const char *key, const uint32_t *order,
                       size_t from, size_t to)
{
    int64_t seq_max = 0;
    for (size_t i = from; i < to; i++) {
        const struct ix_entry *x = &ix->e[order[i]];
        put_le64(ix->blob + 16 * (i - from), x->event_ms);
        put_le64(ix->blob + 16 * (i - from) + 8, x->seq);
        if (x->seq > seq_max)
            seq_max = x->seq;
    }
    sqlite3_stmt *st = ix->insert;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ix->e[order[from]].event_ms);
    sqlite3_bind_int64(st, 4, ix->e[order[to - 1]].event_ms);
    sqlite3_bind_int64(st, 5, seq_max);
    sqlite3_bind_int64(st, 6, (int64_t)(to - from));
    sqlite3_bind_blob(st, 7, ix->blob, (int)(16 * (to - from)), SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The postings of one kind for the waiting entries, skipping events pruned before (seq <= hw). */
static int merge_table(spool_index_t *ix, int table, int64_t hw, uint32_t *order)
{
    size_t m = 0;
    for (size_t i = 0; i < ix->n; i++) {
        const struct ix_entry *x = &ix->e[i];
        if (x->seq > hw && (table == IX_USER ? x->user : x->workspace) != NO_STR)
            order[m++] = (uint32_t)i;
    }
    sorting = ix;
    sorting_table = table;
    qsort(order, m, sizeof order[0], entry_cmp);
    for (size_t i = 0; i < m;) {
        const struct ix_entry *x = &ix->e[order[i]];
        const char *key = ix->str + (table == IX_USER ? x->user : x->workspace);
        size_t j = i + 1;
        while (j < m && j - i < SPOOL_POSTING_MAX) {
            const struct ix_entry *y = &ix->e[order[j]];
            if (y->hash[table] != x->hash[table] ||
                strcmp(ix->str + (table == IX_USER ? y->user : y->workspace), key) != 0)
                break;
            j++;
        }
        if (put_posting(ix, table, key, order, i, j) < 0)
            return -1;
        i = j;
    }
    return 0;
}

static int merge_all(spool_index_t *ix, int64_t hw)
{
    if (ix->n == 0)
        return 0;
    uint32_t *order = malloc(ix->n * sizeof *order);
    if (!order)
        return -1;
    int rc = 0;
    for (int t = 0; t < IX_N && rc == 0; t++)
        rc = merge_table(ix, t, hw, order);
    free(order);
    return rc;
}

static void buffer_clear(spool_index_t *ix)
{
    ix->n = 0;
    ix->str_len = 0;
    ix->first_ns = 0;
}

int spool_index_before_commit(spool_index_t *ix, int is_forced)
{
    if (ix->last_seq <= ix->stored_seq)
        return 0; /* nothing added since the last merge */
    if (!is_forced && ix->n < SPOOL_INDEX_MERGE_ENTRIES &&
        util_mono_ns() - ix->first_ns < ix->merge_ns)
        return 0;
    if (merge_all(ix, spool_sql_int(ix->db, SEQ_HW_SQL, 0)) < 0 ||
        put_index_seq(ix->db, ix->last_seq) < 0)
        return -1;
    ix->is_merged = 1;
    return 0;
}

/* Indexes the events after meta.index_seq (a crash's tail, an older spool) from the events table,
 * SPOOL_INDEX_MERGE_ENTRIES at a time, in one transaction. */
static int catch_up(spool_index_t *ix, char *err, size_t errlen)
{
    sqlite3 *db = ix->db;
    sqlite3_stmt *st = NULL;
    int64_t from = spool_sql_int(db, INDEX_SEQ_SQL, 0);
    int64_t last = spool_sql_int(db, "SELECT coalesce(max(seq), 0) FROM events", 0);
    ix->stored_seq = ix->last_seq = from;
    if (last <= from)
        return 0;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, event_ms, user, workspace FROM events WHERE seq > ?1 AND "
                           "event_ms IS NOT NULL ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail_txn;
    sqlite3_bind_int64(st, 1, from);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (spool_index_add(ix, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                            (const char *)sqlite3_column_text(st, 2),
                            (const char *)sqlite3_column_text(st, 3)) < 0)
            goto fail_txn;
        if (ix->n >= SPOOL_INDEX_MERGE_ENTRIES) {
            if (merge_all(ix, 0) < 0)
                goto fail_txn;
            buffer_clear(ix);
        }
    }
    if (rc != SQLITE_DONE || merge_all(ix, 0) < 0 || put_index_seq(db, last) < 0 ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail_txn;
    sqlite3_finalize(st);
    buffer_clear(ix);
    ix->stored_seq = ix->last_seq = last;
    return 0;
fail_txn:
    snprintf(err, errlen, "indexing events %lld..%lld for replay: %s", (long long)from + 1,
             (long long)last, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    buffer_clear(ix);
    return -1;
fail:
    snprintf(err, errlen, "indexing events for replay: %s", sqlite3_errmsg(db));
    return -1;
}

int spool_index_open(sqlite3 *db, int merge_ms, spool_index_t **out, char *err, size_t errlen)
{
    char *emsg = NULL;
    *out = NULL;
    spool_index_t *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->blob = malloc(16 * SPOOL_POSTING_MAX))) {
        free(ix);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ix->db = db;
    ix->merge_ns = (uint64_t)(merge_ms > 0 ? merge_ms : SPOOL_INDEX_MERGE_MS) * 1000000u;
    if (sqlite3_exec(db, ix_schema_sql, NULL, NULL, &emsg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot create the replay postings: %s", emsg);
        sqlite3_free(emsg);
        goto fail;
    }
    if (sqlite3_prepare_v3(db,
                           "INSERT INTO postings(kind, key, first_ms, last_ms, seq_max, n, "
                           "entries) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, SQLITE_PREPARE_PERSISTENT, &ix->insert, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        goto fail;
    }
    if (catch_up(ix, err, errlen) < 0)
        goto fail;
    *out = ix;
    return 0;
fail:
    spool_index_free(ix);
    return -1;
}

void spool_index_committed(spool_index_t *ix)
{
    if (!ix->is_merged)
        return;
    ix->is_merged = 0;
    buffer_clear(ix);
    ix->stored_seq = ix->last_seq;
}

void spool_index_rollback(spool_index_t *ix)
{
    ix->n = ix->begin_n;
    ix->str_len = ix->begin_str_len;
    ix->last_seq = ix->begin_last_seq;
    ix->first_ns = ix->begin_first_ns;
    ix->is_merged = 0;
}

int spool_index_prune(spool_index_t *ix, int64_t upto)
{
    /* a row whose entries are all pruned goes; one that still covers a kept event stays, and
     * readers skip its pruned entries (their events are gone) */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ix->db, "DELETE FROM postings WHERE seq_max <= ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, upto);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

size_t spool_index_pending(const spool_index_t *ix)
{
    return ix->n;
}

void spool_index_free(spool_index_t *ix)
{
    if (!ix)
        return;
    sqlite3_finalize(ix->insert);
    free(ix->blob);
    free(ix->e);
    free(ix->str);
    free(ix);
}
