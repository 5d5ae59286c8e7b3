/* ocsf-emit - send events to an ocsf-collector and, with --ack, prove they are durable.
 *
 *   ocsf-emit --to URL [--ack] [--timeout SECONDS] [--quiet]              < events.ndjson
 *   ocsf-emit --to URL [--ack] --type T key=value key:=JSON ...
 *
 * Without --type, NDJSON is streamed from stdin: memory stays bounded (EMIT_OUT_MAX) whatever the
 * input size, each line (blank ones too, so that the collector's line numbers are the input's)
 * goes out byte-exact, and a missing final newline is added. With --type, one event is built with
 * jansson. The socket is read while sending (poll), so `{"error":...}` replies are printed as
 * they come and acks never pile up in the kernel.
 *
 * Exit codes: 0 ok; 1 runtime failure (cannot connect, collector closed early, no final ack in
 * time); 2 usage error. With --ack, 0 means an ack covered every line sent (DESIGN.md's
 * end-to-end durability guarantee); rejected lines count as acknowledged (they are durable as
 * dead letters) but are each reported on stderr.
 *
 * Timeouts: --timeout bounds the connect, the wait for the final ack after the half-close, and
 * any stretch in which the collector accepts none of our pending bytes.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "tool_net.h"
#include "url.h"

#define EMIT_READ_CHUNK (64 * 1024)  /* bytes read from stdin at a time */
#define EMIT_OUT_MAX    (256 * 1024) /* pending output buffer; stdin is read only when it has room */
#define EMIT_EXIT_OK    0
#define EMIT_EXIT_FAIL  1
#define EMIT_EXIT_USAGE 2

enum emit_opt_id { OPT_TO, OPT_ACK, OPT_TIMEOUT, OPT_TYPE, OPT_QUIET, OPT_HELP, OPT_VERSION };

/* The command line: parsing and --help both come from this table. */
static const tool_option_t emit_options[] = {
    {OPT_TO, "--to", NULL, "URL",
     "collector to send to: tcp://HOST:PORT or unix:///path (required)"},
    {OPT_ACK, "--ack", NULL, NULL,
     "wait for the final ack; exit 1 unless it covers every line sent"},
    {OPT_TIMEOUT, "--timeout", NULL, "SECONDS",
     "limit for connecting, for a stalled send and for the final ack (default 10)"},
    {OPT_TYPE, "--type", NULL, "T",
     "send one event {\"type\":T,...}; KEY=VALUE adds a string, KEY:=JSON a raw JSON value"},
    {OPT_QUIET, "--quiet", NULL, NULL, "print only errors"},
    {OPT_HELP, "--help", NULL, NULL, "show this help"},
    {OPT_VERSION, "--version", NULL, NULL, "print the version"},
};

struct emit_config {
    const char *to;
    int is_ack_wanted;
    int timeout_ms;
    const char *type;
    int is_quiet;
    char **fields; /* KEY=VALUE / KEY:=JSON arguments (borrowed from argv) */
    int field_count;
};

/* Connection state for the send/receive loop. */
struct emit_state {
    const struct emit_config *cfg;
    const char *url_name;
    int fd;
    char *out; /* pending bytes [out_off, out_len) (owned) */
    size_t out_off, out_len;
    uint64_t lines_queued; /* lines put into out so far */
    uint64_t lines_sent;   /* lines whose last byte the kernel accepted */
    uint64_t acked;        /* highest ack seen */
    uint64_t rejected;
    int is_input_done; /* no more lines will be queued */
    int is_line_open;  /* the last byte queued was not '\n' */
    int is_half_closed;
    int is_peer_closed;
};

static void emit_usage(FILE *f)
{
    fprintf(f, "usage: ocsf-emit --to URL [--ack] [--timeout SECONDS] [--quiet] < events.ndjson\n"
               "       ocsf-emit --to URL [--ack] --type T [KEY=VALUE | KEY:=JSON ...]\n\n"
               "Sends NDJSON events to an ocsf-collector (one JSON object per line).\n\n");
    tool_option_usage(f, emit_options, sizeof(emit_options) / sizeof(emit_options[0]), 20);
    fprintf(f, "\nExit status: 0 ok, 1 runtime failure, 2 usage error.\n");
}

/* Parses argv into cfg. Returns -1 (message printed) on a usage error, 1 when --help/--version
 * was handled, 0 to go on. */
