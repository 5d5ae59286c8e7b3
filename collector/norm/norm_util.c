/*
 * norm_util.c - two small helpers of the normalizer: the arena that holds a compiled table set (so
 * a set is freed in one call and a failed load needs no per-struct cleanup), and the reasons list
 * that collects every problem of one event into the caller's buffer.
 *
 * Invariants: arena memory is zeroed and aligned for any type, and lives until norm_arena_free; a
 * reasons buffer is always NUL-terminated when its capacity is non-zero, and is valid UTF-8 without
 * control characters (input text quoted in a reason may be cut mid-character by a bound, or hold a
 * newline: such bytes become '?'), so a caller can put it in a JSON string or a log line as is.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norm_internal.h"
#include "util.h"

#define NORM_ARENA_CHUNK 16384

struct norm_arena_chunk {
    struct norm_arena_chunk *next;
    size_t size, used;
    max_align_t data[]; /* flexible array of the strictest alignment */
};

void *norm_arena_alloc(struct norm_arena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    struct norm_arena_chunk *c = a->head;
    if (c == NULL || c->size - c->used < n) {
        size_t size = n > NORM_ARENA_CHUNK ? n : NORM_ARENA_CHUNK;
        c = calloc(1, sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->size = size;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

char *norm_arena_strndup(struct norm_arena *a, const char *s, size_t n)
{
    char *p = norm_arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *norm_arena_strdup(struct norm_arena *a, const char *s)
{
    return norm_arena_strndup(a, s, strlen(s));
}

void norm_arena_free(struct norm_arena *a)
{
    struct norm_arena_chunk *c = a->head;
    while (c != NULL) {
        struct norm_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

void norm_reasons_init(struct norm_reasons *r, char *buf, size_t len)
{
    r->buf = len > 0 ? buf : NULL;
    r->len = r->buf != NULL ? len : 0;
    r->used = 0;
    r->count = 0;
    if (r->len > 0)
        r->buf[0] = '\0';
}

void norm_reasons_add(struct norm_reasons *r, const char *fmt, ...)
{
    r->count++;
    if (r->len == 0 || r->used + 1 >= r->len)
        return;
    if (r->used > 0) {
        int k = snprintf(r->buf + r->used, r->len - r->used, "; ");
        if (k < 0 || (size_t)k >= r->len - r->used) {
            r->used = r->len - 1;
            return;
        }
        r->used += (size_t)k;
    }
    va_list ap;
    va_start(ap, fmt);
    size_t start = r->used;
    int k = vsnprintf(r->buf + r->used, r->len - r->used, fmt, ap);
    va_end(ap);
    if (k < 0)
        r->buf[r->used] = '\0';
    else if ((size_t)k >= r->len - r->used)
        r->used = r->len - 1;
    else
        r->used += (size_t)k;
    util_text_sanitize(r->buf + start);
}
