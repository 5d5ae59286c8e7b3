/* test_spool.c - unit tests for spool.c: creation (tables, meta.format_version), transactional
 * inserts of events and dead letters, ordered reads, cursors, seq_hw across pruning, refusal of an
 * unknown format version without rewriting the file, read-only open errors, rollback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain.h"
#include "spool.h"
#include "tmp_db.h"

typedef struct fixture {
    char dir[4096];
    char path[4200];
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx || tmp_db_make(fx->dir, sizeof fx->dir, fx->path, sizeof fx->path, "test_spool",
                           "spool.db") < 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    tmp_db_remove(fx->dir, fx->path);
    free(fx);
    return 0;
}

static spool_t *open_rw(const char *path)
{
    spool_t *s = NULL;
    char err[1024] = "";
    spool_opts_t o = {.synchronous = 1};
    if (spool_open(path, &o, &s, err, sizeof err) != 0)
        fail_msg("spool_open(%s): %s", path, err);
    assert_non_null(s);
    return s;
}

static spool_record_t *event(int64_t seq, const char *body)
{
    const char *str[SR_NSTR] = {"test.type", "alice", NULL, "127.0.0.1:1", NULL, NULL};
    spool_record_t *r = spool_record_new(SPOOL_EVENT, body, strlen(body), str);
    assert_non_null(r);
    r->seq = seq;
    r->received_ms = 1000 + seq;
    r->class_uid = 3002;
    return r;
}

static void insert_events(spool_t *s, int64_t from, int64_t to)
{
    char body[64];
    assert_int_equal(spool_begin(s), 0);
    for (int64_t q = from; q <= to; q++) {
        snprintf(body, sizeof body, "{\"n\":%lld}", (long long)q);
        spool_record_t *r = event(q, body);
        assert_int_equal(spool_insert(s, r), 0);
        spool_record_free(r);
    }
    assert_int_equal(spool_commit(s), 0);
}

/* Runs one SQL query returning a single text value via the sqlite3 API (not the module). */
static void query_text(const char *path, const char *sql, char *out, size_t outlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

typedef struct reads {
    int n;
    int64_t seq[64];
    char body[64][64];
    int class_uid[64];
    char user[64][16], workspace[64][16];
} reads_t;

static int read_cb(void *ctx, const spool_row_t *row)
{
    reads_t *r = ctx;
    if (r->n >= 64 || row->len >= 64)
        return -5;
    r->seq[r->n] = row->seq;
    r->class_uid[r->n] = row->class_uid;
    snprintf(r->user[r->n], sizeof r->user[r->n], "%s", row->user ? row->user : "(null)");
    snprintf(r->workspace[r->n], sizeof r->workspace[r->n], "%s",
             row->workspace ? row->workspace : "(null)");
    memcpy(r->body[r->n], row->body, row->len);
    r->body[r->n][row->len] = '\0';
    r->n++;
    return 0;
}

static void test_open_creates(void **state)
{
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    char v[64];
    assert_string_equal(spool_path(s), fx->path);
    assert_int_equal(spool_count(s, "events"), 0);
    assert_int_equal(spool_count(s, "dead_letters"), 0);
    assert_int_equal(spool_count(s, "sink_cursors"), 0);
    assert_int_equal(spool_count(s, "meta; DROP TABLE events"), -1);
    assert_int_equal(spool_last_seq(s), 0);
    spool_close(s);
    query_text(fx->path, "SELECT value FROM meta WHERE key='format_version'", v, sizeof v);
    assert_string_equal(v, "1");
    query_text(fx->path, "SELECT count(*) FROM meta WHERE key='created_ms'", v, sizeof v);
    assert_string_equal(v, "1");
    /* reopening keeps the same meta (no second format_version row) */
    s = open_rw(fx->path);
    spool_close(s);
    query_text(fx->path, "SELECT count(*) FROM meta", v, sizeof v);
    assert_string_equal(v, "3"); /* format_version, created_ms, chain_base */
}

static void test_insert_and_read(void **state)
{
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    static const char *const bodies[] = {"{\"a\":1}", "{\"b\":\"x\"}", "{\"c\":[1,2]}"};
    const char *dstr[SR_NSTR] = {NULL, NULL, NULL, "peer:1", "tcp://127.0.0.1:1", "bad json"};

    assert_int_equal(spool_begin(s), 0);
    /* insert out of order: reads come back by seq */
    static const int order[] = {2, 0, 1};
    for (int i = 0; i < 3; i++) {
        spool_record_t *r = event(order[i] + 1, bodies[order[i]]);
        assert_int_equal(spool_insert(s, r), 0);
        spool_record_free(r);
    }
    spool_record_t *d = spool_record_new(SPOOL_DEAD, "raw\0bytes", 9, dstr);
    assert_non_null(d);
    d->raw_len = 100000;
    d->line = 4;
    assert_int_equal(spool_insert(s, d), 0);
    spool_record_free(d);
    spool_record_t *nop = spool_record_new(SPOOL_NOP, "", 0, NULL);
    assert_int_equal(spool_insert(s, nop), 0);
    spool_record_free(nop);
    assert_int_equal(spool_commit(s), 0);

    assert_int_equal(spool_count(s, "events"), 3);
    assert_int_equal(spool_count(s, "dead_letters"), 1);
    assert_int_equal(spool_last_seq(s), 3);

    reads_t r = {0};
    assert_int_equal(spool_read_events(s, 0, 100, read_cb, &r), 3);
    assert_int_equal(r.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r.seq[i], i + 1);
        assert_string_equal(r.body[i], bodies[i]);
    }
    /* the indexed columns come along for the sinks */
    assert_int_equal(r.class_uid[0], 3002);
    assert_string_equal(r.user[0], "alice");
    assert_string_equal(r.workspace[0], "(null)");
    memset(&r, 0, sizeof r);
    assert_int_equal(spool_read_events(s, 1, 1, read_cb, &r), 1);
    assert_int_equal(r.seq[0], 2);
    memset(&r, 0, sizeof r);
    assert_int_equal(spool_read_events(s, 3, 100, read_cb, &r), 0);
    spool_close(s);

    char v[256];
    query_text(fx->path,
               "SELECT reason || '|' || raw_len || '|' || length(raw) || '|' || line FROM "
               "dead_letters",
               v, sizeof v);
    assert_string_equal(v, "bad json|100000|9|4");
    query_text(fx->path,
               "SELECT user || '|' || type || '|' || class_uid || '|' || "
               "coalesce(workspace,'NULL') || '|' || coalesce(event_ms,'NULL') "
               "FROM events WHERE seq=1",
               v, sizeof v);
    assert_string_equal(v, "alice|test.type|3002|NULL|NULL");
}

