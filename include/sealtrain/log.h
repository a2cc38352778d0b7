/*
 * sealtrain/log.h: leveled logging, human or JSON lines.
 *
 * Log calls are printf-style and checked by the compiler. Secrets never
 * reach a log: they live in st_secret / secure memory as `unsigned char`
 * bytes, which a "%s" rejects at compile time (-Wformat -Werror), and no
 * module formats key material into text for logging.
 */
#ifndef SEALTRAIN_LOG_H
#define SEALTRAIN_LOG_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum st_log_level {
    ST_LOG_DEBUG = 0,
    ST_LOG_INFO,
    ST_LOG_WARN,
    ST_LOG_ERROR,
    ST_LOG_OFF
} st_log_level;

typedef enum st_log_format { ST_LOG_HUMAN = 0, ST_LOG_JSON } st_log_format;

/* Where and how to log; defaults: WARN, human, stderr. `out` may be NULL for
 * stderr. Thread-safe after configuration. */
void st_log_configure(st_log_level level, st_log_format format, FILE *out);
st_log_level st_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off"; -1 if unknown. */
int st_log_level_parse(const char *s);

/* `event` is a short stable name ("keyring.rotate"); the message is text. */
void st_log(st_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define st_debug(ev, ...) st_log(ST_LOG_DEBUG, ev, __VA_ARGS__)
#define st_info(ev, ...) st_log(ST_LOG_INFO, ev, __VA_ARGS__)
#define st_warn(ev, ...) st_log(ST_LOG_WARN, ev, __VA_ARGS__)
#define st_error(ev, ...) st_log(ST_LOG_ERROR, ev, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
