/*
 * cfg.c - settings from one table (cfg_options[]): flags, config-file keys, defaults, ranges, help.
 * See cfg.h for precedence and the embedded default.
 */
#include "cfg.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum opt_type {
    OPT_INT,
    OPT_STRING,
    OPT_LISTEN,
    OPT_SINK,
    OPT_CONFIG,
    OPT_BOOL,
    OPT_HELP,
    OPT_VERSION
};

typedef struct cfg_option {
    const char *key; /* JSON key; the flag is "--" + key with '_' -> '-' */
    enum opt_type type;
    size_t offset;    /* into cfg_t */
    size_t size;      /* strings: buffer size */
    int64_t min, max; /* ints */
    const char *def;  /* default, as text */
    const char *arg;  /* metavariable for --help */
    const char *help;
} cfg_option_t;

#define OFF(f) offsetof(cfg_t, f)
#define SZ(f)  sizeof(((cfg_t *)0)->f)

static const cfg_option_t cfg_options[] = {
    {"config", OPT_CONFIG, 0, 0, 0, 0, NULL, "FILE",
     "JSON config file with the same settings (keys as below with '_'); flags override it"},
    {"listen", OPT_LISTEN, 0, 0, 0, 0, NULL, "URL",
     "listen on tcp://HOST:PORT (port 0 picks one), tls://HOST:PORT (needs cert_file and key_file "
     "in a listener object of --config) or unix:///PATH; repeatable"},
    {"spool", OPT_STRING, OFF(spool), SZ(spool), 0, 0, "", "PATH",
     "SQLite spool file (default STATE_DIR/spool.db)"},
    {"sink", OPT_SINK, 0, 0, 0, 0, NULL, "URL",
     "deliver to file:///PATH[?gzip=1]; repeatable (default file://STATE_DIR/events.ndjson)"},
    {"state_dir", OPT_STRING, OFF(state_dir), SZ(state_dir), 0, 0, "ocsf-state", "DIR",
     "where the embedded defaults live (spool, socket, events file)"},
    {"schemas_dir", OPT_STRING, OFF(schemas_dir), SZ(schemas_dir), 0, 0, OCSF_SCHEMAS_DIR, "DIR",
     "OCSF schema and mapping tables"},
    {"max_event_bytes", OPT_INT, OFF(max_event_bytes), 0, 64, 64 << 20, "1048576", "N",
     "longest accepted line, per listener; longer lines are dead-lettered whole"},
    {"max_connections", OPT_INT, OFF(max_connections), 0, 1, 1000000, "1024", "N",
     "connections per listener; more are refused"},
    {"max_connections_per_peer", OPT_INT, OFF(max_connections_per_peer), 0, 0, 1000000, "0", "N",
     "connections per peer (IP address, or uid on unix sockets) per listener; 0 no cap"},
    {"idle_timeout_ms", OPT_INT, OFF(idle_timeout_ms), 0, 100, 86400000, "300000", "MS",
     "close a connection that sent nothing for this long"},
    {"commit_max_events", OPT_INT, OFF(commit_max_events), 0, 1, 1000000, "8192", "N",
     "records per spool transaction at most"},
    {"commit_interval_ms", OPT_INT, OFF(commit_interval_ms), 0, 0, 1000, "2", "MS",
     "how long a spool batch may wait to fill before its commit"},
    {"cursor_commit_ms", OPT_INT, OFF(cursor_commit_ms), 0, 0, 10000, "100", "MS",
     "how long a sink's progress alone may wait for events to share their commit (0: at once); "
     "after a crash, sinks resend at most this much"},
    {"max_pending_bytes", OPT_INT, OFF(max_pending_bytes), 0, 1 << 20, INT64_C(1) << 40, "67108864",
     "N", "bytes waiting for the spool before ingest stops reading (backpressure)"},
    {"spool_cache_bytes", OPT_INT, OFF(spool_cache_bytes), 0, 1 << 20, INT64_C(1) << 34, "67108864",
     "N",
     "page cache of the spool writer: a commit's index leaves (two per active user) and new rows "
     "should fit, or every commit reads them back"},
    {"spool_synchronous", OPT_STRING, OFF(spool_synchronous), SZ(spool_synchronous), 0, 0, "full",
     "MODE", "SQLite synchronous: full (default), normal, off"},
    {"retention_s", OPT_INT, OFF(retention_s), 0, -1, INT64_C(1) << 40, "3600", "S",
     "keep delivered events this long for replay (-1 forever)"},
    {"retention_bytes", OPT_INT, OFF(retention_bytes), 0, 0, INT64_C(1) << 50, "0", "N",
     "cap on the spool's used bytes: beyond it delivered events go oldest first (0 no cap; never "
     "an undelivered event)"},
    {"index_merge_ms", OPT_INT, OFF(index_merge_ms), 0, 1, 3600000, "1000", "MS",
     "how long ocsf-replay's user/workspace entries wait in memory before they are merged into "
     "the spool in bulk (longer: fewer index writes; replay reads the rest from the events)"},
    {"chain_head_interval_s", OPT_INT, OFF(chain_head_interval_s), 0, 1, 86400, "60", "S",
     "log the spool's hash chain head (seq and hash) this often, for tamper evidence downstream"},
    {"chain_head_events", OPT_BOOL, OFF(is_chain_head_events), 0, 0, 1, "0", NULL,
     "also store each chain head as an OCSF event (Event Log Activity) that the sinks ship, when "
     "events were committed since the last one (needs normalize on)"},
    {"metrics_file", OPT_STRING, OFF(metrics_file), SZ(metrics_file), 0, 0, "", "PATH",
     "write the collector's counters and gauges (events, dead letters by cause, connections, "
     "sink lag...) to PATH in Prometheus text format, replaced whole every metrics_interval_ms "
     "(for node_exporter's textfile collector, or cat)"},
    {"metrics_interval_ms", OPT_INT, OFF(metrics_interval_ms), 0, 100, 3600000, "10000", "MS",
     "how often the metrics file is rewritten"},
    {"spool_check", OPT_STRING, OFF(spool_check), SZ(spool_check), 0, 0, "quick", "quick|off",
     "integrity check of the spool at start; a damaged spool is moved aside and salvaged"},
    {"spool_max_bytes", OPT_INT, OFF(spool_max_bytes), 0, 0, INT64_C(1) << 50, "0", "N",
     "cap on the spool's used bytes: delivered events are evicted first, then ingest pauses (or "
     "spool_full_policy drops) until sinks catch up (0 no cap: a full disk pushes back)"},
    {"spool_max_events", OPT_INT, OFF(spool_max_events), 0, 0, INT64_C(1) << 50, "0", "N",
     "cap on undelivered events in the spool (0 no cap)"},
    {"spool_full_policy", OPT_STRING, OFF(spool_full_policy), SZ(spool_full_policy), 0, 0, "block",
     "block|drop_oldest",
     "at a cap: block (stop reading, emitters keep their copies) or drop_oldest (delete the "
     "oldest undelivered events, counted and logged)"},
    {"shutdown_timeout_ms", OPT_INT, OFF(shutdown_timeout_ms), 0, 0, 600000, "10000", "MS",
     "how long SIGTERM waits for clients and sinks to drain"},
    {"normalize", OPT_STRING, OFF(normalize), SZ(normalize), 0, 0, "on", "on|off",
     "map native events to OCSF 1.8 and validate every event (off: store as received)"},
    {"log_level", OPT_STRING, OFF(log_level), SZ(log_level), 0, 0, "info", "LEVEL",
     "debug, info, warn or error"},
    {"check_config", OPT_BOOL, OFF(is_check_config), 0, 0, 1, "0", NULL,
     "validate the configuration and exit (0 ok, 2 error)"},
    {"help", OPT_HELP, 0, 0, 0, 0, NULL, NULL, "print this help and exit"},
    {"version", OPT_VERSION, 0, 0, 0, 0, NULL, NULL, "print the version and exit"},
};
#define N_OPTIONS (sizeof cfg_options / sizeof cfg_options[0])

