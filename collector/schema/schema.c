/*
 * schema.c - loads the generated OCSF schema tables (schemas/ocsf/ocsf-<version>.json, written by
 * tools/ocsf-schema-gen.py) into immutable lookup structures, and answers questions about them.
 *
 * Why a loader of its own instead of keeping the jansson tree: the validator runs on every event,
 * so each question ("is `foo` an attribute of object `user`?") must be one hash probe, not a walk
 * of jansson objects; and a compact copy (about a tenth of the parsed tree) is cheap to keep for
 * the life of the process.
 *
 * Invariants (see schema_internal.h): after schema_load returns 0 nothing is ever written again, so
 * the schema is safe to share read-only between threads; everything lives in one arena freed by
 * schema_free. The loader checks every field it uses and names the file, the entry and the field
 * when one is wrong; it ignores fields it does not use, and refuses a `format` it does not know.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema_internal.h"

#define SCHEMA_FORMAT       1    /* the generator's output format this loader understands */
#define SCHEMA_MAX_PATH     1024 /* bytes of a dotted path given to the lookups */
#define SCHEMA_MAX_SEGMENTS 64
#define ARENA_CHUNK_BYTES   (64 * 1024)

/* ---- arena: every allocation of a schema, freed at once ---- */

struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

struct schema_arena {
    struct arena_chunk *head;
};

