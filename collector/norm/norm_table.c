/*
 * norm_table.c - reads mapping tables (schemas/mappings/<name>.json) and compiles them against the
 * schema into the structs of norm_internal.h, so that the engine never re-parses a table per event.
 *
 * The language (described for users in schemas/README.md):
 *   {"table": name, "key": "type", "drop": [field...], "maps": {name: {word: value}},
 *    "common": {target: rule}, "entries": [{"name", "type": value|[values], "when": {field:
 * condition}, "class_uid": uid|name, "activity_id": rule, "fields": {target: rule}, "drop":
 * [field...]}]} rule       = "field" | "@collector.value" | constant (number, boolean) |
 * {alternative} | [alternatives] alternative= "field" | {"from": field|[fields], "map": name|{...},
 * "default": v, "transform": t, "when": {...}, "if_set": path, "unless_set": path} | {"const": v,
 * ...} condition  = scalar | [scalars] | {"exists": bool} | {"not": scalar|[scalars]}
 *
 * Everything a table says is checked here, once: unknown keys (typos), class and activities, every
 * target path against the class, profiles the class must allow, constants and map results coerced
 * to the target's type and proven valid enum values. Any problem is reported as "<file>: entry
 * '<name>': field '<field>': <problem>" and the whole set is refused. Memory: compiled structs live
 * in the set's arena; json values they point to are owned by the set's `keep` array; the parsed
 * table text is released before returning.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "norm_internal.h"
#include "util.h"

struct loader {
    struct norm_tables *t;
    const schema_t *s;
    const char *file;
    char *err;
    size_t errlen;
    /* message context */
    const char *entry;
    const char *field;
    int from_common;
    /* table */
    const char *key;
    const json_t *maps;
    const json_t *common;
    const json_t *drop;
    /* entry being compiled */
    int class_uid;
    const char *class_name;
    int nkey;
    struct norm_key keys[NORM_MAX_KEYS];
    char unnamed[32]; /* "#3": an entry's name before its "name" is read */
};

static int fail(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct loader *ld, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ld->err == NULL || ld->errlen == 0)
        return -1;
    if (ld->entry != NULL && ld->field != NULL)
        snprintf(ld->err, ld->errlen, "%s: entry '%.100s': field '%.200s'%s: %s", ld->file,
                 ld->entry, ld->field, ld->from_common ? " (from common)" : "", msg);
    else if (ld->entry != NULL)
        snprintf(ld->err, ld->errlen, "%s: entry '%.100s': %s", ld->file, ld->entry, msg);
    else if (ld->field != NULL)
        snprintf(ld->err, ld->errlen, "%s: field '%.200s': %s", ld->file, ld->field, msg);
    else
        snprintf(ld->err, ld->errlen, "%s: %s", ld->file, msg);
    util_text_sanitize(ld->err);
    return -1;
}

static int oom(struct loader *ld)
{
    return fail(ld, "out of memory");
}

static void *alloc(struct loader *ld, size_t n)
{
    return norm_arena_alloc(&ld->t->arena, n);
}

static const char *dup(struct loader *ld, const char *s)
{
    return norm_arena_strdup(&ld->t->arena, s);
}

/* Takes ownership of v (a new reference) into the set; returns v borrowed, or NULL. */
static json_t *keep(struct loader *ld, json_t *v)
{
    if (v == NULL || json_array_append_new(ld->t->keep, v) != 0)
        return NULL;
    return v;
}

static int check_keys(struct loader *ld, const json_t *obj, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a != NULL && !ok; a++)
            ok = strcmp(k, *a) == 0;
        if (!ok) {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *a = allowed; *a != NULL; a++) {
                int n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *a);
                if (n < 0 || (size_t)n >= sizeof(list) - used)
                    break;
                used += (size_t)n;
            }
            return fail(ld, "unknown key '%.64s' (allowed: %s)", k, list);
        }
    }
    return 0;
}

/* ---- names and paths ---- */

static int key_register(struct loader *ld, const char *name, unsigned flags)
{
    for (int i = 0; i < ld->nkey; i++) {
        if (strcmp(ld->keys[i].name, name) == 0) {
            ld->keys[i].flags |= flags;
            return i;
        }
    }
    if (ld->nkey >= NORM_MAX_KEYS)
        return fail(ld, "more than %d distinct input fields in one entry", NORM_MAX_KEYS);
    const char *copy = dup(ld, name);
    if (copy == NULL)
        return oom(ld);
    ld->keys[ld->nkey].name = copy;
    ld->keys[ld->nkey].flags = flags;
    return ld->nkey++;
}

static const struct {
    const char *name;
    enum norm_src_kind kind;
} collector_values[] = {
    {"@peer.ip", NORM_SRC_PEER_IP},     {"@peer.port", NORM_SRC_PEER_PORT},
    {"@peer.addr", NORM_SRC_PEER_ADDR}, {"@peer.listener", NORM_SRC_PEER_LISTENER},
    {"@peer.uid", NORM_SRC_PEER_UID},   {"@peer.gid", NORM_SRC_PEER_GID},
    {"@peer.pid", NORM_SRC_PEER_PID},   {"@received_time", NORM_SRC_RECEIVED_TIME},
};

/* Parses a source ("dst_port", "session.id", "@peer.ip"). register_key: a rule's source (consumes
 * its top-level input key) rather than a condition's. */
