/*
 * jsonr.h - strict one-pass parsing of one JSON text into a jansson tree.
 *
 * Why not json_loadb: jansson's lexer reads through a per-byte stream callback and copies every
 * token into a buffer before it looks at it; on this machine it cost ~118,000 instructions for an
 * average 694-byte event, two thirds of all the ingest thread's work per event, normalized or
 * not. This parser reads the buffer directly (eight bytes at a time inside strings), passes
 * strings without escapes straight to json_stringn_nocheck, and builds the same jansson tree
 * through jansson's own API (the tree, its allocator and everything downstream stay jansson's).
 *
 * Contract: for any bytes, jsonr_parse accepts exactly when envelope_check (UTF-8, NUL, depth)
 * and json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) both accept, and then the tree equals
 * json_loadb's with members in the same order (fuzz_jsonr checks all three on every input). That
 * is: RFC 8259 grammar, no duplicate keys, no \u0000 and no raw control character in strings,
 * valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF), integers within int64
 * (else refused, like jansson), reals that do not overflow a double.
 */
#ifndef OCSF_JSONR_H
#define OCSF_JSONR_H

#include <jansson.h>
#include <stddef.h>

/* Parses p[0..len) (any top-level value). On success returns 0 and *out is a new reference
 * (caller owns). On failure returns -1, *out is NULL and reason says what and where, by byte
 * offset ("invalid JSON: duplicate object key at byte 17", "invalid UTF-8 at byte 9", "nesting
 * deeper than 64 levels at byte 64", "out of memory"). Containers nest at most max_depth deep
 * (1..1024); the recursion is bounded by it. */
int jsonr_parse(const char *p, size_t len, int max_depth, json_t **out, char *reason, size_t rlen);

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is invalid: overlongs,
 * surrogates, code points above U+10FFFF and sequences cut by the end (left bytes remain). */
size_t jsonr_utf8_len(const unsigned char *p, size_t left);

#endif