static int emit_parse_args(int argc, char **argv, struct emit_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->timeout_ms = 10000;
    cfg->fields = calloc((size_t)argc, sizeof(char *));
    if (!cfg->fields) {
        fprintf(stderr, "ocsf-emit: out of memory\n");
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const tool_option_t *opt = NULL;
        const char *value = NULL;

        if (strncmp(arg, "--", 2) != 0) {
            cfg->fields[cfg->field_count++] = argv[i];
            continue;
        }
        char err[256];
        opt = tool_option_next(emit_options, sizeof(emit_options) / sizeof(emit_options[0]), argc,
                               argv, &i, &value, err, sizeof(err));
        if (!opt) {
            fprintf(stderr, "ocsf-emit: %s\n", err);
            return -1;
        }
        switch ((enum emit_opt_id)opt->id) {
        case OPT_TO:
            cfg->to = value;
            break;
        case OPT_ACK:
            cfg->is_ack_wanted = 1;
            break;
        case OPT_TIMEOUT:
            if (tool_parse_seconds(value, &cfg->timeout_ms) < 0) {
                fprintf(stderr, "ocsf-emit: --timeout: not a number of seconds in (0, 86400]: %s\n",
                        value);
                return -1;
            }
            break;
        case OPT_TYPE:
            if (value[0] == '\0') {
                fprintf(stderr, "ocsf-emit: --type: empty event type\n");
                return -1;
            }
            cfg->type = value;
            break;
        case OPT_QUIET:
            cfg->is_quiet = 1;
            break;
        case OPT_HELP:
            emit_usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("ocsf-emit %s\n", OCSF_VERSION);
            return 1;
        }
    }
    if (!cfg->to) {
        fprintf(stderr, "ocsf-emit: --to URL is required (see --help)\n");
        return -1;
    }
    if (cfg->field_count > 0 && !cfg->type) {
        fprintf(stderr, "ocsf-emit: %s: KEY=VALUE arguments need --type\n", cfg->fields[0]);
        return -1;
    }
    return 0;
}

/* Builds the --type event as one compact JSON line in *line (malloc'd, caller frees). -1 on a
 * bad KEY=VALUE / KEY:=JSON argument (message printed). */
static int emit_build_event(const struct emit_config *cfg, char **line)
{
    json_t *event = json_object(); /* owned here until json_decref */
    char *text = NULL;
    int rc = -1;

    if (!event || json_object_set_new(event, "type", json_string(cfg->type)) < 0) {
        fprintf(stderr, "ocsf-emit: --type: not valid UTF-8: %s\n", cfg->type);
        goto fail;
    }
    for (int i = 0; i < cfg->field_count; i++) {
        const char *arg = cfg->fields[i];
        const char *eq = strchr(arg, '=');
        int is_raw;
        size_t key_len;
        char *key;
        json_t *value; /* new reference, stolen by json_object_set_new */

        if (!eq) {
            fprintf(stderr, "ocsf-emit: %s: expected KEY=VALUE or KEY:=JSON\n", arg);
            goto fail;
        }
        is_raw = eq > arg && eq[-1] == ':';
        key_len = (size_t)(eq - arg) - (is_raw ? 1 : 0);
        if (key_len == 0) {
            fprintf(stderr, "ocsf-emit: %s: empty key\n", arg);
            goto fail;
        }
        if (is_raw) {
            json_error_t jerr;
            value = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
            if (!value) {
                fprintf(stderr, "ocsf-emit: %s: not valid JSON: %s\n", arg, jerr.text);
                goto fail;
            }
        } else {
            value = json_string(eq + 1);
            if (!value) {
                fprintf(stderr, "ocsf-emit: %s: value is not valid UTF-8\n", arg);
                goto fail;
            }
        }
        key = strndup(arg, key_len);
        if (!key || json_object_set_new(event, key, value) < 0) {
            fprintf(stderr, "ocsf-emit: %s: key is not valid UTF-8\n", arg);
            free(key);
            goto fail;
        }
        free(key);
    }
    text = json_dumps(event, JSON_COMPACT);
    if (!text) {
        fprintf(stderr, "ocsf-emit: cannot encode the event\n");
        goto fail;
    }
    *line = text;
    rc = 0;
fail:
    json_decref(event);
    return rc;
}

/* Appends n input bytes to the output buffer as they are, counting the lines they end. Blank
 * lines go out too: the collector numbers (and acks) every line, so its error line numbers stay
 * the input's line numbers. The caller guarantees room for n bytes. */
static void emit_queue_input(struct emit_state *st, const char *data, size_t n)
{
    memcpy(st->out + st->out_len, data, n);
    st->out_len += n;
    for (const char *p = data, *end = data + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
         p++)
        st->lines_queued++;
    st->is_line_open = data[n - 1] != '\n';
}

/* Input is over: an unfinished last line gets its '\n'. */
static void emit_finish_input(struct emit_state *st)
{
    if (st->is_line_open) {
        st->out[st->out_len++] = '\n';
        st->lines_queued++;
        st->is_line_open = 0;
    }
    st->is_input_done = 1;
}