static int src_parse(struct loader *ld, const char *text, int register_key, struct norm_src *out)
{
    size_t n = strnlen(text, NORM_MAX_PATH + 1);
    if (n == 0 || n > NORM_MAX_PATH)
        return fail(ld, "source field name empty or longer than %d bytes", NORM_MAX_PATH);
    memset(out, 0, sizeof(*out));
    out->key = -1;
    out->text = dup(ld, text);
    if (out->text == NULL)
        return oom(ld);
    if (text[0] == '@') {
        for (size_t i = 0; i < sizeof(collector_values) / sizeof(collector_values[0]); i++) {
            if (strcmp(text, collector_values[i].name) == 0) {
                out->kind = collector_values[i].kind;
                return 0;
            }
        }
        return fail(ld,
                    "unknown collector value '%.64s' (known: @peer.ip, @peer.port, @peer.addr, "
                    "@peer.listener, @peer.uid, @peer.gid, @peer.pid, @received_time)",
                    text);
    }
    out->kind = NORM_SRC_FIELD;
    const char *p = text;
    while (1) {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (len == 0)
            return fail(ld, "source '%.64s': empty path segment", text);
        if (out->nseg >= NORM_MAX_DEPTH)
            return fail(ld, "source '%.64s': deeper than %d segments", text, NORM_MAX_DEPTH);
        out->seg[out->nseg] = norm_arena_strndup(&ld->t->arena, p, len);
        if (out->seg[out->nseg] == NULL)
            return oom(ld);
        out->nseg++;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    if (register_key) {
        out->key = key_register(ld, out->seg[0], 0);
        if (out->key < 0)
            return -1;
    }
    return 0;
}

/* Syntax of an output path: name(.name)* where a name may carry [index]. */
static int opath_parse(struct loader *ld, const char *text, struct norm_opath *out)
{
    size_t n = strnlen(text, NORM_MAX_PATH + 1);
    if (n == 0 || n > NORM_MAX_PATH)
        return fail(ld, "path empty or longer than %d bytes", NORM_MAX_PATH);
    memset(out, 0, sizeof(*out));
    out->text = dup(ld, text);
    if (out->text == NULL)
        return oom(ld);
    const char *p = text;
    while (1) {
        if (out->nseg >= NORM_MAX_DEPTH)
            return fail(ld, "path '%s' deeper than %d segments", text, NORM_MAX_DEPTH);
        const char *q = p;
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
               *q == '_')
            q++;
        if (q == p)
            return fail(ld, "path '%s': a segment must be a name of letters, digits and '_'", text);
        struct norm_segment *sg = &out->seg[out->nseg++];
        sg->name = norm_arena_strndup(&ld->t->arena, p, (size_t)(q - p));
        if (sg->name == NULL)
            return oom(ld);
        sg->index = -1;
        if (*q == '[') {
            q++;
            int idx = 0, nd = 0;
            while (*q >= '0' && *q <= '9' && nd < 3) {
                idx = idx * 10 + (*q++ - '0');
                nd++;
            }
            if (nd == 0 || *q != ']' || idx > NORM_MAX_INDEX)
                return fail(ld, "path '%s': index must be [0] to [%d]", text, NORM_MAX_INDEX);
            sg->index = idx;
            q++;
        }
        if (*q == '\0')
            return 0;
        if (*q != '.')
            return fail(ld, "path '%s': unexpected '%c'", text, *q);
        p = q + 1;
    }
}

static int profile_bit(struct loader *ld, const char *profile, uint32_t *mask)
{
    struct norm_tables *t = ld->t;
    for (int i = 0; i < t->nprofile; i++) {
        if (strcmp(t->profile[i], profile) == 0) {
            *mask |= 1u << i;
            return 0;
        }
    }
    if (t->nprofile >= NORM_MAX_PROFILES)
        return fail(ld, "more than %d distinct profiles", NORM_MAX_PROFILES);
    t->profile[t->nprofile] = profile;
    *mask |= 1u << t->nprofile;
    t->nprofile++;
    return 0;
}

/* Checks an output path against the class and, when rule is not NULL, fills the rule's value type,
 * array flag, sibling, enum path and profiles. */
