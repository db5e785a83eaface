/* log.h: leveled logging to stderr (foreground) or syslog, key=value lines.
 * Thread-safe: worker threads log too. Client text must go through
 * log_escape() before it reaches a log line. */
#ifndef MM_LOG_H
#define MM_LOG_H

#include <stddef.h>
#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* to_stderr: 1 logs to stderr with a timestamp, 0 to syslog (facility mail). */
void log_init(const char *ident, int to_stderr, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error|warn|info|debug"; returns -1 on anything else. */
int log_level_parse(const char *s);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_get_level() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

/* Start-up errors and broken invariants only: logs and exits 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Copy at most len bytes of client text into dst (size dstlen, always
 * NUL-terminated), escaping control bytes, '"', '\\' and bytes >= 0x7f as
 * \xNN and truncating with "..." when it does not fit. Returns dst. */
char *log_escape(char *dst, size_t dstlen, const char *src, size_t len);

#endif
