/* tool_net.c - client side of the emitter wire protocol, shared by ocsf-emit and ocsf-bench.
 *
 * Invariants: sockets handed out are non-blocking and close-on-exec; the reply reader never holds
 * more than TOOL_REPLY_MAX bytes of an unfinished line (a longer line is skipped whole, never
 * split into two); every jansson value loaded here is released before the callback's caller
 * returns (callbacks only borrow strings).
 */
#include "tool_net.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

uint64_t tool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int tool_net_set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Milliseconds left until deadline_ns (0 when past). */
static int tool_ms_left(uint64_t deadline_ns)
{
    uint64_t now = tool_now_ns();
    if (now >= deadline_ns)
        return 0;
    return (int)((deadline_ns - now + 999999) / 1000000);
}

/* Waits for a non-blocking connect on fd to finish. 0, or -1 with errno set. */
static int tool_connect_wait(int fd, uint64_t deadline_ns)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        int n = poll(&pfd, 1, tool_ms_left(deadline_ns));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            return -1;
        if (soerr != 0) {
            errno = soerr;
            return -1;
        }
        return 0;
    }
}

static int tool_connect_tcp(const url_t *u, uint64_t deadline_ns, int *err_no, const char **gai)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    int fd = -1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", u->port);
    rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc != 0) {
        *gai = gai_strerror(rc);
        return -1;
    }
    *err_no = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int one = 1;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            *err_no = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && tool_connect_wait(fd, deadline_ns) == 0)) {
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            break;
        }
        *err_no = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int tool_connect_unix(const url_t *u, uint64_t deadline_ns, int *err_no)
{
    struct sockaddr_un sun;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(u->path) >= sizeof(sun.sun_path)) {
        *err_no = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, u->path, strlen(u->path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err_no = errno;
        return -1;
    }
    /* A full accept backlog gives EAGAIN on a non-blocking unix connect: retry until the
     * deadline. */
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
            return fd;
        if (errno == EINPROGRESS && tool_connect_wait(fd, deadline_ns) == 0)
            return fd;
        if (errno != EAGAIN || tool_ms_left(deadline_ns) == 0)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    }
    *err_no = errno == EAGAIN ? ETIMEDOUT : errno;
    close(fd);
    return -1;
}

int tool_net_connect(const url_t *u, int timeout_ms, char *err, size_t errlen)
{
    char name[URL_MAX_LEN];
    uint64_t deadline_ns = tool_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000u;
    int err_no = 0;
    const char *gai = NULL;
    int fd;

    url_format(u, name, sizeof(name));
    if (strcmp(u->scheme, "tcp") == 0) {
        fd = tool_connect_tcp(u, deadline_ns, &err_no, &gai);
    } else if (strcmp(u->scheme, "unix") == 0) {
        fd = tool_connect_unix(u, deadline_ns, &err_no);
    } else {
        snprintf(err, errlen,
                 "cannot connect to %s: scheme '%s' is not supported (use tcp:// or "
                 "unix://)",
                 name, u->scheme);
        return -1;
    }
    if (fd < 0) {
        if (gai)
            snprintf(err, errlen, "cannot connect to %s: cannot resolve host: %s", name, gai);
        else
            snprintf(err, errlen, "cannot connect to %s: %s", name, strerror(err_no));
        return -1;
    }
    return fd;
}

/* Fast path for the frequent `{"ack":N}`; 1 when line was one. */
static int tool_reply_fast_ack(const char *line, uint64_t *count)
{
    static const char prefix[] = "{\"ack\":";
    const char *p;
    uint64_t value = 0;

    if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    p = line + sizeof(prefix) - 1;
    if (*p < '0' || *p > '9')
        return 0;
    for (int digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits >= 19)
            return 0;
        value = value * 10 + (uint64_t)(*p - '0');
    }
    if (p[0] != '}' || p[1] != '\0')
        return 0;
    *count = value;
    return 1;
}