static int opath_check(struct loader *ld, const struct norm_opath *p, struct norm_rule *rule)
{
    char dotted[NORM_MAX_PATH + 1];
    size_t used = 0;
    int is_open = 0;
    enum norm_vtype vt = NORM_V_JSON;
    int leaf_array = 0;
    uint32_t profiles = 0;
    for (int i = 0; i < p->nseg; i++) {
        const struct norm_segment *sg = &p->seg[i];
        int n = snprintf(dotted + used, sizeof(dotted) - used, "%s%s", i ? "." : "", sg->name);
        if (n < 0 || (size_t)n >= sizeof(dotted) - used)
            return fail(ld, "path too long");
        used += (size_t)n;
        if (is_open)
            continue; /* inside a json_t or an open object: anything goes */
        int is_array = 0;
        const char *prim = schema_attr_type(ld->s, ld->class_uid, dotted, &is_array);
        if (prim == NULL)
            return fail(ld, "'%s' is not an attribute of class %d (%s)", dotted, ld->class_uid,
                        ld->class_name);
        const char *profile = schema_attr_profile(ld->s, ld->class_uid, dotted);
        if (profile != NULL) {
            if (!schema_class_has_profile(ld->s, ld->class_uid, profile))
                return fail(ld, "'%s' needs profile %s, which class %d does not allow", dotted,
                            profile, ld->class_uid);
            if (profile_bit(ld, profile, &profiles) < 0)
                return -1;
        }
        if (sg->index >= 0 && !is_array)
            return fail(ld, "'%s' is not an array: no index allowed", dotted);
        const int last = i == p->nseg - 1;
        const char *otype = strcmp(prim, "object_t") == 0
                                ? schema_attr_object_type(ld->s, ld->class_uid, dotted)
                                : NULL;
        const int open =
            strcmp(prim, "json_t") == 0 || (otype != NULL && strcmp(otype, "object") == 0);
        if (!last) {
            if (is_array && sg->index < 0)
                return fail(ld, "'%s' is an array: name an element ('%s[0]')", dotted, sg->name);
            if (open)
                is_open = 1;
            else if (otype == NULL)
                return fail(ld, "'%s' is a %s, not an object", dotted, prim);
            continue;
        }
        leaf_array = is_array && sg->index < 0;
        if (open) {
            vt = NORM_V_JSON;
        } else if (strcmp(prim, "object_t") == 0) {
            vt = NORM_V_OBJECT;
        } else if (strcmp(prim, "string_t") == 0) {
            vt = NORM_V_STRING;
        } else if (strcmp(prim, "integer_t") == 0) {
            vt = NORM_V_INTEGER;
        } else if (strcmp(prim, "long_t") == 0) {
            const char *declared = schema_attr_declared_type(ld->s, ld->class_uid, dotted);
            vt = declared != NULL && strcmp(declared, "timestamp_t") == 0 ? NORM_V_TIME
                                                                          : NORM_V_LONG;
        } else if (strcmp(prim, "float_t") == 0) {
            vt = NORM_V_FLOAT;
        } else if (strcmp(prim, "boolean_t") == 0) {
            vt = NORM_V_BOOLEAN;
        } else {
            return fail(ld, "'%s' has type %s, which tables cannot fill", dotted, prim);
        }
        if (rule != NULL && !leaf_array && (vt == NORM_V_INTEGER || vt == NORM_V_LONG)) {
            rule->sibling = schema_enum_sibling(ld->s, ld->class_uid, dotted);
            if (rule->sibling != NULL && (rule->enum_path = dup(ld, dotted)) == NULL)
                return oom(ld);
        }
    }
    if (rule != NULL) {
        rule->vtype = vt;
        rule->is_array = leaf_array;
        rule->profiles = profiles;
    }
    return 0;
}

static int target_reserved(struct loader *ld, const struct norm_opath *p, int is_activity)
{
    static const char *const computed[] = {
        "class_uid", "category_uid", "type_uid", "class_name", "category_name", "type_name", NULL};
    static const char *const collector_meta[] = {"version",  "product",  "uid", "logged_time",
                                                 "sequence", "profiles", NULL};
    const char *top = p->seg[0].name;
    if (strcmp(top, "unmapped") == 0)
        return fail(ld, "unmapped is filled by the engine with the fields no rule used");
    if (p->nseg == 1) {
        for (const char *const *c = computed; *c != NULL; c++)
            if (strcmp(top, *c) == 0)
                return fail(ld, "%s is computed by the engine from class_uid and activity_id", top);
        if (strcmp(top, "activity_id") == 0 && !is_activity)
            return fail(ld, "set activity_id with the entry's \"activity_id\"");
    }
    if (strcmp(top, "metadata") == 0 && p->nseg >= 2) {
        for (const char *const *c = collector_meta; *c != NULL; c++)
            if (strcmp(p->seg[1].name, *c) == 0)
                return fail(ld, "metadata.%s is set by the collector", *c);
    }
    return 0;
}

/* ---- values ---- */

/* Coerces a table value (borrowed) to the rule's type and checks enum membership; a NEW reference
 * kept in the set is returned in *out (borrowed), with its caption. */
static int value_compile(struct loader *ld, const struct norm_rule *rule, int is_activity,
                         json_t *v, const char *what, json_t **out, json_t **caption)
{
    char why[160];
    json_t *c = NULL;
    *caption = NULL;
    if (json_is_null(v))
        return fail(ld, "%s: null is not a value", what);
    if (rule->is_array) {
        if (json_is_array(v)) {
            if (json_array_size(v) > NORM_MAX_ARRAY)
                return fail(ld, "%s: more than %d elements", what, NORM_MAX_ARRAY);
            c = json_array();
            if (c == NULL)
                return oom(ld);
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                json_t *ce = norm_coerce(rule->vtype, e, why, sizeof(why));
                if (ce == NULL) {
                    json_decref(c);
                    return fail(ld, "%s: element %zu: %s", what, i, why);
                }
                json_array_append_new(c, ce);
            }
        } else {
            json_t *ce = norm_coerce(rule->vtype, v, why, sizeof(why));
            if (ce == NULL)
                return fail(ld, "%s: %s", what, why);
            c = json_array();
            if (c == NULL || json_array_append_new(c, ce) != 0) {
                json_decref(c);
                return oom(ld);
            }
        }
    } else {
        c = norm_coerce(rule->vtype, v, why, sizeof(why));
        if (c == NULL)
            return fail(ld, "%s: %s", what, why);
    }
    if (keep(ld, c) == NULL)
        return oom(ld);
    if (is_activity) {
        if (!json_is_integer(c) ||
            !schema_class_has_activity(ld->s, ld->class_uid, json_integer_value(c)))
            return fail(ld, "%s: %" JSON_INTEGER_FORMAT " is not an activity of class %d (%s)",
                        what, json_integer_value(c), ld->class_uid, ld->class_name);
    }
    if (rule->enum_path != NULL) {
        const char *cap =
            schema_enum_caption(ld->s, ld->class_uid, rule->enum_path, json_integer_value(c));
        if (cap == NULL)
            return fail(ld, "%s: %" JSON_INTEGER_FORMAT " is not a value of the enum %s", what,
                        json_integer_value(c), rule->enum_path);
        if ((*caption = keep(ld, json_string(cap))) == NULL)
            return oom(ld);
    }
    *out = c;
    return 0;
}

