/*
 * schema_validate.c - checks one OCSF event against the loaded schema (schema_validate in
 * schema.h).
 *
 * Runs on every event on the hot path, so it walks the event once: for each member of each JSON
 * object it does one hash probe into the definition (class or object) that owns it, checks the
 * value's type, enum, range and profile, and recurses into objects; then it checks the definition's
 * required attributes and constraints with direct member look-ups. No allocation; the only state is
 * a small context on the stack.
 *
 * Rules, in the order they are reported (DESIGN.md "Normalization", "Profiles rule"):
 *  1. the event is an object with an integer class_uid the schema knows (else stop: nothing to
 * check against);
 *  2. category_uid equals the class's category; type_uid = class_uid * 100 + activity_id;
 *  3. every member is an attribute of its class/object (anything goes under an object of type
 * `object`, such as `unmapped`, and inside json_t values); profile attributes only when
 * metadata.profiles lists the profile; deprecated attributes are allowed;
 *  4. types: integer_t is a 32-bit integer, long_t/timestamp_t a 64-bit integer, float_t a number,
 * boolean_t a boolean, string_t and its subtypes strings (within max_len), ranges of subtypes
 * (port_t 0..65535), arrays exactly where is_array; integer enums hold a listed value (99 only
 * where the enum lists it); string enums and sibling captions are not checked (producers may use
 * values the enum does not list);
 *  5. required attributes are present (profile attributes only when their profile is listed), at
 * every level;
 *  6. constraints at_least_one / just_one hold.
 * Limits: objects nested deeper than SCHEMA_MAX_DEPTH are reported, not walked; the walk stops
 * after SCHEMA_MAX_PROBLEMS problems; at most SCHEMA_MAX_REASONS are described.
 *
 * Reasons quote keys from the event: each is cut to a bounded length at a UTF-8 boundary and
 * control characters are replaced, so the text is valid UTF-8 on one line, safe for logs and JSON.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "schema_internal.h"

#define KEY_MAX_BYTES  64  /* bytes of one event key quoted in a reason */
#define PATH_MAX_BYTES 320 /* bytes of a dotted path quoted in a reason */
#define MSG_MAX_BYTES  768
#define MAX_SEGMENTS   (2 * SCHEMA_MAX_DEPTH + 8)
#define SEEN_WORDS     4 /* attributes of one definition tracked by the walk: 256 */

/* A bounded, always NUL-terminated text buffer. Once something did not fit, nothing more is added,
 * so a short buffer holds a prefix of what a long one would. */
struct sbuf {
    char *p;
    size_t cap;
    size_t len;
    bool is_full;
};

struct segment {
    const char *key; /* NULL: an array index */
    size_t index;
};

struct vctx {
    const schema_t *s;
    const struct schema_def *cls;
    uint64_t profiles; /* bits of the profiles listed in metadata.profiles */
    struct sbuf reasons;
    int problems;
    int described;
    size_t n_segments;
    struct segment segments[MAX_SEGMENTS];
};

/* Bytes of s (at most max) that end on a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* Appends up to n bytes of src, cut at a UTF-8 boundary, with control characters replaced by '?'.
 */
