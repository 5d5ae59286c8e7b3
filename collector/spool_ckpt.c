/*
 * spool_ckpt.c - WAL checkpoints on their own thread (see spool_ckpt.h for why and the contract).
 */
#include "spool_ckpt.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

struct spool_ckpt {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int is_due, is_stopping;
    int failures; /* consecutive failed checkpoints (logged once per streak) */
};

static void *ckpt_main(void *arg)
{
    spool_ckpt_t *c = arg;
    util_thread_name("ocsf-ckpt");
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->is_due && !c->is_stopping)
            pthread_cond_wait(&c->cond, &c->mu);
        if (c->is_stopping)
            break;
        c->is_due = 0;
        pthread_mutex_unlock(&c->mu);
        int log_frames = 0, copied = 0;
        int rc =
            sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && c->failures++ == 0)
            log_warn("spool checkpoint failed: %s (the writer checkpoints itself once the WAL "
                     "passes %d pages)",
                     sqlite3_errmsg(c->db), SPOOL_CKPT_INLINE_FRAMES);
        else if (rc == SQLITE_OK)
            c->failures = 0;
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int spool_ckpt_start(const char *path, int synchronous, spool_ckpt_t **out, char *err,
                     size_t errlen)
{
    char sql[96];
    *out = NULL;
    spool_ckpt_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "spool %s: checkpoint connection: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, 1000);
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%d; PRAGMA cache_size=-1024;", synchronous);
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "spool %s: checkpoint connection: %s", path, sqlite3_errmsg(c->db));
        goto fail;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cond);
        snprintf(err, errlen, "cannot start the checkpoint thread");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    sqlite3_close(c->db);
    free(c);
    return -1;
}

void spool_ckpt_kick(spool_ckpt_t *c)
{
    pthread_mutex_lock(&c->mu);
    c->is_due = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

void spool_ckpt_stop(spool_ckpt_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->is_stopping = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    sqlite3_close(c->db);
    free(c);
}
