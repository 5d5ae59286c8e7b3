/*
 * norm_map.c - the mapping engine: applies one compiled entry to one input event.
 *
 * Rules run in table order (activity_id first, then the common rules the entry kept, then the
 * entry's own), in two passes: first the rules that read only the input, then those with an
 * alternative that tests the output (if_set, unless_set), so such a test sees everything the plain
 * rules wrote whatever the key order. For each rule the first alternative that yields a value wins
 * and is written at the rule's target path, creating objects and array elements on the way. Per
 * event the engine does only lookups: paths are pre-split, constants and map results pre-coerced
 * with their captions, so the cost is a few hash probes per rule.
 *
 * What an event consumed is one bit per input key (norm_internal.h invariant 4); `unmapped` then
 * receives every top-level input field that no successful alternative read, except dropped fields
 * and the key. Ownership: values written to the output are new references or references shared with
 * constants kept by the table set (immutable scalars only; containers are deep-copied).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "norm_internal.h"

/* Splits peer->addr ("127.0.0.1:51234", "[::1]:5123") once per event. */
static void peer_parse(struct norm_ctx *c)
{
    struct norm_peer_cache *pc = &c->peer_cache;
    if (pc->parsed)
        return;
    pc->parsed = 1;
    pc->ip[0] = '\0';
    pc->port = -1;
    if (c->peer == NULL || c->peer->addr == NULL)
        return;
    const char *a = c->peer->addr;
    size_t n = strnlen(a, 128);
    const char *ip = a, *ip_end = a + n, *port = NULL;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (close == NULL)
            return;
        ip = a + 1;
        ip_end = close;
        if (close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = memchr(a, ':', n);
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(a + n - colon - 1)) == NULL) {
            ip_end = colon; /* IPv4 with port; several colons without brackets: a bare IPv6 */
            port = colon + 1;
        }
    }
    size_t ipn = (size_t)(ip_end - ip);
    if (ipn == 0 || ipn >= sizeof(pc->ip))
        return;
    memcpy(pc->ip, ip, ipn);
    pc->ip[ipn] = '\0';
    if (port != NULL) {
        long v = 0;
        int nd = 0;
        while (port[nd] >= '0' && port[nd] <= '9' && nd < 5)
            v = v * 10 + (port[nd++] - '0');
        if (nd > 0 && port[nd] == '\0' && v <= 65535)
            pc->port = v;
    }
}

json_t *norm_src_value(struct norm_ctx *c, const struct norm_src *s, int *is_new)
{
    *is_new = 0;
    const norm_peer_t *p = c->peer;
    json_t *v = NULL;
    switch (s->kind) {
    case NORM_SRC_FIELD: {
        int i = 0;
        v = c->in;
        if (c->has_fields && s->key >= 0) { /* a rule's source: its top-level value is known */
            v = c->field[s->key];
            i = 1;
        }
        for (; i < s->nseg && v != NULL; i++)
            v = json_is_object(v) ? json_object_get(v, s->seg[i]) : NULL;
        return json_is_null(v) ? NULL : v;
    }
    case NORM_SRC_PEER_IP:
        peer_parse(c);
        v = c->peer_cache.ip[0] != '\0' ? json_string(c->peer_cache.ip) : NULL;
        break;
    case NORM_SRC_PEER_PORT:
        peer_parse(c);
        v = c->peer_cache.port >= 0 ? json_integer(c->peer_cache.port) : NULL;
        break;
    case NORM_SRC_PEER_ADDR:
        v = p != NULL && p->addr != NULL ? json_string(p->addr) : NULL;
        break;
    case NORM_SRC_PEER_LISTENER:
        v = p != NULL && p->listener != NULL ? json_string(p->listener) : NULL;
        break;
    case NORM_SRC_PEER_UID:
        v = p != NULL && p->uid >= 0 ? json_integer(p->uid) : NULL;
        break;
    case NORM_SRC_PEER_GID:
        v = p != NULL && p->gid >= 0 ? json_integer(p->gid) : NULL;
        break;
    case NORM_SRC_PEER_PID:
        v = p != NULL && p->pid >= 0 ? json_integer(p->pid) : NULL;
        break;
    case NORM_SRC_RECEIVED_TIME:
        v = json_integer(c->received_ms);
        break;
    }
    *is_new = v != NULL;
    return v;
}

