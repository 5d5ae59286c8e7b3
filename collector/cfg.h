/*
 * cfg.h - the collector's settings: one table drives the command-line flags, the JSON config file
 * keys, the defaults, the range checks and the --help text (cfg.c: cfg_options[]).
 *
 * Precedence: defaults < config file (--config) < flags. A repeatable setting (--listen, --sink)
 * given on the command line replaces the config file's list. Unknown keys and flags are errors that
 * name the key or flag (exit 2).
 *
 * The embedded default (nothing given): state directory ./ocsf-state, listeners
 * tcp://127.0.0.1:7514 and unix://<state>/ingest.sock, spool <state>/spool.db, file sink
 * <state>/events.ndjson.
 */
#ifndef OCSF_CFG_H
#define OCSF_CFG_H

#include "url.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CFG_MAX_LISTENERS 16
#define CFG_MAX_SINKS     16
#define CFG_PATH_MAX      4096

#define CFG_MAX_IDENTITY_TYPES    16 /* keys of a listener's allow_types_by_identity */
#define CFG_MAX_IDENTITY_PATTERNS 32 /* type patterns per key */

/* One key of a tls:// listener's allow_types_by_identity: the event types a client certificate
 * carrying this name (subject CN or SAN name, matched like allow_identities) may send. */
typedef struct cfg_identity_types {
    char identity[256]; /* the name */
    char types[512];    /* fnmatch patterns, comma-joined like allow_types; never empty */
} cfg_identity_types_t;

/* One listener. The trust settings (issue 8) are lists kept as comma-separated text (a JSON array
 * in the config file is joined with ','); ingest parses them once at bind. Empty means "not set".
 * allow_types_by_identity is a table of such lists (n_types_by_identity == 0: not set).
 */
typedef struct cfg_listener {
    char url_str[1200];
    url_t url;
    int64_t max_event_bytes;
    int64_t max_connections;
    int64_t idle_timeout_ms;
    int64_t max_connections_per_peer; /* per IP address (tcp, tls) or per uid (unix); 0 no cap */
    /* tls:// only */
    char cert_file[1024], key_file[1024]; /* PEM; re-read on SIGHUP */
    char client_ca[1024];                 /* PEM CA bundle: clients must present a cert it signed */
    char allow_identities[1024];          /* client cert subject CN or SAN names allowed */
    char ciphers[512];                    /* TLS 1.2 cipher list (OpenSSL syntax) */
    /* allow_types_by_identity: a certificate matching keys may send only their types (and
     * allow_types); one matching none is bound by allow_types alone */
    cfg_identity_types_t types_by_identity[CFG_MAX_IDENTITY_TYPES];
    int n_types_by_identity;
    /* every listener */
    char allow_types[1024]; /* event type patterns (fnmatch: "tool.*"); others are dead letters */
    /* unix:// only */
    char allow_uids[256],
        allow_gids[256];    /* peers (SO_PEERCRED) allowed: uid in one or gid in other */
    char socket_mode[8];    /* octal, e.g. "0660" */
    char socket_owner[128]; /* "user[:group]" or "uid[:gid]" */
} cfg_listener_t;

typedef struct cfg {
    cfg_listener_t listeners[CFG_MAX_LISTENERS];
    int n_listeners;
    char sinks[CFG_MAX_SINKS][1200];
    int n_sinks;
    char spool[CFG_PATH_MAX];
    char state_dir[CFG_PATH_MAX];
    char schemas_dir[CFG_PATH_MAX];
    char config_path[CFG_PATH_MAX];
    char log_level[16];
    char spool_synchronous[16];
    char normalize[8]; /* "on": map and validate to OCSF; "off": store events as received */
    /* listener defaults (a listener object in the config file may override them) */
    int64_t max_event_bytes;
    int64_t max_connections;
    int64_t idle_timeout_ms;
    int64_t max_connections_per_peer;
    /* spool writer */
    int64_t commit_max_events;
    int64_t commit_interval_ms;
    int64_t cursor_commit_ms;
    int64_t max_pending_bytes;
    int64_t spool_cache_bytes;
    int64_t retention_s;
    int64_t retention_bytes;
    int64_t index_merge_ms;
    int64_t chain_head_interval_s;
    int is_chain_head_events;        /* store chain heads as OCSF events too (chain_event.h) */
    char metrics_file[CFG_PATH_MAX]; /* Prometheus text-format snapshot (metrics.h); "" none */
    int64_t metrics_interval_ms;
    int64_t spool_max_bytes, spool_max_events;
    char spool_full_policy[16];
    char spool_check[8];
    int64_t shutdown_timeout_ms;
    int is_check_config;
} cfg_t;

enum cfg_result { CFG_OK = 0, CFG_ERROR = -1, CFG_EXIT_HELP = 1, CFG_EXIT_VERSION = 2 };

/* Fills defaults, reads --config if given, then the flags; resolves the embedded defaults.
 * CFG_OK, CFG_EXIT_HELP / CFG_EXIT_VERSION (print and exit 0), or CFG_ERROR with err naming the
 * flag, key or file:line. */
int cfg_load(cfg_t *c, int argc, char **argv, char *err, size_t errlen);
/* Parses a JSON config text (used by cfg_load and the fuzz target). source names it in errors. */
int cfg_apply_json(cfg_t *c, const char *text, size_t len, const char *source, char *err,
                   size_t errlen);
void cfg_defaults(cfg_t *c);
/* Fills the embedded defaults for what is unset; checks the result. */
int cfg_finish(cfg_t *c, char *err, size_t errlen);
void cfg_print_help(FILE *out, const char *prog);

#endif