/* ---- conditions ---- */

static int pred_values(struct loader *ld, const json_t *v, struct norm_pred *p)
{
    const json_t *list = v;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (n == 0 || n > NORM_MAX_PRED_VALUES)
        return fail(ld, "condition on '%s': 1 to %d values", p->src.text, NORM_MAX_PRED_VALUES);
    p->values = alloc(ld, n * sizeof(*p->values));
    if (p->values == NULL)
        return oom(ld);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(list) ? json_array_get(list, i) : list;
        char num[48];
        const char *s = norm_string_form(e, num, sizeof(num));
        if (s == NULL)
            return fail(ld, "condition on '%s': values must be strings, numbers or booleans",
                        p->src.text);
        if ((p->values[i] = dup(ld, s)) == NULL)
            return oom(ld);
    }
    p->nvalues = (int)n;
    return 0;
}

static int preds_compile(struct loader *ld, const json_t *when, struct norm_pred **out, int *nout)
{
    if (!json_is_object(when))
        return fail(ld, "\"when\" must be an object {field: condition}");
    size_t n = json_object_size(when);
    if (n == 0 || n > NORM_MAX_PREDS)
        return fail(ld, "\"when\" must have 1 to %d conditions", NORM_MAX_PREDS);
    struct norm_pred *p = alloc(ld, n * sizeof(*p));
    if (p == NULL)
        return oom(ld);
    int i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)when, k, v)
    {
        struct norm_pred *pr = &p[i++];
        if (src_parse(ld, k, 0, &pr->src) < 0)
            return -1;
        if (json_is_object(v)) {
            json_t *ex = json_object_get(v, "exists"), *no = json_object_get(v, "not");
            if (json_object_size(v) != 1 || (ex == NULL && no == NULL))
                return fail(ld,
                            "condition on '%s': an object condition is {\"exists\": bool} or "
                            "{\"not\": value(s)}",
                            k);
            if (ex != NULL) {
                if (!json_is_boolean(ex))
                    return fail(ld, "condition on '%s': \"exists\" takes true or false", k);
                pr->op = json_is_true(ex) ? NORM_PRED_EXISTS : NORM_PRED_ABSENT;
            } else {
                pr->op = NORM_PRED_NOT_IN;
                if (pred_values(ld, no, pr) < 0)
                    return -1;
            }
        } else {
            pr->op = NORM_PRED_IN;
            if (pred_values(ld, v, pr) < 0)
                return -1;
        }
    }
    *out = p;
    *nout = (int)n;
    return 0;
}

/* ---- rules ---- */

static int map_compile(struct loader *ld, const struct norm_rule *rule, int is_activity,
                       const json_t *m, struct norm_alt *a)
{
    const json_t *map = m;
    char what[128];
    if (json_is_string(m)) {
        map = ld->maps != NULL ? json_object_get(ld->maps, json_string_value(m)) : NULL;
        if (map == NULL)
            return fail(ld, "unknown map '%.64s' (define it under \"maps\")", json_string_value(m));
    }
    if (!json_is_object(map))
        return fail(ld, "\"map\" must name a map or be an object {word: value}");
    size_t n = json_object_size(map);
    if (n == 0 || n > NORM_MAX_MAP_ITEMS)
        return fail(ld, "a map has 1 to %d items", NORM_MAX_MAP_ITEMS);
    a->item = alloc(ld, n * sizeof(*a->item));
    if (a->item == NULL)
        return oom(ld);
    a->has_map = 1;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v)
    {
        for (int j = 0; j < a->nitem; j++)
            if (strcasecmp(a->item[j].key, k) == 0)
                return fail(ld, "map keys '%.64s' and '%.64s' differ only in case", a->item[j].key,
                            k);
        struct norm_item *it = &a->item[a->nitem];
        if ((it->key = dup(ld, k)) == NULL)
            return oom(ld);
        snprintf(what, sizeof(what), "map value for '%.64s'", k);
        if (value_compile(ld, rule, is_activity, v, what, &it->value, &it->caption) < 0)
            return -1;
        a->nitem++;
    }
    return 0;
}

static int opath_compile(struct loader *ld, const json_t *v, const char *key,
                         const struct norm_opath **out)
{
    if (!json_is_string(v))
        return fail(ld, "\"%s\" takes an output path", key);
    struct norm_opath *p = alloc(ld, sizeof(*p));
    if (p == NULL)
        return oom(ld);
    if (opath_parse(ld, json_string_value(v), p) < 0 || opath_check(ld, p, NULL) < 0)
        return -1;
    *out = p;
    return 0;
}

static const char *const alt_keys[] = {"from", "map",    "default",    "const",   "transform",
                                       "when", "if_set", "unless_set", "comment", NULL};

