/*
 * jsonw.h - compact JSON serialization of a jansson tree into a caller-owned, reusable buffer.
 *
 * Why not json_dumpb: on the normalizing hot path jansson's dumper cost as much as parsing the
 * input (a callback per token, snprintf per number, a second pass when the buffer is short). This
 * writer produces the same bytes as json_dumpb(v, JSON_COMPACT) for every tree (objects in
 * jansson's iteration order, UTF-8 passed through, control characters and the two JSON specials
 * escaped the way jansson escapes them, reals as jansson prints them) in one pass, growing the
 * buffer geometrically; test_jsonw and fuzz_jsonw compare it with json_dumpb byte for byte.
 *
 * Bounds: nesting deeper than JSONW_MAX_DEPTH and trees larger than max_bytes are refused.
 */
#ifndef OCSF_JSONW_H
#define OCSF_JSONW_H

#include <jansson.h>
#include <stddef.h>

#define JSONW_MAX_DEPTH 128

typedef struct jsonw_buf {
    char *data; /* owned; NUL-terminated after a successful jsonw_dump */
    size_t len, cap;
} jsonw_buf_t;

/* Serializes v into b (replacing its content). 0 ok; -1 out of memory, too deep, or longer than
 * max_bytes (0 = no limit). */
int jsonw_dump(const json_t *v, jsonw_buf_t *b, size_t max_bytes);
void jsonw_free(jsonw_buf_t *b);

/* Appending to what is in b (for a caller that writes an object member by member, e.g. the
 * normalizer's `unmapped`, norm.h): n raw bytes, or one member `"key":value` with a ',' in front
 * unless is_first. 0, or -1 out of memory / too deep (b is then unusable until the next dump). The
 * buffer stays NUL-terminated. */
int jsonw_append_raw(jsonw_buf_t *b, const char *p, size_t n);
int jsonw_append_member(jsonw_buf_t *b, int is_first, const char *key, size_t klen,
                        const json_t *v);

#endif
