/*
 * replay_heads.c - ocsf-replay --verify --heads FILE: are the chain heads shipped or logged earlier
 * still links of this spool?
 *
 * The collector logs its hash chain head ("chain head seq=S hash=H") and, with chain_head_events,
 * ships it as an OCSF event (unmapped.chain_head {seq, hash}). Someone able to rewrite a whole
 * spool, hashes and anchors included, can make --verify's walk pass again, but cannot make the
 * spool contain the heads that already left the host. This reads such heads (a SIEM or Kafka
 * export of the head events, or the collector's log; any other line is skipped) and looks each up:
 *
 *   row S present, same hash            the head holds
 *   row S present, other hash           REWRITTEN: the spool is not the one that shipped the head
 *   S is the chain's anchor             compared with the anchor's hash (the newest pruned row)
 *   S below the anchor                  pruned by retention: cannot be checked, not a problem
 *   S past the newest row               TRUNCATED: the newest rows (or the whole spool) are gone
 *   S missing between rows              DELETED
 */
#include "chain.h"
#include "replay.h"
#include "spool.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define HEADS_MAX_LINE  (1 << 20) /* longer lines are not heads: skipped */
#define HEADS_MAX_PRINT 100

int replay_heads_parse_line(const char *line, size_t len, int64_t *seq,
                            uint8_t hash[CHAIN_HASH_LEN])
{
    char point[CHAIN_POINT_LEN + 32] = "";
    const char *log = strstr(line, "chain head seq=");
    if (log) { /* the collector's log line */
        long long s;
        char hex[2 * CHAIN_HASH_LEN + 1];
        if (sscanf(log, "chain head seq=%lld hash=%64[0-9a-f]", &s, hex) == 2)
            snprintf(point, sizeof point, "%lld:%s", s, hex);
    } else if (memchr(line, '{', len)) { /* a head event, as the sinks shipped it */
        json_t *ev = json_loadb(line, len, JSON_DISABLE_EOF_CHECK, NULL);
        json_t *h = json_object_get(json_object_get(ev, "unmapped"), "chain_head");
        json_t *js = json_object_get(h, "seq");
        const char *jh = json_string_value(json_object_get(h, "hash"));
        if (json_is_integer(js) && jh)
            snprintf(point, sizeof point, "%" JSON_INTEGER_FORMAT ":%.80s", json_integer_value(js),
                     jh);
        json_decref(ev);
    }
    return point[0] && chain_point_parse(point, seq, hash) == 0;
}

/* The stored hash of row seq: 1 found (with a hash), 0 no such row, -1 error. */
static int row_hash(sqlite3_stmt *st, int64_t seq, uint8_t hash[CHAIN_HASH_LEN])
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return -1;
    if (sqlite3_column_bytes(st, 0) != CHAIN_HASH_LEN)
        memset(hash, 0, CHAIN_HASH_LEN);
    else
        memcpy(hash, sqlite3_column_blob(st, 0), CHAIN_HASH_LEN);
    return 1;
}

/* One line for a head this spool does not hold: "KIND: head seq=S hash=H was shipped, WHAT". */
static void heads_problem(replay_heads_report_t *r, const char *kind, int64_t seq,
                          const uint8_t want[CHAIN_HASH_LEN], const char *what)
{
    char hex[2 * CHAIN_HASH_LEN + 1];
    if (++r->problems > HEADS_MAX_PRINT)
        return;
    chain_hex(want, hex);
    printf("%s: head seq=%lld hash=%s was shipped, %s\n", kind, (long long)seq, hex, what);
}

int replay_verify_heads(sqlite3 *db, const char *path, replay_heads_report_t *r, char *err,
                        size_t errlen)
{
    memset(r, 0, sizeof *r);
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    sqlite3_stmt *st = NULL;
    char *line = NULL;
    size_t cap = 0;
    int rc = -1;
    if (!f) {
        snprintf(err, errlen, "--heads %s: %s", path, strerror(errno));
        return -1;
    }
    int64_t base_seq = -1, last_seq = 0;
    uint8_t base[CHAIN_HASH_LEN] = {0};
    if (chain_meta_point(db, "chain_base", &base_seq, base) < 0) {
        snprintf(err, errlen, "the spool's chain anchor (meta chain_base) is unreadable");
        goto done;
    }
    last_seq = spool_sql_int(db, "SELECT coalesce(max(seq), 0) FROM events", -1);
    if (last_seq < 0)
        goto sql_fail;
    if (sqlite3_prepare_v2(db, "SELECT hash FROM events WHERE seq = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        goto sql_fail;

    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        int64_t seq;
        uint8_t want[CHAIN_HASH_LEN], have[CHAIN_HASH_LEN];
        r->lines++;
        if (n > HEADS_MAX_LINE || !replay_heads_parse_line(line, (size_t)n, &seq, want))
            continue;
        r->heads++;
        int found = row_hash(st, seq, have);
        if (found < 0)
            goto sql_fail;
        if (found == 0 && seq == base_seq) {
            found = 1;
            memcpy(have, base, sizeof have);
        }
        if (found) {
            if (memcmp(have, want, CHAIN_HASH_LEN) == 0) {
                r->held++;
                continue;
            }
            char have_hex[2 * CHAIN_HASH_LEN + 1], what[256];
            chain_hex(have, have_hex);
            snprintf(what, sizeof what,
                     "this spool has %s there (not the spool that shipped it, or rewritten since)",
                     have_hex);
            heads_problem(r, "REWRITTEN", seq, want, what);
        } else if (seq < base_seq) {
            r->pruned++;
        } else if (seq > last_seq) {
            char what[160];
            snprintf(
                what, sizeof what,
                "this spool ends at seq=%lld (its newest events, or the whole spool, are gone)",
                (long long)last_seq);
            heads_problem(r, "TRUNCATED", seq, want, what);
        } else {
            heads_problem(r, "DELETED", seq, want, "its event is missing from this spool");
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "--heads %s: read error: %s", path, strerror(errno));
        goto done;
    }
    if (r->problems > HEADS_MAX_PRINT)
        printf("... and %lld more heads not in the spool\n",
               (long long)(r->problems - HEADS_MAX_PRINT));
    rc = 0;
    goto done;
sql_fail:
    snprintf(err, errlen, "--heads: reading the spool: %s", sqlite3_errmsg(db));
done:
    sqlite3_finalize(st);
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}
