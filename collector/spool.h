/*
 * spool.h - the durable buffer between ingest and the sinks: one SQLite database in WAL mode.
 *
 * Tables (spool format version SPOOL_FORMAT_VERSION, kept in meta.format_version):
 *   events(seq INTEGER PRIMARY KEY, received_ms, event_ms, class_uid, activity_id, status_id, type,
 *          user, workspace, peer, body TEXT, hash BLOB)
 *       one row per accepted event, seq assigned by ingest; hash links it to the previous row
 *       (the hash chain, chain.h)
 *   dead_letters(id, received_ms, peer, listener, line, reason, raw BLOB, raw_len)
 *       every rejected input, with why
 *   sink_cursors(sink TEXT PRIMARY KEY, seq, updated_ms)
 *       per sink: every event with seq <= cursor is delivered
 *   meta(key TEXT PRIMARY KEY, value)
 *       format_version, created_ms, seq_hw, chain_base and chain_head (chain.h), index_seq
 *   index events(event_ms) and the tables ix_user, ix_workspace (spool_index.h, filled in bulk)
 *       for ocsf-replay; created on open (IF NOT EXISTS), so an older spool gains them without a
 *       new format; the hash column is added the same way (ALTER TABLE ADD COLUMN, no row
 *       rewritten).
 *
 * Invariants:
 *   1. seq only grows: the next seq is max(max(events.seq), meta.seq_hw) + 1, and pruning records
 * the highest seq it deleted in meta.seq_hw, so a seq is never reused even when every row is
 * deleted.
 *   2. An event row is deleted only when every sink's cursor is at or past it (spool_prune).
 *   3. A spool with an unknown format version is refused, never rewritten.
 *   4. Every event row after meta.chain_base carries its link, and meta.chain_head is written in
 *      the transaction that adds the rows it covers (a rollback restores the in-memory head).
 *
 * One spool_t is one SQLite connection and must be used by one thread at a time: the writer thread
 * owns the read-write one; each shipper thread and ocsf-replay open their own (read-only) one.
 * The read-write connection, when synchronous is FULL or EXTRA, goes through the write-gathering
 * VFS of spool_vfs.h.
 */
#ifndef OCSF_SPOOL_H
#define OCSF_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_FORMAT_VERSION 1

enum spool_kind { SPOOL_EVENT = 1, SPOOL_DEAD = 2, SPOOL_NOP = 3 };
enum spool_str { SR_TYPE, SR_USER, SR_WORKSPACE, SR_PEER, SR_LISTENER, SR_REASON, SR_NSTR };

/*
 * One unit of work for the spool writer: an event, a dead letter, or a no-op (a blank line, which
 * is acknowledged but not stored). Allocated in one block by spool_record_new(); the strings and
 * body live inside it. Owned by whoever holds the pointer: ingest -> writer queue -> back to the
 * loop, which credits `owner` and frees it.
 */
typedef struct spool_record {
    struct spool_record *next;
    int kind;
    int64_t seq; /* events only */
    int64_t received_ms;
    int64_t event_ms; /* -1 unknown */
    int64_t line;     /* 1-based line number on its connection (0 for internal records) */
    int class_uid, activity_id, status_id; /* -1 unknown */
    const char *str[SR_NSTR];              /* NULL when absent */
    const char *body; /* event JSON, or the rejected bytes (a sample when raw_len > body_len) */
    size_t body_len;
    size_t raw_len; /* dead letters: full size of the rejected input */
    void *owner;    /* the ingest connection to acknowledge, or NULL */
    size_t size;    /* bytes allocated, for backpressure accounting */
} spool_record_t;

/* Allocates a record holding copies of body and the non-NULL strings. NULL on out of memory. */
spool_record_t *spool_record_new(int kind, const char *body, size_t body_len,
                                 const char *const str[SR_NSTR]);
void spool_record_free(spool_record_t *r);

typedef struct spool spool_t;

typedef struct spool_opts {
    int is_read_only;
    int synchronous;    /* 0 OFF, 1 NORMAL, 2 FULL (default), 3 EXTRA */
    int cache_kib;      /* page cache size; 0 = default (64 MiB read-write, 8 MiB read-only) */
    int index_merge_ms; /* read-write: replay index entries wait at most this long (spool_index.h);
                           0 = SPOOL_INDEX_MERGE_MS */
    int is_background_checkpoint; /* read-write: commits never checkpoint; the owner does
                                     (spool_ckpt.h, spool_wal_frames) */
} spool_opts_t;

