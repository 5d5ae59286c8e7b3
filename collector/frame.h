/*
 * frame.h - NDJSON framing for one connection: bytes in, whole lines out.
 *
 * Pure data structure, no I/O, so it is unit-tested and fuzzed on its own. The connection reads
 * into the space frame_reserve() hands out, reports how much arrived with frame_commit(), then
 * calls frame_next() until it answers FRAME_NONE.
 *
 * Invariants:
 *   - a line is the bytes before '\n', with one trailing '\r' removed;
 *   - a line longer than max_line bytes is never buffered whole: once the buffered part of the
 * current line exceeds max_line the framer switches to discarding until the next '\n', keeps only
 * the first FRAME_SAMPLE_BYTES as a sample, and reports FRAME_TOO_LONG with the full length. Memory
 * per connection is therefore bounded by max_line + FRAME_READ_CHUNK;
 *   - pointers returned by frame_next() stay valid until the next frame_* call on the same framer;
 *   - a framer with no unfinished line holds no buffer (idle connections cost no memory).
 */
#ifndef OCSF_FRAME_H
#define OCSF_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_READ_CHUNK   (64 * 1024)
#define FRAME_SAMPLE_BYTES 4096

enum frame_result {
    FRAME_NONE = 0,      /* need more bytes */
    FRAME_LINE = 1,      /* item holds one complete line */
    FRAME_TOO_LONG = 2,  /* item holds a sample of an over-long line; total_len its full length */
    FRAME_TRUNCATED = 3, /* from frame_finish(): bytes after the last newline at end of stream */
};

typedef struct frame_item {
    const char *data;
    size_t len;       /* bytes at data */
    size_t total_len; /* full length of the line (== len except for FRAME_TOO_LONG / discarded
                         tails) */
} frame_item_t;

typedef struct frame {
    char *buf; /* owned; NULL until the first reserve, released when it holds no partial line */
    size_t cap;
    size_t start;    /* first byte of the current (unfinished) line */
    size_t len;      /* bytes in buf */
    size_t scan;     /* bytes before this offset (from start) are known to hold no '\n' */
    size_t max_line; /* lines longer than this are rejected whole */
    int is_discarding;
    size_t discard_len;              /* bytes of the over-long line seen so far */
    char sample[FRAME_SAMPLE_BYTES]; /* its first bytes */
    size_t sample_len;
} frame_t;

void frame_init(frame_t *f, size_t max_line);
void frame_free(frame_t *f);
/* Returns space for at least `want` bytes (capped at FRAME_READ_CHUNK); 0 or -1 on out of memory.
 */
int frame_reserve(frame_t *f, size_t want, char **p, size_t *avail);
/* n bytes were written at the pointer frame_reserve() returned. */
void frame_commit(frame_t *f, size_t n);
/* Next complete item, or FRAME_NONE. */
int frame_next(frame_t *f, frame_item_t *item);
/* End of stream: FRAME_TRUNCATED with the unterminated tail (or its sample when over-long), else
 * FRAME_NONE. */
int frame_finish(frame_t *f, frame_item_t *item);
/* Bytes buffered for the unfinished line (for memory accounting). */
size_t frame_buffered(const frame_t *f);

#endif
