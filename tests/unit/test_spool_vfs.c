/* test_spool_vfs.c - unit tests for spool_vfs.c, the write-gathering VFS: what one connection
 * writes through it is what another connection (default VFS) reads, across commits bigger than
 * the buffer and a checkpoint; a write that fails when the buffer is flushed fails the commit, a
 * failing checkpoint loses nothing, and both succeed again once writes do; a checkpoint held back
 * by a reader leaves a database file that new readers can read (why only the WAL is gathered).
 *
 * Failing writes come from a VFS that the spool VFS is made to wrap (the default at the moment it
 * registers):
 * it fails writes to the database file or the WAL that reach past the file's size with SQLITE_FULL,
 * as os_unix.c reports ENOSPC, while overwrites and truncation (which only changes the size of a
 * sparse file) still work, as on a full disk.
 * That difference matters: a checkpoint that lost its page writes but could still extend the file
 * to its final size would corrupt the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool_vfs.h"
#include "tmp_db.h"

/* ---- the failing default VFS ---- */

enum { FAIL_NONE, FAIL_DB, FAIL_WAL };
static int fail_writes;               /* which file's writes fail now... */
static sqlite3_int64 fail_past_bytes; /* ...when they reach past this size: no block for them */
static sqlite3_vfs faulty_vfs;
static sqlite3_vfs *unix_vfs;
/* os_unix.c gives a database file and a WAL different method tables (the WAL takes no locks) */
static const sqlite3_io_methods *unix_db_methods, *unix_wal_methods;
static sqlite3_io_methods db_methods, wal_methods;

static int db_write(sqlite3_file *f, const void *d, int amt, sqlite3_int64 off)
{
    return fail_writes == FAIL_DB && off + amt > fail_past_bytes
               ? SQLITE_FULL
               : unix_db_methods->xWrite(f, d, amt, off);
}

static int wal_write(sqlite3_file *f, const void *d, int amt, sqlite3_int64 off)
{
    return fail_writes == FAIL_WAL && off + amt > fail_past_bytes
               ? SQLITE_FULL
               : unix_wal_methods->xWrite(f, d, amt, off);
}

static int faulty_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)v;
    int rc = unix_vfs->xOpen(unix_vfs, name, f, flags, out);
    if (rc != SQLITE_OK || f->pMethods == NULL ||
        !(flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)))
        return rc;
    const sqlite3_io_methods **orig =
        (flags & SQLITE_OPEN_WAL) ? &unix_wal_methods : &unix_db_methods;
    sqlite3_io_methods *mine = (flags & SQLITE_OPEN_WAL) ? &wal_methods : &db_methods;
    if (*orig == NULL) {
        *orig = f->pMethods;
        *mine = **orig;
        mine->xWrite = (flags & SQLITE_OPEN_WAL) ? wal_write : db_write;
    }
    assert_ptr_equal(f->pMethods, *orig);
    f->pMethods = mine;
    return rc;
}

/* The spool VFS wraps whatever is the default when it registers: the failing VFS is the default
 * only for that moment, so the readers of the tests use the real one. */
static void register_spool_vfs_over_faulty(void)
{
    unix_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(unix_vfs);
    faulty_vfs = *unix_vfs;
    faulty_vfs.zName = "test-faulty";
    faulty_vfs.xOpen = faulty_open;
    assert_int_equal(sqlite3_vfs_register(&faulty_vfs, 1), SQLITE_OK);
    assert_non_null(spool_vfs_name());
    assert_int_equal(sqlite3_vfs_register(unix_vfs, 1), SQLITE_OK);
}

/* ---- fixture ---- */

typedef struct fixture {
    char dir[4096];
    char path[4200];
    sqlite3 *db; /* through the VFS */
} fixture_t;

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *emsg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &emsg) != SQLITE_OK)
        fail_msg("%s: %s", sql, emsg ? emsg : "?");
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx || tmp_db_make(fx->dir, sizeof fx->dir, fx->path, sizeof fx->path, "test_spool_vfs",
                           "t.db") < 0)
        return -1;
    const char *vfs = spool_vfs_name();
    if (!vfs || sqlite3_open_v2(fx->path, &fx->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                vfs) != SQLITE_OK)
        return -1;
    exec_ok(fx->db, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                    " PRAGMA wal_autocheckpoint=0;"
                    " CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB NOT NULL);");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    fail_writes = FAIL_NONE;
    sqlite3_close(fx->db);
    tmp_db_remove(fx->dir, fx->path);
    free(fx);
    return 0;
}