static void test_read_cb_stops(void **state)
{
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    insert_events(s, 1, 70);
    reads_t r = {0};
    /* the callback refuses the 65th row: its return value comes back */
    assert_int_equal(spool_read_events(s, 0, 1000, read_cb, &r), -5);
    assert_int_equal(r.n, 64);
    /* the statement was reset: a new read works */
    memset(&r, 0, sizeof r);
    assert_int_equal(spool_read_events(s, 65, 1000, read_cb, &r), 5);
    assert_int_equal(r.seq[0], 66);
    spool_close(s);
}

static void test_cursors(void **state)
{
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    int64_t seq = -1;
    assert_int_equal(spool_get_cursor(s, "file", &seq), 0);
    assert_int_equal(seq, 0);
    assert_int_equal(spool_begin(s), 0);
    assert_int_equal(spool_put_cursor(s, "file", 10, 5), 0);
    assert_int_equal(spool_put_cursor(s, "kafka", 3, 5), 0);
    assert_int_equal(spool_put_cursor(s, "file", 12, 6), 0);
    assert_int_equal(spool_commit(s), 0);
    assert_int_equal(spool_get_cursor(s, "file", &seq), 0);
    assert_int_equal(seq, 12);
    assert_int_equal(spool_get_cursor(s, "kafka", &seq), 0);
    assert_int_equal(seq, 3);
    assert_int_equal(spool_count(s, "sink_cursors"), 2);
    spool_close(s);
    /* a read-only connection sees them */
    spool_opts_t ro = {.is_read_only = 1};
    char err[512];
    assert_int_equal(spool_open(fx->path, &ro, &s, err, sizeof err), 0);
    assert_int_equal(spool_get_cursor(s, "file", &seq), 0);
    assert_int_equal(seq, 12);
    spool_close(s);
}

