/*
 * replay_filter.c - ocsf-replay's selection: parsing the filter flags (times, class names, status,
 * --where) and matching events. The spool source turns the column filters into indexed SQL
 * (ocsf-replay.c); the body filters (--where, --activity by name) and the Kafka source use the
 * matchers here. Contracts in replay.h.
 */
#include "replay.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

json_t *replay_event_json(replay_event_t *ev)
{
    if (!ev->json && ev->len > 0) {
        json_t *j = json_loadb(ev->body, ev->len, JSON_DECODE_ANY, NULL);
        if (j && !json_is_object(j)) {
            json_decref(j);
            j = NULL;
        }
        ev->json = j;
    }
    return ev->json;
}

void replay_event_release(replay_event_t *ev)
{
    json_decref(ev->json);
    ev->json = NULL;
}

void replay_filter_init(replay_filter_t *f)
{
    memset(f, 0, sizeof *f);
    f->since_ms = INT64_MIN;
    f->until_ms = INT64_MAX;
    f->activity_id = -1;
    f->status_id = -1;
}

/* Parses exactly n digits at *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *out_ms)
{
    const char *p = s;
    int Y, M, D, h = 0, m = 0, sec = 0, ms = 0, off_min = 0;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec))
                return -1;
            if (*p == '.') {
                p++;
                int n = 0, scale = 100;
                while (isdigit((unsigned char)*p) && n < 9) {
                    ms += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                    n++;
                }
                if (n == 0)
                    return -1;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            off_min = sign * (oh * 60 + om);
        } else {
            return -1; /* a time of day needs its offset: never guess the local zone */
        }
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != D) /* 2026-02-30 normalizes to March: refuse it */
        return -1;
    *out_ms = ((int64_t)t - (int64_t)off_min * 60) * 1000 + ms;
    return 0;
}

static int replay_parse_time_raw(const char *s, int64_t now_ms, int64_t *out_ms, char *err,
                                 size_t errlen)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000}};
    size_t n = strlen(s);
    if (strcmp(s, "now") == 0) {
        *out_ms = now_ms;
        return 0;
    }
    if (n >= 2 && n < 12 && strspn(s, "0123456789") == n - 1) {
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (s[n - 1] == units[i].unit) {
                *out_ms = now_ms - strtoll(s, NULL, 10) * units[i].ms;
                return 0;
            }
    }
    if (n < 64 && parse_rfc3339(s, out_ms) == 0)
        return 0;
    snprintf(err, errlen,
             "bad time '%.80s': use RFC 3339 (2026-11-28T14:00:00Z, 2026-11-28T15:00:00+01:00, "
             "2026-11-28), 'now', or a time ago (45s, 90m, 2h, 3d, 1w)",
             s);
    return -1;
}

/* Lower-case, with ' ', '_' and '-' all as '_'. */
static void class_key(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++) {
        char c = (char)tolower((unsigned char)s[i]);
        out[i] = c == ' ' || c == '-' ? '_' : c;
    }
    out[i] = '\0';
}

static int replay_parse_class_raw(const schema_t *schema, const char *s, int *uid, char *err,
                                  size_t errlen)
{
    char key[128], caption[128] = "";
    size_t n = strlen(s);
    if (n > 0 && n < 10 && strspn(s, "0123456789") == n) {
        *uid = atoi(s);
        if (schema && !schema_class_name(schema, *uid)) {
            snprintf(err, errlen, "--class %s: no OCSF %s class has this uid", s,
                     schema_version(schema));
            return -1;
        }
        return 0;
    }
    if (n >= sizeof key || !schema) {
        snprintf(err, errlen, "--class '%.80s': unknown class name", s);
        return -1;
    }
    class_key(s, key, sizeof key);
    int v = schema_class_uid(schema, key); /* names: "network_activity" */
    if (v < 0) {
        for (size_t i = 0; key[i]; i++) /* captions: "Network Activity" */
            caption[i] = key[i] == '_' ? ' ' : key[i], caption[i + 1] = '\0';
        v = schema_class_uid(schema, caption);
    }
    if (v < 0) {
        snprintf(err, errlen,
                 "--class '%.80s': not an OCSF %s class name or uid (e.g. 3002, authentication, "
                 "'network activity', api_activity)",
                 s, schema_version(schema));
        return -1;
    }
    *uid = v;
    return 0;
}

