/* fuzz_frame.c - libFuzzer target for frame.c and envelope.c: the input is fed to a framer
 * (max_line 4096) in reads whose sizes come from the input bytes themselves, every line goes
 * through envelope_parse(), and frame_finish() ends the stream. Invariants checked: no line is
 * longer than max_line, a sample never exceeds FRAME_SAMPLE_BYTES, over-long items really are
 * over-long, every complete line equals the input bytes it came from, and the buffer stays
 * bounded by max_line + 2 * FRAME_READ_CHUNK. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "frame.h"
#include "fuzz_common.h"

#define FUZZ_MAX_LINE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks one item against the input at *pos and advances *pos past it and its newline. */
static void fuzz_check_item(int kind, const frame_item_t *it, const uint8_t *data, size_t size,
                            size_t *pos)
{
    char reason[256];
    json_t *v = NULL;
    size_t at = *pos;

    FUZZ_CHECK(it->len <= it->total_len || kind == FRAME_LINE);
    switch (kind) {
    case FRAME_LINE:
        FUZZ_CHECK(it->len <= FUZZ_MAX_LINE);
        FUZZ_CHECK(at + it->len <= size);
        FUZZ_CHECK(memcmp(it->data, data + at, it->len) == 0);
        at += it->len;
        if (at < size && data[at] == '\r' && at + 1 < size && data[at + 1] == '\n')
            at++;
        FUZZ_CHECK(at < size && data[at] == '\n');
        *pos = at + 1;
        if (envelope_parse(it->data, it->len, ENVELOPE_MAX_DEPTH, &v, reason, sizeof reason) == 0)
            FUZZ_CHECK(json_is_object(v));
        else
            FUZZ_CHECK(v == NULL && reason[0] != '\0');
        json_decref(v);
        break;
    case FRAME_TOO_LONG:
        FUZZ_CHECK(it->total_len > FUZZ_MAX_LINE);
        FUZZ_CHECK(it->len <= FRAME_SAMPLE_BYTES);
        FUZZ_CHECK(at + it->total_len < size && data[at + it->total_len] == '\n');
        FUZZ_CHECK(memcmp(it->data, data + at, it->len) == 0);
        *pos = at + it->total_len + 1;
        break;
    case FRAME_TRUNCATED:
        FUZZ_CHECK(at + it->total_len == size);
        FUZZ_CHECK(it->len <= FRAME_SAMPLE_BYTES || it->len <= FUZZ_MAX_LINE);
        FUZZ_CHECK(memcmp(it->data, data + at, it->len) == 0);
        *pos = size;
        break;
    default:
        FUZZ_CHECK(0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frame_t f;
    frame_item_t it;
    size_t off = 0, pos = 0, k = 0;
    int r;

    frame_init(&f, FUZZ_MAX_LINE);
    while (off < size) {
        char *dst;
        size_t avail;
        /* read size from the input: mostly small, sometimes large */
        size_t want = data[k++ % size];
        if (want & 0x80)
            want = (want & 0x7f) * 97 + 1;
        else
            want = want % 17 + 1;
        if (want > size - off)
            want = size - off;
        if (frame_reserve(&f, want, &dst, &avail) != 0)
            break;
        FUZZ_CHECK(avail >= want);
        memcpy(dst, data + off, want);
        frame_commit(&f, want);
        off += want;
        while ((r = frame_next(&f, &it)) != FRAME_NONE)
            fuzz_check_item(r, &it, data, size, &pos);
        FUZZ_CHECK(frame_buffered(&f) <= FUZZ_MAX_LINE + FRAME_READ_CHUNK * 2);
        FUZZ_CHECK(f.cap <= FUZZ_MAX_LINE + FRAME_READ_CHUNK * 2);
    }
    r = frame_finish(&f, &it);
    if (r != FRAME_NONE)
        fuzz_check_item(r, &it, data, size, &pos);
    FUZZ_CHECK(pos == size);
    FUZZ_CHECK(frame_finish(&f, &it) == FRAME_NONE);
    frame_free(&f);
    return 0;
}