static void flag_name(const cfg_option_t *o, char *buf, size_t len)
{
    snprintf(buf, len, "--%s", o->key);
    for (char *p = buf; *p; p++)
        if (*p == '_')
            *p = '-';
}

static const cfg_option_t *find_flag(const char *flag)
{
    char name[64];
    for (size_t i = 0; i < N_OPTIONS; i++) {
        flag_name(&cfg_options[i], name, sizeof name);
        if (strcmp(name, flag) == 0)
            return &cfg_options[i];
    }
    return NULL;
}

/* argv[*i] as an option and its value: "--name VALUE" (advances *i) or "--name=VALUE"; *val NULL
 * for flags without a value. 0, or -1 with err. */
static int flag_at(int argc, char **argv, int *i, const cfg_option_t **o, const char **val,
                   char *err, size_t errlen)
{
    const char *arg = argv[*i], *eq = strchr(arg, '=');
    char name[64];
    *val = NULL;
    if (eq && (size_t)(eq - arg) < sizeof name) {
        memcpy(name, arg, (size_t)(eq - arg));
        name[eq - arg] = '\0';
        *o = find_flag(name);
    } else {
        *o = eq ? NULL : find_flag(arg);
    }
    if (!*o) {
        snprintf(err, errlen, "unknown option '%.200s' (see --help)", arg);
        return -1;
    }
    int takes_value = (*o)->type != OPT_BOOL && (*o)->type != OPT_HELP && (*o)->type != OPT_VERSION;
    if (eq && !takes_value) {
        snprintf(err, errlen, "option '%s' takes no value", name);
        return -1;
    }
    if (eq) {
        *val = eq + 1;
    } else if (takes_value) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "option '%s' needs a value (%s)", arg, (*o)->arg);
            return -1;
        }
        *val = argv[++*i];
    }
    return 0;
}