static void test_last_seq_survives_prune(void **state)
{
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    insert_events(s, 1, 10);
    assert_int_equal(spool_last_seq(s), 10);
    /* received_ms is 1000+seq: before_ms 1006 keeps seq >= 6 */
    assert_int_equal(spool_prune(s, 10, 1006, 1000), 5);
    assert_int_equal(spool_count(s, "events"), 5);
    assert_int_equal(spool_last_seq(s), 10);
    /* max_rows bounds one call */
    assert_int_equal(spool_prune(s, 10, 1 << 30, 2), 2);
    assert_int_equal(spool_count(s, "events"), 3);
    /* delete everything: seq is still never reused, also after reopening */
    assert_int_equal(spool_prune(s, 10, 1 << 30, 1000), 3);
    assert_int_equal(spool_count(s, "events"), 0);
    assert_int_equal(spool_last_seq(s), 10);
    spool_close(s);
    s = open_rw(fx->path);
    assert_int_equal(spool_last_seq(s), 10);
    /* seq_hw never goes down */
    insert_events(s, 11, 12);
    assert_int_equal(spool_prune(s, 11, 1 << 30, 1000), 1);
    assert_int_equal(spool_last_seq(s), 12);
    spool_close(s);
}

/* Events stamped out of order (the wall clock stepped back): pruning stops at the first event
 * still inside retention, so none newer than before_ms is deleted, and the ones behind it go once
 * it has aged too. */
static void test_prune_stops_at_first_young_event(void **state)
{
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    /* received_ms 1001..1010 for seq 1..10, then seq 3 is restamped 5000 */
    insert_events(s, 1, 10);
    spool_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE events SET received_ms = 5000 WHERE seq = 3", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    s = open_rw(fx->path);
    assert_int_equal(spool_prune(s, 10, 1008, 1000), 2); /* seq 1, 2; 3 is young */
    assert_int_equal(spool_first_seq(s), 3);
    assert_int_equal(spool_prune(s, 10, 1008, 1000), 0);
    assert_int_equal(spool_prune(s, 10, 6000, 1000), 8); /* all aged: up to upto_seq */
    assert_int_equal(spool_count(s, "events"), 0);
    assert_int_equal(spool_last_seq(s), 10);
    spool_close(s);
}

static void test_prune_upto_beyond_last(void **state)
{
    /* spool.h: "pruning records the highest seq it deleted in meta.seq_hw" and spool_last_seq() is
     * "the highest seq ever assigned". Pruning with upto_seq past the last event must not make
     * spool_last_seq() report a seq that was never assigned. */
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    insert_events(s, 1, 3);
    assert_int_equal(spool_prune(s, 1000, 1 << 30, 1000), 3);
    assert_int_equal(spool_last_seq(s), 3);
    spool_close(s);
}

static void read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    assert_true(n > 0);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)n);
    assert_non_null(*buf);
    assert_int_equal(fread(*buf, 1, (size_t)n, f), (size_t)n);
    *len = (size_t)n;
    fclose(f);
}

