/*
 * log.c: leveled logging to a stream, as text or JSON lines.
 */
#include "sealtrain/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "sealtrain/json.h"

static st_log_level cur_level = ST_LOG_WARN;
static st_log_format cur_format = ST_LOG_HUMAN;
static FILE *cur_out;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};

void st_log_configure(st_log_level level, st_log_format format, FILE *out)
{
    pthread_mutex_lock(&lock);
    cur_level = level;
    cur_format = format;
    cur_out = out;
    pthread_mutex_unlock(&lock);
}

st_log_level st_log_get_level(void)
{
    return cur_level;
}

int st_log_level_parse(const char *s)
{
    for (int i = 0; i <= ST_LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void st_log(st_log_level level, const char *event, const char *fmt, ...)
{
    if (level < cur_level || level >= ST_LOG_OFF)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    pthread_mutex_lock(&lock);
    FILE *out = cur_out ? cur_out : stderr;
    if (cur_format == ST_LOG_JSON) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level",
                              level_names[level], "event", event, "msg", msg);
        char *line = o ? st_json_dumps(o, JSON_COMPACT) : NULL;
        if (line)
            fprintf(out, "%s\n", line);
        free(line);
        json_decref(o);
    } else {
        fprintf(out, "%s %-5s %s: %s\n", when, level_names[level], event, msg);
    }
    fflush(out);
    pthread_mutex_unlock(&lock);
}
