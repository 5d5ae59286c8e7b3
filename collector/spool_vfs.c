/*
 * spool_vfs.c - the write-gathering VFS of the spool's read-write connection (see spool_vfs.h
 * for why it exists and why it is safe).
 *
 * The VFS forwards everything to the default VFS. WAL files are opened through a wrapper (bw_file)
 * whose xWrite appends contiguous writes to a buffer and whose other methods flush it before
 * forwarding; every other file type, the database file included, is opened unwrapped.
 */
#include "spool_vfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define BW_CAP (1u << 20) /* what a commit may gather before a flush */
/* the default VFS writes at most 128 KiB - 1 bytes per call (os_unix.c masks the length with
 * 0x1ffff and reports a full disk for the rest), so a flush writes in pieces of this size */
#define BW_PIECE (120u << 10)

typedef struct bw_file {
    sqlite3_file base; /* pMethods = &bw_methods */
    sqlite3_file *real;
    char *buf;         /* BW_CAP bytes, allocated on the first gathered write */
    size_t len;        /* bytes gathered */
    sqlite3_int64 off; /* file offset of buf[0] */
    int lost;          /* a flush failed since the last xSync: that xSync must fail too */
} bw_file;

#define BW_REAL_OFFSET ((sizeof(bw_file) + 7) & ~(size_t)7)

static sqlite3_vfs bw_vfs;
static sqlite3_vfs *bw_under;
static pthread_once_t bw_once = PTHREAD_ONCE_INIT;
static int bw_ok;

/* Writes what is gathered. The buffer is empty afterwards whatever the outcome (contract 3); a
 * failure is also remembered for the next xSync, in case the caller was one whose return code
 * SQLite does not check. */
static int bw_flush(bw_file *p)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; done < p->len && rc == SQLITE_OK;) {
        size_t n = p->len - done < BW_PIECE ? p->len - done : BW_PIECE;
        rc =
            p->real->pMethods->xWrite(p->real, p->buf + done, (int)n, p->off + (sqlite3_int64)done);
        done += n;
    }
    p->len = 0;
    if (rc != SQLITE_OK)
        p->lost = rc;
    return rc;
}

#define FLUSH_OR_RETURN(p)                                                                         \
    do {                                                                                           \
        int frc_ = bw_flush(p);                                                                    \
        if (frc_ != SQLITE_OK)                                                                     \
            return frc_;                                                                           \
    } while (0)

static int bw_close(sqlite3_file *f)
{
    bw_file *p = (bw_file *)f;
    int frc = bw_flush(p);
    int rc = p->real->pMethods->xClose(p->real);
    free(p->buf);
    p->buf = NULL;
    return frc != SQLITE_OK ? frc : rc;
}

static int bw_read(sqlite3_file *f, void *data, int amt, sqlite3_int64 off)
{
    bw_file *p = (bw_file *)f;
    FLUSH_OR_RETURN(p);
    return p->real->pMethods->xRead(p->real, data, amt, off);
}

static int bw_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    bw_file *p = (bw_file *)f;
    if (amt <= 0)
        return p->real->pMethods->xWrite(p->real, data, amt, off);
    if (p->len > 0 && (off != p->off + (sqlite3_int64)p->len || p->len + (size_t)amt > BW_CAP))
        FLUSH_OR_RETURN(p);
    if ((size_t)amt >= BW_PIECE)
        return p->real->pMethods->xWrite(p->real, data, amt, off);
    if (p->buf == NULL && (p->buf = malloc(BW_CAP)) == NULL)
        return p->real->pMethods->xWrite(p->real, data, amt, off); /* no memory: unbuffered */
    if (p->len == 0)
        p->off = off;
    memcpy(p->buf + p->len, data, (size_t)amt);
    p->len += (size_t)amt;
    return SQLITE_OK;
}

static int bw_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    bw_file *p = (bw_file *)f;
    FLUSH_OR_RETURN(p);
    return p->real->pMethods->xTruncate(p->real, size);
}

static int bw_sync(sqlite3_file *f, int flags)
{
    bw_file *p = (bw_file *)f;
    int rc = bw_flush(p);
    if (rc == SQLITE_OK)
        rc = p->real->pMethods->xSync(p->real, flags);
    if (p->lost != SQLITE_OK) { /* what this sync should cover is not all in the file */
        rc = p->lost;
        p->lost = SQLITE_OK;
    }
    return rc;
}

static int bw_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    bw_file *p = (bw_file *)f;
    FLUSH_OR_RETURN(p);
    return p->real->pMethods->xFileSize(p->real, size);
}

/* Locks and shared memory pass straight through: nothing another connection can see depends on
 * the buffer (spool_vfs.h, contract 1), and an unlock that a failed flush skipped would leave the
 * spool locked for good. */
static int bw_lock(sqlite3_file *f, int level)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xLock(p->real, level);
}

static int bw_unlock(sqlite3_file *f, int level)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xUnlock(p->real, level);
}

static int bw_check_reserved_lock(sqlite3_file *f, int *out)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xCheckReservedLock(p->real, out);
}

/* No flush: SQLite ignores the result of some file controls (SQLITE_FCNTL_CKPT_DONE), so a
 * flush failing here would go unnoticed until the next xSync; none of them reads file data. */
