/*
 * replay_postings.c - the events of one user or workspace in a time window, from the spool's
 * postings (collector/spool_index.h) plus the tail not merged yet, as (event_ms, seq) pairs in
 * time order. ocsf-replay then reads those events by seq, a page at a time.
 *
 * Everything is read in one read transaction, so the postings and the tail are one snapshot: the
 * postings' entries up to index_seq (as read when the spool was opened: later merges add nothing
 * the tail does not already give), and the events after it, up to the replay's high-water mark.
 */
#include "replay.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char replay_postings_sql[] =
    "SELECT n, entries FROM postings WHERE kind = ?1 AND key = ?2 AND last_ms >= ?3 AND "
    "first_ms < ?4";

static const char *const tail_sql[2] = {
    "SELECT event_ms, seq FROM events WHERE seq > ?1 AND seq <= ?2 AND user = ?3 AND +event_ms "
    ">= ?4 AND +event_ms < ?5",
    "SELECT event_ms, seq FROM events WHERE seq > ?1 AND seq <= ?2 AND workspace = ?3 AND "
    "+event_ms >= ?4 AND +event_ms < ?5",
};

typedef struct cands {
    replay_cand_t *v;
    size_t n, cap;
} cands_t;

static int cands_push(cands_t *c, int64_t ms, int64_t seq)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        replay_cand_t *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return -1;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (replay_cand_t){ms, seq};
    return 0;
}

static int64_t get_le64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | p[i];
    return (int64_t)u;
}

static int cand_cmp(const void *a, const void *b)
{
    const replay_cand_t *x = a, *y = b;
    if (x->event_ms != y->event_ms)
        return x->event_ms < y->event_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int replay_postings_collect(sqlite3 *db, int kind, const char *key, int64_t since_ms,
                            int64_t until_ms, int64_t ix_seq, int64_t hw, replay_cand_t **out,
                            size_t *n, char *err, size_t errlen)
{
    cands_t c = {0};
    sqlite3_stmt *st = NULL;
    int rc;
    *out = NULL;
    *n = 0;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(db, replay_postings_sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, since_ms);
    sqlite3_bind_int64(st, 4, until_ms);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t count = sqlite3_column_int64(st, 0);
        const uint8_t *p = sqlite3_column_blob(st, 1);
        if (count < 0 || sqlite3_column_bytes(st, 1) != 16 * count) {
            snprintf(err, errlen, "a postings row of '%s' is malformed (%lld entries, %d bytes)",
                     key, (long long)count, sqlite3_column_bytes(st, 1));
            goto out;
        }
        for (int64_t i = 0; i < count; i++, p += 16) {
            int64_t ms = get_le64(p), seq = get_le64(p + 8);
            if (ms >= since_ms && ms < until_ms && seq <= ix_seq && seq <= hw &&
                cands_push(&c, ms, seq) < 0)
                goto oom;
        }
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, tail_sql[kind ? 1 : 0], -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, ix_seq);
    sqlite3_bind_int64(st, 2, hw);
    sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, since_ms);
    sqlite3_bind_int64(st, 5, until_ms);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (cands_push(&c, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)) < 0)
            goto oom;
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (c.n > 1)
        qsort(c.v, c.n, sizeof c.v[0], cand_cmp);
    *out = c.v;
    *n = c.n;
    return 0;
oom:
    snprintf(err, errlen, "out of memory for the events of '%s' (narrow --since/--until)", key);
    goto out;
fail:
    snprintf(err, errlen, "reading the postings of '%s': %s", key, sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    free(c.v);
    return -1;
}