static void test_unknown_format_refused(void **state)
{
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    insert_events(s, 1, 2);
    spool_close(s);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE meta SET value='99' WHERE key='format_version';"
                                  "PRAGMA wal_checkpoint(TRUNCATE);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    char *before, *after;
    size_t blen, alen;
    read_file(fx->path, &before, &blen);

    char err[1024] = "";
    s = (spool_t *)1;
    assert_int_equal(spool_open(fx->path, NULL, &s, err, sizeof err), -1);
    assert_null(s);
    if (!strstr(err, "format version"))
        fail_msg("error \"%s\" does not mention the format version", err);
    assert_non_null(strstr(err, "99"));
    assert_non_null(strstr(err, fx->path));
    spool_opts_t ro = {.is_read_only = 1};
    err[0] = '\0';
    assert_int_equal(spool_open(fx->path, &ro, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "format version"));

    read_file(fx->path, &after, &alen);
    assert_int_equal(alen, blen);
    assert_memory_equal(before, after, blen);
    free(before);
    free(after);
    char v[32];
    query_text(fx->path, "SELECT value FROM meta WHERE key='format_version'", v, sizeof v);
    assert_string_equal(v, "99");
    query_text(fx->path, "SELECT count(*) FROM events", v, sizeof v);
    assert_string_equal(v, "2");
}

static void test_read_only_missing(void **state)
{
    fixture_t *fx = *state;
    char path[4300], err[1024] = "";
    spool_t *s = (spool_t *)1;
    spool_opts_t ro = {.is_read_only = 1};
    snprintf(path, sizeof path, "%s/does-not-exist.db", fx->dir);
    assert_int_equal(spool_open(path, &ro, &s, err, sizeof err), -1);
    assert_null(s);
    if (!strstr(err, path))
        fail_msg("error \"%s\" does not name %s", err, path);
    assert_int_equal(access(path, F_OK), -1); /* not created */
}

static void test_rollback(void **state)
{
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    insert_events(s, 1, 1);
    assert_int_equal(spool_begin(s), 0);
    spool_record_t *r = event(2, "{\"x\":2}");
    assert_int_equal(spool_insert(s, r), 0);
    spool_record_free(r);
    const char *dstr[SR_NSTR] = {NULL, NULL, NULL, NULL, NULL, "why"};
    spool_record_t *d = spool_record_new(SPOOL_DEAD, "zz", 2, dstr);
    assert_int_equal(spool_insert(s, d), 0);
    spool_record_free(d);
    assert_int_equal(spool_put_cursor(s, "file", 2, 1), 0);
    /* a duplicate seq fails inside the transaction */
    r = event(1, "{\"dup\":1}");
    assert_int_equal(spool_insert(s, r), -1);
    spool_record_free(r);
    spool_rollback(s);
    assert_int_equal(spool_count(s, "events"), 1);
    assert_int_equal(spool_count(s, "dead_letters"), 0);
    assert_int_equal(spool_count(s, "sink_cursors"), 0);
    assert_int_equal(spool_last_seq(s), 1);
    spool_rollback(s); /* no transaction: harmless */
    /* the connection is usable afterwards */
    insert_events(s, 2, 2);
    assert_int_equal(spool_count(s, "events"), 2);
    spool_close(s);
}

/* retention_bytes: spool_prune_bytes deletes the oldest delivered events until the used bytes are
 * under the cap, and never an event past upto_seq (not delivered by every sink). */
static void insert_big_events(spool_t *s, int64_t from, int64_t to)
{
    char body[1100];
    assert_int_equal(spool_begin(s), 0);
    for (int64_t q = from; q <= to; q++) {
        snprintf(body, sizeof body, "{\"n\":%lld,\"pad\":\"%01000d\"}", (long long)q, 0);
        spool_record_t *r = event(q, body);
        assert_int_equal(spool_insert(s, r), 0);
        spool_record_free(r);
    }
    assert_int_equal(spool_commit(s), 0);
}