static void emit_on_ack(void *ctx, uint64_t count)
{
    struct emit_state *st = ctx;
    if (count > st->acked)
        st->acked = count;
}

static void emit_on_error(void *ctx, uint64_t line, const char *reason)
{
    struct emit_state *st = ctx;
    char text[512];
    snprintf(text, sizeof(text), "%s", reason);
    tool_sanitize(text);
    st->rejected++;
    fprintf(stderr, "ocsf-emit: line %llu rejected: %s\n", (unsigned long long)line, text);
}

static void emit_on_unknown(void *ctx, const char *line)
{
    struct emit_state *st = ctx;
    char text[256];
    if (st->cfg->is_quiet)
        return;
    snprintf(text, sizeof(text), "%s", line);
    tool_sanitize(text);
    fprintf(stderr, "ocsf-emit: ignoring unexpected reply: %s\n", text);
}

static const tool_reply_ops_t emit_reply_ops = {
    .on_ack = emit_on_ack,
    .on_error = emit_on_error,
    .on_unknown = emit_on_unknown,
};

/* Writes pending bytes. 0, or -1 when the collector is gone (EPIPE/ECONNRESET). */
static int emit_write_pending(struct emit_state *st)
{
    while (st->out_off < st->out_len) {
        ssize_t n = write(st->fd, st->out + st->out_off, st->out_len - st->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0)
            return -1;
        for (const char *p = st->out + st->out_off, *end = p + n;
             (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
            st->lines_sent++;
        st->out_off += (size_t)n;
    }
    st->out_off = st->out_len = 0;
    return 0;
}

/* Reads one chunk of stdin into the output buffer. */
static int emit_read_stdin(struct emit_state *st)
{
    char buf[EMIT_READ_CHUNK];
    ssize_t n;

    if (st->out_off > 0) { /* compact so that the chunk fits */
        memmove(st->out, st->out + st->out_off, st->out_len - st->out_off);
        st->out_len -= st->out_off;
        st->out_off = 0;
    }
    do {
        n = read(STDIN_FILENO, buf, sizeof(buf));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        fprintf(stderr, "ocsf-emit: reading stdin: %s\n", strerror(errno));
        return -1;
    }
    if (n == 0)
        emit_finish_input(st);
    else
        emit_queue_input(st, buf, (size_t)n);
    return 0;
}

/* The send/receive loop. Returns the exit code. */
static int emit_run(struct emit_state *st)
{
    const struct emit_config *cfg = st->cfg;
    uint64_t timeout_ns = (uint64_t)cfg->timeout_ms * 1000000u;
    uint64_t last_progress = tool_now_ns();
    uint64_t half_closed_at = 0;
    tool_reply_reader_t *reader = malloc(sizeof(*reader));

    if (!reader) {
        fprintf(stderr, "ocsf-emit: out of memory\n");
        return EMIT_EXIT_FAIL;
    }
    tool_reply_init(reader);
    for (;;) {
        struct pollfd pfd[2];
        int nfds = 1, wait_ms = -1, is_stdin_polled;
        uint64_t now = tool_now_ns();
        int has_pending = st->out_off < st->out_len;

        if (st->is_input_done && !has_pending && !st->is_half_closed) {
            shutdown(st->fd, SHUT_WR);
            st->is_half_closed = 1;
            half_closed_at = now;
        }
        if (st->is_half_closed) {
            if (st->acked >= st->lines_queued || st->is_peer_closed)
                break;
            if (now - half_closed_at >= timeout_ns)
                break;
            wait_ms = (int)((half_closed_at + timeout_ns - now) / 1000000u) + 1;
        } else if (st->is_peer_closed) {
            break;
        } else if (has_pending) {
            if (now - last_progress >= timeout_ns) {
                fprintf(stderr,
                        "ocsf-emit: %s accepted no data for %g s: %llu lines sent, %llu "
                        "acknowledged\n",
                        st->url_name, cfg->timeout_ms / 1000.0, (unsigned long long)st->lines_sent,
                        (unsigned long long)st->acked);
                free(reader);
                return EMIT_EXIT_FAIL;
            }
            wait_ms = (int)((last_progress + timeout_ns - now) / 1000000u) + 1;
        }

        pfd[0].fd = st->fd;
        pfd[0].events = POLLIN | (has_pending && !st->is_half_closed ? POLLOUT : 0);
        pfd[0].revents = 0;
        is_stdin_polled = !st->is_input_done && st->out_len - st->out_off < EMIT_OUT_MAX / 2;
        if (is_stdin_polled) {
            pfd[1].fd = STDIN_FILENO;
            pfd[1].events = POLLIN;
            pfd[1].revents = 0;
            nfds = 2;
        }
        if (poll(pfd, (nfds_t)nfds, wait_ms) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "ocsf-emit: poll: %s\n", strerror(errno));
            free(reader);
            return EMIT_EXIT_FAIL;
        }
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            uint64_t before = st->acked;
            int rc = tool_reply_read(reader, st->fd, &emit_reply_ops, st);
            if (rc != 0)
                st->is_peer_closed = 1;
            if (st->acked != before)
                last_progress = tool_now_ns();
        }
        if (pfd[0].revents & POLLOUT) {
            size_t before = st->out_off;
            if (emit_write_pending(st) < 0) {
                st->is_peer_closed = 1;
            } else if (st->out_off != before || st->out_len == 0) {
                last_progress = tool_now_ns();
            }
        }
        if (nfds == 2 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (emit_read_stdin(st) < 0) {
                free(reader);
                return EMIT_EXIT_FAIL;
            }
        }
    }
    free(reader);

    /* Closed by the collector before everything was sent or acknowledged. */
    if (st->is_peer_closed && st->acked < st->lines_queued &&
        (cfg->is_ack_wanted || !st->is_half_closed)) {
        fprintf(stderr, "ocsf-emit: connection closed by collector after ack %llu of %llu\n",
                (unsigned long long)st->acked, (unsigned long long)st->lines_queued);
        return EMIT_EXIT_FAIL;
    }
    if (cfg->is_ack_wanted && st->acked < st->lines_queued) {
        fprintf(stderr, "ocsf-emit: no final ack within %g s: %llu of %llu lines acknowledged\n",
                cfg->timeout_ms / 1000.0, (unsigned long long)st->acked,
                (unsigned long long)st->lines_queued);
        return EMIT_EXIT_FAIL;
    }
    if (!cfg->is_quiet) {
        fprintf(stderr, "ocsf-emit: %llu line%s sent", (unsigned long long)st->lines_queued,
                st->lines_queued == 1 ? "" : "s");
        if (cfg->is_ack_wanted)
            fprintf(stderr, ", %llu acknowledged", (unsigned long long)st->acked);
        if (st->rejected)
            fprintf(stderr, " (%llu rejected)", (unsigned long long)st->rejected);
        fprintf(stderr, "\n");
    }
    return EMIT_EXIT_OK;
}