/* Compiles one alternative into rule->alt[rule->nalt++] (two when it has a "default"). */
static int alt_compile(struct loader *ld, struct norm_rule *rule, int is_activity,
                       const json_t *spec)
{
    if (rule->nalt >= NORM_MAX_ALTS)
        return fail(ld, "more than %d alternatives", NORM_MAX_ALTS);
    struct norm_alt *a = &rule->alt[rule->nalt];
    memset(a, 0, sizeof(*a));
    if (json_is_string(spec)) {
        a->src = alloc(ld, sizeof(*a->src));
        if (a->src == NULL)
            return oom(ld);
        if (src_parse(ld, json_string_value(spec), 1, &a->src[0]) < 0)
            return -1;
        a->nsrc = 1;
        rule->nalt++;
        return 0;
    }
    if (json_is_number(spec) || json_is_boolean(spec)) {
        if (value_compile(ld, rule, is_activity, (json_t *)spec, "constant", &a->value,
                          &a->caption) < 0)
            return -1;
        rule->nalt++;
        return 0;
    }
    if (!json_is_object(spec))
        return fail(ld, "a rule is a field name, a constant, an object or a list of those");
    if (check_keys(ld, spec, alt_keys) < 0)
        return -1;
    json_t *from = json_object_get(spec, "from"), *cst = json_object_get(spec, "const");
    json_t *map = json_object_get(spec, "map"), *dflt = json_object_get(spec, "default");
    json_t *tr = json_object_get(spec, "transform"), *when = json_object_get(spec, "when");
    json_t *ifs = json_object_get(spec, "if_set"), *unl = json_object_get(spec, "unless_set");
    if ((from == NULL) == (cst == NULL))
        return fail(ld, "an alternative has exactly one of \"from\" and \"const\"");
    if (cst != NULL && (map != NULL || dflt != NULL || tr != NULL))
        return fail(ld, "\"const\" takes no \"map\", \"default\" or \"transform\"");
    if (when != NULL && preds_compile(ld, when, &a->pred, &a->npred) < 0)
        return -1;
    if (ifs != NULL && opath_compile(ld, ifs, "if_set", &a->if_set) < 0)
        return -1;
    if (unl != NULL && opath_compile(ld, unl, "unless_set", &a->unless_set) < 0)
        return -1;
    if (cst != NULL) {
        if (value_compile(ld, rule, is_activity, cst, "const", &a->value, &a->caption) < 0)
            return -1;
        rule->nalt++;
        return 0;
    }
    size_t n = json_is_array(from) ? json_array_size(from) : 1;
    if (n == 0 || n > NORM_MAX_SOURCES)
        return fail(ld, "\"from\" names 1 to %d fields", NORM_MAX_SOURCES);
    a->src = alloc(ld, n * sizeof(*a->src));
    if (a->src == NULL)
        return oom(ld);
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_is_array(from) ? json_array_get(from, i) : from;
        if (!json_is_string(f))
            return fail(ld, "\"from\" takes a field name or a list of field names");
        if (src_parse(ld, json_string_value(f), 1, &a->src[i]) < 0)
            return -1;
    }
    a->nsrc = (int)n;
    if (tr != NULL) {
        static const struct {
            const char *name;
            enum norm_transform tr;
        } trs[] = {{"lower", NORM_TR_LOWER},
                   {"upper", NORM_TR_UPPER},
                   {"basename", NORM_TR_BASENAME},
                   {"tz_offset", NORM_TR_TZ_OFFSET}};
        const char *name = json_is_string(tr) ? json_string_value(tr) : "";
        for (size_t i = 0; i < sizeof(trs) / sizeof(trs[0]); i++)
            if (strcmp(name, trs[i].name) == 0)
                a->transform = trs[i].tr;
        if (a->transform == NORM_TR_NONE)
            return fail(ld, "unknown transform '%.32s' (known: lower, upper, basename, tz_offset)",
                        name);
    }
    if (map != NULL && map_compile(ld, rule, is_activity, map, a) < 0)
        return -1;
    rule->nalt++;
    if (dflt != NULL) {
        if (rule->nalt >= NORM_MAX_ALTS)
            return fail(ld, "more than %d alternatives", NORM_MAX_ALTS);
        struct norm_alt *d = &rule->alt[rule->nalt];
        memset(d, 0, sizeof(*d));
        d->pred = a->pred;
        d->npred = a->npred;
        d->if_set = a->if_set;
        d->unless_set = a->unless_set;
        if (value_compile(ld, rule, is_activity, dflt, "default", &d->value, &d->caption) < 0)
            return -1;
        rule->nalt++;
    }
    return 0;
}

static int rule_compile(struct loader *ld, struct norm_rule *rule, const char *target,
                        const json_t *spec, const char *origin)
{
    const int is_activity = strcmp(origin, "activity_id") == 0;
    ld->field = target;
    ld->from_common = strcmp(origin, "common") == 0;
    memset(rule, 0, sizeof(*rule));
    rule->origin = origin;
    if (opath_parse(ld, target, &rule->target) < 0 ||
        target_reserved(ld, &rule->target, is_activity) < 0 ||
        opath_check(ld, &rule->target, rule) < 0)
        return -1;
    rule->alt = alloc(ld, NORM_MAX_ALTS * sizeof(*rule->alt));
    if (rule->alt == NULL)
        return oom(ld);
    if (json_is_array(spec)) {
        if (json_array_size(spec) == 0)
            return fail(ld, "an empty list of alternatives");
        size_t i;
        json_t *e;
        json_array_foreach(spec, i, e)
        {
            if (json_is_array(e) || json_is_null(e))
                return fail(ld, "alternative %zu: a list holds field names, constants or objects",
                            i + 1);
            if (alt_compile(ld, rule, is_activity, e) < 0)
                return -1;
        }
    } else if (alt_compile(ld, rule, is_activity, spec) < 0) {
        return -1;
    }
    for (int i = 0; i < rule->nalt; i++)
        if (rule->alt[i].if_set != NULL || rule->alt[i].unless_set != NULL)
            rule->is_late = 1;
    ld->field = NULL;
    ld->from_common = 0;
    return 0;
}

