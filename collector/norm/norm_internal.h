/*
 * norm_internal.h - the compiled form of the mapping tables, shared by the loader (norm_table.c),
 * the engine (norm_map.c), the conversions (norm_time.c) and the module's front door (norm.c). Not
 * for other modules: they use norm.h. The fuzz target for the table loader includes it to compile
 * table text directly.
 *
 * Invariants of a compiled table set (established by norm_tables_add + norm_tables_finish, never
 * changed afterwards, freed as a whole by norm_tables_free):
 *  1. every struct and string lives in the set's arena; every json_t a struct points to is owned by
 * the set's `keep` array (the struct pointer is borrowed from it);
 *  2. constants and value-map results are already coerced to their target's type and, for integer
 * enums, proven to be valid enum values with their caption resolved;
 *  3. each target path was checked against the schema for the entry's class: every segment is
 * defined, an index appears only on arrays, the path crosses only objects (or ends inside a json_t
 * / open object); each profile a path needs is one the class may carry;
 *  4. an entry's `keys` are unique and found through `key_slot`; a source's `key` is its index
 * there, so one bit of a uint64_t per key records what an event consumed;
 *  5. a table's `dispatch` is sorted by value, entries of one value in table order;
 *  6. strings from the schema (captions, sibling names, profile names) are borrowed from the
 * schema_t, which outlives every table set compiled against it.
 */
#ifndef OCSF_NORM_INTERNAL_H
#define OCSF_NORM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "norm.h"
#include "schema.h"

/* Bounds of the table language and of the engine (see schemas/README.md). */
#define NORM_MAX_DEPTH       8         /* segments of a target or source path */
#define NORM_MAX_INDEX       15        /* highest array index a target path may name */
#define NORM_MAX_PATH        256       /* bytes of a path, field name, type value or entry name */
#define NORM_MAX_ALTS        8         /* alternatives of one rule */
#define NORM_MAX_SOURCES     8         /* fields of one "from" list */
#define NORM_MAX_RULES       128       /* rules of one entry, common rules included */
#define NORM_MAX_KEYS        64        /* distinct input keys one entry reads or drops */
#define NORM_KEY_SLOTS       128       /* 2 x NORM_MAX_KEYS, a power of two */
#define NORM_FIELD_POS       128       /* input fields whose entry key index is kept per event */
#define NORM_MAX_PREDS       16        /* conditions of one "when" */
#define NORM_MAX_PRED_VALUES 64        /* values of one condition */
#define NORM_MAX_MAP_ITEMS   256       /* items of one value map */
#define NORM_MAX_MAPS        64        /* named maps of one table */
#define NORM_MAX_ENTRIES     4096      /* entries of one table */
#define NORM_MAX_TYPES       64        /* dispatch values of one entry */
#define NORM_MAX_TABLES      64        /* table files of one directory */
#define NORM_MAX_TABLE_BYTES (4 << 20) /* size of one table file */
#define NORM_MAX_ARRAY       256       /* elements of an input array copied to an array attribute */
#define NORM_MAX_PROFILES    32        /* distinct profiles over a table set */
#define NORM_MAX_STRING      65536 /* bytes of one string produced by a rule (transforms, numbers) */

/* ---- arena: every compiled struct and string, freed at once ---- */
struct norm_arena_chunk;
struct norm_arena {
    struct norm_arena_chunk *head;
};
void *norm_arena_alloc(struct norm_arena *a, size_t n); /* zeroed; NULL on out of memory */
char *norm_arena_strdup(struct norm_arena *a, const char *s);
char *norm_arena_strndup(struct norm_arena *a, const char *s, size_t n);
void norm_arena_free(struct norm_arena *a);

