/*
 * jalloc.c - per-event arena for jansson (see jalloc.h for the contract and why).
 *
 * Chunks double in size (64 KiB, 128 KiB, ...) so a large event needs few of them and a free's
 * "is this mine?" check walks a short list. Allocations are 16-byte aligned, like malloc's.
 */
#include "jalloc.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#define JALLOC_FIRST_CHUNK (64 * 1024)
#define JALLOC_ALIGN       16

struct jalloc_chunk {
    jalloc_chunk_t *next;
    size_t size, used;
    _Alignas(JALLOC_ALIGN) unsigned char data[];
};

static _Thread_local jalloc_arena_t *jalloc_cur;
/* chunks of arenas closed with live allocations (see jalloc_end); normally empty */
static _Thread_local jalloc_chunk_t *jalloc_retired;

static int jalloc_owns(const jalloc_chunk_t *c, const void *p)
{
    for (; c; c = c->next) {
        uintptr_t base = (uintptr_t)c->data, x = (uintptr_t)p;
        if (x >= base && x < base + c->size)
            return 1;
    }
    return 0;
}

static void *jalloc_malloc(size_t n)
{
    jalloc_arena_t *a = jalloc_cur;
    if (!a)
        return malloc(n);
    size_t need = (n + JALLOC_ALIGN - 1) & ~(size_t)(JALLOC_ALIGN - 1);
    if (need < n)
        return NULL;
    jalloc_chunk_t *c = a->chunks;
    if (!c || c->size - c->used < need) {
        size_t size = c ? c->size * 2 : JALLOC_FIRST_CHUNK;
        while (size < need)
            size *= 2;
        jalloc_chunk_t *nc = malloc(sizeof *nc + size);
        if (!nc)
            return NULL;
        nc->size = size;
        nc->used = 0;
        nc->next = c;
        a->chunks = c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->live++;
    return p;
}

static void jalloc_free(void *p)
{
    jalloc_arena_t *a = jalloc_cur;
    if (!p)
        return;
    if (a && jalloc_owns(a->chunks, p)) {
        a->live--;
        return;
    }
    if (jalloc_retired && jalloc_owns(jalloc_retired, p))
        return;
    free(p);
}

static void jalloc_free_chain(jalloc_chunk_t *c)
{
    while (c) {
        jalloc_chunk_t *next = c->next;
        free(c);
        c = next;
    }
}

void jalloc_install(void)
{
    json_set_alloc_funcs(jalloc_malloc, jalloc_free);
}

void jalloc_begin(jalloc_arena_t *a)
{
    jalloc_cur = a;
}

int jalloc_end(jalloc_arena_t *a)
{
    size_t used = 0;
    jalloc_cur = NULL;
    for (jalloc_chunk_t *c = a->chunks; c; c = c->next)
        used += c->used;
    if (used > a->used_max)
        a->used_max = used;
    if (a->live != 0) {
        /* A bug: something still points into the arena. Retire its chunks for good (never reused,
         * never freed) so the late free of such a pointer is recognized instead of corrupting the
         * heap; the next event starts a fresh chain. */
        jalloc_chunk_t *last = a->chunks;
        while (last && last->next)
            last = last->next;
        if (last) {
            last->next = jalloc_retired;
            jalloc_retired = a->chunks;
        }
        a->chunks = NULL;
        a->live = 0;
        return -1;
    }
    /* keep the biggest chunk (the newest) for the next event, free the rest */
    jalloc_chunk_t *keep = a->chunks;
    if (keep) {
        jalloc_free_chain(keep->next);
        keep->next = NULL;
        keep->used = 0;
    }
    return 0;
}

void jalloc_destroy(jalloc_arena_t *a)
{
    jalloc_free_chain(a->chunks);
    a->chunks = NULL;
    a->live = 0;
}