/* ---- entries ---- */

static int drop_register(struct loader *ld, const json_t *drop)
{
    if (drop == NULL)
        return 0;
    if (!json_is_array(drop) || json_array_size(drop) > NORM_MAX_KEYS)
        return fail(ld, "\"drop\" is a list of at most %d field names", NORM_MAX_KEYS);
    size_t i;
    json_t *d;
    json_array_foreach(drop, i, d)
    {
        if (!json_is_string(d) || json_string_length(d) == 0 ||
            json_string_length(d) > NORM_MAX_PATH)
            return fail(ld, "\"drop\" element %zu is not a field name", i);
        if (key_register(ld, json_string_value(d), NORM_KEY_DROP) < 0)
            return -1;
    }
    return 0;
}

/* Gives the entry its keys, in the order they were registered (a source's `key` already is its
 * index there), and the hash slots they are found by (invariant 4). */
static int keys_finish(struct loader *ld, struct norm_entry *e)
{
    e->key = alloc(ld, (size_t)(ld->nkey ? ld->nkey : 1) * sizeof(*e->key));
    if (e->key == NULL)
        return oom(ld);
    memcpy(e->key, ld->keys, (size_t)ld->nkey * sizeof(e->key[0]));
    e->nkey = ld->nkey;
    memset(e->key_slot, 0, sizeof e->key_slot);
    for (int i = 0; i < e->nkey; i++) {
        uint32_t h = norm_key_hash(e->key[i].name) & (NORM_KEY_SLOTS - 1);
        while (e->key_slot[h] != 0)
            h = (h + 1) & (NORM_KEY_SLOTS - 1);
        e->key_slot[h] = (uint8_t)(i + 1);
    }
    return 0;
}

static const char *const entry_keys[] = {"name",   "type", "when",    "class_uid",   "activity_id",
                                         "fields", "drop", "comment", "description", NULL};

static int entry_compile(struct loader *ld, struct norm_entry *e, const json_t *spec, int index)
{
    ld->entry = NULL;
    ld->field = NULL;
    ld->nkey = 0;
    e->index = index;
    e->file = ld->file;
    snprintf(ld->unnamed, sizeof(ld->unnamed), "#%d", index);
    ld->entry = ld->unnamed;
    if (!json_is_object(spec))
        return fail(ld, "an entry is an object");
    json_t *name = json_object_get(spec, "name"), *type = json_object_get(spec, "type");
    if (json_is_string(name) && json_string_length(name) > 0 &&
        json_string_length(name) <= NORM_MAX_PATH)
        ld->entry = json_string_value(name); /* for messages until it is copied below */
    if (type == NULL) {
        ld->field = "type";
        return fail(ld, "missing (the value of the table's key \"%s\" that selects this entry)",
                    ld->key);
    }
    size_t ntype = json_is_array(type) ? json_array_size(type) : 1;
    if (ntype == 0 || ntype > NORM_MAX_TYPES) {
        ld->field = "type";
        return fail(ld, "1 to %d values", NORM_MAX_TYPES);
    }
    e->type = alloc(ld, ntype * sizeof(*e->type));
    if (e->type == NULL)
        return oom(ld);
    for (size_t i = 0; i < ntype; i++) {
        const json_t *tv = json_is_array(type) ? json_array_get(type, i) : type;
        if (!json_is_string(tv) || json_string_length(tv) == 0 ||
            json_string_length(tv) > NORM_MAX_PATH) {
            ld->field = "type";
            return fail(ld, "a non-empty string (or a list of them) of at most %d bytes",
                        NORM_MAX_PATH);
        }
        if ((e->type[i] = dup(ld, json_string_value(tv))) == NULL)
            return oom(ld);
    }
    e->ntype = (int)ntype;
    if (name != NULL && (!json_is_string(name) || json_string_length(name) == 0 ||
                         json_string_length(name) > NORM_MAX_PATH)) {
        ld->field = "name";
        return fail(ld, "a non-empty string");
    }
    e->name = name != NULL ? dup(ld, json_string_value(name)) : e->type[0];
    if (e->name == NULL)
        return oom(ld);
    ld->entry = e->name;
    if (check_keys(ld, spec, entry_keys) < 0)
        return -1;

    json_t *cls = json_object_get(spec, "class_uid");
    ld->field = "class_uid";
    if (json_is_integer(cls)) {
        json_int_t uid = json_integer_value(cls);
        if (uid < 0 || uid > 1000000 || schema_class_name(ld->s, (int)uid) == NULL)
            return fail(ld, "unknown class %" JSON_INTEGER_FORMAT, uid);
        e->class_uid = (int)uid;
    } else if (json_is_string(cls)) {
        e->class_uid = schema_class_uid(ld->s, json_string_value(cls));
        if (e->class_uid < 0)
            return fail(ld, "unknown class '%.64s'", json_string_value(cls));
    } else {
        return fail(ld, "%s", cls == NULL ? "missing" : "a class uid (integer) or class name");
    }
    e->class_name = schema_class_name(ld->s, e->class_uid);
    e->category_uid = schema_class_category(ld->s, e->class_uid);
    e->category_name = schema_category_name(ld->s, e->category_uid);
    e->class_name_json = keep(ld, json_string(e->class_name));
    if (e->class_name_json == NULL)
        return oom(ld);
    if (e->category_name != NULL &&
        (e->category_name_json = keep(ld, json_string(e->category_name))) == NULL)
        return oom(ld);
    ld->class_uid = e->class_uid;
    ld->class_name = e->class_name;

    json_t *when = json_object_get(spec, "when");
    if (when != NULL) {
        ld->field = "when";
        if (preds_compile(ld, when, &e->pred, &e->npred) < 0)
            return -1;
    }
    ld->field = NULL;
    if (key_register(ld, ld->key, NORM_KEY_MATCH) < 0)
        return -1;
    ld->field = "drop";
    if (drop_register(ld, ld->drop) < 0 || drop_register(ld, json_object_get(spec, "drop")) < 0)
        return -1;

    json_t *fields = json_object_get(spec, "fields"), *act = json_object_get(spec, "activity_id");
    ld->field = "fields";
    if (fields != NULL && !json_is_object(fields))
        return fail(ld, "an object {target: rule}");
    ld->field = "activity_id";
    if (act == NULL || json_is_null(act))
        return fail(ld, "missing");
    size_t nrule = 1 + (ld->common != NULL ? json_object_size(ld->common) : 0) +
                   (fields != NULL ? json_object_size(fields) : 0);
    if (nrule > NORM_MAX_RULES)
        return fail(ld, "more than %d rules", NORM_MAX_RULES);
    e->rule = alloc(ld, nrule * sizeof(*e->rule));
    if (e->rule == NULL)
        return oom(ld);
    if (rule_compile(ld, &e->rule[e->nrule++], "activity_id", act, "activity_id") < 0)
        return -1;
    const char *k;
    json_t *v;
    if (ld->common != NULL) {
        json_object_foreach((json_t *)ld->common, k, v)
        {
            if (fields != NULL && json_object_get(fields, k) != NULL)
                continue; /* the entry overrides it (null removes it) */
            if (rule_compile(ld, &e->rule[e->nrule++], k, v, "common") < 0)
                return -1;
        }
    }
    if (fields != NULL) {
        json_object_foreach(fields, k, v)
        {
            if (json_is_null(v))
                continue;
            if (rule_compile(ld, &e->rule[e->nrule++], k, v, "fields") < 0)
                return -1;
        }
    }
    if (keys_finish(ld, e) < 0)
        return -1;
    ld->field = NULL;
    return 0;
}

