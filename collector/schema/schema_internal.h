/*
 * schema_internal.h - the in-memory shape of a loaded OCSF schema, shared by the loader (schema.c)
 * and the validator (schema_validate.c). Not for other modules: they use schema.h.
 *
 * Invariants (established by schema_load, never changed afterwards):
 *  - every string and array lives in the schema's arena and is freed with it; nothing points into
 * jansson;
 *  - every object_t attribute has `object` resolved to a definition of the same schema;
 *  - integer enums are sorted by value and string enums by value (binary search);
 *  - each definition's `slots` is an open-addressing table (power-of-two size, at most half full)
 * mapping an attribute name to its index in `attrs`; `required` lists the indices of required
 * attributes;
 *  - a profile is a bit (its index in `profiles`, fewer than 64); an attribute's `profile_mask` is
 * 0 when it is always allowed.
 */
#ifndef OCSF_SCHEMA_INTERNAL_H
#define OCSF_SCHEMA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema.h"

#define SCHEMA_MAX_PROFILES 64

enum schema_prim {
    SCHEMA_PRIM_STRING,
    SCHEMA_PRIM_INTEGER, /* 32-bit signed */
    SCHEMA_PRIM_LONG,    /* 64-bit signed */
    SCHEMA_PRIM_FLOAT,
    SCHEMA_PRIM_BOOLEAN,
    SCHEMA_PRIM_JSON,
    SCHEMA_PRIM_OBJECT,
};

enum schema_requirement {
    SCHEMA_REQ_OPTIONAL,
    SCHEMA_REQ_RECOMMENDED,
    SCHEMA_REQ_REQUIRED,
};

/* A top-level class attribute checked by a dedicated rule instead of its enum. */
enum schema_special {
    SCHEMA_SPECIAL_NONE,
    SCHEMA_SPECIAL_CLASS_UID,
    SCHEMA_SPECIAL_CATEGORY_UID,
    SCHEMA_SPECIAL_TYPE_UID,
};

struct schema_type {
    const char *name;      /* "port_t" */
    const char *prim_name; /* "integer_t" */
    enum schema_prim prim;
    bool has_range;
    long long range_min, range_max;
    size_t max_len; /* bytes; 0 = unbounded */
};

struct schema_enum_int {
    long long value;
    const char *caption;
};

struct schema_enum_str {
    const char *value;
    const char *caption;
};

struct schema_def;

struct schema_attr {
    const char *name;
    const struct schema_type *type; /* declared type */
    enum schema_prim prim;
    enum schema_requirement requirement;
    enum schema_special special;
    bool is_array;
    bool is_deprecated;
    const char *object_type;         /* object_t only */
    const struct schema_def *object; /* object_t only, resolved */
    uint64_t profile_mask;           /* 0: always allowed */
    const char *profile;             /* first profile name, NULL when always allowed */
    const char *sibling;             /* NULL when none */
    size_t n_enum_int;
    const struct schema_enum_int *enum_int; /* sorted by value */
    size_t n_enum_str;
    const struct schema_enum_str *enum_str; /* sorted by value */
};

enum schema_constraint_kind {
    SCHEMA_AT_LEAST_ONE,
    SCHEMA_JUST_ONE,
};

struct schema_constraint {
    enum schema_constraint_kind kind;
    size_t n_paths;
    const char *const *paths; /* attribute names, or dotted paths ("device.os.version") */
    const int32_t *attr;      /* per path: index into the def's attrs for a plain name, -1 dotted */
    const char *text;         /* "account, name, uid" for messages */
};

struct schema_slot {
    const char *key; /* NULL: empty */
    size_t len;      /* strlen(key): lookups compare with memcmp */
    uint32_t hash;
    uint32_t index;
};

/* A class or an object. */
struct schema_def {
    const char *name; /* "authentication", "user" */
    const char *caption;
    bool is_class;
    bool is_open; /* no attributes defined (the `object` object): anything goes inside */
    bool is_deprecated;
    /* classes only */
    int uid;
    int category_uid;
    const char *category_name;
    uint64_t profiles_mask; /* profiles the class may carry */
    size_t n_activities;
    const struct schema_enum_int *activities; /* sorted by value */

    size_t n_attrs;
    const struct schema_attr *attrs;
    size_t slots_mask; /* slot count - 1 */
    const struct schema_slot *slots;
    size_t n_required;
    const uint32_t *required; /* indices into attrs */
    size_t n_constraints;
    const struct schema_constraint *constraints;
};

struct schema_category {
    int uid;
    const char *name;
    const char *caption;
};

struct schema {
    const char *version;
    const char *path; /* the file it was loaded from */
    size_t n_types;
    const struct schema_type *types;
    size_t n_profiles;
    const char *const *profiles;
    size_t n_categories;
    const struct schema_category *categories;
    size_t n_objects;
    const struct schema_def *objects;
    size_t n_classes;
    const struct schema_def *classes;
    size_t class_slots_mask; /* open addressing: class uid -> index + 1 (0 empty) */
    const uint32_t *class_slots;
    struct schema_arena *arena; /* owns everything above */
};

/* FNV-1a over len bytes. */
uint32_t schema_hash(const char *key, size_t len);
/* The attribute `key` (len bytes, need not be NUL-terminated) of def, or NULL. */
const struct schema_attr *schema_def_find(const struct schema_def *def, const char *key,
                                          size_t len);
/* The class with uid, or NULL. */
const struct schema_def *schema_find_class(const schema_t *s, long long uid);
/* Index of profile `name` (< SCHEMA_MAX_PROFILES), or -1. */
int schema_profile_index(const schema_t *s, const char *name);
/* Binary search in a sorted integer enum; NULL when absent. */
const struct schema_enum_int *schema_enum_int_find(const struct schema_enum_int *e, size_t n,
                                                   long long value);

#endif /* OCSF_SCHEMA_INTERNAL_H */
