/*
 * chain.h - the spool's hash chain: each stored event carries SHA-256 over the previous event's
 * hash and its own columns, so an edited, deleted or truncated spool is detectable.
 *
 * What a link covers (hash of seq S, all integers big-endian, fixed width):
 *
 *   SHA-256( 0x01                                  format of the link, for later changes
 *            prev[32]                              hash of seq S-1 (or the anchor, see below)
 *            seq u64, received_ms i64, event_ms i64, class_uid i64, activity_id i64,
 *            status_id i64                         NULL (unknown) is hashed as -1
 *            type, user, workspace, peer           each 0x00 when NULL, else 0x01 u32 len bytes
 *            body_len u64, body bytes )
 *
 * Every column of the events row is covered, so an edit of an indexed column (user, time) that
 * would hide an event from ocsf-replay's filters is caught like an edit of the body.
 *
 * Anchors in meta (text "SEQ:HEX64"):
 *   chain_base  the link before the first chained row: created with the spool as (0, 32 random
 *               bytes) - a per-spool genesis, so a spool deleted and rebuilt from scratch, or two
 *               spools' rows spliced together, never reproduces a chain head logged before - and
 *               moved by spool_prune to (seq, hash) of the newest row it deleted, so retention
 *               keeps the rest verifiable. Rows with seq <= base are "before the chain".
 *   chain_head  (seq, hash) of the newest row, written in the same transaction as the rows: a
 *               spool whose newest rows were deleted no longer ends at its head.
 *
 * A spool created before the chain (format 1 without the hash column) gains the column on its
 * first read-write open (ALTER TABLE ADD COLUMN: no row is rewritten) and chain_base = (last seq,
 * random): its old rows are reported as before the chain.
 *
 * The chain shows tampering by someone who cannot also rewrite every later hash and the meta
 * anchors; against one who can, the heads the collector logs (and ships with its logs) are the
 * reference: a head logged earlier must still be a link of the chain.
 */
#ifndef OCSF_CHAIN_H
#define OCSF_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CHAIN_HASH_LEN 32
/* "SEQ:HEX" with a 20-digit seq, and a NUL */
#define CHAIN_POINT_LEN (21 + 1 + 2 * CHAIN_HASH_LEN + 1)

/* The columns of one events row, as stored (NULL strings, -1 for NULL integers). */
typedef struct chain_fields {
    int64_t seq, received_ms, event_ms;
    int64_t class_uid, activity_id, status_id;
    const char *type, *user, *workspace, *peer;
    const char *body;
    size_t body_len;
} chain_fields_t;

/* A reusable SHA-256 context (one per thread). */
typedef struct chain_hasher chain_hasher_t;
int chain_hasher_new(chain_hasher_t **out);
void chain_hasher_free(chain_hasher_t *h);

/* out = the link of f after prev. 0, or -1 when OpenSSL fails. */
int chain_link(chain_hasher_t *h, const uint8_t prev[CHAIN_HASH_LEN], const chain_fields_t *f,
               uint8_t out[CHAIN_HASH_LEN]);

/* 32 random bytes for a new spool's genesis. 0 or -1. */
int chain_random(uint8_t out[CHAIN_HASH_LEN]);

void chain_hex(const uint8_t h[CHAIN_HASH_LEN], char out[2 * CHAIN_HASH_LEN + 1]);
/* "SEQ:HEX" <-> (seq, hash). Parse: 0, or -1 when malformed. */
void chain_point_format(int64_t seq, const uint8_t h[CHAIN_HASH_LEN], char out[CHAIN_POINT_LEN]);
int chain_point_parse(const char *text, int64_t *seq, uint8_t h[CHAIN_HASH_LEN]);

/* The meta value of key (chain_base, chain_head) on any connection: 1 found, 0 absent, -1
 * malformed or unreadable. */
struct sqlite3;
int chain_meta_point(struct sqlite3 *db, const char *key, int64_t *seq, uint8_t h[CHAIN_HASH_LEN]);

/* What chain_verify found. */
enum chain_problem_kind {
    CHAIN_ALTERED = 1,  /* recomputed hash differs from the stored one at seq */
    CHAIN_GAP,          /* rows lo..hi are missing inside the chain */
    CHAIN_UNHASHED,     /* rows lo..hi after the anchor have no hash */
    CHAIN_TRUNCATED,    /* the persisted head is beyond the last row: rows lo..hi deleted */
    CHAIN_HEAD_DIFFERS, /* the last row is at the head's seq but its hash is not the head's */
    CHAIN_PAST_HEAD     /* rows lo..hi follow the persisted head: not written by a chained commit */
};

typedef struct chain_problem {
    int kind;
    int64_t lo, hi;
    uint8_t stored[CHAIN_HASH_LEN], expected[CHAIN_HASH_LEN];
} chain_problem_t;

typedef struct chain_report {
    int64_t base_seq;  /* the anchor the walk starts from */
    int is_genesis;    /* nothing pruned since the chain began: the anchor is the genesis */
    int64_t before;    /* rows at or before the anchor (written before the chain existed) */
    int64_t verified;  /* rows whose link was recomputed and matched */
    int64_t first_seq; /* first and last chained row (0 when none) */
    int64_t last_seq;
    int64_t head_seq; /* the persisted head (-1 when the spool has none yet) */
    uint8_t head[CHAIN_HASH_LEN];
    int64_t problems;
} chain_report_t;

typedef void (*chain_problem_cb)(void *ctx, const chain_problem_t *p);

/* Walks the events of an open spool (any SQLite connection; read in one read transaction, so a
 * running collector's commits do not interleave) from the anchor in seq order, recomputing every
 * link. Calls cb for each problem; after an altered row or a gap the walk resynchronises on the
 * stored hash, so each problem is reported once and where it is. 0 (rep->problems says whether the
 * chain holds), or -1 with err (not a chained spool, SQLite error). */
int chain_verify(struct sqlite3 *db, chain_report_t *rep, chain_problem_cb cb, void *ctx, char *err,
                 size_t errlen);

/* One line describing p, for reports ("altered event at seq=5: stored ..., recomputed ..."). */
void chain_problem_text(const chain_problem_t *p, char *out, size_t len);

#endif