static const cfg_option_t *find_key(const char *key)
{
    if (strcmp(key, "sinks") == 0) /* the config file's plural for the repeatable --sink */
        key = "sink";
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(cfg_options[i].key, key) == 0)
            return &cfg_options[i];
    return NULL;
}

void cfg_print_help(FILE *out, const char *prog)
{
    char name[64];
    fprintf(out,
            "usage: %s [options]\n"
            "OCSF audit collector: NDJSON events in over TCP/unix sockets, durable SQLite spool,\n"
            "delivery to sinks. With no options it runs on its embedded default: listens on\n"
            "tcp://127.0.0.1:7514 and unix://ocsf-state/ingest.sock, spools to\n"
            "ocsf-state/spool.db and writes events to ocsf-state/events.ndjson.\n\noptions:\n",
            prog);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const cfg_option_t *o = &cfg_options[i];
        char left[96];
        flag_name(o, name, sizeof name);
        snprintf(left, sizeof left, "%s%s%s", name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(out, "  %-28s %s", left, o->help);
        if (o->def && *o->def && o->type != OPT_BOOL)
            fprintf(out, " [%s]", o->def);
        fputc('\n', out);
    }
    fprintf(out, "\nexit codes: 0 ok, 1 runtime failure, 2 usage or configuration error\n");
}

static int parse_int(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *v = x;
    return 0;
}

static int set_int(const cfg_option_t *o, int64_t v, int64_t *dst, const char *where, char *err,
                   size_t errlen)
{
    if (v < o->min || v > o->max) {
        snprintf(err, errlen, "%s: %lld is out of range (%lld..%lld)", where, (long long)v,
                 (long long)o->min, (long long)o->max);
        return -1;
    }
    *dst = v;
    return 0;
}

static int add_listener(cfg_t *c, const char *url, const char *where, char *err, size_t errlen)
{
    char uerr[256];
    if (c->n_listeners >= CFG_MAX_LISTENERS) {
        snprintf(err, errlen, "%s: at most %d listeners", where, CFG_MAX_LISTENERS);
        return -1;
    }
    cfg_listener_t *l = &c->listeners[c->n_listeners];
    memset(l, 0, sizeof *l);
    if (util_strlcpy(l->url_str, url, sizeof l->url_str) < 0 ||
        url_parse(url, &l->url, uerr, sizeof uerr) < 0) {
        snprintf(err, errlen, "%s: bad URL '%s': %s", where, url, uerr);
        return -1;
    }
    if (strcmp(l->url.scheme, "tcp") && strcmp(l->url.scheme, "tls") &&
        strcmp(l->url.scheme, "unix")) {
        snprintf(err, errlen,
                 "%s: '%s': listeners take tcp://HOST:PORT, tls://HOST:PORT or unix:///PATH", where,
                 url);
        return -1;
    }
    if (strcmp(l->url.scheme, "unix") != 0 && l->url.port < 0) {
        snprintf(err, errlen, "%s: '%s' needs a port (0 picks a free one)", where, url);
        return -1;
    }
    l->max_event_bytes = l->max_connections = l->idle_timeout_ms = -1; /* inherit */
    l->max_connections_per_peer = -1;
    c->n_listeners++;
    return 0;
}

static int add_sink(cfg_t *c, const char *url, const char *where, char *err, size_t errlen)
{
    char uerr[256];
    url_t u;
    if (c->n_sinks >= CFG_MAX_SINKS) {
        snprintf(err, errlen, "%s: at most %d sinks", where, CFG_MAX_SINKS);
        return -1;
    }
    if (util_strlcpy(c->sinks[c->n_sinks], url, sizeof c->sinks[0]) < 0 ||
        url_parse(url, &u, uerr, sizeof uerr) < 0) {
        snprintf(err, errlen, "%s: bad URL '%s': %s", where, url, uerr);
        return -1;
    }
    c->n_sinks++;
    return 0;
}

void cfg_defaults(cfg_t *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const cfg_option_t *o = &cfg_options[i];
        if (o->type == OPT_INT) {
            int64_t v = 0;
            parse_int(o->def, &v);
            *(int64_t *)((char *)c + o->offset) = v;
        } else if (o->type == OPT_STRING) {
            util_strlcpy((char *)c + o->offset, o->def, o->size);
        }
    }
}

/* The keys of a listener object in the config file. Integers without a range of their own take the
 * top-level key's range (and inherit its value when not given); lists are JSON arrays of strings or
 * integers (or one string), kept comma-joined; allow_types_by_identity is an object of such lists
 * (apply_identity_types). `scheme` limits a key to one kind of listener. */
