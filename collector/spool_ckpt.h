/*
 * spool_ckpt.h - the spool's WAL checkpoints, on a thread of their own.
 *
 * With SQLite's automatic checkpoint, the commit that fills the WAL past its threshold also copies
 * the WAL into the database file and syncs it (64 MiB at a time): that commit, and every ack
 * waiting for it, took ~100 ms (ocsf-bench at window 100: ack p99 75 ms normalized, 16-18 ms with
 * no checkpoint at all; with this thread kicked every 16 MiB, 23 ms, and as received the max ack
 * 22 ms instead of 75-98). Here the writer's connection does not checkpoint on its own
 * (spool_opts_t.is_background_checkpoint); after each commit it looks at the WAL's size
 * (spool_wal_frames) and kicks this thread, which runs a PASSIVE checkpoint on its own connection:
 * it copies what no reader still needs and never blocks the writer. When the WAL has been copied,
 * the writer's next commit starts it again from the top (and cuts the file back to
 * journal_size_limit).
 *
 * Should the checkpoints fall behind (a slow disk, a reader holding an old snapshot), the writer
 * checkpoints inline once the WAL passes SPOOL_CKPT_INLINE_FRAMES: the old behaviour, as
 * backpressure, so the WAL cannot grow without bound.
 *
 * Durability is unchanged: a commit is durable once its WAL frames are synced (synchronous FULL);
 * the checkpoint syncs the database file before it marks the WAL as copied.
 */
#ifndef OCSF_SPOOL_CKPT_H
#define OCSF_SPOOL_CKPT_H

#include <stddef.h>

#define SPOOL_CKPT_KICK_FRAMES   1000 /* 16 MiB of 16 KiB pages: kick the thread */
#define SPOOL_CKPT_INLINE_FRAMES 8000 /* 128 MiB: the writer checkpoints itself */

typedef struct spool_ckpt spool_ckpt_t;

/* Opens its own connection to the spool at path (synchronous as for spool_opts_t) and starts the
 * thread. 0, or -1 with err. */
int spool_ckpt_start(const char *path, int synchronous, spool_ckpt_t **out, char *err,
                     size_t errlen);
/* Any thread: a checkpoint is due (cheap; kicks while one runs are merged into the next). */
void spool_ckpt_kick(spool_ckpt_t *c);
/* Stops and joins the thread, closes its connection. NULL is fine. */
void spool_ckpt_stop(spool_ckpt_t *c);

#endif