static int replay_parse_status_raw(const char *s, int *status_id, char *err, size_t errlen)
{
    /* status_id is the same enum in every OCSF class (base event) */
    static const struct {
        const char *name;
        int id;
    } names[] = {{"unknown", 0}, {"success", 1}, {"failure", 2}, {"other", 99}};
    size_t n = strlen(s);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *status_id = names[i].id;
            return 0;
        }
    if (n > 0 && n < 4 && strspn(s, "0123456789") == n) {
        *status_id = atoi(s);
        return 0;
    }
    snprintf(err, errlen, "--status '%.80s': use success, failure, unknown, other or a status_id",
             s);
    return -1;
}

static int replay_parse_activity_raw(replay_filter_t *f, const char *s, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n > 0 && n < 6 && strspn(s, "0123456789") == n) {
        f->activity_id = atoi(s);
        return 0;
    }
    if (n == 0 || n >= sizeof f->activity_name) {
        snprintf(err, errlen, "--activity '%.80s': use an activity_id or a name (Logon, Refuse)",
                 s);
        return -1;
    }
    memcpy(f->activity_name, s, n + 1);
    return 0;
}

static int replay_parse_where_raw(replay_filter_t *f, const char *s, char *err, size_t errlen)
{
    const char *eq = strchr(s, '=');
    if (f->n_where >= REPLAY_MAX_WHERE) {
        snprintf(err, errlen, "--where: at most %d", REPLAY_MAX_WHERE);
        return -1;
    }
    replay_where_t *w = &f->where[f->n_where];
    size_t plen = eq ? (size_t)(eq - s) : 0;
    if (!eq || plen == 0 || plen >= sizeof w->path || strlen(eq + 1) >= sizeof w->value ||
        s[0] == '.' || eq[-1] == '.' || strstr(s, "..")) {
        snprintf(err, errlen,
                 "--where '%.80s': use PATH=VALUE with a dotted OCSF path "
                 "(dst_endpoint.hostname=evil.example, actor.user.name=alice)",
                 s);
        return -1;
    }
    memcpy(w->path, s, plen);
    w->path[plen] = '\0';
    strcpy(w->value, eq + 1); /* length checked above */
    w->is_glob = strpbrk(w->value, "*?[") != NULL;
    f->n_where++;
    return 0;
}

int replay_filter_needs_body(const replay_filter_t *f)
{
    return f->n_where > 0 || f->activity_name[0];
}

int replay_filter_match_columns(const replay_filter_t *f, const replay_event_t *ev)
{
    if (f->since_ms != INT64_MIN || f->until_ms != INT64_MAX) {
        if (ev->event_ms < 0 || ev->event_ms < f->since_ms || ev->event_ms >= f->until_ms)
            return 0;
    }
    if (f->user[0] && (!ev->user || strcmp(ev->user, f->user)))
        return 0;
    if (f->workspace[0] && (!ev->workspace || strcmp(ev->workspace, f->workspace)))
        return 0;
    if (f->n_classes) {
        int hit = 0;
        for (int i = 0; i < f->n_classes; i++)
            hit |= ev->class_uid == f->classes[i];
        if (!hit)
            return 0;
    }
    if (f->activity_id >= 0 && ev->activity_id != f->activity_id)
        return 0;
    if (f->status_id >= 0 && ev->status_id != f->status_id)
        return 0;
    return 1;
}

json_t *replay_json_path(json_t *obj, const char *path)
{
    char seg[256];
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    if (n >= sizeof seg)
        return NULL;
    if (json_is_array(obj)) { /* arrays of objects: the first element that has the path */
        size_t i;
        json_t *el;
        json_array_foreach(obj, i, el)
        {
            json_t *v = replay_json_path(el, path);
            if (v)
                return v;
        }
        return NULL;
    }
    if (!json_is_object(obj))
        return NULL;
    memcpy(seg, path, n);
    seg[n] = '\0';
    json_t *v = json_object_get(obj, seg);
    if (!v || !dot)
        return v;
    return replay_json_path(v, dot + 1);
}

