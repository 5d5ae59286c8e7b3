/*
 * log.h - the collector's one logger.
 *
 * Every line goes to stderr as "<RFC 3339 UTC time with ms> <LEVEL> <message>\n", written with a
 * single write(2) so lines from different threads never interleave. Tests and operators parse these
 * lines
 * ("listening on tcp://127.0.0.1:PORT", "ready"), so their wording is part of the outside contract.
 */
#ifndef OCSF_LOG_H
#define OCSF_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the lowest level that is printed. Thread-safe (a relaxed atomic). */
void log_set_level(int level);
/* "debug", "info", "warn", "error" -> level, or -1. */
int log_parse_level(const char *name);
int log_enabled(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