static void sbuf_put(struct sbuf *b, const char *src, size_t n)
{
    if (b->is_full || b->cap == 0)
        return;
    size_t room = b->cap - 1 - b->len;
    if (n > room) {
        n = utf8_cut(src, n, room);
        b->is_full = true;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        b->p[b->len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    b->p[b->len] = '\0';
}

static void path_push_key(struct vctx *v, const char *key)
{
    if (v->n_segments < MAX_SEGMENTS)
        v->segments[v->n_segments] = (struct segment){.key = key};
    v->n_segments++;
}

static void path_push_index(struct vctx *v, size_t index)
{
    if (v->n_segments < MAX_SEGMENTS)
        v->segments[v->n_segments] = (struct segment){.key = NULL, .index = index};
    v->n_segments++;
}

static void path_pop(struct vctx *v)
{
    v->n_segments--;
}

/* The current path ("actor.user", "resources[1].name"), with `leaf` appended when not NULL. */
static const char *path_format(const struct vctx *v, const char *leaf, char *out, size_t cap)
{
    struct sbuf b = {.p = out, .cap = cap};
    out[0] = '\0';
    size_t n = v->n_segments < MAX_SEGMENTS ? v->n_segments : MAX_SEGMENTS;
    for (size_t i = 0; i <= n; i++) {
        const char *key = i < n ? v->segments[i].key : leaf;
        if (i == n && leaf == NULL)
            break;
        if (key == NULL) {
            char idx[32];
            int k = snprintf(idx, sizeof(idx), "[%zu]", v->segments[i].index);
            sbuf_put(&b, idx, (size_t)k);
            continue;
        }
        if (b.len > 0)
            sbuf_put(&b, ".", 1);
        size_t klen = strlen(key);
        size_t cut = utf8_cut(key, klen, KEY_MAX_BYTES);
        sbuf_put(&b, key, cut);
        if (cut < klen)
            sbuf_put(&b, "...", 3);
    }
    return out;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
report(struct vctx *v, const char *fmt, ...)
{
    v->problems++;
    if (v->described >= SCHEMA_MAX_REASONS || v->reasons.cap == 0)
        return;
    v->described++;
    char msg[MSG_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t mlen = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    if (v->reasons.len > 0)
        sbuf_put(&v->reasons, "; ", 2);
    sbuf_put(&v->reasons, msg, mlen);
}

static bool full(const struct vctx *v)
{
    return v->problems >= SCHEMA_MAX_PROBLEMS;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* "integer_t" or "port_t (integer_t)" or "object user". */
static const char *expected_text(const struct schema_attr *a, char *out, size_t cap)
{
    if (a->prim == SCHEMA_PRIM_OBJECT)
        snprintf(out, cap, "object %s", a->object_type);
    else if (strcmp(a->type->name, a->type->prim_name) != 0)
        snprintf(out, cap, "%s (%s)", a->type->name, a->type->prim_name);
    else
        snprintf(out, cap, "%s", a->type->name);
    return out;
}

static void report_type(struct vctx *v, const struct schema_attr *a, const json_t *value,
                        bool want_array)
{
    char path[PATH_MAX_BYTES], want[160];
    report(v, "%s: expected %s%s, got %s", path_format(v, NULL, path, sizeof(path)),
           want_array ? "array of " : "", expected_text(a, want, sizeof(want)), json_kind(value));
}

static void check_object(struct vctx *v, const struct schema_def *def, const json_t *obj,
                         int depth);

static void check_enum(struct vctx *v, const struct schema_def *owner, const struct schema_attr *a,
                       long long x)
{
    if (a->n_enum_int == 0 || a->special != SCHEMA_SPECIAL_NONE)
        return;
    if (schema_enum_int_find(a->enum_int, a->n_enum_int, x) != NULL)
        return;
    char path[PATH_MAX_BYTES];
    path_format(v, NULL, path, sizeof(path));
    if (owner->is_class)
        report(v, "%s %lld not in class %d enum", path, x, owner->uid);
    else
        report(v, "%s %lld not in object %s enum", path, x, owner->name);
}

/* One value (an array element, or the whole value of a non-array attribute). */
static void check_one(struct vctx *v, const struct schema_def *owner, const struct schema_attr *a,
                      const json_t *value, int depth)
{
    char path[PATH_MAX_BYTES];
    switch (a->prim) {
    case SCHEMA_PRIM_JSON:
        return;
    case SCHEMA_PRIM_OBJECT:
        if (!json_is_object(value)) {
            report_type(v, a, value, false);
        } else if (depth + 1 >= SCHEMA_MAX_DEPTH) {
            report(v, "%s: objects nested deeper than %d", path_format(v, NULL, path, sizeof(path)),
                   SCHEMA_MAX_DEPTH);
        } else {
            check_object(v, a->object, value, depth + 1);
        }
        return;
    case SCHEMA_PRIM_STRING:
        if (!json_is_string(value)) {
            report_type(v, a, value, false);
        } else if (a->type->max_len > 0 && json_string_length(value) > a->type->max_len) {
            report(v, "%s: %s longer than %zu bytes", path_format(v, NULL, path, sizeof(path)),
                   a->type->name, a->type->max_len);
        }
        return;
    case SCHEMA_PRIM_INTEGER:
    case SCHEMA_PRIM_LONG: {
        if (!json_is_integer(value)) {
            report_type(v, a, value, false);
            return;
        }
        long long x = json_integer_value(value);
        if (a->prim == SCHEMA_PRIM_INTEGER && (x < INT32_MIN || x > INT32_MAX)) {
            report(v, "%s: %lld out of range for integer_t",
                   path_format(v, NULL, path, sizeof(path)), x);
            return;
        }
        if (a->type->has_range && (x < a->type->range_min || x > a->type->range_max)) {
            report(v, "%s: %lld out of range %lld..%lld (%s)",
                   path_format(v, NULL, path, sizeof(path)), x, a->type->range_min,
                   a->type->range_max, a->type->name);
            return;
        }
        check_enum(v, owner, a, x);
        return;
    }
    case SCHEMA_PRIM_FLOAT:
        if (!json_is_number(value))
            report_type(v, a, value, false);
        return;
    case SCHEMA_PRIM_BOOLEAN:
        if (!json_is_boolean(value))
            report_type(v, a, value, false);
        return;
    }
}

static void check_value(struct vctx *v, const struct schema_def *owner, const struct schema_attr *a,
                        const json_t *value, int depth)
{
    if (a->prim == SCHEMA_PRIM_JSON)
        return; /* anything, arrays included */
    if (!a->is_array) {
        if (json_is_array(value))
            report_type(v, a, value, false);
        else
            check_one(v, owner, a, value, depth);
        return;
    }
    if (!json_is_array(value)) {
        report_type(v, a, value, true);
        return;
    }
    size_t n = json_array_size(value);
    for (size_t i = 0; i < n && !full(v); i++) {
        path_push_index(v, i);
        check_one(v, owner, a, json_array_get(value, i), depth);
        path_pop(v);
    }
}

/* 1 when the attribute at `path` (a name or a dotted path) is present and not null in obj. */
static int present(const json_t *obj, const char *path)
{
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t len = dot != NULL ? (size_t)(dot - path) : strlen(path);
        const json_t *m = json_object_getn(obj, path, len);
        if (m == NULL || json_is_null(m))
            return 0;
        if (dot == NULL)
            return 1;
        if (!json_is_object(m))
            return 0;
        obj = m;
        path = dot + 1;
    }
}

/* Attributes of one definition the walk met (bit = index into def->attrs), and those of them not
 * null; `ok` is false when the definition has more attributes than the bitmaps hold. */
struct seen {
    bool ok;
    uint64_t any[SEEN_WORDS];
    uint64_t set[SEEN_WORDS];
};

static bool seen_has(const uint64_t *bits, size_t i)
{
    return (bits[i / 64] >> (i % 64)) & 1;
}

static void check_constraints(struct vctx *v, const struct schema_def *def, const json_t *obj,
                              const struct seen *seen)
{
    for (size_t i = 0; i < def->n_constraints; i++) {
        const struct schema_constraint *c = &def->constraints[i];
        int count = 0;
        for (size_t k = 0; k < c->n_paths; k++)
            count += seen->ok && c->attr[k] >= 0 ? seen_has(seen->set, (size_t)c->attr[k])
                                                 : present(obj, c->paths[k]);
        bool ok = c->kind == SCHEMA_AT_LEAST_ONE ? count >= 1 : count == 1;
        if (ok)
            continue;
        char path[PATH_MAX_BYTES];
        const char *where =
            v->n_segments > 0 ? path_format(v, NULL, path, sizeof(path)) : def->name;
        if (c->kind == SCHEMA_AT_LEAST_ONE)
            report(v, "%s: at least one of %s", where, c->text);
        else
            report(v, "%s: just one of %s (found %d)", where, c->text, count);
    }
}

static void check_object(struct vctx *v, const struct schema_def *def, const json_t *obj, int depth)
{
    if (def->is_open)
        return;
    char path[PATH_MAX_BYTES];
    const char *key;
    json_t *value;
    size_t key_len;
    /* what the walk met, so required attributes and constraints need no second look-up */
    struct seen seen = {.ok = def->n_attrs <= 64 * SEEN_WORDS};
    /* an explicit iterator: jansson's foreach macro looks every key up again to step */
    for (void *it = json_object_iter((json_t *)obj); it != NULL;
         it = json_object_iter_next((json_t *)obj, it)) {
        if (full(v))
            return;
        key = json_object_iter_key(it);
        key_len = json_object_iter_key_len(it);
        value = json_object_iter_value(it);
        const struct schema_attr *a = schema_def_find(def, key, key_len);
        if (a != NULL && seen.ok) {
            size_t i = (size_t)(a - def->attrs);
            seen.any[i / 64] |= 1ull << (i % 64);
            if (!json_is_null(value))
                seen.set[i / 64] |= 1ull << (i % 64);
        }
        path_push_key(v, key);
        if (a == NULL) {
            report(v, "attribute %s not defined in %s %s", path_format(v, NULL, path, sizeof(path)),
                   def->is_class ? "class" : "object", def->name);
        } else if (a->profile_mask != 0 && (a->profile_mask & v->profiles) == 0) {
            report(v, "%s needs profile %s (metadata.profiles)",
                   path_format(v, NULL, path, sizeof(path)), a->profile);
        } else {
            check_value(v, def, a, value, depth);
        }
        path_pop(v);
    }
    for (size_t i = 0; i < def->n_required && !full(v); i++) {
        uint32_t ri = def->required[i];
        const struct schema_attr *a = &def->attrs[ri];
        if (a->profile_mask != 0 && (a->profile_mask & v->profiles) == 0)
            continue;
        if (seen.ok ? seen_has(seen.any, ri) : json_object_get(obj, a->name) != NULL)
            continue;
        path_format(v, a->name, path, sizeof(path));
        if (a->prim == SCHEMA_PRIM_OBJECT)
            report(v, "missing required attribute %s (object %s)", path, a->object_type);
        else
            report(v, "missing required attribute %s", path);
    }
    if (!full(v))
        check_constraints(v, def, obj, &seen);
}

/* Bits of the profiles listed in metadata.profiles; names the schema does not know are ignored
 * (extension profiles), a wrongly typed list is reported by the walk. */
static uint64_t listed_profiles(const schema_t *s, const json_t *event)
{
    const json_t *list = json_object_get(json_object_get(event, "metadata"), "profiles");
    uint64_t mask = 0;
    size_t n = json_array_size(list);
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(list, i);
        int idx = json_is_string(p) ? schema_profile_index(s, json_string_value(p)) : -1;
        if (idx >= 0)
            mask |= 1ull << idx;
    }
    return mask;
}

int schema_validate(const schema_t *s, const json_t *event, char *reasons, size_t len)
{
    struct vctx v = {.s = s, .reasons = {.p = reasons, .cap = reasons != NULL ? len : 0}};
    if (v.reasons.cap > 0)
        reasons[0] = '\0';
    if (s == NULL) {
        report(&v, "no schema loaded");
        return v.problems;
    }
    if (!json_is_object(event)) {
        report(&v, "event is not a JSON object");
        return v.problems;
    }
    const json_t *cu = json_object_get(event, "class_uid");
    if (cu == NULL) {
        report(&v, "missing required attribute class_uid");
        return v.problems;
    }
    if (!json_is_integer(cu)) {
        report(&v, "class_uid: expected integer_t, got %s", json_kind(cu));
        return v.problems;
    }
    v.cls = schema_find_class(s, json_integer_value(cu));
    if (v.cls == NULL) {
        report(&v, "class_uid %lld unknown", json_integer_value(cu));
        return v.problems;
    }
    v.profiles = listed_profiles(s, event);

    const json_t *cat = json_object_get(event, "category_uid");
    if (json_is_integer(cat) && json_integer_value(cat) != v.cls->category_uid)
        report(&v, "category_uid %lld != %d of class %d (%s)", json_integer_value(cat),
               v.cls->category_uid, v.cls->uid, v.cls->name);
    const json_t *act = json_object_get(event, "activity_id");
    const json_t *tu = json_object_get(event, "type_uid");
    if (json_is_integer(act) && json_is_integer(tu)) {
        long long want = (long long)v.cls->uid * 100 + json_integer_value(act);
        if (json_integer_value(tu) != want)
            report(&v, "type_uid %lld != class_uid*100+activity_id %lld", json_integer_value(tu),
                   want);
    }
    check_object(&v, v.cls, event, 0);

    if (v.problems > v.described && v.described > 0) {
        char more[64];
        int n = snprintf(more, sizeof(more), "; and %d more", v.problems - v.described);
        sbuf_put(&v.reasons, more, (size_t)n);
    }
    return v.problems;
}
