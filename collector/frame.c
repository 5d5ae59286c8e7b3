/*
 * frame.c - NDJSON framer; contract and invariants in frame.h.
 *
 * The buffer holds [start, len): the unfinished line. frame_next() scans from start+scan for '\n'.
 * Consumed lines are dropped lazily: frame_reserve() moves the unfinished line to the front only
 * when it needs room, so a read that carries many lines costs one scan and no copies.
 */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

void frame_init(frame_t *f, size_t max_line)
{
    memset(f, 0, sizeof *f);
    f->max_line = max_line;
}

void frame_free(frame_t *f)
{
    free(f->buf);
    f->buf = NULL;
    f->cap = f->len = f->start = f->scan = 0;
}

size_t frame_buffered(const frame_t *f)
{
    return f->len - f->start;
}

int frame_reserve(frame_t *f, size_t want, char **p, size_t *avail)
{
    if (want == 0 || want > FRAME_READ_CHUNK)
        want = FRAME_READ_CHUNK;
    if (f->start > 0) { /* drop consumed lines */
        size_t keep = f->len - f->start;
        if (keep)
            memmove(f->buf, f->buf + f->start, keep);
        f->len = keep;
        f->start = 0;
    }
    if (f->cap - f->len < want) {
        size_t ncap = f->cap ? f->cap : FRAME_READ_CHUNK;
        while (ncap - f->len < want)
            ncap *= 2;
        char *nb = realloc(f->buf, ncap);
        if (!nb)
            return -1;
        f->buf = nb;
        f->cap = ncap;
    }
    *p = f->buf + f->len;
    *avail = f->cap - f->len;
    return 0;
}

void frame_commit(frame_t *f, size_t n)
{
    f->len += n;
}

/* Keeps at most FRAME_SAMPLE_BYTES of an over-long line. */
static void frame_sample(frame_t *f, const char *p, size_t n)
{
    size_t room = FRAME_SAMPLE_BYTES - f->sample_len;
    if (n > room)
        n = room;
    memcpy(f->sample + f->sample_len, p, n);
    f->sample_len += n;
}

int frame_next(frame_t *f, frame_item_t *item)
{
    for (;;) {
        char *line = f->buf + f->start;
        size_t avail = f->len - f->start;
        char *nl = avail > f->scan ? memchr(line + f->scan, '\n', avail - f->scan) : NULL;

        if (f->is_discarding) {
            size_t n = nl ? (size_t)(nl - line) : avail;
            frame_sample(f, line, n);
            f->discard_len += n;
            if (!nl) { /* drop everything buffered, keep waiting for the newline */
                f->start = f->len;
                f->scan = 0;
                return FRAME_NONE;
            }
            f->start += n + 1;
            f->scan = 0;
            f->is_discarding = 0;
            item->data = f->sample;
            item->len = f->sample_len;
            item->total_len = f->discard_len;
            return FRAME_TOO_LONG;
        }

        if (!nl) {
            f->scan = avail;
            if (avail > f->max_line) { /* the line can no longer fit: start discarding */
                f->is_discarding = 1;
                f->sample_len = 0;
                f->discard_len = 0;
                f->scan = 0;
                continue;
            }
            if (avail == 0) /* nothing pending: an idle connection holds no buffer */
                frame_free(f);
            return FRAME_NONE;
        }

        size_t n = (size_t)(nl - line);
        f->start += n + 1;
        f->scan = 0;
        if (n > f->max_line) {
            f->sample_len = 0;
            frame_sample(f, line, n);
            item->data = f->sample;
            item->len = f->sample_len;
            item->total_len = n;
            return FRAME_TOO_LONG;
        }
        if (n > 0 && line[n - 1] == '\r')
            n--;
        item->data = line;
        item->len = n;
        item->total_len = n;
        return FRAME_LINE;
    }
}

int frame_finish(frame_t *f, frame_item_t *item)
{
    size_t avail = f->len - f->start;
    if (f->is_discarding) {
        frame_sample(f, f->buf + f->start, avail);
        f->discard_len += avail;
        f->is_discarding = 0;
        f->start = f->len;
        item->data = f->sample;
        item->len = f->sample_len;
        item->total_len = f->discard_len;
        return FRAME_TRUNCATED;
    }
    if (avail == 0)
        return FRAME_NONE;
    item->data = f->buf + f->start;
    item->len = avail; /* the whole tail: it is <= max_line, or we would be discarding */
    item->total_len = avail;
    f->start = f->len;
    f->scan = 0;
    return FRAME_TRUNCATED;
}
