/*
 * spool_index.h - ocsf-replay's user and workspace lookups, written in bulk as posting lists.
 *
 * Why: SQLite indexes on events(user, event_ms) and events(workspace, event_ms) are updated row by
 * row, and each commit touched the newest leaf of every active user and workspace: ~600 pages of
 * 16 KiB per commit for 300 users, rewritten to the WAL and checkpointed again by every commit,
 * which halved the writer's rate; an index table with one row per event, filled in bulk, still
 * cost ~2 us of writer CPU per event. Here the entries wait in memory and, once per merge interval
 * (index_merge_ms, default SPOOL_INDEX_MERGE_MS) or SPOOL_INDEX_MERGE_ENTRIES, inside a regular
 * commit, become one row per user and per workspace: the (event_ms, seq) pairs of that key,
 * sorted, packed in a blob.
 *
 * Table (created on a read-write open; older spools' indexes are dropped):
 *   postings(id, kind 0 user | 1 workspace, key, first_ms, last_ms, seq_max, n, entries BLOB)
 *       entries: n x (event_ms i64 LE, seq i64 LE), sorted by (event_ms, seq), n <=
 *       SPOOL_POSTING_MAX; first_ms/last_ms the first and last event_ms; indexes
 *       (kind, key, last_ms) for readers and (seq_max) for the prune
 *   meta.index_seq
 *       every event with seq <= index_seq that has an event_ms and a user (workspace) is in a
 *       postings row of that user (workspace), unless pruned
 *
 * Readers (ocsf-replay) take the entries with seq <= index_seq from the postings and the events
 * after it, the tail not merged yet, from the events table itself (a rowid range), in one
 * snapshot; an entry whose event is gone (pruned) is skipped.
 *
 * Transactions: entries added in a transaction are part of it; spool_index_rollback() forgets
 * them (and undoes a merge made in it), spool_index_committed() drops what a commit merged. After
 * a crash the tail is rebuilt from the events table at the next read-write open. A prune deletes
 * the rows whose entries are all pruned (seq_max); entries of events pruned before they were
 * merged are skipped by the merge (seq <= meta.seq_hw).
 *
 * One spool_index_t per read-write connection, used by the thread that owns it.
 */
#ifndef OCSF_SPOOL_INDEX_H
#define OCSF_SPOOL_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_INDEX_MERGE_MS         1000
#define SPOOL_INDEX_MERGE_ENTRIES    65536
#define SPOOL_POSTING_MAX            4096 /* entries per postings row */
#define SPOOL_POSTING_KIND_USER      0
#define SPOOL_POSTING_KIND_WORKSPACE 1

struct sqlite3;
typedef struct spool_index spool_index_t;

/* Read-write connections: creates the tables, drops the old row-by-row indexes, and indexes the
 * events after meta.index_seq (a crash's tail, or a spool from before these tables) in one
 * transaction. Entries wait at most merge_ms (0: SPOOL_INDEX_MERGE_MS) before the commit that
 * merges them. 0, or -1 with err. */
int spool_index_open(struct sqlite3 *db, int merge_ms, spool_index_t **out, char *err,
                     size_t errlen);

/* Called for each event inserted, in seq order, inside a transaction. user / workspace may be
 * NULL; an event without either, or without event_ms (< 0), has no entry. 0 or -1 (no memory). */
int spool_index_add(spool_index_t *ix, int64_t seq, int64_t event_ms, const char *user,
                    const char *workspace);

/* After BEGIN: what a rollback returns to. */
void spool_index_begin(spool_index_t *ix);
/* Inside a transaction, just before COMMIT: merges the waiting entries when they are due (or
 * always when is_forced) and sets meta.index_seq. 0 or -1 (SQLite error). */
int spool_index_before_commit(spool_index_t *ix, int is_forced);
/* After COMMIT succeeded / after ROLLBACK. */
void spool_index_committed(spool_index_t *ix);
void spool_index_rollback(spool_index_t *ix);

/* Inside the prune's transaction, before events with seq <= upto are deleted: deletes their
 * entries. 0 or -1. */
int spool_index_prune(spool_index_t *ix, int64_t upto);

/* Entries waiting (for tests and logs). */
size_t spool_index_pending(const spool_index_t *ix);

/* Frees; waiting entries not merged are rebuilt by the next open. NULL is fine. */
void spool_index_free(spool_index_t *ix);

#endif