static void *arena_alloc(struct schema_arena *a, size_t n)
{
    size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    struct arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK_BYTES ? n : ARENA_CHUNK_BYTES;
        c = calloc(1, sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p; /* calloc'ed chunk, never reused: already zero */
}

static char *arena_strdup(struct schema_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(a, n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void arena_free(struct schema_arena *a)
{
    if (a == NULL)
        return;
    struct arena_chunk *c = a->head;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

/* ---- small shared helpers ---- */

/* Keys are short (most under 16 bytes): the hash reads 8 bytes at a time and the compare below
 * does the same, instead of a byte loop and a libc memcmp call per probe (both showed in the
 * validator's profile). Values are only ever compared within one process. */
uint32_t schema_hash(const char *key, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, key, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        key += 8;
        len -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < len; i++)
        t |= (uint64_t)(unsigned char)key[i] << (8 * i);
    h = (h ^ t) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h;
}

/* a[0..len) == b[0..len) */
static inline int key_equal(const char *a, const char *b, size_t len)
{
    while (len >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
        a += 8;
        b += 8;
        len -= 8;
    }
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static const struct schema_slot *slots_find(const struct schema_slot *slots, size_t mask,
                                            const char *key, size_t len)
{
    if (slots == NULL)
        return NULL;
    uint32_t h = schema_hash(key, len);
    for (size_t i = h & mask, probes = 0; probes <= mask; i = (i + 1) & mask, probes++) {
        const struct schema_slot *sl = &slots[i];
        if (sl->key == NULL)
            return NULL;
        if (sl->hash == h && sl->len == len && key_equal(sl->key, key, len))
            return sl;
    }
    return NULL;
}

const struct schema_attr *schema_def_find(const struct schema_def *def, const char *key, size_t len)
{
    const struct schema_slot *sl = slots_find(def->slots, def->slots_mask, key, len);
    return sl != NULL ? &def->attrs[sl->index] : NULL;
}

static size_t class_slot_start(long long uid, size_t mask)
{
    return (size_t)(((unsigned long long)uid * 2654435761ull) >> 8) & mask;
}

const struct schema_def *schema_find_class(const schema_t *s, long long uid)
{
    if (s == NULL || uid < 0 || uid > INT_MAX)
        return NULL;
    size_t mask = s->class_slots_mask;
    for (size_t i = class_slot_start(uid, mask), probes = 0; probes <= mask;
         i = (i + 1) & mask, probes++) {
        uint32_t v = s->class_slots[i];
        if (v == 0)
            return NULL;
        if (s->classes[v - 1].uid == uid)
            return &s->classes[v - 1];
    }
    return NULL;
}

int schema_profile_index(const schema_t *s, const char *name)
{
    for (size_t i = 0; i < s->n_profiles; i++)
        if (strcmp(s->profiles[i], name) == 0)
            return (int)i;
    return -1;
}

const struct schema_enum_int *schema_enum_int_find(const struct schema_enum_int *e, size_t n,
                                                   long long value)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].value == value)
            return &e[mid];
        if (e[mid].value < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const struct schema_enum_str *enum_str_find(const struct schema_enum_str *e, size_t n,
                                                   const char *value)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(e[mid].value, value);
        if (c == 0)
            return &e[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_enum_int(const void *a, const void *b)
{
    long long x = ((const struct schema_enum_int *)a)->value;
    long long y = ((const struct schema_enum_int *)b)->value;
    return (x > y) - (x < y);
}

static int cmp_enum_str(const void *a, const void *b)
{
    return strcmp(((const struct schema_enum_str *)a)->value,
                  ((const struct schema_enum_str *)b)->value);
}

static size_t pow2_at_least(size_t n)
{
    size_t cap = 8;
    while (cap < n)
        cap <<= 1;
    return cap;
}

/* ---- loader ---- */

struct loader {
    struct schema *s;
    struct schema_arena *arena;
    const char *path;
    char *err;
    size_t errlen;
    /* object name -> index in s->objects, for resolving object_type */
    struct schema_slot *object_slots;
    size_t object_slots_mask;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
load_fail(struct loader *ld, const char *fmt, ...)
{
    if (ld->err == NULL || ld->errlen == 0)
        return -1;
    int n = snprintf(ld->err, ld->errlen, "%s: ", ld->path != NULL ? ld->path : "schema");
    if (n < 0 || (size_t)n >= ld->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int load_oom(struct loader *ld)
{
    return load_fail(ld, "out of memory");
}

static int prim_from_name(const char *name, enum schema_prim *out)
{
    static const struct {
        const char *name;
        enum schema_prim prim;
    } prims[] = {
        {"string_t", SCHEMA_PRIM_STRING},   {"integer_t", SCHEMA_PRIM_INTEGER},
        {"long_t", SCHEMA_PRIM_LONG},       {"float_t", SCHEMA_PRIM_FLOAT},
        {"boolean_t", SCHEMA_PRIM_BOOLEAN}, {"json_t", SCHEMA_PRIM_JSON},
        {"object_t", SCHEMA_PRIM_OBJECT},
    };
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++) {
        if (strcmp(prims[i].name, name) == 0) {
            *out = prims[i].prim;
            return 0;
        }
    }
    return -1;
}

/* Member `key` of obj as a string; NULL (and an error) when absent or not a string and `required`.
 */
static int get_string(struct loader *ld, const json_t *obj, const char *key, const char *where,
                      bool required, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL && !required)
        return 0;
    if (!json_is_string(v))
        return load_fail(ld, "%s: field %s %s", where, key,
                         v == NULL ? "missing" : "must be a string");
    *out = arena_strdup(ld->arena, json_string_value(v));
    return *out != NULL ? 0 : load_oom(ld);
}

static int get_int(struct loader *ld, const json_t *obj, const char *key, const char *where,
                   long long min, long long max, long long *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0; /* set on every path: callers read it only on success, but gcc -O2 cannot tell */
    if (!json_is_integer(v))
        return load_fail(ld, "%s: field %s %s", where, key,
                         v == NULL ? "missing" : "must be an integer");
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return load_fail(ld, "%s: field %s %lld out of range %lld..%lld", where, key, x, min, max);
    *out = x;
    return 0;
}

static int get_bool(struct loader *ld, const json_t *obj, const char *key, const char *where,
                    bool *out)
{
    json_t *v = json_object_get(obj, key);
    *out = false;
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return load_fail(ld, "%s: field %s must be true or false", where, key);
    *out = json_is_true(v);
    return 0;
}

static int parse_ll(const char *text, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static const struct schema_type *find_type(const struct schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_types; i++)
        if (strcmp(s->types[i].name, name) == 0)
            return &s->types[i];
    return NULL;
}

/* The start of every top-level section: v must be an object (non-empty when is_nonempty);
 * returns an arena array of its size (plus extra) elements of elem bytes, *n its size, or NULL
 * with the error set. */
static void *load_section(struct loader *ld, const json_t *v, const char *field, int is_nonempty,
                          size_t elem, size_t extra, size_t *n)
{
    if (!json_is_object(v) || (is_nonempty && json_object_size(v) == 0)) {
        load_fail(ld, "field %s missing, not an object%s", field, is_nonempty ? " or empty" : "");
        return NULL;
    }
    *n = json_object_size(v);
    void *arr = arena_alloc(ld->arena, (*n + extra) * elem);
    if (arr == NULL)
        load_oom(ld);
    return arr;
}

static int load_types(struct loader *ld, const json_t *types)
{
    size_t n;
    struct schema_type *arr = load_section(ld, types, "types", 0, sizeof(*arr), 0, &n);
    if (arr == NULL)
        return -1;
    size_t i = 0;
    const char *name;
    json_t *t;
    json_object_foreach((json_t *)types, name, t)
    {
        char where[160];
        snprintf(where, sizeof(where), "types.%s", name);
        if (!json_is_object(t))
            return load_fail(ld, "%s: not an object", where);
        struct schema_type *ty = &arr[i++];
        if ((ty->name = arena_strdup(ld->arena, name)) == NULL)
            return load_oom(ld);
        if (get_string(ld, t, "base_type", where, true, &ty->prim_name) != 0)
            return -1;
        if (prim_from_name(ty->prim_name, &ty->prim) != 0)
            return load_fail(ld, "%s: field base_type '%s' is not a primitive type", where,
                             ty->prim_name);
        json_t *range = json_object_get(t, "range");
        if (range != NULL) {
            if (!json_is_array(range) || json_array_size(range) != 2 ||
                !json_is_integer(json_array_get(range, 0)) ||
                !json_is_integer(json_array_get(range, 1)))
                return load_fail(ld, "%s: field range must be [min, max]", where);
            ty->has_range = true;
            ty->range_min = json_integer_value(json_array_get(range, 0));
            ty->range_max = json_integer_value(json_array_get(range, 1));
        }
        if (json_object_get(t, "max_len") != NULL) {
            long long ml;
            if (get_int(ld, t, "max_len", where, 1, INT_MAX, &ml) != 0)
                return -1;
            ty->max_len = (size_t)ml;
        }
    }
    ld->s->types = arr;
    ld->s->n_types = n;
    static const char *const needed[] = {"string_t",  "integer_t", "long_t",  "float_t",
                                         "boolean_t", "json_t",    "object_t"};
    for (size_t k = 0; k < sizeof(needed) / sizeof(needed[0]); k++)
        if (find_type(ld->s, needed[k]) == NULL)
            return load_fail(ld, "types: primitive type %s missing", needed[k]);
    return 0;
}

static int load_profiles(struct loader *ld, const json_t *profiles)
{
    size_t n;
    const char **arr = load_section(ld, profiles, "profiles", 0, sizeof(*arr), 1, &n);
    if (arr == NULL)
        return -1;
    if (n > SCHEMA_MAX_PROFILES)
        return load_fail(ld, "profiles: %zu profiles, at most %d supported", n,
                         SCHEMA_MAX_PROFILES);
    size_t i = 0;
    const char *name;
    json_t *p;
    json_object_foreach((json_t *)profiles, name, p)
    {
        if ((arr[i++] = arena_strdup(ld->arena, name)) == NULL)
            return load_oom(ld);
    }
    ld->s->profiles = arr;
    ld->s->n_profiles = n;
    return 0;
}

static int load_categories(struct loader *ld, const json_t *cats)
{
    size_t n;
    struct schema_category *arr = load_section(ld, cats, "categories", 0, sizeof(*arr), 0, &n);
    if (arr == NULL)
        return -1;
    size_t i = 0;
    const char *name;
    json_t *c;
    json_object_foreach((json_t *)cats, name, c)
    {
        char where[160];
        snprintf(where, sizeof(where), "categories.%s", name);
        if (!json_is_object(c))
            return load_fail(ld, "%s: not an object", where);
        struct schema_category *cat = &arr[i++];
        long long uid;
        if (get_int(ld, c, "uid", where, 0, INT_MAX, &uid) != 0 ||
            get_string(ld, c, "caption", where, true, &cat->caption) != 0)
            return -1;
        cat->uid = (int)uid;
        if ((cat->name = arena_strdup(ld->arena, name)) == NULL)
            return load_oom(ld);
    }
    ld->s->categories = arr;
    ld->s->n_categories = n;
    return 0;
}

/* Profile names of an attribute ("profile": "x" or "profiles": [...]) -> mask and first name. */
static int load_attr_profiles(struct loader *ld, const json_t *a, const char *where,
                              struct schema_attr *attr)
{
    json_t *one = json_object_get(a, "profile");
    json_t *many = json_object_get(a, "profiles");
    if (one != NULL && !json_is_string(one))
        return load_fail(ld, "%s: field profile must be a string", where);
    if (many != NULL && !json_is_array(many))
        return load_fail(ld, "%s: field profiles must be an array", where);
    size_t n = (one != NULL) + (many != NULL ? json_array_size(many) : 0);
    for (size_t i = 0; i < n; i++) {
        json_t *v = (one != NULL && i == 0) ? one : json_array_get(many, i - (one != NULL));
        if (!json_is_string(v))
            return load_fail(ld, "%s: field profiles must list strings", where);
        int idx = schema_profile_index(ld->s, json_string_value(v));
        if (idx < 0)
            return load_fail(ld, "%s: unknown profile '%s'", where, json_string_value(v));
        attr->profile_mask |= 1ull << idx;
        if (attr->profile == NULL)
            attr->profile = ld->s->profiles[idx];
    }
    return 0;
}

static int load_enum(struct loader *ld, const json_t *en, const char *where,
                     struct schema_attr *attr)
{
    if (!json_is_object(en) || json_object_size(en) == 0)
        return load_fail(ld, "%s: field enum must be a non-empty object", where);
    size_t n = json_object_size(en);
    bool is_int = attr->prim == SCHEMA_PRIM_INTEGER || attr->prim == SCHEMA_PRIM_LONG;
    if (!is_int && attr->prim != SCHEMA_PRIM_STRING)
        return load_fail(ld, "%s: enum on a %s attribute", where, attr->type->name);
    struct schema_enum_int *ints = NULL;
    struct schema_enum_str *strs = NULL;
    if (is_int)
        ints = arena_alloc(ld->arena, n * sizeof(*ints));
    else
        strs = arena_alloc(ld->arena, n * sizeof(*strs));
    if (ints == NULL && strs == NULL)
        return load_oom(ld);
    size_t i = 0;
    const char *key;
    json_t *cap;
    json_object_foreach((json_t *)en, key, cap)
    {
        if (!json_is_string(cap))
            return load_fail(ld, "%s: enum value '%s' has no caption string", where, key);
        const char *caption = arena_strdup(ld->arena, json_string_value(cap));
        if (caption == NULL)
            return load_oom(ld);
        if (is_int) {
            if (parse_ll(key, &ints[i].value) != 0)
                return load_fail(ld, "%s: enum value '%s' is not an integer", where, key);
            ints[i].caption = caption;
        } else {
            if ((strs[i].value = arena_strdup(ld->arena, key)) == NULL)
                return load_oom(ld);
            strs[i].caption = caption;
        }
        i++;
    }
    if (is_int) {
        qsort(ints, n, sizeof(*ints), cmp_enum_int);
        for (size_t k = 1; k < n; k++)
            if (ints[k].value == ints[k - 1].value)
                return load_fail(ld, "%s: enum value %lld listed twice", where, ints[k].value);
        attr->enum_int = ints;
        attr->n_enum_int = n;
    } else {
        qsort(strs, n, sizeof(*strs), cmp_enum_str);
        attr->enum_str = strs;
        attr->n_enum_str = n;
    }
    return 0;
}

static int load_attr(struct loader *ld, const char *name, const json_t *a, const char *where,
                     bool in_class, struct schema_attr *attr)
{
    if (!json_is_object(a))
        return load_fail(ld, "%s: not an object", where);
    if ((attr->name = arena_strdup(ld->arena, name)) == NULL)
        return load_oom(ld);
    const char *tname, *base, *req;
    if (get_string(ld, a, "type", where, true, &tname) != 0 ||
        get_string(ld, a, "base_type", where, true, &base) != 0 ||
        get_string(ld, a, "requirement", where, false, &req) != 0)
        return -1;
    attr->type = find_type(ld->s, tname);
    if (attr->type == NULL)
        return load_fail(ld, "%s: field type '%s' is not a defined type", where, tname);
    attr->prim = attr->type->prim;
    if (strcmp(base, attr->type->prim_name) != 0)
        return load_fail(ld, "%s: field base_type '%s' disagrees with type %s (%s)", where, base,
                         tname, attr->type->prim_name);
    if (req == NULL || strcmp(req, "optional") == 0)
        attr->requirement = SCHEMA_REQ_OPTIONAL;
    else if (strcmp(req, "recommended") == 0)
        attr->requirement = SCHEMA_REQ_RECOMMENDED;
    else if (strcmp(req, "required") == 0)
        attr->requirement = SCHEMA_REQ_REQUIRED;
    else
        return load_fail(ld, "%s: field requirement '%s' is not required/recommended/optional",
                         where, req);
    if (get_bool(ld, a, "is_array", where, &attr->is_array) != 0 ||
        get_bool(ld, a, "deprecated", where, &attr->is_deprecated) != 0 ||
        get_string(ld, a, "sibling", where, false, &attr->sibling) != 0 ||
        load_attr_profiles(ld, a, where, attr) != 0)
        return -1;
    if (attr->prim == SCHEMA_PRIM_OBJECT) {
        if (get_string(ld, a, "object_type", where, true, &attr->object_type) != 0)
            return -1;
        const struct schema_slot *sl = slots_find(ld->object_slots, ld->object_slots_mask,
                                                  attr->object_type, strlen(attr->object_type));
        if (sl == NULL)
            return load_fail(ld, "%s: field object_type '%s' is not a defined object", where,
                             attr->object_type);
        attr->object = &ld->s->objects[sl->index];
    }
    json_t *en = json_object_get(a, "enum");
    if (en != NULL && load_enum(ld, en, where, attr) != 0)
        return -1;
    if (in_class) {
        if (strcmp(name, "class_uid") == 0)
            attr->special = SCHEMA_SPECIAL_CLASS_UID;
        else if (strcmp(name, "category_uid") == 0)
            attr->special = SCHEMA_SPECIAL_CATEGORY_UID;
        else if (strcmp(name, "type_uid") == 0)
            attr->special = SCHEMA_SPECIAL_TYPE_UID;
    }
    return 0;
}

/* Builds an open-addressing table over keys[i] (i < n), at most half full. */
static struct schema_slot *build_slots(struct loader *ld, const char *const *keys, size_t stride,
                                       size_t n, size_t *mask_out, const char *where)
{
    size_t cap = pow2_at_least(n * 2);
    struct schema_slot *slots = arena_alloc(ld->arena, cap * sizeof(*slots));
    if (slots == NULL) {
        load_oom(ld);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *key = *(const char *const *)((const char *)keys + i * stride);
        size_t len = strlen(key);
        uint32_t h = schema_hash(key, len);
        size_t j = h & (cap - 1);
        while (slots[j].key != NULL) {
            if (strcmp(slots[j].key, key) == 0) {
                load_fail(ld, "%s: '%s' defined twice", where, key);
                return NULL;
            }
            j = (j + 1) & (cap - 1);
        }
        slots[j].key = key;
        slots[j].len = len;
        slots[j].hash = h;
        slots[j].index = (uint32_t)i;
    }
    *mask_out = cap - 1;
    return slots;
}

static int load_def_attrs(struct loader *ld, struct schema_def *def, const json_t *entry,
                          const char *where)
{
    json_t *attrs = json_object_get(entry, "attributes");
    if (!json_is_object(attrs))
        return load_fail(ld, "%s: field attributes missing or not an object", where);
    size_t n = json_object_size(attrs);
    struct schema_attr *arr = arena_alloc(ld->arena, (n + 1) * sizeof(*arr));
    uint32_t *required = arena_alloc(ld->arena, (n + 1) * sizeof(*required));
    if (arr == NULL || required == NULL)
        return load_oom(ld);
    size_t i = 0, n_required = 0;
    const char *name;
    json_t *a;
    json_object_foreach(attrs, name, a)
    {
        char awhere[256];
        snprintf(awhere, sizeof(awhere), "%s.attributes.%s", where, name);
        if (load_attr(ld, name, a, awhere, def->is_class, &arr[i]) != 0)
            return -1;
        if (arr[i].requirement == SCHEMA_REQ_REQUIRED)
            required[n_required++] = (uint32_t)i;
        i++;
    }
    def->attrs = arr;
    def->n_attrs = n;
    def->required = required;
    def->n_required = n_required;
    def->is_open = n == 0;
    def->slots = build_slots(ld, &arr[0].name, sizeof(arr[0]), n, &def->slots_mask, where);
    return def->slots != NULL ? 0 : -1;
}

/* 0 when `path` (an attribute name or a dotted path) names an attribute reachable from def. */
static int constraint_path_ok(const struct schema_def *def, const char *path)
{
    const char *seg = path;
    for (int depth = 0; depth < SCHEMA_MAX_SEGMENTS; depth++) {
        const char *dot = strchr(seg, '.');
        size_t len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        const struct schema_attr *a = schema_def_find(def, seg, len);
        if (a == NULL)
            return -1;
        if (dot == NULL)
            return 0;
        if (a->prim != SCHEMA_PRIM_OBJECT || a->object->is_open)
            return -1;
        def = a->object;
        seg = dot + 1;
    }
    return -1;
}

static int load_constraints(struct loader *ld, struct schema_def *def, const json_t *entry,
                            const char *where)
{
    json_t *cons = json_object_get(entry, "constraints");
    if (cons == NULL)
        return 0;
    if (!json_is_object(cons))
        return load_fail(ld, "%s: field constraints must be an object", where);
    size_t n = json_object_size(cons);
    struct schema_constraint *arr = arena_alloc(ld->arena, (n + 1) * sizeof(*arr));
    if (arr == NULL)
        return load_oom(ld);
    size_t i = 0;
    const char *kind;
    json_t *list;
    json_object_foreach(cons, kind, list)
    {
        struct schema_constraint *c = &arr[i++];
        if (strcmp(kind, "at_least_one") == 0)
            c->kind = SCHEMA_AT_LEAST_ONE;
        else if (strcmp(kind, "just_one") == 0)
            c->kind = SCHEMA_JUST_ONE;
        else
            return load_fail(ld, "%s.constraints: unknown constraint '%s'", where, kind);
        if (!json_is_array(list) || json_array_size(list) == 0)
            return load_fail(ld, "%s.constraints.%s: must be a non-empty array", where, kind);
        size_t m = json_array_size(list);
        const char **paths = arena_alloc(ld->arena, m * sizeof(*paths));
        int32_t *attr = arena_alloc(ld->arena, m * sizeof(*attr));
        if (paths == NULL || attr == NULL)
            return load_oom(ld);
        size_t text_len = 1;
        for (size_t k = 0; k < m; k++) {
            json_t *p = json_array_get(list, k);
            if (!json_is_string(p))
                return load_fail(ld, "%s.constraints.%s: entry %zu is not a string", where, kind,
                                 k);
            if (constraint_path_ok(def, json_string_value(p)) != 0)
                return load_fail(ld, "%s.constraints.%s: '%s' is not an attribute", where, kind,
                                 json_string_value(p));
            if ((paths[k] = arena_strdup(ld->arena, json_string_value(p))) == NULL)
                return load_oom(ld);
            const struct schema_attr *a =
                strchr(paths[k], '.') ? NULL : schema_def_find(def, paths[k], strlen(paths[k]));
            attr[k] = a != NULL ? (int32_t)(a - def->attrs) : -1;
            text_len += strlen(paths[k]) + 2;
        }
        char *text = arena_alloc(ld->arena, text_len);
        if (text == NULL)
            return load_oom(ld);
        for (size_t k = 0, off = 0; k < m; k++)
            off += (size_t)snprintf(text + off, text_len - off, "%s%s", k ? ", " : "", paths[k]);
        c->paths = paths;
        c->attr = attr;
        c->n_paths = m;
        c->text = text;
    }
    def->constraints = arr;
    def->n_constraints = n;
    return 0;
}

static int load_objects(struct loader *ld, const json_t *objects)
{
    size_t n;
    struct schema_def *arr = load_section(ld, objects, "objects", 1, sizeof(*arr), 0, &n);
    if (arr == NULL)
        return -1;
    size_t i = 0;
    const char *name;
    json_t *o;
    json_object_foreach((json_t *)objects, name, o)
    {
        if ((arr[i++].name = arena_strdup(ld->arena, name)) == NULL)
            return load_oom(ld);
    }
    ld->s->objects = arr;
    ld->s->n_objects = n;
    ld->object_slots =
        build_slots(ld, &arr[0].name, sizeof(arr[0]), n, &ld->object_slots_mask, "objects");
    if (ld->object_slots == NULL)
        return -1;
    /* Attributes second: object_type of any attribute may name any object. */
    i = 0;
    json_object_foreach((json_t *)objects, name, o)
    {
        struct schema_def *def = &arr[i++];
        char where[160];
        snprintf(where, sizeof(where), "objects.%s", name);
        if (!json_is_object(o))
            return load_fail(ld, "%s: not an object", where);
        if (get_string(ld, o, "caption", where, true, &def->caption) != 0 ||
            get_bool(ld, o, "deprecated", where, &def->is_deprecated) != 0 ||
            load_def_attrs(ld, def, o, where) != 0)
            return -1;
    }
    return 0;
}

static int load_activities(struct loader *ld, struct schema_def *def, const json_t *c,
                           const char *where)
{
    json_t *acts = json_object_get(c, "activities");
    if (!json_is_object(acts) || json_object_size(acts) == 0)
        return load_fail(ld, "%s: field activities missing or empty", where);
    size_t n = json_object_size(acts);
    struct schema_enum_int *arr = arena_alloc(ld->arena, n * sizeof(*arr));
    if (arr == NULL)
        return load_oom(ld);
    size_t i = 0;
    const char *key;
    json_t *cap;
    json_object_foreach(acts, key, cap)
    {
        if (parse_ll(key, &arr[i].value) != 0 || !json_is_string(cap))
            return load_fail(ld, "%s.activities: entry '%s' must be an integer with a caption",
                             where, key);
        if ((arr[i].caption = arena_strdup(ld->arena, json_string_value(cap))) == NULL)
            return load_oom(ld);
        i++;
    }
    qsort(arr, n, sizeof(*arr), cmp_enum_int);
    def->activities = arr;
    def->n_activities = n;
    return 0;
}

static int load_class(struct loader *ld, struct schema_def *def, const char *name, const json_t *c)
{
    char where[160];
    snprintf(where, sizeof(where), "classes.%s", name);
    if (!json_is_object(c))
        return load_fail(ld, "%s: not an object", where);
    def->is_class = true;
    if ((def->name = arena_strdup(ld->arena, name)) == NULL)
        return load_oom(ld);
    long long uid, cat;
    if (get_int(ld, c, "uid", where, 0, INT_MAX / 1000, &uid) != 0 ||
        get_int(ld, c, "category_uid", where, 0, INT_MAX / 1000, &cat) != 0 ||
        get_string(ld, c, "caption", where, true, &def->caption) != 0 ||
        get_string(ld, c, "category_name", where, false, &def->category_name) != 0 ||
        get_bool(ld, c, "deprecated", where, &def->is_deprecated) != 0 ||
        load_activities(ld, def, c, where) != 0)
        return -1;
    def->uid = (int)uid;
    def->category_uid = (int)cat;
    json_t *profiles = json_object_get(c, "profiles");
    if (profiles != NULL && !json_is_array(profiles))
        return load_fail(ld, "%s: field profiles must be an array", where);
    for (size_t k = 0; k < json_array_size(profiles); k++) {
        json_t *p = json_array_get(profiles, k);
        int idx = json_is_string(p) ? schema_profile_index(ld->s, json_string_value(p)) : -1;
        if (idx < 0)
            return load_fail(ld, "%s: field profiles: entry %zu is not a known profile", where, k);
        def->profiles_mask |= 1ull << idx;
    }
    return load_def_attrs(ld, def, c, where);
}

static int load_classes(struct loader *ld, const json_t *classes)
{
    size_t n;
    struct schema_def *arr = load_section(ld, classes, "classes", 1, sizeof(*arr), 0, &n);
    if (arr == NULL)
        return -1;
    size_t cap = pow2_at_least(n * 2);
    uint32_t *slots = arena_alloc(ld->arena, cap * sizeof(*slots));
    if (slots == NULL)
        return load_oom(ld);
    size_t i = 0;
    const char *name;
    json_t *c;
    json_object_foreach((json_t *)classes, name, c)
    {
        struct schema_def *def = &arr[i];
        if (load_class(ld, def, name, c) != 0)
            return -1;
        size_t j = class_slot_start(def->uid, cap - 1);
        while (slots[j] != 0) {
            if (arr[slots[j] - 1].uid == def->uid)
                return load_fail(ld, "classes.%s: uid %d also used by class %s", name, def->uid,
                                 arr[slots[j] - 1].name);
            j = (j + 1) & (cap - 1);
        }
        slots[j] = (uint32_t)(i + 1);
        i++;
    }
    ld->s->classes = arr;
    ld->s->n_classes = n;
    ld->s->class_slots = slots;
    ld->s->class_slots_mask = cap - 1;
    return 0;
}

static int load_all_constraints(struct loader *ld, const json_t *root)
{
    json_t *objects = json_object_get(root, "objects");
    json_t *classes = json_object_get(root, "classes");
    char where[160];
    for (size_t i = 0; i < ld->s->n_objects; i++) {
        struct schema_def *def = (struct schema_def *)&ld->s->objects[i];
        snprintf(where, sizeof(where), "objects.%s", def->name);
        if (load_constraints(ld, def, json_object_get(objects, def->name), where) != 0)
            return -1;
    }
    for (size_t i = 0; i < ld->s->n_classes; i++) {
        struct schema_def *def = (struct schema_def *)&ld->s->classes[i];
        snprintf(where, sizeof(where), "classes.%s", def->name);
        if (load_constraints(ld, def, json_object_get(classes, def->name), where) != 0)
            return -1;
    }
    return 0;
}

/* Finds the one generated table in dir; 0 and path set, or -1 with err. */
static int find_schema_file(const char *dir, char *path, size_t pathlen, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "%s: cannot open schema directory: %s", dir, strerror(errno));
        return -1;
    }
    int found = 0;
    struct dirent *e;
    char first[256] = "";
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 10 || strncmp(e->d_name, "ocsf-", 5) != 0 ||
            strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (found++ == 0) {
            snprintf(first, sizeof(first), "%s", e->d_name);
        } else {
            snprintf(err, errlen, "%s: more than one schema table (%s, %s); keep exactly one", dir,
                     first, e->d_name);
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    if (found == 0) {
        snprintf(err, errlen,
                 "%s: no ocsf-<version>.json schema table (generate it with "
                 "tools/ocsf-schema-gen.py)",
                 dir);
        return -1;
    }
    if ((size_t)snprintf(path, pathlen, "%s/%s", dir, first) >= pathlen) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    return 0;
}

int schema_load(const char *schemas_dir, schema_t **out, char *err, size_t errlen)
{
    char scratch[8];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    schemas_dir = schema_dir_or_default(schemas_dir);
    if (schemas_dir == NULL || out == NULL) {
        snprintf(err, errlen, "schema_load: no schemas directory");
        return -1;
    }
    int rc = -1;
    json_t *root = NULL;
    struct schema_arena *arena = NULL;
    struct schema *s = NULL;
    char dir[PATH_MAX], path[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof(dir), "%s/ocsf", schemas_dir) >= sizeof(dir)) {
        snprintf(err, errlen, "%s: path too long", schemas_dir);
        goto fail;
    }
    if (find_schema_file(dir, path, sizeof(path), err, errlen) != 0)
        goto fail;

    json_error_t jerr;
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    arena = calloc(1, sizeof(*arena));
    if (arena == NULL || (s = arena_alloc(arena, sizeof(*s))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    s->arena = arena;
    struct loader ld = {.s = s, .arena = arena, .path = path, .err = err, .errlen = errlen};
    if (!json_is_object(root)) {
        load_fail(&ld, "top level is not an object");
        goto fail;
    }
    long long format;
    if (get_int(&ld, root, "format", "top level", 0, INT_MAX, &format) != 0)
        goto fail;
    if (format != SCHEMA_FORMAT) {
        load_fail(&ld,
                  "format %lld, this collector reads format %d (regenerate with "
                  "tools/ocsf-schema-gen.py)",
                  format, SCHEMA_FORMAT);
        goto fail;
    }
    if (get_string(&ld, root, "version", "top level", true, &s->version) != 0 ||
        (s->path = arena_strdup(arena, path)) == NULL ||
        load_types(&ld, json_object_get(root, "types")) != 0 ||
        load_profiles(&ld, json_object_get(root, "profiles")) != 0 ||
        load_categories(&ld, json_object_get(root, "categories")) != 0 ||
        load_objects(&ld, json_object_get(root, "objects")) != 0 ||
        load_classes(&ld, json_object_get(root, "classes")) != 0 ||
        load_all_constraints(&ld, root) != 0) {
        if (err[0] == '\0')
            load_oom(&ld);
        goto fail;
    }
    *out = s;
    arena = NULL; /* owned by *out now */
    rc = 0;
fail:
    arena_free(arena);
    json_decref(root);
    return rc;
}

void schema_free(schema_t *s)
{
    if (s != NULL)
        arena_free(s->arena);
}

/* ---- lookups ---- */

const char *schema_version(const schema_t *s)
{
    return s != NULL ? s->version : NULL;
}

const char *schema_class_name(const schema_t *s, int class_uid)
{
    const struct schema_def *c = schema_find_class(s, class_uid);
    return c != NULL ? c->caption : NULL;
}

int schema_class_category(const schema_t *s, int class_uid)
{
    const struct schema_def *c = schema_find_class(s, class_uid);
    return c != NULL ? c->category_uid : -1;
}

const char *schema_category_name(const schema_t *s, int category_uid)
{
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < s->n_categories; i++)
        if (s->categories[i].uid == category_uid)
            return s->categories[i].caption;
    return NULL;
}

/* Not on the hot path (replay, config): a scan of ~80 classes is fine. */
int schema_class_uid(const schema_t *s, const char *name)
{
    if (s == NULL || name == NULL)
        return -1;
    for (size_t i = 0; i < s->n_classes; i++)
        if (strcasecmp(s->classes[i].name, name) == 0 ||
            strcasecmp(s->classes[i].caption, name) == 0)
            return s->classes[i].uid;
    return -1;
}

int schema_class_has_activity(const schema_t *s, int class_uid, long long activity_id)
{
    const struct schema_def *c = schema_find_class(s, class_uid);
    return c != NULL && schema_enum_int_find(c->activities, c->n_activities, activity_id) != NULL;
}

int schema_class_has_profile(const schema_t *s, int class_uid, const char *profile)
{
    const struct schema_def *c = schema_find_class(s, class_uid);
    if (c == NULL || profile == NULL)
        return 0;
    int idx = schema_profile_index(s, profile);
    return idx >= 0 && (c->profiles_mask & (1ull << idx)) != 0;
}

/* The attribute at dotted path within class_uid; *first_profile (optional) gets the outermost
 * profile met on the way. NULL when any segment is undefined or crosses a non-object, json_t or
 * `object`. */
static const struct schema_attr *resolve_path(const schema_t *s, int class_uid, const char *path,
                                              const char **first_profile)
{
    if (first_profile != NULL)
        *first_profile = NULL;
    const struct schema_def *def = schema_find_class(s, class_uid);
    if (def == NULL || path == NULL || strnlen(path, SCHEMA_MAX_PATH + 1) > SCHEMA_MAX_PATH)
        return NULL;
    const char *seg = path;
    for (int depth = 0; depth < SCHEMA_MAX_SEGMENTS; depth++) {
        const char *dot = strchr(seg, '.');
        size_t len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        const struct schema_attr *a = schema_def_find(def, seg, len);
        if (a == NULL)
            return NULL;
        if (first_profile != NULL && *first_profile == NULL)
            *first_profile = a->profile;
        if (dot == NULL)
            return a;
        if (a->prim != SCHEMA_PRIM_OBJECT || a->object->is_open)
            return NULL;
        def = a->object;
        seg = dot + 1;
    }
    return NULL;
}

const char *schema_enum_caption(const schema_t *s, int class_uid, const char *path, long long value)
{
    const struct schema_attr *a = resolve_path(s, class_uid, path, NULL);
    if (a == NULL)
        return NULL;
    const struct schema_enum_int *e = schema_enum_int_find(a->enum_int, a->n_enum_int, value);
    return e != NULL ? e->caption : NULL;
}

const char *schema_enum_caption_str(const schema_t *s, int class_uid, const char *path,
                                    const char *value)
{
    const struct schema_attr *a = resolve_path(s, class_uid, path, NULL);
    if (a == NULL || value == NULL)
        return NULL;
    const struct schema_enum_str *e = enum_str_find(a->enum_str, a->n_enum_str, value);
    return e != NULL ? e->caption : NULL;
}

int schema_enum_value(const schema_t *s, int class_uid, const char *path, const char *caption,
                      long long *value)
{
    const struct schema_attr *a = resolve_path(s, class_uid, path, NULL);
    if (a == NULL || caption == NULL)
        return -1;
    for (size_t i = 0; i < a->n_enum_int; i++) {
        if (strcasecmp(a->enum_int[i].caption, caption) == 0) {
            if (value != NULL)
                *value = a->enum_int[i].value;
            return 0;
        }
    }
    return -1;
}

const char *schema_enum_sibling(const schema_t *s, int class_uid, const char *path)
{
    const struct schema_attr *a = resolve_path(s, class_uid, path, NULL);
    return a != NULL && (a->n_enum_int > 0 || a->n_enum_str > 0) ? a->sibling : NULL;
}

const char *schema_attr_type(const schema_t *s, int class_uid, const char *path, int *is_array)
{
    const struct schema_attr *a = resolve_path(s, class_uid, path, NULL);
    if (is_array != NULL)
        *is_array = a != NULL && a->is_array;
    return a != NULL ? a->type->prim_name : NULL;
}

const char *schema_attr_declared_type(const schema_t *s, int class_uid, const char *path)
{
    const struct schema_attr *a = resolve_path(s, class_uid, path, NULL);
    return a != NULL ? a->type->name : NULL;
}

const char *schema_attr_object_type(const schema_t *s, int class_uid, const char *path)
{
    const struct schema_attr *a = resolve_path(s, class_uid, path, NULL);
    return a != NULL ? a->object_type : NULL;
}

const char *schema_attr_requirement(const schema_t *s, int class_uid, const char *path)
{
    static const char *const names[] = {"optional", "recommended", "required"};
    const struct schema_attr *a = resolve_path(s, class_uid, path, NULL);
    return a != NULL ? names[a->requirement] : NULL;
}

const char *schema_attr_profile(const schema_t *s, int class_uid, const char *path)
{
    const char *profile = NULL;
    const struct schema_attr *a = resolve_path(s, class_uid, path, &profile);
    return a != NULL ? profile : NULL;
}

const char *schema_dir_or_default(const char *dir)
{
    if (dir == NULL)
        dir = getenv("OCSF_SCHEMAS_DIR");
#ifdef OCSF_SCHEMAS_DIR
    if (dir == NULL)
        dir = OCSF_SCHEMAS_DIR;
#endif
    return dir;
}