enum lopt_type { LOPT_INT, LOPT_STRING, LOPT_LIST, LOPT_IDENTITY_TYPES };
typedef struct cfg_listener_option {
    const char *key;
    enum lopt_type type;
    size_t offset, size;
    const char *scheme; /* NULL: any listener */
} cfg_listener_option_t;

#define LOFF(f) offsetof(cfg_listener_t, f)
#define LSZ(f)  sizeof(((cfg_listener_t *)0)->f)

static const cfg_listener_option_t cfg_listener_options[] = {
    {"max_event_bytes", LOPT_INT, LOFF(max_event_bytes), 0, NULL},
    {"max_connections", LOPT_INT, LOFF(max_connections), 0, NULL},
    {"idle_timeout_ms", LOPT_INT, LOFF(idle_timeout_ms), 0, NULL},
    {"max_connections_per_peer", LOPT_INT, LOFF(max_connections_per_peer), 0, NULL},
    {"allow_types", LOPT_LIST, LOFF(allow_types), LSZ(allow_types), NULL},
    {"cert_file", LOPT_STRING, LOFF(cert_file), LSZ(cert_file), "tls"},
    {"key_file", LOPT_STRING, LOFF(key_file), LSZ(key_file), "tls"},
    {"client_ca", LOPT_STRING, LOFF(client_ca), LSZ(client_ca), "tls"},
    {"allow_identities", LOPT_LIST, LOFF(allow_identities), LSZ(allow_identities), "tls"},
    {"allow_types_by_identity", LOPT_IDENTITY_TYPES, LOFF(types_by_identity), 0, "tls"},
    {"ciphers", LOPT_STRING, LOFF(ciphers), LSZ(ciphers), "tls"},
    {"allow_uids", LOPT_LIST, LOFF(allow_uids), LSZ(allow_uids), "unix"},
    {"allow_gids", LOPT_LIST, LOFF(allow_gids), LSZ(allow_gids), "unix"},
    {"socket_mode", LOPT_STRING, LOFF(socket_mode), LSZ(socket_mode), "unix"},
    {"socket_owner", LOPT_STRING, LOFF(socket_owner), LSZ(socket_owner), "unix"},
};
#define N_LISTENER_OPTIONS (sizeof cfg_listener_options / sizeof cfg_listener_options[0])

/* Joins a JSON list (array of strings/integers, or one string) into dst with ','. */
static int join_list(json_t *x, char *dst, size_t size, const char *where, char *err, size_t errlen)
{
    size_t i, off = 0;
    json_t *e;
    json_t *one = json_is_string(x) ? json_pack("[O]", x) : json_incref(x);
    int rc = -1;
    if (!json_is_array(one)) {
        snprintf(err, errlen, "%s: expected an array of strings", where);
        goto out;
    }
    dst[0] = '\0';
    json_array_foreach(one, i, e)
    {
        char item[512];
        if (json_is_string(e) && json_string_length(e) > 0 && json_string_length(e) < sizeof item &&
            !strchr(json_string_value(e), ','))
            snprintf(item, sizeof item, "%s", json_string_value(e));
        else if (json_is_integer(e))
            snprintf(item, sizeof item, "%" JSON_INTEGER_FORMAT, json_integer_value(e));
        else {
            snprintf(err, errlen, "%s[%zu]: expected a non-empty string without ',' or an integer",
                     where, i);
            goto out;
        }
        int n = snprintf(dst + off, size - off, "%s%s", off ? "," : "", item);
        if (n < 0 || (size_t)n >= size - off) {
            snprintf(err, errlen, "%s: the list is longer than %zu bytes", where, size - 1);
            goto out;
        }
        off += (size_t)n;
    }
    rc = 0;
out:
    json_decref(one);
    return rc;
}

/* allow_types_by_identity: {"NAME": ["pattern", ...], ...} (a value may also be one string). A
 * name is what allow_identities would list (no ',' so the two can be compared); every name needs
 * at least one pattern (a certificate that may send nothing belongs out of allow_identities). */