int norm_preds_hold(struct norm_ctx *c, const struct norm_pred *p, int n)
{
    for (int i = 0; i < n; i++) {
        int is_new;
        json_t *v = norm_src_value(c, &p[i].src, &is_new);
        int ok;
        if (p[i].op == NORM_PRED_EXISTS) {
            ok = v != NULL;
        } else if (p[i].op == NORM_PRED_ABSENT) {
            ok = v == NULL;
        } else {
            char buf[48];
            const char *s = v != NULL ? norm_string_form(v, buf, sizeof(buf)) : NULL;
            int found = 0;
            for (int k = 0; s != NULL && k < p[i].nvalues && !found; k++)
                found = strcasecmp(p[i].values[k], s) == 0;
            ok = p[i].op == NORM_PRED_IN ? found : !found;
        }
        if (is_new)
            json_decref(v);
        if (!ok)
            return 0;
    }
    return 1;
}

/* The value at an output path, or NULL. */
static json_t *opath_get(json_t *root, const struct norm_opath *p)
{
    json_t *cur = root;
    for (int i = 0; i < p->nseg && cur != NULL; i++) {
        cur = json_is_object(cur) ? json_object_get(cur, p->seg[i].name) : NULL;
        if (cur != NULL && p->seg[i].index >= 0)
            cur = json_is_array(cur) ? json_array_get(cur, (size_t)p->seg[i].index) : NULL;
    }
    return cur;
}

/* Writes val (stolen) at p, creating containers. *parent gets the object that now holds val (NULL
 * when an array element). 0, or -1 with why. */
static int opath_set(json_t *root, const struct norm_opath *p, json_t *val, json_t **parent,
                     char *why, size_t whylen)
{
    json_t *cur = root;
    *parent = NULL;
    for (int i = 0; i < p->nseg; i++) {
        const struct norm_segment *sg = &p->seg[i];
        const int last = i == p->nseg - 1;
        if (!json_is_object(cur)) {
            snprintf(why, whylen, "the value before '%s' is not an object", sg->name);
            goto fail;
        }
        if (sg->index < 0 && last) { /* the leaf: no look-up first, set replaces */
            if (json_object_set_new_nocheck(cur, sg->name, val) != 0) {
                snprintf(why, whylen, "out of memory");
                return -1;
            }
            *parent = cur;
            return 0;
        }
        json_t *next = json_object_get(cur, sg->name);
        if (sg->index < 0) {
            if (next == NULL) {
                next = json_object();
                if (next == NULL || json_object_set_new_nocheck(cur, sg->name, next) != 0)
                    goto oom;
            }
            cur = next;
            continue;
        }
        if (next == NULL) {
            next = json_array();
            if (next == NULL || json_object_set_new_nocheck(cur, sg->name, next) != 0)
                goto oom;
        }
        if (!json_is_array(next)) {
            snprintf(why, whylen, "'%s' is not an array", sg->name);
            goto fail;
        }
        size_t idx = (size_t)sg->index;
        while (json_array_size(next) < idx + (last ? 0 : 1))
            if (json_array_append_new(next, last ? json_null() : json_object()) != 0)
                goto oom;
        if (last) {
            int r = idx < json_array_size(next) ? json_array_set_new(next, idx, val)
                                                : json_array_append_new(next, val);
            if (r != 0) {
                snprintf(why, whylen, "out of memory");
                return -1;
            }
            return 0;
        }
        cur = json_array_get(next, idx);
    }
    snprintf(why, whylen, "empty path");
fail:
    json_decref(val);
    return -1;
oom:
    snprintf(why, whylen, "out of memory");
    json_decref(val);
    return -1;
}