int main(int argc, char **argv)
{
    struct emit_config cfg;
    struct emit_state st;
    url_t url;
    char err[512];
    char name[URL_MAX_LEN];
    char *event_line = NULL;
    int rc, exit_code = EMIT_EXIT_FAIL;

    memset(&st, 0, sizeof(st));
    st.fd = -1;
    rc = emit_parse_args(argc, argv, &cfg);
    if (rc != 0) {
        free(cfg.fields);
        return rc > 0 ? EMIT_EXIT_OK : EMIT_EXIT_USAGE;
    }
    if (url_parse(cfg.to, &url, err, sizeof(err)) < 0) {
        fprintf(stderr, "ocsf-emit: --to: %s\n", err);
        exit_code = EMIT_EXIT_USAGE;
        goto out;
    }
    if (strcmp(url.scheme, "tcp") != 0 && strcmp(url.scheme, "unix") != 0) {
        fprintf(stderr, "ocsf-emit: --to: unsupported scheme '%s' (use tcp:// or unix://)\n",
                url.scheme);
        exit_code = EMIT_EXIT_USAGE;
        goto out;
    }
    if (cfg.type && emit_build_event(&cfg, &event_line) < 0) {
        exit_code = EMIT_EXIT_USAGE;
        goto out;
    }
    url_format(&url, name, sizeof(name));
    signal(SIGPIPE, SIG_IGN);

    st.cfg = &cfg;
    st.url_name = name;
    st.out = malloc(EMIT_OUT_MAX + EMIT_READ_CHUNK + 2);
    if (!st.out) {
        fprintf(stderr, "ocsf-emit: out of memory\n");
        goto out;
    }
    if (event_line) {
        size_t n = strlen(event_line);
        free(st.out);
        st.out = malloc(n + 2);
        if (!st.out) {
            fprintf(stderr, "ocsf-emit: out of memory\n");
            goto out;
        }
        memcpy(st.out, event_line, n);
        st.out[n] = '\n';
        st.out_len = n + 1;
        st.lines_queued = 1;
        st.is_input_done = 1;
    }
    st.fd = tool_net_connect(&url, cfg.timeout_ms, err, sizeof(err));
    if (st.fd < 0) {
        fprintf(stderr, "ocsf-emit: %s\n", err);
        goto out;
    }
    exit_code = emit_run(&st);
out:
    if (st.fd >= 0)
        close(st.fd);
    free(st.out);
    free(event_line);
    free(cfg.fields);
    return exit_code;
}
