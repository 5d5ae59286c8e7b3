/*
 * chain.c - the spool's hash chain: the link computation the writer uses on every insert
 * (spool.c) and the walk that ocsf-replay --verify runs over a spool. Layout and anchors are in
 * chain.h.
 */
#include "chain.h"
#include "util.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct chain_hasher {
    EVP_MD_CTX *ctx;
    EVP_MD *md; /* fetched once: EVP_sha256() would make every DigestInit fetch it again */
};

int chain_hasher_new(chain_hasher_t **out)
{
    chain_hasher_t *h = calloc(1, sizeof *h);
    *out = NULL;
    if (!h)
        return -1;
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (!h->md || !h->ctx) {
        chain_hasher_free(h);
        return -1;
    }
    *out = h;
    return 0;
}

void chain_hasher_free(chain_hasher_t *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    free(h);
}

static uint8_t *put_be64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(u & 0xff);
        u >>= 8;
    }
    return p + 8;
}

static int64_t or_minus1(int64_t v)
{
    return v < 0 ? -1 : v;
}

int chain_link(chain_hasher_t *h, const uint8_t prev[CHAIN_HASH_LEN], const chain_fields_t *f,
               uint8_t out[CHAIN_HASH_LEN])
{
    /* the fixed part in one buffer: version, prev, six integers */
    uint8_t fixed[1 + CHAIN_HASH_LEN + 6 * 8], *p = fixed;
    *p++ = 0x01;
    memcpy(p, prev, CHAIN_HASH_LEN);
    p += CHAIN_HASH_LEN;
    p = put_be64(p, f->seq);
    p = put_be64(p, f->received_ms);
    p = put_be64(p, or_minus1(f->event_ms));
    p = put_be64(p, or_minus1(f->class_uid));
    p = put_be64(p, or_minus1(f->activity_id));
    p = put_be64(p, or_minus1(f->status_id));
    unsigned int n = 0;
    if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1 ||
        EVP_DigestUpdate(h->ctx, fixed, (size_t)(p - fixed)) != 1)
        return -1;
    const char *strs[4] = {f->type, f->user, f->workspace, f->peer};
    for (int i = 0; i < 4; i++) {
        uint8_t tag[5] = {0};
        size_t tl = 1;
        size_t len = strs[i] ? strlen(strs[i]) : 0;
        if (strs[i]) {
            tag[0] = 1;
            tag[1] = (uint8_t)(len >> 24);
            tag[2] = (uint8_t)(len >> 16);
            tag[3] = (uint8_t)(len >> 8);
            tag[4] = (uint8_t)len;
            tl = 5;
        }
        if (EVP_DigestUpdate(h->ctx, tag, tl) != 1 ||
            (len && EVP_DigestUpdate(h->ctx, strs[i], len) != 1))
            return -1;
    }
    uint8_t blen[8];
    put_be64(blen, (int64_t)f->body_len);
    if (EVP_DigestUpdate(h->ctx, blen, sizeof blen) != 1 ||
        (f->body_len && EVP_DigestUpdate(h->ctx, f->body, f->body_len) != 1) ||
        EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != CHAIN_HASH_LEN)
        return -1;
    return 0;
}

int chain_random(uint8_t out[CHAIN_HASH_LEN])
{
    return RAND_bytes(out, CHAIN_HASH_LEN) == 1 ? 0 : -1;
}