/* A transform of v (borrowed): a NEW reference, or NULL when it yields nothing. */
static json_t *transform(enum norm_transform tr, json_t *v)
{
    char buf[48];
    const char *s = norm_string_form(v, buf, sizeof(buf));
    if (s == NULL)
        return NULL;
    size_t n = json_is_string(v) ? json_string_length(v) : strlen(s);
    if (n > NORM_MAX_STRING)
        return NULL;
    switch (tr) {
    case NORM_TR_NONE:
        return json_incref(v);
    case NORM_TR_LOWER:
    case NORM_TR_UPPER: {
        char *t = malloc(n + 1);
        if (t == NULL)
            return NULL;
        for (size_t i = 0; i < n; i++)
            t[i] = (char)(tr == NORM_TR_LOWER ? tolower((unsigned char)s[i])
                                              : toupper((unsigned char)s[i]));
        t[n] = '\0';
        json_t *r = json_stringn_nocheck(t, n);
        free(t);
        return r;
    }
    case NORM_TR_BASENAME: {
        const char *slash = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == '/')
                slash = s + i;
        const char *b = slash != NULL ? slash + 1 : s;
        size_t bn = n - (size_t)(b - s);
        return bn > 0 ? json_stringn_nocheck(b, bn) : NULL;
    }
    case NORM_TR_TZ_OFFSET: {
        long long ms;
        int tz, has_tz;
        if (!json_is_string(v) || norm_time_parse(s, n, &ms, &tz, &has_tz) < 0 || !has_tz)
            return NULL;
        return json_integer(tz);
    }
    }
    return NULL;
}

/* Coerces an input value for an array attribute: each element of an array, or one scalar wrapped.
 */
