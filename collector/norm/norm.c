/*
 * norm.c - the normalizer's front door (norm.h): lifecycle, dispatch of an input to a table entry
 * or to OCSF pass-through, enrichment (metadata, peer), validation, statistics.
 *
 * Flow of norm_event():
 *   input has class_uid  -> pass-through: shallow copy, add only missing metadata, record the peer,
 * validate else key ("type")    -> entry (first of the table's entries for that value whose "when"
 * holds)
 *                        -> class/category fields, rules (norm_map.c), type_uid and captions,
 * metadata, unmapped (+ peer), validate Nothing is written to the caller's input. An event that
 * fails gets every reason in one buffer and no output.
 *
 * metadata.uid: when the emitter sent an `id`, UUIDv5 (SHA-1, RFC 4122 section 4.3) of
 * "<source>\0<id>" in the fixed namespace below, so a re-sent event gets the same uid and consumers
 * can dedupe; otherwise a random UUIDv4 from OpenSSL's DRBG (drawn 4 KiB at a time).
 *
 * Ownership: norm_t owns the schema, the compiled tables (swapped whole by norm_reload) and the
 * digest context. Outputs share immutable values with them by reference count (metadata.product,
 * captions, class names): outputs are read-only, and jansson's reference counts are atomic, so an
 * output may be serialized on another thread and outlive a reload. Single-threaded by contract
 * otherwise (the libuv loop).
 *
 * Keys set here and in norm_map.c are literals, names from the tables (UTF-8 checked by the parser
 * when the table loaded) or keys of a parsed input (checked by the envelope parser), so the setters
 * are jansson's _nocheck variants: the per-key UTF-8 scan was measurable on the hot path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "norm_internal.h"

#ifndef OCSF_VERSION
#define OCSF_VERSION "0.0.0"
#endif

#define NORM_PRODUCT_NAME   "ocsf-collector"
#define NORM_PRODUCT_VENDOR "ocsf-collector project"
#define NORM_RANDOM_POOL    4096

/* uuid5(NAMESPACE_URL, "https://ocsf-collector.invalid/ns/native-event-id") =
 * 56373501-702e-52e1-8fb0-815f5ad43d38 */
static const unsigned char norm_uid_namespace[16] = {
    0x56, 0x37, 0x35, 0x01, 0x70, 0x2e, 0x52, 0xe1, 0x8f, 0xb0, 0x81, 0x5f, 0x5a, 0xd4, 0x3d, 0x38};