/* Inserts n rows of 1000 random bytes from id `from` in one transaction; SQLite's result code. */
static int insert_rows(sqlite3 *db, int from, int n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO t(id, body) VALUES(?1, randomblob(1000))", -1, &st,
                                NULL);
    for (int i = 0; i < n && rc == SQLITE_OK; i++) {
        sqlite3_bind_int(st, 1, from + i);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Row count as another connection through the default VFS sees it, after an integrity check. */
static long long reader_count(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static int checkpoint(sqlite3 *db)
{
    return sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

static void test_gathered_writes_reach_other_connections(void **state)
{
    fixture_t *fx = *state;
    /* 6000 rows of 1000 bytes: more than the 1 MiB buffer in one commit */
    assert_int_equal(insert_rows(fx->db, 1, 6000), SQLITE_OK);
    assert_int_equal(insert_rows(fx->db, 6001, 10), SQLITE_OK);
    assert_int_equal(reader_count(fx->path), 6010);
    /* the writer reads its own pages back (a query, then a checkpoint that copies the WAL) */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(fx->db, "SELECT sum(length(body)) FROM t", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 6010LL * 1000);
    sqlite3_finalize(st);
    assert_int_equal(checkpoint(fx->db), SQLITE_OK);
    char wal[4300];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    assert_int_equal(file_size(wal), 0);
    assert_int_equal(reader_count(fx->path), 6010);
    assert_int_equal(insert_rows(fx->db, 7000, 5), SQLITE_OK);
    assert_int_equal(reader_count(fx->path), 6015);
}

static void test_failed_flush_fails_the_commit(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(insert_rows(fx->db, 1, 100), SQLITE_OK);
    assert_int_equal(checkpoint(fx->db), SQLITE_OK);
    fail_writes = FAIL_WAL;
    fail_past_bytes = 0;
    assert_int_not_equal(insert_rows(fx->db, 101, 2000), SQLITE_OK);
    assert_int_equal(reader_count(fx->path), 100);
    fail_writes = FAIL_NONE;
    int rc = insert_rows(fx->db, 101, 2000);
    if (rc != SQLITE_OK) /* at most the one failure that was remembered for the next sync */
        rc = insert_rows(fx->db, 101, 2000);
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(reader_count(fx->path), 2100);
}

static void test_failed_flush_fails_the_checkpoint(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(insert_rows(fx->db, 1, 100), SQLITE_OK);
    assert_int_equal(checkpoint(fx->db), SQLITE_OK);
    assert_int_equal(insert_rows(fx->db, 101, 2000), SQLITE_OK); /* about 2 MB in the WAL */
    /* copying those pages into the database file fails */
    fail_writes = FAIL_DB;
    fail_past_bytes = file_size(fx->path);
    assert_int_not_equal(checkpoint(fx->db), SQLITE_OK);
    fail_writes = FAIL_NONE;
    assert_int_equal(reader_count(fx->path), 2100); /* still served from the WAL */
    int rc = checkpoint(fx->db);
    if (rc != SQLITE_OK)
        rc = checkpoint(fx->db);
    assert_int_equal(rc, SQLITE_OK);
    /* every page reached the database file: the WAL is gone, and a fresh reader sees them */
    char wal[4300];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    assert_int_equal(file_size(wal), 0);
    assert_int_equal(reader_count(fx->path), 2100);
    sqlite3_close(fx->db);
    fx->db = NULL;
    assert_int_equal(reader_count(fx->path), 2100);
}

/* A checkpoint that a reader holds back copies only part of the WAL and, in SQLite 3.40, publishes
 * that progress without syncing the database file: readers then take those pages from the file.
 * Database writes must therefore reach the file at once (only the WAL is gathered). */
static void test_partial_checkpoint_is_read_from_the_file(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *old = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(insert_rows(fx->db, 1, 500), SQLITE_OK);
    assert_int_equal(sqlite3_open_v2(fx->path, &old, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(old, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(old, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW); /* holds its snapshot: 500 rows */
    assert_int_equal(sqlite3_column_int64(st, 0), 500);
    assert_int_equal(insert_rows(fx->db, 501, 500), SQLITE_OK);
    /* copies the first 500 rows' frames only: the old reader still needs the WAL after them */
    int log = -1, done = -1;
    assert_int_equal(
        sqlite3_wal_checkpoint_v2(fx->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done), SQLITE_OK);
    assert_true(done > 0 && done < log);
    assert_int_equal(reader_count(fx->path), 1000); /* a new reader, partly from the file */
    sqlite3_finalize(st);
    sqlite3_close(old);
}

int main(void)
{
    register_spool_vfs_over_faulty();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gathered_writes_reach_other_connections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_flush_fails_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_flush_fails_the_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_checkpoint_is_read_from_the_file, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
