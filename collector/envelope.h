/*
 * envelope.h - turns one framed line into a JSON object, or says precisely why it cannot.
 *
 * One pass (jsonr.c) parses the line into a jansson tree and refuses what jansson would report
 * vaguely or not at all: NUL bytes, invalid UTF-8 and nesting depth (a deep object is refused
 * before it can cost stack or memory), duplicate keys (two values for one key in an audit record
 * is an ambiguity an attacker could use) and a top level that is not an object. When the parse
 * fails, the byte check (envelope_check) runs over the whole line so that the reason names the
 * first bad byte even past a syntax error.
 */
#ifndef OCSF_ENVELOPE_H
#define OCSF_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>

#define ENVELOPE_MAX_DEPTH 64

/* Checks bytes only: 0, or -1 with a reason ("invalid UTF-8 at byte 17", "NUL byte at byte 3",
 * "nesting deeper than 64 levels at byte 64"). */
int envelope_check(const char *p, size_t len, int max_depth, char *reason, size_t rlen);

/* Checks and parses one line. On success returns 0 and *out is a new reference (caller owns).
 * On failure returns -1, *out is NULL and reason says why ("invalid JSON: ... at byte N",
 * "not a JSON object (got array)"). */
int envelope_parse(const char *p, size_t len, int max_depth, json_t **out, char *reason,
                   size_t rlen);

#endif
