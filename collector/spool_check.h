/*
 * spool_check.h - the startup integrity check of the spool, and salvage of a damaged one.
 *
 * main() runs spool_check() before it opens the spool for writing. A spool that fails (SQLite's
 * quick_check, or a file SQLite cannot read as a database) is never written to again: the
 * salvage moves it aside (the file and its -wal/-shm, renamed together so the WAL still applies),
 * creates a fresh spool at the same path, and copies into it what can still be read: the meta
 * rows (so seqs are never reused), every sink's cursor (so delivered events are not re-shipped),
 * every readable event (range by range, then row by row around damaged pages) and dead letters.
 * The damaged copy stays for the operator; nothing is deleted.
 *
 * A torn WAL tail (power lost mid-commit) is not damage: SQLite ignores frames whose checksums do
 * not match, and those belong to a commit that was never acknowledged.
 */
#ifndef OCSF_SPOOL_CHECK_H
#define OCSF_SPOOL_CHECK_H

#include <stddef.h>
#include <stdint.h>

typedef struct spool_salvage_stats {
    char moved_to[4200];  /* where the damaged spool now is */
    int64_t events;       /* events copied */
    int64_t unreadable;   /* seqs of the stored range not recovered (on damaged pages) */
    int64_t first, last;  /* the seq range that was tried */
    int64_t cursors;      /* sink cursors copied */
    int64_t dead_letters; /* dead letters copied */
} spool_salvage_stats_t;

/* 0 the spool passes (or does not exist yet), 1 damaged (why says how), -1 the check itself
 * could not run, or the file is not an SQLite database at all (err): the caller stops. */
int spool_check(const char *path, char *why, size_t whylen, char *err, size_t errlen);

/* Moves the damaged spool aside and rebuilds path from what is readable. 0 ok, -1 err. */
int spool_salvage(const char *path, spool_salvage_stats_t *st, char *err, size_t errlen);

#endif
