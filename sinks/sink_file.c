/*
 * sink_file.c - the file sink: NDJSON appended to a local file, optionally gzip-compressed.
 *
 * URL: file:///abs/path/events.ndjson[?gzip=1][&fsync=0]
 *
 * Durability: poll() makes what submit() wrote durable (fdatasync) before it reports those seqs as
 * delivered, so the shipper's cursor never runs ahead of the disk. Readers only ever see whole
 * lines: each submit is written with write(2) from a buffer of whole lines.
 *
 * gzip: every poll closes a complete gzip member (RFC 1952 allows concatenated members; zcat and
 * Python's gzip read them all), so a crash can only leave a torn final member, never a torn middle.
 *
 * Crash repair at open: a plain file that does not end in '\n' is cut back to its last newline; a
 * gzip file is cut back to the end of its last complete member. What was cut was never reported
 * delivered, so the shipper sends it again.
 */
#include "sink.h"
#include "util.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct sink {
    sink_host_t host;
    char path[4096];
    int fd;
    int is_gzip;
    int is_fsync;
    z_stream z;
    int is_member_open;
    char *buf; /* staged output */
    size_t len, cap;
    off_t good_size; /* file size after the last complete write */
    int64_t submitted_seq;
    int64_t delivered_seq;
    int is_dirty;
};

static int buf_reserve(sink_t *s, size_t more)
{
    return util_buf_reserve(&s->buf, &s->cap, s->len, more, 256 * 1024);
}

/* Cuts a plain file back to its last newline. */
static int repair_plain(sink_t *s, off_t size)
{
    char tail[4096];
    off_t end = size;
    while (end > 0) {
        off_t from = end > (off_t)sizeof tail ? end - (off_t)sizeof tail : 0;
        ssize_t n = pread(s->fd, tail, (size_t)(end - from), from);
        if (n <= 0)
            return -1;
        for (ssize_t i = n - 1; i >= 0; i--)
            if (tail[i] == '\n') {
                off_t keep = from + i + 1;
                if (keep != size) {
                    log_warn("file sink %s: cutting a torn last line (%lld bytes) left by a crash",
                             s->path, (long long)(size - keep));
                    if (ftruncate(s->fd, keep) < 0)
                        return -1;
                }
                s->good_size = keep;
                return 0;
            }
        end = from;
    }
    log_warn("file sink %s: no complete line in %lld bytes left by a crash; truncating", s->path,
             (long long)size);
    s->good_size = 0;
    return ftruncate(s->fd, 0);
}

/* Cuts a gzip file back to the end of its last complete member. */
static int repair_gzip(sink_t *s, off_t size)
{
    z_stream z;
    unsigned char in[65536], out[65536];
    off_t pos = 0, good = 0;
    int rc = Z_OK;

    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -1;
    while (pos < size) {
        ssize_t n = pread(s->fd, in, sizeof in, pos);
        if (n <= 0) {
            inflateEnd(&z);
            return -1; /* never cut a file we could not read */
        }
        z.next_in = in;
        z.avail_in = (uInt)n;
        while (z.avail_in > 0) {
            z.next_out = out;
            z.avail_out = sizeof out;
            rc = inflate(&z, Z_NO_FLUSH);
            if (rc == Z_STREAM_END) {
                good = pos + (n - (ssize_t)z.avail_in);
                inflateReset(&z);
            } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
                goto done;
            } else if (rc == Z_BUF_ERROR && z.avail_in > 0) {
                goto done;
            }
        }
        pos += n;
    }
done:
    inflateEnd(&z);
    if (good != size) {
        log_warn("file sink %s: cutting %lld bytes of a torn gzip member left by a crash", s->path,
                 (long long)(size - good));
        if (ftruncate(s->fd, good) < 0)
            return -1;
    }
    s->good_size = good;
    return 0;
}

static void file_close(sink_t *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->is_gzip)
        deflateEnd(&s->z);
    free(s->buf);
    free(s);
}