static json_t *coerce_array(enum norm_vtype vt, json_t *v, char *why, size_t whylen)
{
    json_t *arr = json_array();
    if (arr == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (!json_is_array(v)) {
        json_t *e = norm_coerce(vt, v, why, whylen);
        if (e == NULL || json_array_append_new(arr, e) != 0)
            goto fail;
        return arr;
    }
    if (json_array_size(v) > NORM_MAX_ARRAY) {
        snprintf(why, whylen, "array of more than %d elements", NORM_MAX_ARRAY);
        goto fail;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char ewhy[160];
        json_t *ce = norm_coerce(vt, e, ewhy, sizeof(ewhy));
        if (ce == NULL) {
            snprintf(why, whylen, "element %zu: %s", i, ewhy);
            goto fail;
        }
        if (json_array_append_new(arr, ce) != 0)
            goto fail;
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

static const struct norm_item *map_lookup(const struct norm_alt *a, const char *s)
{
    for (int i = 0; i < a->nitem; i++)
        if (strcasecmp(a->item[i].key, s) == 0)
            return &a->item[i];
    return NULL;
}

static json_t *share(json_t *v)
{
    return json_is_object(v) || json_is_array(v) ? json_deep_copy(v) : json_incref(v);
}

/* 1: *val is a NEW reference (with *caption when known); 0: this alternative yields nothing; -1: a
 * present value cannot be converted (reason added). */
static int alt_eval(struct norm_ctx *c, const struct norm_rule *r, const struct norm_alt *a,
                    json_t **val, json_t **caption)
{
    *caption = NULL;
    if (a->npred > 0 && !norm_preds_hold(c, a->pred, a->npred))
        return 0;
    if (a->if_set != NULL && opath_get(c->out, a->if_set) == NULL)
        return 0;
    if (a->unless_set != NULL && opath_get(c->out, a->unless_set) != NULL)
        return 0;
    if (a->nsrc == 0) {
        *val = share(a->value);
        *caption = a->caption;
        return *val != NULL;
    }
    for (int i = 0; i < a->nsrc; i++) {
        const struct norm_src *src = &a->src[i];
        int is_new;
        json_t *v = norm_src_value(c, src, &is_new);
        if (v == NULL)
            continue;
        if (a->transform != NORM_TR_NONE) {
            json_t *t = transform(a->transform, v);
            if (is_new)
                json_decref(v);
            if (t == NULL)
                continue;
            v = t;
            is_new = 1;
        }
        json_t *out;
        if (a->has_map) {
            char buf[48];
            const char *s = norm_string_form(v, buf, sizeof(buf));
            const struct norm_item *it = s != NULL ? map_lookup(a, s) : NULL;
            if (is_new)
                json_decref(v);
            if (it == NULL)
                continue;
            out = share(it->value);
            *caption = it->caption;
        } else {
            char why[200];
            out = r->is_array ? coerce_array(r->vtype, v, why, sizeof(why))
                              : norm_coerce(r->vtype, v, why, sizeof(why));
            if (is_new)
                json_decref(v);
            if (out == NULL) {
                norm_reasons_add(c->reasons, "field '%s': %s (for %s)", src->text, why,
                                 r->target.text);
                return -1;
            }
        }
        if (out == NULL)
            return 0;
        if (src->key >= 0)
            c->consumed |= 1ull << src->key;
        *val = out;
        return 1;
    }
    return 0;
}

static int rule_apply(struct norm_ctx *c, const struct norm_rule *r)
{
    for (int i = 0; i < r->nalt; i++) {
        json_t *val, *caption;
        int res = alt_eval(c, r, &r->alt[i], &val, &caption);
        if (res < 0)
            return -1;
        if (res == 0)
            continue;
        json_t *parent;
        char why[160];
        json_int_t ival = json_is_integer(val) ? json_integer_value(val) : 0;
        int is_int = json_is_integer(val);
        if (opath_set(c->out, &r->target, val, &parent, why, sizeof(why)) < 0) {
            norm_reasons_add(c->reasons, "field '%s': cannot set: %s", r->target.text, why);
            return -1;
        }
        c->profiles |= r->profiles;
        if (r->sibling != NULL && parent != NULL && is_int &&
            json_object_get(parent, r->sibling) == NULL) {
            if (caption != NULL) {
                json_object_set_nocheck(parent, r->sibling, caption);
            } else {
                const char *cap =
                    schema_enum_caption(c->schema, c->entry->class_uid, r->enum_path, ival);
                if (cap != NULL)
                    json_object_set_new_nocheck(parent, r->sibling, json_string(cap));
            }
        }
        return 0;
    }
    return 0;
}

int norm_map_apply(struct norm_ctx *c)
{
    int errors = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < c->entry->nrule; i++)
            if (c->entry->rule[i].is_late == pass && rule_apply(c, &c->entry->rule[i]) < 0)
                errors++;
    return errors;
}

static const struct norm_key *key_find(const struct norm_entry *e, const char *name, int *index)
{
    uint32_t h = norm_key_hash(name) & (NORM_KEY_SLOTS - 1);
    for (uint8_t slot; (slot = e->key_slot[h]) != 0; h = (h + 1) & (NORM_KEY_SLOTS - 1))
        if (strcmp(e->key[slot - 1].name, name) == 0) {
            *index = slot - 1;
            return &e->key[slot - 1];
        }
    return NULL;
}

int norm_map_is_unmapped(const struct norm_ctx *c, const char *k, int pos)
{
    int idx = -1;
    if (c->has_fields && pos >= 0 && pos < NORM_FIELD_POS)
        idx = c->key_at[pos];
    else if (key_find(c->entry, k, &idx) == NULL)
        idx = -1;
    return idx < 0 || !((c->entry->key[idx].flags & (NORM_KEY_DROP | NORM_KEY_MATCH)) ||
                        (c->consumed & (1ull << idx)));
}

void norm_map_fields(struct norm_ctx *c)
{
    const struct norm_entry *e = c->entry;
    memset(c->field, 0, (size_t)e->nkey * sizeof(c->field[0]));
    int pos = 0;
    for (void *it = json_object_iter(c->in); it != NULL;
         it = json_object_iter_next(c->in, it), pos++) {
        int idx;
        if (key_find(e, json_object_iter_key(it), &idx) == NULL)
            idx = -1;
        else
            c->field[idx] = json_object_iter_value(it);
        if (pos < NORM_FIELD_POS)
            c->key_at[pos] = (int8_t)idx;
    }
    c->has_fields = 1;
}

void norm_map_unmapped(const struct norm_ctx *c, json_t *unmapped)
{
    const char *k;
    json_t *v;
    int pos = 0;
    json_object_foreach(c->in, k, v)
    {
        if (norm_map_is_unmapped(c, k, pos++))
            json_object_set_nocheck(unmapped, k, v);
    }
}