static int cmp_dispatch(const void *a, const void *b)
{
    const struct norm_dispatch *x = a, *y = b;
    int c = strcmp(x->value, y->value);
    if (c != 0)
        return c;
    return (x->entry->index > y->entry->index) - (x->entry->index < y->entry->index);
}

static int dispatch_build(struct loader *ld, struct norm_table *tb)
{
    size_t n = 0;
    for (int i = 0; i < tb->nentry; i++)
        n += (size_t)tb->entry[i].ntype;
    tb->dispatch = alloc(ld, (n ? n : 1) * sizeof(*tb->dispatch));
    if (tb->dispatch == NULL)
        return oom(ld);
    for (int i = 0; i < tb->nentry; i++)
        for (int j = 0; j < tb->entry[i].ntype; j++)
            tb->dispatch[tb->ndispatch++] =
                (struct norm_dispatch){.value = tb->entry[i].type[j], .entry = &tb->entry[i]};
    qsort(tb->dispatch, n, sizeof(*tb->dispatch), cmp_dispatch);
    for (size_t i = 1; i < n; i++) {
        const struct norm_dispatch *a = &tb->dispatch[i - 1], *b = &tb->dispatch[i];
        if (strcmp(a->value, b->value) != 0)
            continue;
        if (a->entry == b->entry) {
            ld->entry = b->entry->name;
            ld->field = "type";
            return fail(ld, "'%.100s' listed twice", b->value);
        }
        if (a->entry->npred == 0) {
            ld->entry = b->entry->name;
            ld->field = "type";
            return fail(ld,
                        "unreachable: entry '%.100s' maps %s '%.100s' first and has no \"when\"",
                        a->entry->name, ld->key, b->value);
        }
    }
    return 0;
}

static const char *const table_keys[] = {"table", "description", "comment", "key", "drop",
                                         "maps",  "common",      "entries", NULL};