/* ---- reasons: a "; "-separated list in a caller's buffer, truncated safely ---- */
struct norm_reasons {
    char *buf;
    size_t len; /* capacity, NUL included; 0 = count only */
    size_t used;
    int count;
};
void norm_reasons_init(struct norm_reasons *r, char *buf, size_t len);
void norm_reasons_add(struct norm_reasons *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- compiled tables ---- */
enum norm_src_kind {
    NORM_SRC_FIELD,         /* a field of the input event (dotted path into nested objects) */
    NORM_SRC_PEER_IP,       /* @peer.ip: address of the TCP peer without port */
    NORM_SRC_PEER_PORT,     /* @peer.port */
    NORM_SRC_PEER_ADDR,     /* @peer.addr: "ip:port" as the listener saw it */
    NORM_SRC_PEER_LISTENER, /* @peer.listener */
    NORM_SRC_PEER_UID,      /* @peer.uid, @peer.gid, @peer.pid: unix credentials */
    NORM_SRC_PEER_GID,
    NORM_SRC_PEER_PID,
    NORM_SRC_RECEIVED_TIME, /* @received_time: epoch ms the collector received the event */
};

struct norm_src {
    enum norm_src_kind kind;
    const char *text; /* as written in the table: "dst_port", "@peer.ip" */
    int nseg;         /* NORM_SRC_FIELD only */
    const char *seg[NORM_MAX_DEPTH];
    int key; /* index in the entry's keys (NORM_SRC_FIELD in a rule), else -1 */
};

enum norm_pred_op { NORM_PRED_IN, NORM_PRED_NOT_IN, NORM_PRED_EXISTS, NORM_PRED_ABSENT };

struct norm_pred {
    struct norm_src src;
    enum norm_pred_op op;
    int nvalues;
    const char **values; /* string forms, compared case-insensitively */
};

enum norm_transform {
    NORM_TR_NONE,
    NORM_TR_LOWER,
    NORM_TR_UPPER,
    NORM_TR_BASENAME,  /* text after the last '/' */
    NORM_TR_TZ_OFFSET, /* RFC 3339 offset in minutes; no value for epoch input */
};

/* Value type a rule's target wants; decides coercion. */
enum norm_vtype {
    NORM_V_STRING,
    NORM_V_INTEGER,
    NORM_V_LONG,
    NORM_V_FLOAT,
    NORM_V_BOOLEAN,
    NORM_V_TIME, /* timestamp_t: epoch ms from RFC 3339 or epoch s/ms */
    NORM_V_JSON, /* json_t, or inside an open object: copied as is */
    NORM_V_OBJECT,
};

struct norm_item { /* one value-map row, value pre-coerced to the rule's type */
    const char *key;
    json_t *value;   /* borrowed from the set's keep */
    json_t *caption; /* enum caption of value as a JSON string (borrowed from keep), or NULL */
};

struct norm_segment {
    const char *name;
    int index; /* -1: none */
};

struct norm_opath { /* an OCSF path of the output: "resources[0].name" */
    const char *text;
    int nseg;
    struct norm_segment seg[NORM_MAX_DEPTH];
};

/* One alternative of a rule. It yields a value when its conditions hold and either it is a
 * constant, or one of its sources is present (and, with a map, its value maps). */
struct norm_alt {
    int nsrc; /* 0: constant */
    struct norm_src *src;
    enum norm_transform transform;
    int has_map;
    int nitem;
    struct norm_item *item;
    json_t *value;   /* constant, pre-coerced; borrowed from keep */
    json_t *caption; /* enum caption of the constant (JSON string, borrowed from keep), or NULL */
    int npred;       /* "when": all must hold */
    struct norm_pred *pred;
    const struct norm_opath *if_set;     /* output path that must exist */
    const struct norm_opath *unless_set; /* output path that must not exist */
};

struct norm_rule {
    struct norm_opath target;
    const char *origin; /* "fields", "common" or "activity_id": for messages */
    enum norm_vtype vtype;
    int is_array; /* the leaf is an array attribute named without index: values are wrapped */
    const char
        *sibling; /* caption attribute beside an integer enum target ("activity_name"), or NULL */
    const char *enum_path; /* dotted path of an integer enum target, for caption lookups, or NULL */
    uint32_t profiles;     /* bits into the set's profile names */
    int is_late; /* an alternative tests the output (if_set/unless_set): runs in the 2nd pass */
    int nalt;
    struct norm_alt *alt;
};

#define NORM_KEY_DROP  1u /* never copied to unmapped */
#define NORM_KEY_MATCH 2u /* the table's dispatch key: consumed by the match */

struct norm_key {
    const char *name;
    unsigned flags;
};

struct norm_entry {
    const char *name;
    const char *file;
    int index;
    int ntype; /* the dispatch values that select this entry */
    const char **type;
    int class_uid, category_uid;
    const char *class_name, *category_name;
    json_t *class_name_json, *category_name_json; /* borrowed from keep; category may be NULL */
    int npred;
    struct norm_pred *pred;
    int nrule; /* rule[0] sets activity_id */
    struct norm_rule *rule;
    int nkey;
    struct norm_key *key;
    /* key's index + 1 by norm_key_hash(name) & (NORM_KEY_SLOTS - 1), linear probing, 0 = empty:
     * per event every input field is looked up here (norm_map_fields) */
    uint8_t key_slot[NORM_KEY_SLOTS];
};

static inline uint32_t norm_key_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

struct norm_dispatch {
    const char *value;
    const struct norm_entry *entry;
};

struct norm_table {
    const char *file;
    const char *name;
    const char *key; /* input field that selects an entry ("type") */
    int nentry;
    struct norm_entry *entry;
    int ndispatch;
    struct norm_dispatch *dispatch;
};

struct norm_tables {
    struct norm_arena arena;
    json_t *keep; /* owns every json_t the compiled structs point to */
    const schema_t *schema;
    int ntable;
    struct norm_table table[NORM_MAX_TABLES];
    int nprofile;
    const char *profile[NORM_MAX_PROFILES]; /* borrowed from the schema */
    size_t nentries;
};

/* A new, empty set compiled against schema (borrowed; must outlive the set). NULL on out of memory.
 */
struct norm_tables *norm_tables_new(const schema_t *schema);
void norm_tables_free(struct norm_tables *t); /* NULL is fine */
/* Compiles one table from text (len bytes, need not be NUL-terminated) into t; `file` names it in
 * messages. 0, or -1 with err "<file>: entry '<name>': field '<field>': <problem>"; t is then
 * unusable (free it). */
int norm_tables_add(struct norm_tables *t, const char *file, const char *text, size_t len,
                    char *err, size_t errlen);
/* Checks what spans tables (the same dispatch value in two files). 0 or -1 + err. */
int norm_tables_finish(struct norm_tables *t, char *err, size_t errlen);
/* Reads every *.json of dir (name order) into a new set. 0 and *out, or -1 + err. */
int norm_tables_load_dir(const schema_t *schema, const char *dir, struct norm_tables **out,
                         char *err, size_t errlen);

/* ---- conversions (norm_time.c) ---- */
/* Coerces v (borrowed) to type vt: returns a NEW reference, or NULL with why filled ("\"abc\" is
 * not an integer"). Objects and arrays are deep-copied so the output never aliases a mutable input
 * container. */
json_t *norm_coerce(enum norm_vtype vt, json_t *v, char *why, size_t whylen);
/* String form of a scalar for maps and predicates: strings as is, integers in decimal, booleans
 * true/false. Returns a pointer to the string (into v, or into buf), or NULL for other values. */
const char *norm_string_form(const json_t *v, char *buf, size_t buflen);

/* ---- the engine (norm_map.c) ---- */
struct norm_peer_cache { /* parsed once per event, on first use */
    int parsed;
    char ip[64];
    long port;
};

struct norm_ctx {
    const schema_t *schema;
    const struct norm_tables *tables;
    const struct norm_entry *entry;
    json_t *in;
    const norm_peer_t *peer;
    long long received_ms;
    json_t *out;
    uint64_t consumed; /* bits of entry->key */
    /* the input's top-level value for each of entry->key (NULL: absent), read in one pass over
     * the input once the entry is known (norm_map_fields), so a rule's source is an array read
     * instead of a hash look-up in the input */
    int has_fields;
    json_t *field[NORM_MAX_KEYS];
    /* the entry key index of the input's n-th field (-1: none), for its first NORM_FIELD_POS */
    int8_t key_at[NORM_FIELD_POS];
    uint32_t profiles; /* bits of tables->profile */
    struct norm_reasons *reasons;
    struct norm_peer_cache peer_cache;
};

/* Fills c->field from one pass over c->in (c->entry set). */
void norm_map_fields(struct norm_ctx *c);
/* Applies the entry's rules to c->in, building c->out (an object the caller created). Returns the
 * number of conversion errors (each added to c->reasons); the output is then incomplete. */
int norm_map_apply(struct norm_ctx *c);
/* 1 when the input field `key` belongs under `unmapped`: the entry did not consume it, drop it or
 * match on it. pos: its position in the input (for c->key_at), or -1 when unknown. */
int norm_map_is_unmapped(const struct norm_ctx *c, const char *key, int pos);
/* Adds the input fields that belong under `unmapped` to it (an object; borrowed). */
void norm_map_unmapped(const struct norm_ctx *c, json_t *unmapped);
/* Value of a source for this event: a borrowed reference into the input, or a NEW reference
 * (collector values); *is_new tells which. NULL when absent (JSON null counts as absent). */
json_t *norm_src_value(struct norm_ctx *c, const struct norm_src *s, int *is_new);
/* 1 when every predicate holds. */
int norm_preds_hold(struct norm_ctx *c, const struct norm_pred *p, int n);

#endif /* OCSF_NORM_INTERNAL_H */
