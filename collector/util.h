/*
 * util.h - small helpers shared by modules: clocks and bounded string copies.
 */
#ifndef OCSF_UTIL_H
#define OCSF_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock milliseconds since the epoch. */
int64_t util_now_ms(void);
/* Monotonic nanoseconds (for intervals). */
uint64_t util_mono_ns(void);
/* Copies src into dst (size len), always NUL-terminated; returns -1 when src did not fit. */
int util_strlcpy(char *dst, const char *src, size_t len);
/* mkdir -p; returns 0 or -1 with errno set. */
int util_mkdirs(const char *path, unsigned mode);
/* Writes buf[0..len) to fd whole (retrying partial writes and EINTR). 0, or -1 with errno set (0
 * when a write made no progress). */
int util_write_all(int fd, const char *buf, size_t len);
/* Grows *buf (capacity *cap, len bytes used) so that `more` bytes fit after len: doubling from
 * `initial`. 0, or -1 on out of memory (the buffer is unchanged). */
int util_buf_reserve(char **buf, size_t *cap, size_t len, size_t more, size_t initial);
/* Replaces, in place, every byte that is not part of valid UTF-8 and every control character with
 * '?': for messages that quote user input into logs, replies or a terminal. */
void util_text_sanitize(char *s);
/* The value of one hex digit, or -1. */
int util_hex_value(int c);
/* Names the calling thread (at most 15 bytes show) for top -H, perf and gdb; best effort. */
void util_thread_name(const char *name);

#endif