/* Opens (creating when read-write and absent) the spool at path, checks the format version.
 * 0, or -1 with err naming the path and what to do. */
int spool_open(const char *path, const spool_opts_t *opts, spool_t **out, char *err, size_t errlen);
void spool_close(spool_t *s);
const char *spool_path(const spool_t *s);
/* Last error of this connection, for logs. */
const char *spool_errmsg(spool_t *s);

int spool_begin(spool_t *s);
int spool_commit(spool_t *s);
void spool_rollback(spool_t *s);
/* Inside a transaction. 0 or -1. */
int spool_insert(spool_t *s, const spool_record_t *r);
int spool_put_cursor(spool_t *s, const char *sink, int64_t seq, int64_t now_ms);
/* Deletes the oldest events (seq order, seq <= upto_seq) up to the first one received at or after
 * before_ms: rows are stored in receive order, so this reads only the rows it deletes plus one,
 * however big the spool. (After a wall-clock step back, an event stamped later holds back the
 * ones behind it until it ages too: retention is never shortened.) Records seq_hw, and moves the
 * hash chain's anchor (meta chain_base) to the newest row deleted. Returns rows deleted or -1. At
 * most max_rows per call so a big backlog never holds the write lock for long. */
int spool_prune(spool_t *s, int64_t upto_seq, int64_t before_ms, int max_rows);
/* Size cap: when the spool's used bytes (pages in use, free pages not counted) exceed max_bytes,
 * deletes the oldest events with seq <= upto_seq, as many as the excess is worth at the average
 * row size (at most max_rows), recording seq_hw like spool_prune. Never touches a row past
 * upto_seq, so a cap smaller than the undelivered backlog leaves the spool over it. Returns rows
 * deleted (0 when under the cap) or -1. */
int spool_prune_bytes(spool_t *s, int64_t upto_seq, int64_t max_bytes, int max_rows);
/* Bytes of the spool's pages in use (page_count - freelist_count) * page_size, or -1. */
int64_t spool_used_bytes(spool_t *s);

/* 0 with *seq = the cursor (0 when the sink is new), or -1. */
int spool_get_cursor(spool_t *s, const char *sink, int64_t *seq);
/* The highest seq ever assigned (0 for a new spool), or -1 on error. */
int64_t spool_last_seq(spool_t *s);
/* The first column of the first row of sql on any SQLite connection, or dflt (no row, NULL or an
 * error). For tools and the salvage, which hold their own connections. */
struct sqlite3;
int64_t spool_sql_int(struct sqlite3 *db, const char *sql, int64_t dflt);
/* The lowest stored event seq (0 when none), or -1. */
int64_t spool_first_seq(spool_t *s);

/* One stored event as the shipper and the replay tool read it. The strings are valid during the
 * callback only; user and workspace are NULL when the event had none; event_ms is -1 when unknown,
 * class_uid/activity_id/status_id are -1 when the event was stored as received. */
typedef struct spool_row {
    int64_t seq;
    int64_t received_ms, event_ms;
    int class_uid, activity_id, status_id;
    const char *user, *workspace;
    const char *body;
    size_t len;
} spool_row_t;

/* Calls cb for up to limit events with seq > after, in seq order. Returns the number of rows seen,
 * or -1 (a non-zero cb return stops early and is returned). */
typedef int (*spool_row_cb)(void *ctx, const spool_row_t *row);
int spool_read_events(spool_t *s, int64_t after, int limit, spool_row_cb cb, void *ctx);

/* Copies the WAL into the database and truncates it (waits for readers up to the busy timeout).
 * The writer calls it when commits fail for space: a WAL that ate the disk is the usual cause, and
 * its frames need no new space once the database has free pages. 0 ok, -1 not (yet) possible. */
int spool_checkpoint(spool_t *s);

/* Read-write connections: frames in the WAL after the last commit (0 once a checkpoint copied it
 * all and a commit started it again). */
int spool_wal_frames(const spool_t *s);
/* A PASSIVE checkpoint on this connection (copies what no reader needs; never waits). 0 or -1. */
int spool_checkpoint_passive(spool_t *s);

/* Read-write connections: the hash chain's head, (seq, hash) of the newest event this connection
 * wrote (or of the anchor when none), as of the last statement: inside a transaction it includes
 * uncommitted rows. 0, or -1 on a read-only connection. See chain.h. */
int spool_chain_head(spool_t *s, int64_t *seq, uint8_t hash[32]);

/* Counts, for tests and logs: -1 on error. */
int64_t spool_count(spool_t *s, const char *table);

#endif