static int file_open(const url_t *url, const sink_host_t *host, sink_t **out, char *err,
                     size_t errlen)
{
    char v[16];
    struct stat st;
    sink_t *s = calloc(1, sizeof *s);

    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return SINK_FATAL;
    }
    s->fd = -1;
    s->host = *host;
    s->is_fsync = 1;
    if (url->path[0] != '/') {
        snprintf(err, errlen, "file sink needs an absolute path: file:///dir/events.ndjson");
        goto fail;
    }
    snprintf(s->path, sizeof s->path, "%s", url->path);
    if (url_query_get(url, "gzip", v, sizeof v) == 1)
        s->is_gzip = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
    if (url_query_get(url, "fsync", v, sizeof v) == 1)
        s->is_fsync = !(strcmp(v, "0") == 0 || strcmp(v, "false") == 0);
    s->fd = open(s->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (s->fd < 0) {
        snprintf(err, errlen, "file sink: cannot open %s: %s (does the directory exist?)", s->path,
                 strerror(errno));
        goto fail;
    }
    if (fstat(s->fd, &st) < 0 ||
        (st.st_size > 0 &&
         (s->is_gzip ? repair_gzip(s, st.st_size) : repair_plain(s, st.st_size)) < 0)) {
        snprintf(err, errlen, "file sink: cannot check or repair %s: %s", s->path, strerror(errno));
        goto fail;
    }
    if (s->is_gzip &&
        deflateInit2(&s->z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        snprintf(err, errlen, "file sink: zlib init failed");
        goto fail;
    }
    *out = s;
    return SINK_OK;
fail:
    file_close(s);
    return SINK_FATAL;
}

/* After a failure: drop what is staged and not durable; the shipper resubmits after delivered_seq.
 */
static void file_reset(sink_t *s)
{
    s->len = 0;
    if (s->is_gzip && s->is_member_open) {
        deflateReset(&s->z);
        s->is_member_open = 0;
    }
    s->submitted_seq = s->delivered_seq;
}

/* Writes the staged buffer whole, or cuts the file back to the last good size. */
static int file_write_staged(sink_t *s, char *err, size_t errlen)
{
    if (util_write_all(s->fd, s->buf, s->len) < 0) {
        snprintf(err, errlen, "write to %s failed: %s", s->path,
                 errno ? strerror(errno) : "no progress");
        if (ftruncate(s->fd, s->good_size) < 0) /* keep whole lines only */
            log_warn("file sink %s: cannot cut a partial write: %s", s->path, strerror(errno));
        file_reset(s);
        return SINK_RETRY;
    }
    s->good_size += (off_t)s->len;
    s->len = 0;
    return SINK_OK;
}

/* Runs deflate over in[0..n) with flush, appending to the staged buffer. */
static int file_deflate(sink_t *s, const char *in, size_t n, int flush)
{
    s->z.next_in = (Bytef *)in;
    s->z.avail_in = (uInt)n;
    do {
        if (buf_reserve(s, 64 * 1024) < 0)
            return -1;
        s->z.next_out = (Bytef *)s->buf + s->len;
        s->z.avail_out = (uInt)(s->cap - s->len);
        int rc = deflate(&s->z, flush);
        if (rc == Z_STREAM_ERROR)
            return -1;
        s->len = s->cap - s->z.avail_out;
    } while (s->z.avail_in > 0 || s->z.avail_out == 0);
    return 0;
}

static int file_submit(sink_t *s, const sink_event_t *ev, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (s->is_gzip) {
            if (file_deflate(s, ev[i].body, ev[i].len, Z_NO_FLUSH) < 0 ||
                file_deflate(s, "\n", 1, Z_NO_FLUSH) < 0)
                goto oom;
            s->is_member_open = 1;
        } else {
            if (buf_reserve(s, ev[i].len + 1) < 0)
                goto oom;
            memcpy(s->buf + s->len, ev[i].body, ev[i].len);
            s->len += ev[i].len;
            s->buf[s->len++] = '\n';
        }
        s->submitted_seq = ev[i].seq;
    }
    if (!s->is_gzip && s->len > 0) {
        int rc = file_write_staged(s, err, errlen);
        if (rc != SINK_OK)
            return rc;
    }
    s->is_dirty = 1;
    return SINK_OK;
oom:
    snprintf(err, errlen, "out of memory staging %zu events for %s", n, s->path);
    file_reset(s);
    return SINK_RETRY;
}

static int file_poll(sink_t *s, int timeout_ms, int64_t *delivered, char *err, size_t errlen)
{
    (void)timeout_ms;
    if (s->is_gzip && s->is_member_open) {
        if (file_deflate(s, NULL, 0, Z_FINISH) < 0) {
            snprintf(err, errlen, "gzip failed for %s", s->path);
            file_reset(s);
            return SINK_RETRY;
        }
        deflateReset(&s->z);
        s->is_member_open = 0;
        int rc;
        rc = file_write_staged(s, err, errlen);
        if (rc != SINK_OK)
            return rc;
    }
    if (s->is_dirty) {
        if (s->is_fsync && fdatasync(s->fd) < 0) {
            snprintf(err, errlen, "fdatasync %s failed: %s", s->path, strerror(errno));
            file_reset(s);
            return SINK_RETRY;
        }
        s->is_dirty = 0;
        s->delivered_seq = s->submitted_seq;
    }
    *delivered = s->delivered_seq;
    return SINK_OK;
}

const sink_ops_t sink_file_ops = {
    .scheme = "file",
    .open = file_open,
    .submit = file_submit,
    .poll = file_poll,
    .close = file_close,
    .max_in_flight = 4096,
};