static void test_prune_bytes(void **state)
{
    fixture_t *fx = *state;
    char v[64];
    spool_t *s = open_rw(fx->path);
    insert_big_events(s, 1, 2000);
    int64_t full = spool_used_bytes(s);
    assert_true(full > 2000 * 1000);
    /* under the cap: nothing to do */
    assert_int_equal(spool_prune_bytes(s, 2000, full, 100000), 0);
    assert_int_equal(spool_count(s, "events"), 2000);

    /* cap at half: converges in a few passes, oldest first, newest kept */
    int64_t cap = full / 2;
    int passes = 0, deleted = 0, n;
    while ((n = spool_prune_bytes(s, 2000, cap, 100000)) > 0 && passes < 20) {
        deleted += n;
        passes++;
    }
    assert_int_equal(n, 0);
    assert_true(passes >= 1);
    assert_true(spool_used_bytes(s) <= cap);
    assert_int_equal(spool_count(s, "events"), 2000 - deleted);
    assert_true(deleted >= 900 && deleted <= 1200);
    query_text(fx->path, "SELECT min(seq) FROM events", v, sizeof v);
    assert_int_equal(atoi(v), deleted + 1); /* the oldest went, contiguously */
    query_text(fx->path, "SELECT max(seq) FROM events", v, sizeof v);
    assert_string_equal(v, "2000");

    /* a cap below what is undelivered: only seq <= upto goes, the rest stays over the cap */
    int64_t upto = deleted + 100;
    while ((n = spool_prune_bytes(s, upto, 1, 100000)) > 0 && passes < 40)
        passes++;
    assert_int_equal(n, 0);
    assert_int_equal(spool_count(s, "events"), 2000 - upto);
    query_text(fx->path, "SELECT min(seq) FROM events", v, sizeof v);
    assert_int_equal(atoi(v), upto + 1);
    assert_true(spool_used_bytes(s) > 1);
    assert_int_equal(spool_last_seq(s), 2000);
    /* max_rows bounds one call */
    assert_int_equal(spool_prune_bytes(s, 2000, 1, 7), 7);
    spool_close(s);
}

/* ---- the hash chain (chain.h) ---------------------------------------------------------------- */

/* A known answer computed by an independent implementation of chain.h's layout (Python hashlib in
 * tests/integration/test_chain.py's link()); then every field must change the link. */
static void test_chain_link_known_answer(void **state)
{
    (void)state;
    chain_hasher_t *h = NULL;
    uint8_t prev[CHAIN_HASH_LEN], out[CHAIN_HASH_LEN], other[CHAIN_HASH_LEN];
    char hex[2 * CHAIN_HASH_LEN + 1];
    for (int i = 0; i < CHAIN_HASH_LEN; i++)
        prev[i] = (uint8_t)i;
    assert_int_equal(chain_hasher_new(&h), 0);
    chain_fields_t f = {.seq = 1,
                        .received_ms = 1700000000000,
                        .event_ms = -1,
                        .class_uid = 3002,
                        .activity_id = 1,
                        .status_id = -1,
                        .type = "t",
                        .user = NULL,
                        .workspace = "",
                        .peer = "127.0.0.1:1",
                        .body = "{}",
                        .body_len = 2};
    assert_int_equal(chain_link(h, prev, &f, out), 0);
    chain_hex(out, hex);
    assert_string_equal(hex, "004a7638721e103c9f751eff646a62c74c4e090728c73db864dda4d7afc3aef2");
    for (int field = 0; field < 13; field++) {
        chain_fields_t g = f;
        uint8_t p2[CHAIN_HASH_LEN];
        memcpy(p2, prev, sizeof p2);
        switch (field) {
        case 0:
            p2[31] ^= 1;
            break;
        case 1:
            g.seq = 2;
            break;
        case 2:
            g.received_ms++;
            break;
        case 3:
            g.event_ms = 0;
            break;
        case 4:
            g.class_uid = 3001;
            break;
        case 5:
            g.activity_id = 2;
            break;
        case 6:
            g.status_id = 0;
            break;
        case 7:
            g.type = NULL;
            break;
        case 8:
            g.user = "";
            break; /* NULL and empty differ */
        case 9:
            g.workspace = NULL;
            break;
        case 10:
            g.peer = "127.0.0.1:2";
            break;
        case 11:
            g.body = "{ }";
            g.body_len = 3;
            break;
        case 12:
            g.type = "tu";
            g.user = NULL;
            g.workspace = "";
            break;
        }
        if (field == 12) { /* moving bytes between fields changes it too */
            g.type = "t";
            g.workspace = "";
            g.peer = "127.0.0.1:";
            g.body = "1{}";
            g.body_len = 3;
        }
        assert_int_equal(chain_link(h, p2, &g, other), 0);
        if (memcmp(out, other, sizeof out) == 0)
            fail_msg("changing field %d leaves the link unchanged", field);
    }
    /* points: format and parse round-trip; malformed text is refused */
    char point[CHAIN_POINT_LEN];
    int64_t seq = 0;
    uint8_t back[CHAIN_HASH_LEN];
    chain_point_format(INT64_MAX, out, point);
    assert_int_equal(chain_point_parse(point, &seq, back), 0);
    assert_true(seq == INT64_MAX);
    assert_memory_equal(back, out, sizeof out);
    assert_int_equal(chain_point_parse("12:abc", &seq, back), -1);
    assert_int_equal(chain_point_parse("-1:"
                                       "00000000000000000000000000000000"
                                       "00000000000000000000000000000000",
                                       &seq, back),
                     -1);
    assert_int_equal(chain_point_parse("99999999999999999999:"
                                       "0000000000000000000000000000000"
                                       "000000000000000000000000000000000",
                                       &seq, back),
                     -1);
    assert_int_equal(chain_point_parse("1:"
                                       "0000000000000000000000000000000000000000000000000000000"
                                       "00000000z",
                                       &seq, back),
                     -1);
    assert_int_equal(chain_point_parse(NULL, &seq, back), -1);
    chain_hasher_free(h);
}