void chain_hex(const uint8_t h[CHAIN_HASH_LEN], char out[2 * CHAIN_HASH_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < CHAIN_HASH_LEN; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[2 * CHAIN_HASH_LEN] = '\0';
}

void chain_point_format(int64_t seq, const uint8_t h[CHAIN_HASH_LEN], char out[CHAIN_POINT_LEN])
{
    char hex[2 * CHAIN_HASH_LEN + 1];
    chain_hex(h, hex);
    snprintf(out, CHAIN_POINT_LEN, "%lld:%s", (long long)seq, hex);
}

int chain_point_parse(const char *text, int64_t *seq, uint8_t h[CHAIN_HASH_LEN])
{
    int64_t v = 0;
    const char *p = text;
    if (!p || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (*p++ != ':' || strlen(p) != 2 * CHAIN_HASH_LEN)
        return -1;
    for (int i = 0; i < CHAIN_HASH_LEN; i++) {
        int a = util_hex_value(p[2 * i]), b = util_hex_value(p[2 * i + 1]);
        if (a < 0 || b < 0)
            return -1;
        h[i] = (uint8_t)(a << 4 | b);
    }
    *seq = v;
    return 0;
}

void chain_problem_text(const chain_problem_t *p, char *out, size_t len)
{
    char a[2 * CHAIN_HASH_LEN + 1], b[2 * CHAIN_HASH_LEN + 1];
    chain_hex(p->stored, a);
    chain_hex(p->expected, b);
    switch (p->kind) {
    case CHAIN_ALTERED:
        snprintf(out, len,
                 "altered event at seq=%lld: stored hash %s, recomputed %s (this event was edited, "
                 "or an earlier one was edited and its hash recomputed)",
                 (long long)p->lo, a, b);
        break;
    case CHAIN_GAP:
        snprintf(out, len, "deleted range: seq=%lld..%lld missing (%lld events)", (long long)p->lo,
                 (long long)p->hi, (long long)(p->hi - p->lo + 1));
        break;
    case CHAIN_UNHASHED:
        snprintf(out, len,
                 "unhashed events: seq=%lld..%lld have no hash (written by a collector without the "
                 "chain, or the hash was removed)",
                 (long long)p->lo, (long long)p->hi);
        break;
    case CHAIN_TRUNCATED:
        snprintf(out, len,
                 "truncated spool: the persisted chain head is seq=%lld hash=%s but the newest "
                 "events seq=%lld..%lld are gone",
                 (long long)p->hi, b, (long long)p->lo, (long long)p->hi);
        break;
    case CHAIN_HEAD_DIFFERS:
        snprintf(out, len,
                 "head mismatch at seq=%lld: the persisted chain head is %s, the event there has "
                 "%s (the newest events were replaced)",
                 (long long)p->lo, b, a);
        break;
    case CHAIN_PAST_HEAD:
        snprintf(out, len,
                 "events past the head: seq=%lld..%lld follow the persisted chain head seq=%lld "
                 "(added outside the collector's commits)",
                 (long long)p->lo, (long long)p->hi, (long long)(p->lo - 1));
        break;
    default:
        snprintf(out, len, "unknown problem %d", p->kind);
    }
}

int chain_meta_point(sqlite3 *db, const char *key, int64_t *seq, uint8_t h[CHAIN_HASH_LEN])
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        rc = chain_point_parse((const char *)sqlite3_column_text(st, 0), seq, h) == 0 ? 1 : -1;
    sqlite3_finalize(st);
    return rc;
}

static void report(chain_report_t *rep, chain_problem_cb cb, void *ctx, const chain_problem_t *p)
{
    rep->problems++;
    if (cb)
        cb(ctx, p);
}

/* Columns of the walk, in chain_fields_t order. */
static const char walk_sql[] = "SELECT seq, received_ms, event_ms, class_uid, activity_id, "
                               "status_id, type, user, workspace, peer, body, hash FROM events "
                               "WHERE seq > ?1 ORDER BY seq";

static int64_t col_or_minus1(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

int chain_verify(sqlite3 *db, chain_report_t *rep, chain_problem_cb cb, void *ctx, char *err,
                 size_t errlen)
{
    sqlite3_stmt *st = NULL;
    chain_hasher_t *h = NULL;
    uint8_t prev[CHAIN_HASH_LEN], base_hash[CHAIN_HASH_LEN];
    int rc = -1, step;
    int is_txn = 0;

    memset(rep, 0, sizeof *rep);
    rep->head_seq = -1;
    if (chain_hasher_new(&h) < 0) {
        snprintf(err, errlen, "cannot set up SHA-256 (OpenSSL)");
        return -1;
    }
    /* one snapshot: the anchors and the rows as of the same commit */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot begin a read transaction: %s", sqlite3_errmsg(db));
        goto out;
    }
    is_txn = 1;
    int b = chain_meta_point(db, "chain_base", &rep->base_seq, base_hash);
    if (b == 0) {
        snprintf(err, errlen,
                 "the spool has no hash chain (meta chain_base missing): it was "
                 "written by a collector without the chain and never opened by one "
                 "with it");
        goto out;
    }
    if (b < 0) {
        snprintf(err, errlen,
                 "meta chain_base is unreadable or malformed (want SEQ:64 hex "
                 "digits): %s",
                 sqlite3_errmsg(db));
        goto out;
    }
    int hd = chain_meta_point(db, "chain_head", &rep->head_seq, rep->head);
    if (hd < 0) {
        snprintf(err, errlen, "meta chain_head is malformed (want SEQ:64 hex digits)");
        goto out;
    }
    if (hd == 0)
        rep->head_seq = -1;
    /* the genesis is (0, random) and stays until the first prune moves the anchor */
    rep->is_genesis = rep->base_seq == 0;
    {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE seq <= ?1", -1, &q, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_int64(q, 1, rep->base_seq);
            if (sqlite3_step(q) == SQLITE_ROW)
                rep->before = sqlite3_column_int64(q, 0);
        }
        sqlite3_finalize(q);
    }
    if (sqlite3_prepare_v2(db, walk_sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read the events with their hashes: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_int64(st, 1, rep->base_seq);
    memcpy(prev, base_hash, sizeof prev);
    int64_t prev_seq = rep->base_seq;
    int64_t unhashed_lo = 0, unhashed_hi = 0;
    chain_problem_t p;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        chain_fields_t f;
        f.seq = sqlite3_column_int64(st, 0);
        f.received_ms = sqlite3_column_int64(st, 1);
        f.event_ms = col_or_minus1(st, 2);
        f.class_uid = col_or_minus1(st, 3);
        f.activity_id = col_or_minus1(st, 4);
        f.status_id = col_or_minus1(st, 5);
        f.type = (const char *)sqlite3_column_text(st, 6);
        f.user = (const char *)sqlite3_column_text(st, 7);
        f.workspace = (const char *)sqlite3_column_text(st, 8);
        f.peer = (const char *)sqlite3_column_text(st, 9);
        f.body = (const char *)sqlite3_column_text(st, 10);
        f.body_len = (size_t)sqlite3_column_bytes(st, 10);
        if (!f.body)
            f.body = "";
        const void *stored = sqlite3_column_blob(st, 11);
        int stored_len = sqlite3_column_bytes(st, 11);
        if (stored && stored_len == 0)
            stored = NULL;
        if (!rep->first_seq)
            rep->first_seq = f.seq;
        rep->last_seq = f.seq;

        int is_gap = f.seq != prev_seq + 1;
        if (unhashed_hi && (is_gap || stored)) { /* a run of unhashed rows ended */
            memset(&p, 0, sizeof p);
            p.kind = CHAIN_UNHASHED;
            p.lo = unhashed_lo;
            p.hi = unhashed_hi;
            report(rep, cb, ctx, &p);
            unhashed_hi = 0;
        }
        if (is_gap) {
            memset(&p, 0, sizeof p);
            p.kind = CHAIN_GAP;
            p.lo = prev_seq + 1;
            p.hi = f.seq - 1;
            report(rep, cb, ctx, &p);
        }
        if (!stored) { /* a run of unhashed rows is one problem, reported when it ends */
            if (!unhashed_hi)
                unhashed_lo = f.seq;
            unhashed_hi = f.seq;
            prev_seq = f.seq;
            continue;
        }
        uint8_t want[CHAIN_HASH_LEN];
        if (chain_link(h, prev, &f, want) < 0) {
            snprintf(err, errlen, "SHA-256 failed (OpenSSL)");
            goto out;
        }
        int is_match = stored_len == CHAIN_HASH_LEN && memcmp(stored, want, CHAIN_HASH_LEN) == 0;
        if (is_match) {
            rep->verified++;
        } else if (!is_gap) {
            /* after a gap the link cannot be checked (its predecessor is gone): resync only */
            memset(&p, 0, sizeof p);
            p.kind = CHAIN_ALTERED;
            p.lo = p.hi = f.seq;
            memcpy(p.stored, stored,
                   stored_len < CHAIN_HASH_LEN ? (size_t)stored_len : CHAIN_HASH_LEN);
            memcpy(p.expected, want, CHAIN_HASH_LEN);
            report(rep, cb, ctx, &p);
        }
        /* go on from the stored hash: the rows after an altered one are checked on their own */
        memset(prev, 0, sizeof prev);
        memcpy(prev, stored, stored_len < CHAIN_HASH_LEN ? (size_t)stored_len : CHAIN_HASH_LEN);
        prev_seq = f.seq;
    }
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "reading the events failed at seq %lld: %s", (long long)prev_seq,
                 sqlite3_errmsg(db));
        goto out;
    }
    if (unhashed_hi) {
        memset(&p, 0, sizeof p);
        p.kind = CHAIN_UNHASHED;
        p.lo = unhashed_lo;
        p.hi = unhashed_hi;
        report(rep, cb, ctx, &p);
    }
    if (rep->head_seq >= 0) {
        memset(&p, 0, sizeof p);
        memcpy(p.expected, rep->head, CHAIN_HASH_LEN);
        if (rep->head_seq > prev_seq) {
            p.kind = CHAIN_TRUNCATED;
            p.lo = prev_seq + 1;
            p.hi = rep->head_seq;
            report(rep, cb, ctx, &p);
        } else if (rep->head_seq == prev_seq && memcmp(prev, rep->head, CHAIN_HASH_LEN) != 0) {
            p.kind = CHAIN_HEAD_DIFFERS;
            p.lo = p.hi = prev_seq;
            memcpy(p.stored, prev, CHAIN_HASH_LEN);
            report(rep, cb, ctx, &p);
        } else if (rep->head_seq < prev_seq) {
            /* the head is written with every commit: rows after it came from elsewhere (they may
             * also show as unhashed or altered, this says they are beyond the committed chain) */
            p.kind = CHAIN_PAST_HEAD;
            p.lo = rep->head_seq + 1;
            p.hi = prev_seq;
            report(rep, cb, ctx, &p);
        }
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    if (is_txn)
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    chain_hasher_free(h);
    return rc;
}