static int bw_file_control(sqlite3_file *f, int op, void *arg)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xFileControl(p->real, op, arg);
}

static int bw_sector_size(sqlite3_file *f)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xSectorSize(p->real);
}

static int bw_device_characteristics(sqlite3_file *f)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xDeviceCharacteristics(p->real);
}

static int bw_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xShmMap(p->real, page, size, extend, out);
}

static int bw_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}

static void bw_shm_barrier(sqlite3_file *f)
{
    bw_file *p = (bw_file *)f;
    p->real->pMethods->xShmBarrier(p->real);
}

static int bw_shm_unmap(sqlite3_file *f, int delete_flag)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xShmUnmap(p->real, delete_flag);
}

static int bw_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    bw_file *p = (bw_file *)f;
    *pp = NULL;
    FLUSH_OR_RETURN(p);
    return p->real->pMethods->xFetch(p->real, off, amt, pp);
}

static int bw_unfetch(sqlite3_file *f, sqlite3_int64 off, void *ptr)
{
    bw_file *p = (bw_file *)f;
    return p->real->pMethods->xUnfetch(p->real, off, ptr);
}

static const sqlite3_io_methods bw_methods = {
    3,
    bw_close,
    bw_read,
    bw_write,
    bw_truncate,
    bw_sync,
    bw_file_size,
    bw_lock,
    bw_unlock,
    bw_check_reserved_lock,
    bw_file_control,
    bw_sector_size,
    bw_device_characteristics,
    bw_shm_map,
    bw_shm_lock,
    bw_shm_barrier,
    bw_shm_unmap,
    bw_fetch,
    bw_unfetch,
};

static int bw_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL)) /* the database file: see spool_vfs.h, contract 5 */
        return bw_under->xOpen(bw_under, name, f, flags, out_flags);
    bw_file *p = (bw_file *)f;
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)((char *)f + BW_REAL_OFFSET);
    int rc = bw_under->xOpen(bw_under, name, p->real, flags, out_flags);
    if (rc != SQLITE_OK || p->real->pMethods == NULL || p->real->pMethods->iVersion < 3) {
        if (rc == SQLITE_OK) { /* a default VFS without shared memory or mapping: not ours */
            p->real->pMethods->xClose(p->real);
            rc = SQLITE_CANTOPEN;
        }
        p->base.pMethods = NULL; /* tells SQLite there is nothing to close */
        return rc;
    }
    p->base.pMethods = &bw_methods;
    return SQLITE_OK;
}

/* The rest of the VFS: the default VFS's own methods, called with the default VFS. */
static int bw_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return bw_under->xDelete(bw_under, name, sync_dir);
}

static int bw_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return bw_under->xAccess(bw_under, name, flags, out);
}

static int bw_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return bw_under->xFullPathname(bw_under, name, n, out);
}

static void *bw_dl_open(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return bw_under->xDlOpen(bw_under, name);
}

static void bw_dl_error(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    bw_under->xDlError(bw_under, n, msg);
}

static void (*bw_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return bw_under->xDlSym(bw_under, h, sym);
}

static void bw_dl_close(sqlite3_vfs *v, void *h)
{
    (void)v;
    bw_under->xDlClose(bw_under, h);
}

static int bw_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return bw_under->xRandomness(bw_under, n, out);
}

static int bw_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return bw_under->xSleep(bw_under, us);
}

static int bw_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return bw_under->xCurrentTime(bw_under, out);
}

static int bw_get_last_error(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    return bw_under->xGetLastError ? bw_under->xGetLastError(bw_under, n, msg) : 0;
}

static int bw_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return bw_under->xCurrentTimeInt64(bw_under, out);
}

static void bw_register(void)
{
    bw_under = sqlite3_vfs_find(NULL);
    if (bw_under == NULL || bw_under->iVersion < 2 || bw_under->xCurrentTimeInt64 == NULL)
        return;
    bw_vfs.iVersion = 2;
    bw_vfs.szOsFile = (int)(BW_REAL_OFFSET + (size_t)bw_under->szOsFile);
    bw_vfs.mxPathname = bw_under->mxPathname;
    bw_vfs.zName = "ocsf-spool-gather";
    bw_vfs.xOpen = bw_open;
    bw_vfs.xDelete = bw_delete;
    bw_vfs.xAccess = bw_access;
    bw_vfs.xFullPathname = bw_full_pathname;
    bw_vfs.xDlOpen = bw_dl_open;
    bw_vfs.xDlError = bw_dl_error;
    bw_vfs.xDlSym = bw_dl_sym;
    bw_vfs.xDlClose = bw_dl_close;
    bw_vfs.xRandomness = bw_randomness;
    bw_vfs.xSleep = bw_sleep;
    bw_vfs.xCurrentTime = bw_current_time;
    bw_vfs.xGetLastError = bw_get_last_error;
    bw_vfs.xCurrentTimeInt64 = bw_current_time_int64;
    bw_ok = sqlite3_vfs_register(&bw_vfs, 0) == SQLITE_OK;
}

const char *spool_vfs_name(void)
{
    pthread_once(&bw_once, bw_register);
    return bw_ok ? bw_vfs.zName : NULL;
}
