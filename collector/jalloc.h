/*
 * jalloc.h - a per-event arena for jansson's allocations on the ingest thread.
 *
 * Parsing an event, mapping it to OCSF, validating and serializing it makes and frees a few
 * hundred small jansson objects; with malloc/free that was a tenth of the ingest thread's time.
 * jalloc_install() routes jansson through jalloc_malloc/jalloc_free. While a thread has an arena
 * open (jalloc_begin .. jalloc_end), jansson's allocations on that thread are bumped from the
 * arena's chunks and its frees of arena memory cost nothing; everywhere else (other threads, or
 * this thread between events) they are plain malloc/free, so trees that live longer (schema and
 * mapping tables, config) are untouched.
 *
 * The rule: every jansson value allocated inside begin..end is released (decref'd) before end,
 * and nothing keeps a pointer to one after end. jalloc_end() checks the count of live arena
 * allocations and reports a leak (returns -1) instead of silently recycling memory still in use.
 */
#ifndef OCSF_JALLOC_H
#define OCSF_JALLOC_H

#include <stddef.h>

typedef struct jalloc_chunk jalloc_chunk_t;

typedef struct jalloc_arena {
    jalloc_chunk_t *chunks; /* newest first; the oldest (first) chunk is kept between events */
    size_t live;            /* arena allocations not yet freed */
    size_t used_max;        /* largest event so far, in bytes (for logs/tests) */
} jalloc_arena_t;

/* Once, before any jansson use. */
void jalloc_install(void);
/* Opens a on the calling thread (no nesting). */
void jalloc_begin(jalloc_arena_t *a);
/* Closes the calling thread's arena and recycles its memory; 0, or -1 when allocations were still
 * live (their memory is then not recycled: it stays allocated until jalloc_destroy). */
int jalloc_end(jalloc_arena_t *a);
/* Frees all chunks. The arena must not be open. */
void jalloc_destroy(jalloc_arena_t *a);

#endif
