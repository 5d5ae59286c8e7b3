/*
 * spool_vfs.h - an SQLite VFS for the spool's read-write connection that gathers the writes of a
 * commit into a few large ones.
 *
 * SQLite writes a WAL frame as two write calls (24-byte header, then the page). On the machines we
 * run on a write system call costs 4-6 us whatever its size, so at tens of thousands of events per
 * second the writer spent more time entering the kernel than copying bytes. This VFS wraps the
 * default one ("unix") and keeps contiguous writes of the WAL in a buffer that reaches the file
 * before anything can depend on it.
 *
 * Contract (why it is safe):
 *   1. Data is durable only after xSync, and SQLite publishes a commit to other connections (the
 *      wal-index header) only after syncing the WAL when synchronous is FULL or EXTRA. So the
 *      buffer is flushed by xSync, and the VFS must only be used with synchronous=FULL or EXTRA:
 *      spool_vfs_name() is passed to sqlite3_open_v2 only then (spool.c).
 *   2. Every call that could observe the file (read, size, truncate, mapping, close) flushes
 *      first, so this connection always sees its own writes. Locks, shared memory and file
 *      controls pass straight through: by 1 nothing they publish depends on the buffer, an unlock
 *      must never be skipped because a flush failed, and SQLite ignores the result of some file
 *      controls (SQLITE_FCNTL_CKPT_DONE).
 *   3. A write that is not contiguous with the buffer, or would overflow it, flushes it first; a
 *      flush that fails returns the error of the write system call (SQLITE_FULL on a full disk)
 *      from the call that triggered it, drops the buffer, and fails the next xSync too: SQLite
 *      rolls the transaction back and rewrites those frames when it retries.
 *   4. A crash loses only the buffered part of a transaction that was never synced, which SQLite
 *      already treats as a torn write (WAL frame checksums).
 *   5. The database file is not wrapped. A checkpoint that readers hold back copies part of the
 *      WAL and records that progress (nBackfill) without syncing the database file (SQLite
 *      3.40), after which new readers take those pages from the file: they must be in it already
 *      (test_spool_vfs, test_partial_checkpoint_is_read_from_the_file). Rollback journals and
 *      temporary files are not wrapped either.
 */
#ifndef OCSF_SPOOL_VFS_H
#define OCSF_SPOOL_VFS_H

/* Registers the VFS once (thread-safe) and returns its name, or NULL when SQLite has no default
 * VFS to wrap or is out of memory (the caller then uses the default VFS). */
const char *spool_vfs_name(void);

#endif