/* One value against --where's text: strings equal (or glob), numbers and booleans by value. */
static int where_value_matches(const replay_where_t *w, const json_t *v)
{
    char buf[64];
    const char *text = NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
        text = json_string_value(v);
        break;
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        text = buf;
        break;
    case JSON_REAL: {
        char *end;
        errno = 0;
        double d = strtod(w->value, &end);
        return !errno && end != w->value && !*end && d == json_real_value(v);
    }
    case JSON_TRUE:
        text = "true";
        break;
    case JSON_FALSE:
        text = "false";
        break;
    case JSON_NULL:
        text = "null";
        break;
    default:
        return 0;
    }
    if (w->is_glob)
        return fnmatch(w->value, text, 0) == 0;
    return strcmp(w->value, text) == 0;
}

/* Any value at path (arrays: any element) matches. */
static int where_matches(const replay_where_t *w, json_t *obj, const char *path)
{
    if (json_is_array(obj)) {
        size_t i;
        json_t *el;
        json_array_foreach(obj, i, el) if (where_matches(w, el, path)) return 1;
        return 0;
    }
    if (!*path)
        return where_value_matches(w, obj);
    if (!json_is_object(obj))
        return 0;
    char seg[256];
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    if (n >= sizeof seg)
        return 0;
    memcpy(seg, path, n);
    seg[n] = '\0';
    json_t *v = json_object_get(obj, seg);
    return v && where_matches(w, v, dot ? dot + 1 : "");
}

int replay_filter_match_body(const replay_filter_t *f, replay_event_t *ev)
{
    if (!replay_filter_needs_body(f))
        return 1;
    json_t *j = replay_event_json(ev);
    if (!j)
        return 0;
    if (f->activity_name[0]) {
        const char *a = json_string_value(json_object_get(j, "activity_name"));
        if (!a || strcasecmp(a, f->activity_name))
            return 0;
    }
    for (int i = 0; i < f->n_where; i++)
        if (!where_matches(&f->where[i], j, f->where[i].path))
            return 0;
    return 1;
}

/* Where sources without columns (Kafka) find user and workspace in a normalized body: the first
 * path present wins. */
static const char *const user_paths[] = {"actor.user.name", "user.name", "actor.user.uid",
                                         "user.uid"};
static const char *const workspace_paths[] = {"unmapped.workspace", "entity.name",
                                              "dst_endpoint.name", "device.name"};

static const char *first_string(json_t *j, const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = json_string_value(replay_json_path(j, paths[i]));
        if (v)
            return v;
    }
    return NULL;
}

static int int_or(json_t *j, const char *key, int dflt)
{
    json_t *v = json_object_get(j, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

void replay_event_columns_from_body(replay_event_t *ev)
{
    json_t *j = replay_event_json(ev);
    if (!j)
        return;
    ev->class_uid = int_or(j, "class_uid", -1);
    ev->activity_id = int_or(j, "activity_id", -1);
    ev->status_id = int_or(j, "status_id", -1);
    json_t *t = json_object_get(j, "time");
    if (json_is_integer(t))
        ev->event_ms = json_integer_value(t);
    if (!ev->user)
        ev->user = first_string(j, user_paths, sizeof user_paths / sizeof user_paths[0]);
    if (!ev->workspace)
        ev->workspace =
            first_string(j, workspace_paths, sizeof workspace_paths / sizeof workspace_paths[0]);
}

/* The public parsers: their messages may quote the argument, which may be any bytes. */
static int sanitized(int rc, char *err)
{
    if (rc < 0)
        util_text_sanitize(err);
    return rc;
}

int replay_parse_time(const char *s, int64_t now_ms, int64_t *out_ms, char *err, size_t errlen)
{
    return sanitized(replay_parse_time_raw(s, now_ms, out_ms, err, errlen), err);
}

int replay_parse_class(const schema_t *schema, const char *s, int *uid, char *err, size_t errlen)
{
    return sanitized(replay_parse_class_raw(schema, s, uid, err, errlen), err);
}

int replay_parse_status(const char *s, int *status_id, char *err, size_t errlen)
{
    return sanitized(replay_parse_status_raw(s, status_id, err, errlen), err);
}

int replay_parse_activity(replay_filter_t *f, const char *s, char *err, size_t errlen)
{
    return sanitized(replay_parse_activity_raw(f, s, err, errlen), err);
}

int replay_parse_where(replay_filter_t *f, const char *s, char *err, size_t errlen)
{
    return sanitized(replay_parse_where_raw(f, s, err, errlen), err);
}