static void tool_reply_line(char *line, size_t len, const tool_reply_ops_t *ops, void *ctx)
{
    json_t *root = NULL; /* new reference from json_loadb, released below */
    json_t *ack, *error;
    uint64_t count;

    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (tool_reply_fast_ack(line, &count)) {
        if (ops->on_ack)
            ops->on_ack(ctx, count);
        return;
    }
    root = json_loadb(line, len, 0, NULL);
    if (!json_is_object(root))
        goto unknown;
    ack = json_object_get(root, "ack"); /* borrowed */
    error = json_object_get(root, "error");
    if (json_is_integer(ack) && json_integer_value(ack) >= 0) {
        if (ops->on_ack)
            ops->on_ack(ctx, (uint64_t)json_integer_value(ack));
        json_decref(root);
        return;
    }
    if (json_is_object(error)) {
        json_t *jline = json_object_get(error, "line");
        json_t *reason = json_object_get(error, "reason");
        if (json_is_integer(jline) && json_integer_value(jline) >= 0) {
            if (ops->on_error)
                ops->on_error(ctx, (uint64_t)json_integer_value(jline),
                              json_is_string(reason) ? json_string_value(reason) : "(no reason)");
            json_decref(root);
            return;
        }
    }
unknown:
    json_decref(root);
    if (ops->on_unknown)
        ops->on_unknown(ctx, line);
}

void tool_reply_init(tool_reply_reader_t *r)
{
    r->len = 0;
    r->is_skipping = 0;
}

void tool_reply_feed(tool_reply_reader_t *r, const char *data, size_t n,
                     const tool_reply_ops_t *ops, void *ctx)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t chunk = nl ? (size_t)(nl - data) : n;
        size_t used = nl ? chunk + 1 : chunk;

        if (r->is_skipping) {
            if (nl)
                r->is_skipping = 0;
        } else if (r->len + chunk >= sizeof(r->buf)) {
            r->len = 0;
            r->is_skipping = nl == NULL;
            if (ops->on_unknown)
                ops->on_unknown(ctx, "(reply line too long, skipped)");
        } else {
            memcpy(r->buf + r->len, data, chunk);
            r->len += chunk;
            if (nl) {
                r->buf[r->len] = '\0';
                tool_reply_line(r->buf, r->len, ops, ctx);
                r->len = 0;
            }
        }
        data += used;
        n -= used;
    }
}

int tool_reply_read(tool_reply_reader_t *r, int fd, const tool_reply_ops_t *ops, void *ctx)
{
    char buf[65536];

    /* Bounded so that a chatty peer cannot starve the caller's writes. */
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            tool_reply_feed(r, buf, (size_t)n, ops, ctx);
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
    return 0;
}

int tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int tool_parse_seconds(const char *s, int *out_ms)
{
    char *end;
    double v;

    if (!s || *s == '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v <= 0 || v > 86400)
        return -1;
    *out_ms = (int)ceil(v * 1000.0);
    return 0;
}

void tool_sanitize(char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
    }
}

const tool_option_t *tool_option_next(const tool_option_t *opts, size_t n, int argc, char **argv,
                                      int *i, const char **value, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    *value = NULL;
    for (size_t k = 0; k < n; k++) {
        const tool_option_t *o = &opts[k];
        size_t len = strlen(o->name);
        int is_long =
            strncmp(arg, o->name, len) == 0 && (arg[len] == '\0' || (arg[len] == '=' && o->arg));
        if (!is_long && !(o->short_name && strcmp(arg, o->short_name) == 0))
            continue;
        if (is_long && arg[len] == '=')
            *value = arg + len + 1;
        else if (o->arg) {
            if (*i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value (%s)", o->name, o->arg);
                return NULL;
            }
            *value = argv[++*i];
        }
        return o;
    }
    snprintf(err, errlen, "unknown option '%.200s' (see --help)", arg);
    return NULL;
}

void tool_option_usage(FILE *f, const tool_option_t *opts, size_t n, int width)
{
    for (size_t k = 0; k < n; k++) {
        const tool_option_t *o = &opts[k];
        char left[96];
        snprintf(left, sizeof left, "%s%s%s%s%s", o->short_name ? o->short_name : "",
                 o->short_name ? ", " : "", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-*s %s\n", width, left, o->help);
    }
}