int norm_tables_add(struct norm_tables *t, const char *file, const char *text, size_t len,
                    char *err, size_t errlen)
{
    struct loader ld = {.t = t, .s = t->schema, .err = err, .errlen = errlen};
    json_t *root = NULL;
    int rc = -1;
    ld.file = norm_arena_strdup(&t->arena, file);
    if (ld.file == NULL) {
        ld.file = file;
        oom(&ld);
        goto out;
    }
    if (t->ntable >= NORM_MAX_TABLES) {
        fail(&ld, "more than %d mapping tables", NORM_MAX_TABLES);
        goto out;
    }
    if (len > NORM_MAX_TABLE_BYTES) {
        fail(&ld, "larger than %d bytes", NORM_MAX_TABLE_BYTES);
        goto out;
    }
    json_error_t jerr;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s:%d:%d: %s", ld.file, jerr.line, jerr.column, jerr.text);
            util_text_sanitize(err);
        }
        goto out;
    }
    if (!json_is_object(root)) {
        fail(&ld, "a mapping table is a JSON object");
        goto out;
    }
    if (check_keys(&ld, root, table_keys) < 0)
        goto out;
    struct norm_table *tb = &t->table[t->ntable];
    memset(tb, 0, sizeof(*tb));
    tb->file = ld.file;
    json_t *name = json_object_get(root, "table"), *key = json_object_get(root, "key");
    ld.field = "key";
    if (key != NULL &&
        (!json_is_string(key) || json_string_length(key) == 0 ||
         json_string_length(key) > NORM_MAX_PATH || strchr(json_string_value(key), '.'))) {
        fail(&ld, "the name of a top-level input field");
        goto out;
    }
    ld.field = "table";
    if (name != NULL && !json_is_string(name)) {
        fail(&ld, "a string");
        goto out;
    }
    tb->name = name != NULL ? norm_arena_strdup(&t->arena, json_string_value(name)) : ld.file;
    tb->key = norm_arena_strdup(&t->arena, key != NULL ? json_string_value(key) : "type");
    if (tb->name == NULL || tb->key == NULL) {
        oom(&ld);
        goto out;
    }
    ld.key = tb->key;
    ld.maps = json_object_get(root, "maps");
    ld.common = json_object_get(root, "common");
    ld.drop = json_object_get(root, "drop");
    ld.field = "maps";
    if (ld.maps != NULL &&
        (!json_is_object(ld.maps) || json_object_size(ld.maps) > NORM_MAX_MAPS)) {
        fail(&ld, "an object of at most %d named maps", NORM_MAX_MAPS);
        goto out;
    }
    ld.field = "common";
    if (ld.common != NULL && !json_is_object(ld.common)) {
        fail(&ld, "an object {target: rule}");
        goto out;
    }
    json_t *entries = json_object_get(root, "entries");
    ld.field = "entries";
    if (!json_is_array(entries) || json_array_size(entries) == 0 ||
        json_array_size(entries) > NORM_MAX_ENTRIES) {
        fail(&ld, "a list of 1 to %d entries", NORM_MAX_ENTRIES);
        goto out;
    }
    ld.field = NULL;
    size_t n = json_array_size(entries);
    tb->entry = norm_arena_alloc(&t->arena, n * sizeof(*tb->entry));
    if (tb->entry == NULL) {
        oom(&ld);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (entry_compile(&ld, &tb->entry[i], json_array_get(entries, i), (int)i) < 0)
            goto out;
        tb->nentry++;
    }
    ld.entry = NULL;
    ld.field = NULL;
    if (dispatch_build(&ld, tb) < 0)
        goto out;
    t->ntable++;
    t->nentries += (size_t)tb->nentry;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int norm_tables_finish(struct norm_tables *t, char *err, size_t errlen)
{
    for (int i = 0; i < t->ntable; i++) {
        for (int j = i + 1; j < t->ntable; j++) {
            const struct norm_table *a = &t->table[i], *b = &t->table[j];
            if (strcmp(a->key, b->key) != 0)
                continue;
            int x = 0, y = 0;
            while (x < a->ndispatch && y < b->ndispatch) {
                int c = strcmp(a->dispatch[x].value, b->dispatch[y].value);
                if (c == 0) {
                    if (err != NULL && errlen > 0) {
                        snprintf(
                            err, errlen,
                            "%s: entry '%.100s': field 'type': %s '%.100s' is already mapped by %s "
                            "entry '%.100s'",
                            b->file, b->dispatch[y].entry->name, b->key, b->dispatch[y].value,
                            a->file, a->dispatch[x].entry->name);
                        util_text_sanitize(err);
                    }
                    return -1;
                }
                if (c < 0)
                    x++;
                else
                    y++;
            }
        }
    }
    return 0;
}

struct norm_tables *norm_tables_new(const schema_t *schema)
{
    struct norm_tables *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->schema = schema;
    t->keep = json_array();
    if (t->keep == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void norm_tables_free(struct norm_tables *t)
{
    if (t == NULL)
        return;
    json_decref(t->keep);
    norm_arena_free(&t->arena);
    free(t);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole file of at most NORM_MAX_TABLE_BYTES into a malloc'd buffer (caller frees). */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(NORM_MAX_TABLE_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, NORM_MAX_TABLE_BYTES + 1, f) : 0;
    int bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: %s", path, buf == NULL ? "out of memory" : "read error");
        free(buf);
        return NULL;
    }
    if (n > NORM_MAX_TABLE_BYTES) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, NORM_MAX_TABLE_BYTES);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int norm_tables_load_dir(const schema_t *schema, const char *dir, struct norm_tables **out,
                         char *err, size_t errlen)
{
    char *names[NORM_MAX_TABLES];
    size_t nnames = 0;
    int rc = -1;
    struct norm_tables *t = NULL;
    char dummy[1];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        if (nnames >= NORM_MAX_TABLES) {
            snprintf(err, errlen, "%s: more than %d mapping tables", dir, NORM_MAX_TABLES);
            goto out;
        }
        if ((names[nnames] = strdup(de->d_name)) == NULL) {
            snprintf(err, errlen, "%s: out of memory", dir);
            goto out;
        }
        nnames++;
    }
    if (nnames == 0) {
        snprintf(err, errlen, "%s: no *.json mapping table", dir);
        goto out;
    }
    qsort(names, nnames, sizeof(names[0]), cmp_str);
    t = norm_tables_new(schema);
    if (t == NULL) {
        snprintf(err, errlen, "%s: out of memory", dir);
        goto out;
    }
    for (size_t i = 0; i < nnames; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        size_t len = 0;
        char *text = read_file(path, &len, err, errlen);
        if (text == NULL)
            goto out;
        int r = norm_tables_add(t, path, text, len, err, errlen);
        free(text);
        if (r < 0)
            goto out;
    }
    if (norm_tables_finish(t, err, errlen) < 0)
        goto out;
    *out = t;
    t = NULL;
    rc = 0;
out:
    norm_tables_free(t);
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    closedir(d);
    return rc;
}
