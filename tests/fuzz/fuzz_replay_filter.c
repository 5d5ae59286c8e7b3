/* fuzz_replay_filter.c - libFuzzer target for ocsf-replay's parsers (tools/replay_filter.c): the
 * input is split at newlines into a time (--since/--until), a class (numbers only: no schema), a
 * status, an activity, up to four --where expressions and a JSON body; every parser must either
 * accept or fill err with clean text, accepted times must be in the collector's range, and the
 * filter built from the accepted pieces is matched against the body (and the body's columns). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next newline-terminated piece of the input, NUL-terminated in buf. */
static const char *next_piece(const uint8_t **p, const uint8_t *end, char *buf, size_t len)
{
    size_t n = 0;
    while (*p < end && **p != '\n') {
        if (n + 1 < len)
            buf[n++] = (char)**p;
        (*p)++;
    }
    if (*p < end)
        (*p)++;
    buf[n] = '\0';
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char piece[1024], err[512];
    replay_filter_t f;
    int64_t ms;
    int v;

    replay_filter_init(&f);
    err[0] = '\0';
    if (replay_parse_time(next_piece(&p, end, piece, sizeof piece), 1795896000000, &ms, err,
                          sizeof err) == 0)
        f.since_ms = ms;
    else
        check_clean_utf8(err);
    err[0] = '\0';
    if (replay_parse_class(NULL, next_piece(&p, end, piece, sizeof piece), &v, err, sizeof err) ==
        0) {
        if (f.n_classes < REPLAY_MAX_CLASSES)
            f.classes[f.n_classes++] = v;
    } else {
        check_clean_utf8(err);
    }
    err[0] = '\0';
    if (replay_parse_status(next_piece(&p, end, piece, sizeof piece), &v, err, sizeof err) == 0)
        f.status_id = v;
    else
        check_clean_utf8(err);
    err[0] = '\0';
    if (replay_parse_activity(&f, next_piece(&p, end, piece, sizeof piece), err, sizeof err) < 0)
        check_clean_utf8(err);
    for (int i = 0; i < 4; i++) {
        err[0] = '\0';
        if (replay_parse_where(&f, next_piece(&p, end, piece, sizeof piece), err, sizeof err) < 0)
            check_clean_utf8(err);
    }
    FUZZ_CHECK(f.n_where <= REPLAY_MAX_WHERE);

    replay_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.body = (const char *)p;
    ev.len = (size_t)(end - p);
    ev.class_uid = ev.activity_id = ev.status_id = -1;
    ev.event_ms = -1;
    replay_event_columns_from_body(&ev);
    (void)replay_filter_match_columns(&f, &ev);
    (void)replay_filter_match_body(&f, &ev);
    replay_event_release(&ev);
    return 0;
}
