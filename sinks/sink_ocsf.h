/*
 * sink_ocsf.h - what the SIEM sinks (HEC, syslog) need from an OCSF body that the spool does not
 * index: severity_id and class_name, read with a bounded top-level key scan instead of a full
 * jansson parse (see sink_ocsf.c for the measured cost of both).
 */
#ifndef OCSF_SINK_OCSF_H
#define OCSF_SINK_OCSF_H

#include <stddef.h>

typedef struct sink_ocsf_fields {
    int class_uid;       /* -1 when the body has no integer top-level class_uid */
    int severity_id;     /* -1 when absent */
    char class_name[64]; /* "" when absent, escaped or too long */
} sink_ocsf_fields_t;

/* Scans the top level of the JSON object body[0..len) for class_uid, severity_id and class_name.
 * Never reads past len; nested objects are skipped, not searched. Returns 0, or -1 when the body
 * is not a JSON object (out is then all "absent"). */
int sink_ocsf_scan(const char *body, size_t len, sink_ocsf_fields_t *out);

/* The OCSF class name for a class_uid the shipped mapping tables produce, or NULL. */
const char *sink_ocsf_class_name(int class_uid);

/* Writes name as a token: every byte outside printable ASCII or a space becomes '_', optionally
 * lower-cased; at most outlen-1 bytes. "Entity Management" -> "Entity_Management". An empty or
 * NULL name gives "unknown". */
void sink_ocsf_token(const char *name, int is_lower, char *out, size_t outlen);

#endif