typedef struct problems {
    int n;
    chain_problem_t p[8];
} problems_t;

static void collect_problem(void *ctx, const chain_problem_t *p)
{
    problems_t *ps = ctx;
    if (ps->n < 8)
        ps->p[ps->n] = *p;
    ps->n++;
}

static void verify_db(const char *path, chain_report_t *rep, problems_t *ps)
{
    sqlite3 *db = NULL;
    char err[512] = "";
    memset(ps, 0, sizeof *ps);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (chain_verify(db, rep, collect_problem, ps, err, sizeof err) != 0)
        fail_msg("chain_verify: %s", err);
    sqlite3_close(db);
    assert_int_equal(rep->problems, ps->n);
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* The spool keeps the chain across transactions and a rollback (the retry of a failed commit links
 * from the committed head), persists the head with the rows, moves the anchor when pruning; and
 * chain_verify finds an edited row, a deleted one, and deleted newest rows. */
static void test_chain_spool(void **state)
{
    fixture_t *fx = *state;
    chain_report_t rep;
    problems_t ps;
    int64_t head_seq;
    uint8_t head[CHAIN_HASH_LEN];
    char v[160], hex[2 * CHAIN_HASH_LEN + 1];

    spool_t *s = open_rw(fx->path);
    assert_int_equal(spool_chain_head(s, &head_seq, head), 0);
    assert_int_equal(head_seq, 0);
    query_text(fx->path, "SELECT value FROM meta WHERE key='chain_base'", v, sizeof v);
    chain_hex(head, hex);
    assert_true(strncmp(v, "0:", 2) == 0 && strcmp(v + 2, hex) == 0); /* the random genesis */
    insert_events(s, 1, 5);
    insert_events(s, 6, 10);
    /* a transaction that fails and is rolled back leaves no trace in the chain */
    assert_int_equal(spool_begin(s), 0);
    spool_record_t *r = event(11, "{\"lost\":11}");
    assert_int_equal(spool_insert(s, r), 0);
    spool_record_free(r);
    assert_int_equal(spool_chain_head(s, &head_seq, head), 0);
    assert_int_equal(head_seq, 11);
    spool_rollback(s);
    assert_int_equal(spool_chain_head(s, &head_seq, head), 0);
    assert_int_equal(head_seq, 10);
    insert_events(s, 11, 12);
    assert_int_equal(spool_chain_head(s, &head_seq, head), 0);
    assert_int_equal(head_seq, 12);
    chain_hex(head, hex);
    query_text(fx->path, "SELECT lower(hex(hash)) FROM events WHERE seq = 12", v, sizeof v);
    assert_string_equal(v, hex);
    query_text(fx->path, "SELECT value FROM meta WHERE key='chain_head'", v, sizeof v);
    assert_true(strncmp(v, "12:", 3) == 0 && strcmp(v + 3, hex) == 0);
    spool_close(s);

    verify_db(fx->path, &rep, &ps);
    assert_int_equal(rep.problems, 0);
    assert_int_equal(rep.verified, 12);
    assert_true(rep.is_genesis);
    assert_int_equal(rep.first_seq, 1);
    assert_int_equal(rep.last_seq, 12);
    assert_int_equal(rep.head_seq, 12);
    assert_memory_equal(rep.head, head, sizeof head);

    /* the chain goes on after a reopen; pruning moves the anchor to the newest deleted row */
    s = open_rw(fx->path);
    insert_events(s, 13, 14);
    query_text(fx->path, "SELECT lower(hex(hash)) FROM events WHERE seq = 4", hex, sizeof hex);
    assert_int_equal(spool_begin(s), 0);
    assert_int_equal(spool_prune(s, 4, INT64_MAX, 100), 4);
    assert_int_equal(spool_commit(s), 0);
    query_text(fx->path, "SELECT value FROM meta WHERE key='chain_base'", v, sizeof v);
    assert_true(strncmp(v, "4:", 2) == 0 && strcmp(v + 2, hex) == 0);
    /* a rolled-back prune leaves the anchor */
    assert_int_equal(spool_begin(s), 0);
    assert_int_equal(spool_prune(s, 6, INT64_MAX, 100), 2);
    spool_rollback(s);
    query_text(fx->path, "SELECT value FROM meta WHERE key='chain_base'", v, sizeof v);
    assert_true(strncmp(v, "4:", 2) == 0);
    spool_close(s);
    verify_db(fx->path, &rep, &ps);
    assert_int_equal(rep.problems, 0);
    assert_int_equal(rep.verified, 10);
    assert_int_equal(rep.base_seq, 4);
    assert_false(rep.is_genesis);

    /* an edited row: reported at its seq, once */
    exec_sql(fx->path, "UPDATE events SET body = '{\"n\":70}' WHERE seq = 7");
    verify_db(fx->path, &rep, &ps);
    assert_int_equal(ps.n, 1);
    assert_int_equal(ps.p[0].kind, CHAIN_ALTERED);
    assert_int_equal(ps.p[0].lo, 7);
    assert_int_equal(rep.verified, 9);
    /* a deleted row: a gap */
    exec_sql(fx->path, "DELETE FROM events WHERE seq = 9");
    verify_db(fx->path, &rep, &ps);
    assert_int_equal(ps.n, 2);
    assert_int_equal(ps.p[1].kind, CHAIN_GAP);
    assert_int_equal(ps.p[1].lo, 9);
    assert_int_equal(ps.p[1].hi, 9);
    /* the newest rows deleted: the persisted head is beyond the last row */
    exec_sql(fx->path, "DELETE FROM events WHERE seq >= 12");
    verify_db(fx->path, &rep, &ps);
    assert_int_equal(ps.n, 3);
    assert_int_equal(ps.p[2].kind, CHAIN_TRUNCATED);
    assert_int_equal(ps.p[2].lo, 12);
    assert_int_equal(ps.p[2].hi, 14);
    char line[512];
    chain_problem_text(&ps.p[2], line, sizeof line);
    assert_non_null(strstr(line, "truncated"));
}

/* Inserts seq from..to with an event time and a user / workspace, in one transaction; commits
 * (1) or rolls back (0). */
static void insert_timed(spool_t *s, int64_t from, int64_t to, int is_commit)
{
    static const char *const users[] = {"alice", "bob"};
    assert_int_equal(spool_begin(s), 0);
    for (int64_t q = from; q <= to; q++) {
        const char *str[SR_NSTR] = {"test.type", users[q % 2], "ws-1", "127.0.0.1:1", NULL, NULL};
        spool_record_t *r = spool_record_new(SPOOL_EVENT, "{}", 2, str);
        assert_non_null(r);
        r->seq = q;
        r->received_ms = 1000 + q;
        r->event_ms = 5000 + q;
        assert_int_equal(spool_insert(s, r), 0);
        spool_record_free(r);
    }
    if (is_commit)
        assert_int_equal(spool_commit(s), 0);
    else
        spool_rollback(s);
}

static long long query_ll(const char *path, const char *sql)
{
    char v[64];
    query_text(path, sql, v, sizeof v);
    return v[0] ? atoll(v) : -1;
}

/* Replay's user/workspace entries (spool_index.h): they wait in memory (a rollback forgets its
 * own), a close merges them, a prune deletes them, an open rebuilds the tail a crash lost. */
static void test_replay_index(void **state)
{
    fixture_t *fx = *state;
    spool_t *s = open_rw(fx->path);
    insert_timed(s, 1, 3, 1);
    assert_int_equal(query_ll(fx->path, "SELECT coalesce(sum(n), 0) FROM postings WHERE kind = 0"),
                     0); /* not due yet */
    insert_timed(s, 4, 5, 0);
    insert_timed(s, 4, 5, 1); /* the writer's retry of the rolled-back batch */
    spool_close(s);
    assert_int_equal(query_ll(fx->path, "SELECT coalesce(sum(n), 0) FROM postings WHERE kind = 0"),
                     5);
    assert_int_equal(query_ll(fx->path, "SELECT coalesce(sum(n), 0) FROM postings WHERE kind = 1"),
                     5);
    assert_int_equal(
        query_ll(fx->path, "SELECT sum(n) FROM postings WHERE kind = 0 AND key = 'alice'"), 2);
    assert_int_equal(query_ll(fx->path, "SELECT value FROM meta WHERE key = 'index_seq'"), 5);

    s = open_rw(fx->path);
    assert_int_equal(spool_begin(s), 0);
    assert_int_equal(spool_prune(s, 2, INT64_MAX, 100), 2);
    assert_int_equal(spool_commit(s), 0);
    insert_timed(s, 6, 7, 1);
    spool_close(s);
    /* the first merge's rows still cover kept events (3..5): they stay, with the pruned entries */
    assert_int_equal(query_ll(fx->path, "SELECT coalesce(sum(n), 0) FROM postings WHERE kind = 0"),
                     7);
    assert_int_equal(query_ll(fx->path, "SELECT count(*) FROM postings WHERE kind = 1"), 2);

    /* a crash before the merge: the entries of 6..7 and index_seq never reached the file */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DELETE FROM postings WHERE seq_max > 5; UPDATE meta SET value "
                                  "= '5' WHERE key = 'index_seq'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    s = open_rw(fx->path);
    assert_int_equal(query_ll(fx->path, "SELECT coalesce(sum(n), 0) FROM postings WHERE kind = 0"),
                     7);
    assert_int_equal(query_ll(fx->path, "SELECT value FROM meta WHERE key = 'index_seq'"), 7);
    /* a prune past a row's newest event deletes the row */
    assert_int_equal(spool_begin(s), 0);
    assert_int_equal(spool_prune(s, 5, INT64_MAX, 100), 3);
    assert_int_equal(spool_commit(s), 0);
    assert_int_equal(query_ll(fx->path, "SELECT coalesce(sum(n), 0) FROM postings WHERE kind = 0"),
                     2);
    assert_int_equal(query_ll(fx->path, "SELECT min(seq_max) FROM postings"), 6);
    spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_cb_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_seq_survives_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_stops_at_first_young_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_upto_beyond_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_format_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_index, setup, teardown),
        cmocka_unit_test(test_chain_link_known_answer),
        cmocka_unit_test_setup_teardown(test_chain_spool, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
