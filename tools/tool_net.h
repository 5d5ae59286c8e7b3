/* tool_net.h - helpers shared by the command-line tools: connecting to a collector URL, decoding
 * the collector's replies (the wire protocol of DESIGN.md), the monotonic clock, and the
 * table-driven command line (one option table gives parsing and --help).
 *
 * Wire protocol (contract): the client sends one JSON object per '\n'-terminated line; the
 * collector answers on the same connection with `{"ack":N}\n` (N = lines of this connection now
 * durable; coalesced, monotonic) and, for a rejected line, `{"error":{"line":N,"reason":"..."}}\n`.
 */
#ifndef OCSF_TOOL_NET_H
#define OCSF_TOOL_NET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "url.h"

/* Longest reply line kept; longer ones are skipped whole (and reported via on_unknown). */
#define TOOL_REPLY_MAX 8192

/* Monotonic clock in nanoseconds. */
uint64_t tool_now_ns(void);

/* Connects to u (tcp:// or unix://), waiting at most timeout_ms. Returns the socket (non-blocking,
 * close-on-exec, TCP_NODELAY for tcp; the caller owns it) or -1 with "cannot connect to URL:
 * strerror" in err. Any other scheme is refused with a message naming it. */
int tool_net_connect(const url_t *u, int timeout_ms, char *err, size_t errlen);

/* Sets O_NONBLOCK on fd. 0 or -1 (errno set). */
int tool_net_set_nonblocking(int fd);

/* Callbacks for tool_reply_feed()/tool_reply_read(); any may be NULL. Strings are borrowed for
 * the duration of the call only. */
typedef struct tool_reply_ops {
    void (*on_ack)(void *ctx, uint64_t count);
    void (*on_error)(void *ctx, uint64_t line, const char *reason);
    void (*on_unknown)(void *ctx, const char *line); /* not an ack or error line, or too long */
} tool_reply_ops_t;

/* Splits the reply stream into lines; holds at most one partial line (TOOL_REPLY_MAX bytes). */
typedef struct tool_reply_reader {
    char buf[TOOL_REPLY_MAX];
    size_t len;
    int is_skipping; /* inside a line longer than buf: drop bytes up to the next '\n' */
} tool_reply_reader_t;

void tool_reply_init(tool_reply_reader_t *r);

/* Feeds n bytes of reply stream, calling ops for every complete line. */
void tool_reply_feed(tool_reply_reader_t *r, const char *data, size_t n,
                     const tool_reply_ops_t *ops, void *ctx);

/* Reads everything available on non-blocking fd and feeds it. Returns 0 when the read would
 * block, 1 at end of stream (the collector closed), -1 on error (errno set). */
int tool_reply_read(tool_reply_reader_t *r, int fd, const tool_reply_ops_t *ops, void *ctx);

/* One command-line option: "--name VALUE", "--name=VALUE", or the short name. */
typedef struct tool_option {
    int id;
    const char *name;
    const char *short_name; /* NULL when none */
    const char *arg;        /* NULL: a flag without value; else the value's name for --help */
    const char *help;
} tool_option_t;

/* Matches argv[*i] against the n options. Returns the option, with *value the value (NULL for a
 * flag) and *i moved past a value given as the next argument; or NULL with err saying what was
 * wrong (unknown option, missing value). */
const tool_option_t *tool_option_next(const tool_option_t *opts, size_t n, int argc, char **argv,
                                      int *i, const char **value, char *err, size_t errlen);
/* Prints "  -s, --name ARG   help" lines, the left column `width` wide. */
void tool_option_usage(FILE *f, const tool_option_t *opts, size_t n, int width);

/* Parses a decimal integer in [min, max] (the whole string). 0 or -1. */
int tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a positive number of seconds (decimals allowed, at most one day) into milliseconds. */
int tool_parse_seconds(const char *s, int *out_ms);

/* Replaces control characters in s with '?' (for printing text that came off the network). */
void tool_sanitize(char *s);

#endif /* OCSF_TOOL_NET_H */