static int apply_identity_types(cfg_listener_t *l, json_t *x, const char *where, char *err,
                                size_t errlen)
{
    const char *k;
    json_t *v;
    if (!json_is_object(x) || json_object_size(x) == 0) {
        snprintf(err, errlen,
                 "%s: expected an object {\"identity\": [\"type pattern\", ...]} with at least "
                 "one identity",
                 where);
        return -1;
    }
    if (json_object_size(x) > CFG_MAX_IDENTITY_TYPES) {
        snprintf(err, errlen, "%s: %zu identities, at most %d", where, json_object_size(x),
                 CFG_MAX_IDENTITY_TYPES);
        return -1;
    }
    l->n_types_by_identity = 0;
    json_object_foreach(x, k, v)
    {
        cfg_identity_types_t *e = &l->types_by_identity[l->n_types_by_identity];
        char w2[800], shown[64];
        size_t i = 0;
        for (; k[i] && i < sizeof shown - 1; i++) /* printable in the error, whatever it holds */
            shown[i] = (unsigned char)k[i] < 0x20 || k[i] == 0x7f ? '?' : k[i];
        shown[i] = '\0';
        snprintf(w2, sizeof w2, "%.500s.\"%s\"", where, shown);
        int is_bad_name = !k[0] || strchr(k, ',') != NULL;
        for (const unsigned char *p = (const unsigned char *)k; *p; p++)
            is_bad_name |= *p < 0x20 || *p == 0x7f;
        if (is_bad_name || util_strlcpy(e->identity, k, sizeof e->identity) < 0) {
            snprintf(err, errlen,
                     "%s: not a certificate name (expected a subject CN or SAN name of 1..%zu "
                     "bytes, without ',' or control characters)",
                     w2, sizeof e->identity - 1);
            return -1;
        }
        if (join_list(v, e->types, sizeof e->types, w2, err, errlen) < 0)
            return -1;
        if (!e->types[0]) {
            snprintf(err, errlen,
                     "%s: expected at least one type pattern (to refuse the certificate, leave "
                     "its name out of allow_identities)",
                     w2);
            return -1;
        }
        int n_patterns = 1;
        for (const char *p = e->types; *p; p++)
            n_patterns += *p == ',';
        if (n_patterns > CFG_MAX_IDENTITY_PATTERNS) {
            snprintf(err, errlen, "%s: %d type patterns, at most %d", w2, n_patterns,
                     CFG_MAX_IDENTITY_PATTERNS);
            return -1;
        }
        l->n_types_by_identity++;
    }
    return 0;
}

