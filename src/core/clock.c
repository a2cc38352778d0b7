/*
 * clock.c: RFC 3339 (UTC, "Z", whole seconds) formatting and strict
 * parsing. See include/sealtrain/clock.h. Parsing rejects anything but the
 * exact form we write: no offsets, no fractions, no lenient fields.
 */
#include "sealtrain/clock.h"

#include <ctype.h>
#include <string.h>

void st_time_format(time_t t, char out[ST_TIME_LEN])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, ST_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

st_code st_time_parse(const char *text, time_t *out, st_err *err)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (!text || strlen(text) != sizeof(shape) - 1)
        goto bad;
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)text[i])
                            : text[i] != shape[i])
            goto bad;
    }
    struct tm tm = {0};
    tm.tm_year = digits(text, 4) - 1900;
    tm.tm_mon = digits(text + 5, 2) - 1;
    tm.tm_mday = digits(text + 8, 2);
    tm.tm_hour = digits(text + 11, 2);
    tm.tm_min = digits(text + 14, 2);
    tm.tm_sec = digits(text + 17, 2);
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
        goto bad;
    time_t t = timegm(&tm);
    /* timegm normalises 31 February into March: reject what moved */
    char back[ST_TIME_LEN];
    st_time_format(t, back);
    if (strcmp(back, text) != 0)
        goto bad;
    *out = t;
    return ST_OK;
bad:
    return st_err_set(err, ST_E_INPUT,
                      "invalid time \"%.40s\": expected YYYY-MM-DDTHH:MM:SSZ",
                      text ? text : "");
}