struct norm {
    schema_t *schema;
    struct norm_tables *tables;
    char *mappings_dir;
    norm_stats_t stats;
    json_t *product; /* metadata.product, shared by every output (immutable) */
    json_t *version; /* metadata.version string, shared */
    EVP_MD *sha1;
    EVP_MD_CTX *md;
    unsigned char pool[NORM_RANDOM_POOL];
    size_t pool_used;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

int norm_open(const char *schemas_dir, const char *mappings_dir, norm_t **out, char *err,
              size_t errlen)
{
    norm_t *n = NULL;
    int rc = -1;
    schemas_dir = schema_dir_or_default(schemas_dir);
    if (schemas_dir == NULL || out == NULL) {
        set_err(err, errlen, "norm_open: no schemas directory");
        return -1;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL)
        goto oom;
    if (mappings_dir != NULL) {
        n->mappings_dir = strdup(mappings_dir);
    } else {
        size_t len = strlen(schemas_dir) + sizeof("/mappings");
        n->mappings_dir = malloc(len);
        if (n->mappings_dir != NULL)
            snprintf(n->mappings_dir, len, "%s/mappings", schemas_dir);
    }
    if (n->mappings_dir == NULL)
        goto oom;
    if (schema_load(schemas_dir, &n->schema, err, errlen) < 0)
        goto fail;
    if (norm_tables_load_dir(n->schema, n->mappings_dir, &n->tables, err, errlen) < 0)
        goto fail;
    n->product = json_pack("{s:s, s:s, s:s}", "name", NORM_PRODUCT_NAME, "vendor_name",
                           NORM_PRODUCT_VENDOR, "version", OCSF_VERSION);
    n->version = json_string(schema_version(n->schema));
    if (n->product == NULL || n->version == NULL)
        goto oom;
    n->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    n->md = EVP_MD_CTX_new();
    if (n->sha1 == NULL || n->md == NULL) {
        set_err(err, errlen, "norm_open: OpenSSL SHA-1 unavailable");
        goto fail;
    }
    n->pool_used = NORM_RANDOM_POOL;
    *out = n;
    n = NULL;
    rc = 0;
    goto fail;
oom:
    set_err(err, errlen, "norm_open: out of memory");
fail:
    norm_close(n);
    return rc;
}

int norm_reload(norm_t *n, char *err, size_t errlen)
{
    struct norm_tables *t = NULL;
    if (norm_tables_load_dir(n->schema, n->mappings_dir, &t, err, errlen) < 0) {
        n->stats.reload_failures++;
        return -1;
    }
    norm_tables_free(n->tables);
    n->tables = t;
    n->stats.reloads++;
    return 0;
}

void norm_close(norm_t *n)
{
    if (n == NULL)
        return;
    norm_tables_free(n->tables);
    schema_free(n->schema);
    json_decref(n->product);
    json_decref(n->version);
    EVP_MD_CTX_free(n->md);
    EVP_MD_free(n->sha1);
    OPENSSL_cleanse(n->pool, sizeof(n->pool));
    free(n->mappings_dir);
    free(n);
}

void norm_get_stats(const norm_t *n, norm_stats_t *st)
{
    *st = n->stats;
}

size_t norm_entry_count(const norm_t *n)
{
    return n->tables != NULL ? n->tables->nentries : 0;
}

/* ---- metadata.uid ---- */

static void uuid_format(const unsigned char b[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

static int uuid_v5(norm_t *n, const char *source, size_t source_len, const char *id, size_t id_len,
                   char out[37])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const unsigned char nul = 0;
    if (EVP_DigestInit_ex(n->md, n->sha1, NULL) != 1 ||
        EVP_DigestUpdate(n->md, norm_uid_namespace, sizeof(norm_uid_namespace)) != 1 ||
        EVP_DigestUpdate(n->md, source, source_len) != 1 || EVP_DigestUpdate(n->md, &nul, 1) != 1 ||
        EVP_DigestUpdate(n->md, id, id_len) != 1 || EVP_DigestFinal_ex(n->md, md, &mdlen) != 1 ||
        mdlen < 16)
        return -1;
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    uuid_format(md, out);
    return 0;
}

static int uuid_v4(norm_t *n, char out[37])
{
    if (n->pool_used + 16 > NORM_RANDOM_POOL) {
        if (RAND_bytes(n->pool, NORM_RANDOM_POOL) != 1)
            return -1;
        n->pool_used = 0;
    }
    unsigned char b[16];
    memcpy(b, n->pool + n->pool_used, 16);
    OPENSSL_cleanse(n->pool + n->pool_used, 16);
    n->pool_used += 16;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    uuid_format(b, out);
    return 0;
}

/* The uid of a native event: v5 of source+id when the emitter sent an id, else v4. */
static int event_uid(norm_t *n, const json_t *in, char out[37])
{
    const json_t *id = json_object_get(in, "id"), *src = json_object_get(in, "source");
    char num[32];
    const char *idtext = NULL;
    size_t idlen = 0;
    if (json_is_string(id) && json_string_length(id) > 0) {
        idtext = json_string_value(id);
        idlen = json_string_length(id);
    } else if (json_is_integer(id)) {
        idlen = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        idtext = num;
    }
    if (idtext == NULL)
        return uuid_v4(n, out);
    const char *s = json_is_string(src) ? json_string_value(src) : "";
    size_t slen = json_is_string(src) ? json_string_length(src) : 0;
    return uuid_v5(n, s, slen, idtext, idlen, out);
}

/* ---- enrichment ---- */

/* Sets key in obj unless present (pass-through) or always (mapped). Steals v. */
static void set_meta(json_t *md, const char *key, json_t *v, int only_missing)
{
    if (v == NULL)
        return;
    if (only_missing && json_object_get(md, key) != NULL) {
        json_decref(v);
        return;
    }
    json_object_set_new_nocheck(md, key, v);
}

static int metadata_enrich(norm_t *n, json_t *md, const json_t *in, long long sequence,
                           long long received_ms, int only_missing)
{
    char uid[37];
    set_meta(md, "version", json_incref(n->version), only_missing);
    set_meta(md, "product", json_incref(n->product), only_missing);
    if (!only_missing || json_object_get(md, "uid") == NULL) {
        if ((only_missing ? uuid_v4(n, uid) : event_uid(n, in, uid)) < 0)
            return -1;
        json_object_set_new_nocheck(md, "uid", json_string(uid));
    }
    set_meta(md, "logged_time", json_integer(received_ms), only_missing);
    set_meta(md, "sequence", json_integer(sequence), only_missing);
    return 0;
}

json_t *norm_peer_record(const norm_peer_t *peer)
{
    json_t *c = json_object();
    if (c == NULL)
        return NULL;
    if (peer->listener != NULL)
        json_object_set_new_nocheck(c, "listener", json_string(peer->listener));
    if (peer->addr != NULL)
        json_object_set_new_nocheck(c, "addr", json_string(peer->addr));
    if (peer->uid >= 0)
        json_object_set_new_nocheck(c, "uid", json_integer(peer->uid));
    if (peer->gid >= 0)
        json_object_set_new_nocheck(c, "gid", json_integer(peer->gid));
    if (peer->pid >= 0)
        json_object_set_new_nocheck(c, "pid", json_integer(peer->pid));
    if (peer->tls_subject != NULL)
        json_object_set_new_nocheck(c, "tls_subject", json_string(peer->tls_subject));
    if (peer->tls_cn != NULL && peer->tls_cn[0])
        json_object_set_new_nocheck(c, "tls_cn", json_string(peer->tls_cn));
    return c;
}

/* Records the peer under unmapped.collector (the connection's shared record when it has one); an
 * emitter's value there moves to collector_claimed. */
static void peer_record(json_t *unmapped, const norm_peer_t *peer)
{
    if (peer == NULL)
        return;
    json_t *claimed = json_object_get(unmapped, "collector");
    if (claimed != NULL)
        json_object_set_nocheck(unmapped, "collector_claimed", claimed);
    json_t *c = peer->record != NULL ? json_incref(peer->record) : norm_peer_record(peer);
    if (c != NULL)
        json_object_set_new_nocheck(unmapped, "collector", c);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *profiles_array(const struct norm_tables *t, uint32_t mask)
{
    const char *names[NORM_MAX_PROFILES];
    size_t k = 0;
    for (int i = 0; i < t->nprofile; i++)
        if (mask & (1u << i))
            names[k++] = t->profile[i];
    qsort(names, k, sizeof(names[0]), cmp_cstr);
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < k; i++)
        json_array_append_new(arr, json_string(names[i]));
    return arr;
}

/* Runs the validator and adds its findings. Returns the number of problems. */
static int validate(norm_t *n, const json_t *ev, struct norm_reasons *r)
{
    char buf[2048];
    int problems = schema_validate(n->schema, ev, buf, sizeof(buf));
    if (problems > 0)
        norm_reasons_add(r, "%s", buf);
    return problems;
}

/* ---- dispatch ---- */

static const struct norm_entry *match(struct norm_ctx *c, const char **key, const json_t **value)
{
    const struct norm_tables *t = c->tables;
    *key = t->ntable > 0 ? t->table[0].key : "type";
    *value = NULL;
    for (int i = 0; i < t->ntable; i++) {
        const struct norm_table *tb = &t->table[i];
        const json_t *v = json_object_get(c->in, tb->key);
        if (v == NULL)
            continue;
        if (*value == NULL) {
            *key = tb->key;
            *value = v;
        }
        if (!json_is_string(v))
            continue;
        const char *s = json_string_value(v);
        int lo = 0, hi = tb->ndispatch;
        while (lo < hi) { /* first dispatch row >= s */
            int mid = (lo + hi) / 2;
            if (strcmp(tb->dispatch[mid].value, s) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (int k = lo; k < tb->ndispatch && strcmp(tb->dispatch[k].value, s) == 0; k++) {
            const struct norm_entry *e = tb->dispatch[k].entry;
            if (e->npred == 0 || norm_preds_hold(c, e->pred, e->npred)) {
                *key = tb->key;
                *value = v;
                return e;
            }
        }
    }
    return NULL;
}

static int passthrough(norm_t *n, json_t *in, const norm_peer_t *peer, long long sequence,
                       long long received_ms, json_t **out, struct norm_reasons *r)
{
    json_t *ev = json_copy(in);
    if (ev == NULL)
        goto oom;
    json_t *md = json_object_get(ev, "metadata");
    if (md == NULL || json_is_object(md)) {
        md = md != NULL ? json_copy(md) : json_object();
        if (md == NULL || json_object_set_new_nocheck(ev, "metadata", md) != 0)
            goto oom;
        if (metadata_enrich(n, md, in, sequence, received_ms, 1) < 0)
            goto oom;
    }
    json_t *um = json_object_get(ev, "unmapped");
    if (peer != NULL) {
        /* the peer is always recorded: an `unmapped` that is not an object is kept beside it */
        json_t *old = um;
        um = um != NULL && json_is_object(um) ? json_copy(um) : json_object();
        if (um == NULL || (old != NULL && !json_is_object(old) &&
                           json_object_set_nocheck(um, "unmapped_claimed", old) != 0))
            goto oom;
        if (json_object_set_new_nocheck(ev, "unmapped", um) != 0)
            goto oom;
        peer_record(um, peer);
    }
    if (validate(n, ev, r) > 0) {
        json_decref(ev);
        n->stats.invalid++;
        return -1;
    }
    n->stats.passthrough++;
    *out = ev;
    return 0;
oom:
    json_decref(ev);
    norm_reasons_add(r, "out of memory");
    n->stats.invalid++;
    return -1;
}

/* norm_event's work; c is the caller's, so that a deferred `unmapped` can be written from it. With
 * deferred NULL the tree gets `unmapped` as norm.h describes; otherwise a mapped event's `unmapped`
 * is left out (and *deferred set) unless a rule already wrote under it. */
static int norm_run(norm_t *n, json_t *in, const norm_peer_t *peer, long long sequence,
                    long long received_ms, struct norm_ctx *c, int *deferred, json_t **out,
                    struct norm_reasons *r)
{
    if (out != NULL)
        *out = NULL;
    if (n == NULL || out == NULL)
        return -1;
    if (!json_is_object(in)) {
        norm_reasons_add(r, "input is not a JSON object");
        n->stats.invalid++;
        return -1;
    }
    if (json_object_get(in, "class_uid") != NULL)
        return passthrough(n, in, peer, sequence, received_ms, out, r);

    *c = (struct norm_ctx){.schema = n->schema,
                           .tables = n->tables,
                           .in = in,
                           .peer = peer,
                           .received_ms = received_ms,
                           .reasons = r};
    const char *key;
    const json_t *value;
    c->entry = match(c, &key, &value);
    if (c->entry == NULL) {
        if (value == NULL)
            norm_reasons_add(r, "missing '%s' (and no class_uid): cannot tell which event this is",
                             key);
        else if (!json_is_string(value))
            norm_reasons_add(r, "field '%s' is not a string", key);
        else
            norm_reasons_add(r, "no mapping for %s %.128s", key, json_string_value(value));
        n->stats.unknown_type++;
        return -1;
    }

    const struct norm_entry *e = c->entry;
    norm_map_fields(c);
    json_t *ev = json_object();
    if (ev == NULL)
        goto oom;
    c->out = ev;
    json_object_set_new_nocheck(ev, "class_uid", json_integer(e->class_uid));
    json_object_set_nocheck(ev, "class_name", e->class_name_json);
    json_object_set_new_nocheck(ev, "category_uid", json_integer(e->category_uid));
    if (e->category_name_json != NULL)
        json_object_set_nocheck(ev, "category_name", e->category_name_json);
    int errors = norm_map_apply(c);

    json_t *act = json_object_get(ev, "activity_id");
    if (json_is_integer(act)) {
        json_int_t type_uid = (json_int_t)e->class_uid * 100 + json_integer_value(act);
        json_object_set_new_nocheck(ev, "type_uid", json_integer(type_uid));
        const char *tn = schema_enum_caption(n->schema, e->class_uid, "type_uid", type_uid);
        if (tn != NULL)
            json_object_set_new_nocheck(ev, "type_name", json_string(tn));
    }

    json_t *md = json_object_get(ev, "metadata");
    if (md == NULL) {
        md = json_object();
        if (md == NULL || json_object_set_new_nocheck(ev, "metadata", md) != 0)
            goto oom;
    }
    if (metadata_enrich(n, md, in, sequence, received_ms, 0) < 0)
        goto oom;
    if (c->profiles != 0)
        json_object_set_new_nocheck(md, "profiles", profiles_array(c->tables, c->profiles));

    int defer = deferred != NULL && json_object_get(ev, "unmapped") == NULL;
    if (!defer) {
        json_t *um = json_object();
        if (um == NULL)
            goto oom;
        norm_map_unmapped(c, um);
        peer_record(um, peer);
        if (json_object_size(um) > 0)
            json_object_set_new_nocheck(ev, "unmapped", um);
        else
            json_decref(um);
    }
    if (deferred != NULL)
        *deferred = defer;

    /* a deferred `unmapped` is an object of input values the validator would not look into */
    if (validate(n, ev, r) > 0 || errors > 0) {
        json_decref(ev);
        n->stats.invalid++;
        return -1;
    }
    n->stats.mapped++;
    *out = ev;
    return 0;
oom:
    json_decref(ev);
    norm_reasons_add(r, "out of memory");
    n->stats.invalid++;
    return -1;
}

int norm_event(norm_t *n, json_t *in, const norm_peer_t *peer, long long sequence,
               long long received_ms, json_t **out, char *reasons, size_t len)
{
    struct norm_reasons r;
    struct norm_ctx c;
    norm_reasons_init(&r, reasons, len);
    return norm_run(n, in, peer, sequence, received_ms, &c, NULL, out, &r);
}

/* One member of a deferred `unmapped`; the first one replaces the event's closing brace with
 * `,"unmapped":{`. */
static int unmapped_member(jsonw_buf_t *buf, int index, const char *k, size_t klen, const json_t *v)
{
    if (index == 0) {
        buf->len--;
        if (jsonw_append_raw(buf, ",\"unmapped\":{", 13) < 0)
            return -1;
    }
    return jsonw_append_member(buf, index == 0, k, klen, v);
}

/* Writes the deferred `unmapped` of c's event after its serialized tree in buf, with the members,
 * the order and the values that norm_map_unmapped and peer_record give the tree: input fields in
 * input order, `collector` (the peer's record, in place of an emitter's `collector`, which moves
 * to `collector_claimed`). 0 or -1 (out of memory). */
static int unmapped_write(const struct norm_ctx *c, const norm_peer_t *peer, jsonw_buf_t *buf)
{
    json_t *rec = NULL, *owned = NULL, *claimed = NULL;
    int count = 0, rc = 0, is_claim_written = 0;
    if (peer != NULL) {
        rec = peer->record != NULL ? peer->record : (owned = norm_peer_record(peer));
        if (rec == NULL)
            return -1;
        json_t *cv = json_object_get(c->in, "collector");
        if (cv != NULL && norm_map_is_unmapped(c, "collector", -1))
            claimed = cv;
    }
    int pos = 0;
    for (void *it = json_object_iter(c->in); it != NULL && rc == 0;
         it = json_object_iter_next(c->in, it), pos++) {
        const char *k = json_object_iter_key(it);
        if (!norm_map_is_unmapped(c, k, pos))
            continue;
        const json_t *v = json_object_iter_value(it);
        size_t klen = json_object_iter_key_len(it);
        if (rec != NULL && strcmp(k, "collector") == 0) {
            v = rec;
        } else if (claimed != NULL && strcmp(k, "collector_claimed") == 0) {
            v = claimed;
            is_claim_written = 1;
        }
        rc = unmapped_member(buf, count++, k, klen, v);
    }
    if (rc == 0 && claimed != NULL && !is_claim_written)
        rc = unmapped_member(buf, count++, "collector_claimed", 17, claimed);
    else if (rc == 0 && rec != NULL && claimed == NULL)
        rc = unmapped_member(buf, count++, "collector", 9, rec);
    if (rc == 0 && count > 0)
        rc = jsonw_append_raw(buf, "}}", 2);
    json_decref(owned);
    return rc;
}

int norm_event_dump(norm_t *n, json_t *in, const norm_peer_t *peer, long long sequence,
                    long long received_ms, json_t **out, jsonw_buf_t *buf, char *reasons,
                    size_t len)
{
    struct norm_reasons r;
    struct norm_ctx c;
    int deferred = 0;
    norm_reasons_init(&r, reasons, len);
    if (norm_run(n, in, peer, sequence, received_ms, &c, &deferred, out, &r) < 0)
        return -1;
    if (jsonw_dump(*out, buf, 0) == 0 && (!deferred || unmapped_write(&c, peer, buf) == 0))
        return 0;
    json_decref(*out);
    *out = NULL;
    norm_reasons_add(&r, "out of memory");
    return -1;
}