/* 1 when item is one of the entries of a comma-joined list. */
static int list_contains(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, item, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* A listener given as an object in the config file: {"url": ..., "max_event_bytes": N, ...}. */
static int apply_listener_object(cfg_t *c, json_t *v, const char *where, char *err, size_t errlen)
{
    const char *k;
    json_t *x;
    json_t *url = json_object_get(v, "url");
    if (!json_is_string(url)) {
        snprintf(err, errlen, "%s: a listener object needs \"url\" (a string)", where);
        return -1;
    }
    if (add_listener(c, json_string_value(url), where, err, errlen) < 0)
        return -1;
    cfg_listener_t *l = &c->listeners[c->n_listeners - 1];
    json_object_foreach(v, k, x)
    {
        if (strcmp(k, "url") == 0)
            continue;
        const cfg_listener_option_t *o = NULL;
        for (size_t i = 0; i < N_LISTENER_OPTIONS; i++)
            if (strcmp(k, cfg_listener_options[i].key) == 0)
                o = &cfg_listener_options[i];
        char w2[800];
        snprintf(w2, sizeof w2, "%.500s.%.200s", where, k);
        if (!o) {
            char known[1024];
            size_t off = (size_t)snprintf(known, sizeof known, "url");
            for (size_t i = 0; i < N_LISTENER_OPTIONS && off < sizeof known; i++)
                off += (size_t)snprintf(known + off, sizeof known - off, ", %s",
                                        cfg_listener_options[i].key);
            snprintf(err, errlen, "%s: unknown listener key (known: %s)", w2, known);
            return -1;
        }
        if (o->scheme && strcmp(o->scheme, l->url.scheme) != 0) {
            snprintf(err, errlen, "%s: only %s:// listeners take this key", w2, o->scheme);
            return -1;
        }
        void *dst = (char *)l + o->offset;
        switch (o->type) {
        case LOPT_INT:
            if (!json_is_integer(x)) {
                snprintf(err, errlen, "%s: expected an integer", w2);
                return -1;
            }
            if (set_int(find_key(o->key), json_integer_value(x), dst, w2, err, errlen) < 0)
                return -1;
            break;
        case LOPT_STRING:
            if (!json_is_string(x)) {
                snprintf(err, errlen, "%s: expected a string", w2);
                return -1;
            }
            if (util_strlcpy(dst, json_string_value(x), o->size) < 0) {
                snprintf(err, errlen, "%s: longer than %zu bytes", w2, o->size - 1);
                return -1;
            }
            break;
        case LOPT_LIST:
            if (join_list(x, dst, o->size, w2, err, errlen) < 0)
                return -1;
            break;
        case LOPT_IDENTITY_TYPES:
            if (apply_identity_types(l, x, w2, err, errlen) < 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* Checks one listener's trust settings once everything is read. */
static int check_listener(const cfg_listener_t *l, char *err, size_t errlen)
{
    int is_tls = strcmp(l->url.scheme, "tls") == 0;
    if (is_tls && (!l->cert_file[0] || !l->key_file[0])) {
        snprintf(err, errlen,
                 "listener %s: a tls:// listener needs \"cert_file\" and \"key_file\" (give the "
                 "listener as an object in --config)",
                 l->url_str);
        return -1;
    }
    if (l->allow_identities[0] && !l->client_ca[0]) {
        snprintf(err, errlen,
                 "listener %s: \"allow_identities\" needs \"client_ca\" (identities come from "
                 "verified client certificates)",
                 l->url_str);
        return -1;
    }
    if (l->n_types_by_identity > 0 && !l->client_ca[0]) {
        snprintf(err, errlen,
                 "listener %s: \"allow_types_by_identity\" needs \"client_ca\" (identities come "
                 "from verified client certificates)",
                 l->url_str);
        return -1;
    }
    /* with allow_identities, a key it does not list could never match: a typo that would leave
     * the certificate it meant bound by allow_types alone */
    for (int i = 0; l->allow_identities[0] && i < l->n_types_by_identity; i++)
        if (!list_contains(l->allow_identities, l->types_by_identity[i].identity)) {
            snprintf(err, errlen,
                     "listener %s: allow_types_by_identity key \"%s\" is not in allow_identities "
                     "(a certificate with that name is refused at the handshake: add it to "
                     "allow_identities or drop the key)",
                     l->url_str, l->types_by_identity[i].identity);
            return -1;
        }
    const char *lists[] = {l->allow_uids, l->allow_gids};
    for (int i = 0; i < 2; i++)
        if (lists[i][0] && strspn(lists[i], "0123456789,") != strlen(lists[i])) {
            snprintf(err, errlen, "listener %s: %s \"%s\": expected numeric ids", l->url_str,
                     i ? "allow_gids" : "allow_uids", lists[i]);
            return -1;
        }
    if (l->socket_mode[0]) {
        char *end;
        long m = strtol(l->socket_mode, &end, 8);
        if (*end || m < 0 || m > 0777) {
            snprintf(err, errlen, "listener %s: socket_mode \"%s\": expected octal like \"0660\"",
                     l->url_str, l->socket_mode);
            return -1;
        }
    }
    return 0;
}

/* A sink given as an object in the config file: {"url": ..., "properties": {NAME: VALUE}}. Each
 * property becomes a "prop.NAME=VALUE" query parameter (value percent-encoded), so a sink sees one
 * URL whichever way it was configured (the Kafka sink passes prop.* to librdkafka). */
static int apply_sink_object(cfg_t *c, json_t *v, const char *where, char *err, size_t errlen)
{
    char url[sizeof c->sinks[0]];
    const char *k;
    json_t *x, *props = json_object_get(v, "properties");
    json_t *u = json_object_get(v, "url");
    size_t off;
    if (!json_is_string(u) || json_object_size(v) != 1u + (props != NULL) ||
        (props && !json_is_object(props))) {
        snprintf(err, errlen, "%s: a sink object is {\"url\": \"...\", \"properties\": {...}}",
                 where);
        return -1;
    }
    if (util_strlcpy(url, json_string_value(u), sizeof url) < 0)
        goto too_long;
    off = strlen(url);
    json_object_foreach(props, k, x)
    {
        char val[512];
        if (json_is_string(x))
            snprintf(val, sizeof val, "%s", json_string_value(x));
        else if (json_is_integer(x))
            snprintf(val, sizeof val, "%" JSON_INTEGER_FORMAT, json_integer_value(x));
        else if (json_is_boolean(x))
            snprintf(val, sizeof val, "%s", json_is_true(x) ? "true" : "false");
        else {
            snprintf(err, errlen, "%s.properties.%.100s: expected a string, integer or boolean",
                     where, k);
            return -1;
        }
        if (!*k || strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                       strlen(k)) {
            snprintf(err, errlen, "%s.properties: bad property name \"%.100s\"", where, k);
            return -1;
        }
        int n =
            snprintf(url + off, sizeof url - off, "%cprop.%s=", strchr(url, '?') ? '&' : '?', k);
        if (n < 0 || (size_t)n >= sizeof url - off)
            goto too_long;
        off += (size_t)n;
        for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
            int is_plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                           (*p >= '0' && *p <= '9') || strchr("-._~", *p);
            if (off + 4 > sizeof url)
                goto too_long;
            off += (size_t)snprintf(url + off, sizeof url - off, is_plain ? "%c" : "%%%02X", *p);
        }
    }
    return add_sink(c, url, where, err, errlen);
too_long:
    snprintf(err, errlen, "%s: sink URL with its properties is longer than %zu bytes", where,
             sizeof url - 1);
    return -1;
}

static int apply_url_list(cfg_t *c, const cfg_option_t *o, json_t *v, const char *where, char *err,
                          size_t errlen)
{
    size_t i;
    json_t *x;
    char w2[800];
    if (json_is_string(v))
        return o->type == OPT_LISTEN ? add_listener(c, json_string_value(v), where, err, errlen)
                                     : add_sink(c, json_string_value(v), where, err, errlen);
    if (!json_is_array(v)) {
        snprintf(err, errlen, "%s: expected an array of URLs", where);
        return -1;
    }
    json_array_foreach(v, i, x)
    {
        snprintf(w2, sizeof w2, "%s[%zu]", where, i);
        int rc;
        if (json_is_string(x))
            rc = o->type == OPT_LISTEN ? add_listener(c, json_string_value(x), w2, err, errlen)
                                       : add_sink(c, json_string_value(x), w2, err, errlen);
        else if (json_is_object(x) && o->type == OPT_LISTEN)
            rc = apply_listener_object(c, x, w2, err, errlen);
        else if (json_is_object(x))
            rc = apply_sink_object(c, x, w2, err, errlen);
        else {
            snprintf(err, errlen, "%s: expected a URL string or an object with \"url\"", w2);
            rc = -1;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

int cfg_apply_json(cfg_t *c, const char *text, size_t len, const char *source, char *err,
                   size_t errlen)
{
    json_error_t jerr;
    const char *key;
    json_t *v;
    char where[512];
    int rc = -1;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", source, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: the config must be a JSON object", source);
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        const cfg_option_t *o = find_key(key);
        snprintf(where, sizeof where, "%s: key \"%s\"", source, key);
        if (!o || o->type == OPT_CONFIG || o->type == OPT_HELP || o->type == OPT_VERSION) {
            snprintf(err, errlen, "%s: unknown key \"%s\" (see --help for the keys)", source, key);
            goto out;
        }
        switch (o->type) {
        case OPT_INT:
            if (!json_is_integer(v)) {
                snprintf(err, errlen, "%s: expected an integer", where);
                goto out;
            }
            if (set_int(o, json_integer_value(v), (int64_t *)((char *)c + o->offset), where, err,
                        errlen) < 0)
                goto out;
            break;
        case OPT_STRING:
            if (!json_is_string(v)) {
                snprintf(err, errlen, "%s: expected a string", where);
                goto out;
            }
            if (util_strlcpy((char *)c + o->offset, json_string_value(v), o->size) < 0) {
                snprintf(err, errlen, "%s: longer than %zu bytes", where, o->size - 1);
                goto out;
            }
            break;
        case OPT_BOOL:
            if (!json_is_boolean(v)) {
                snprintf(err, errlen, "%s: expected true or false", where);
                goto out;
            }
            *(int *)((char *)c + o->offset) = json_is_true(v);
            break;
        case OPT_LISTEN:
        case OPT_SINK:
            if (apply_url_list(c, o, v, where, err, errlen) < 0)
                goto out;
            break;
        default:
            break;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int load_file(cfg_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    int rc = -1;
    if (!f) {
        snprintf(err, errlen, "--config %s: %s", path, strerror(errno));
        return -1;
    }
    buf = malloc(1 << 20);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    len = fread(buf, 1, 1 << 20, f);
    if (len == 1 << 20) {
        snprintf(err, errlen, "--config %s: larger than 1 MiB", path);
        goto out;
    }
    rc = cfg_apply_json(c, buf, len, path, err, errlen);
out:
    free(buf);
    fclose(f);
    return rc;
}

int cfg_finish(cfg_t *c, char *err, size_t errlen)
{
    char buf[CFG_PATH_MAX + 32];
    if (log_parse_level(c->log_level) < 0) {
        snprintf(err, errlen, "--log-level '%s': use debug, info, warn or error", c->log_level);
        return -1;
    }
    if (strcmp(c->spool_synchronous, "full") && strcmp(c->spool_synchronous, "normal") &&
        strcmp(c->spool_synchronous, "off")) {
        snprintf(err, errlen, "--spool-synchronous '%s': use full, normal or off",
                 c->spool_synchronous);
        return -1;
    }
    if (strcmp(c->spool_check, "quick") && strcmp(c->spool_check, "off")) {
        snprintf(err, errlen, "--spool-check '%s': use quick or off", c->spool_check);
        return -1;
    }
    if (strcmp(c->spool_full_policy, "block") && strcmp(c->spool_full_policy, "drop_oldest")) {
        snprintf(err, errlen, "--spool-full-policy '%s': use block or drop_oldest",
                 c->spool_full_policy);
        return -1;
    }
    if (strcmp(c->normalize, "on") && strcmp(c->normalize, "off")) {
        snprintf(err, errlen, "--normalize '%s': use on or off", c->normalize);
        return -1;
    }
    if (c->is_chain_head_events && strcmp(c->normalize, "on")) {
        snprintf(err, errlen,
                 "--chain-head-events needs --normalize on (the head event is OCSF, "
                 "validated like every other); turn one of them around");
        return -1;
    }
    if (c->n_listeners == 0) {
        add_listener(c, "tcp://127.0.0.1:7514", "default", err, errlen);
        snprintf(buf, sizeof buf, "unix://%s%s/ingest.sock", c->state_dir[0] == '/' ? "" : "",
                 c->state_dir);
        if (c->state_dir[0] != '/') {
            char cwd[CFG_PATH_MAX];
            if (!getcwd(cwd, sizeof cwd)) {
                snprintf(err, errlen, "cannot resolve the state directory: %s", strerror(errno));
                return -1;
            }
            snprintf(buf, sizeof buf, "unix://%.2000s/%.2000s/ingest.sock", cwd, c->state_dir);
        }
        if (add_listener(c, buf, "default", err, errlen) < 0)
            return -1;
    }
    if (!c->spool[0])
        snprintf(c->spool, sizeof c->spool, "%.4000s/spool.db", c->state_dir);
    if (c->n_sinks == 0) {
        char cwd[CFG_PATH_MAX] = "";
        if (c->state_dir[0] != '/' && !getcwd(cwd, sizeof cwd)) {
            snprintf(err, errlen, "cannot resolve the state directory: %s", strerror(errno));
            return -1;
        }
        snprintf(buf, sizeof buf, "file://%.2000s%s%.2000s/events.ndjson", cwd, cwd[0] ? "/" : "",
                 c->state_dir);
        if (add_sink(c, buf, "default", err, errlen) < 0)
            return -1;
    }
    for (int i = 0; i < c->n_listeners; i++) {
        cfg_listener_t *l = &c->listeners[i];
        if (l->max_event_bytes < 0)
            l->max_event_bytes = c->max_event_bytes;
        if (l->max_connections < 0)
            l->max_connections = c->max_connections;
        if (l->idle_timeout_ms < 0)
            l->idle_timeout_ms = c->idle_timeout_ms;
        if (l->max_connections_per_peer < 0)
            l->max_connections_per_peer = c->max_connections_per_peer;
        if (check_listener(l, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int cfg_load(cfg_t *c, int argc, char **argv, char *err, size_t errlen)
{
    int n_flag_listeners = 0, n_flag_sinks = 0;
    cfg_t flags;
    char where[96];

    cfg_defaults(c);
    /* pass 1: --help, --version, --config */
    for (int i = 1; i < argc; i++) {
        const cfg_option_t *o;
        const char *val;
        if (flag_at(argc, argv, &i, &o, &val, err, errlen) < 0)
            return CFG_ERROR;
        if (o->type == OPT_HELP)
            return CFG_EXIT_HELP;
        if (o->type == OPT_VERSION)
            return CFG_EXIT_VERSION;
        if (o->type == OPT_CONFIG && util_strlcpy(c->config_path, val, sizeof c->config_path) < 0) {
            snprintf(err, errlen, "--config: path too long");
            return CFG_ERROR;
        }
    }
    if (c->config_path[0] && load_file(c, c->config_path, err, errlen) < 0)
        return CFG_ERROR;
    /* pass 2: flags override the file; repeatable lists are collected apart and replace it */
    cfg_defaults(&flags);
    for (int i = 1; i < argc; i++) {
        const cfg_option_t *o;
        const char *val;
        if (flag_at(argc, argv, &i, &o, &val, err, errlen) < 0) /* checked by pass 1 */
            return CFG_ERROR;
        flag_name(o, where, sizeof where);
        if (o->type == OPT_BOOL) {
            *(int *)((char *)c + o->offset) = 1;
            continue;
        }
        int64_t v;
        switch (o->type) {
        case OPT_INT:
            if (parse_int(val, &v) < 0) {
                snprintf(err, errlen, "%s: '%s' is not an integer", where, val);
                return CFG_ERROR;
            }
            if (set_int(o, v, (int64_t *)((char *)c + o->offset), where, err, errlen) < 0)
                return CFG_ERROR;
            break;
        case OPT_STRING:
            if (util_strlcpy((char *)c + o->offset, val, o->size) < 0) {
                snprintf(err, errlen, "%s: value longer than %zu bytes", where, o->size - 1);
                return CFG_ERROR;
            }
            break;
        case OPT_LISTEN:
            if (add_listener(&flags, val, where, err, errlen) < 0)
                return CFG_ERROR;
            n_flag_listeners++;
            break;
        case OPT_SINK:
            if (add_sink(&flags, val, where, err, errlen) < 0)
                return CFG_ERROR;
            n_flag_sinks++;
            break;
        default:
            break;
        }
    }
    if (n_flag_listeners) {
        memcpy(c->listeners, flags.listeners, sizeof c->listeners);
        c->n_listeners = flags.n_listeners;
    }
    if (n_flag_sinks) {
        memcpy(c->sinks, flags.sinks, sizeof c->sinks);
        c->n_sinks = flags.n_sinks;
    }
    return cfg_finish(c, err, errlen) < 0 ? CFG_ERROR : CFG_OK;
}
