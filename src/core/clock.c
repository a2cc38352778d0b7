/*
 * clock.c: RFC 3339 (UTC, "Z", whole seconds) formatting and strict
 * parsing. See include/sealtrain/clock.h. Parsing rejects anything but the
 * exact form we write: no offsets, no fractions, no lenient fields.
 * st_time_parse_rfc3339 is for times a person types (`attest verify --at`):
 * the whole RFC 3339 section 5.6 date-time grammar, offsets and fractions
 * included, each field range-checked (no normalising 31 February).
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

static int leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads exactly n digits at *p into *v; 0 when one is not a digit. */
static int take_digits(const char **p, int n, int *v)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)(*p)[i]))
            return 0;
    *v = digits(*p, n);
    *p += n;
    return 1;
}

static int take_char(const char **p, const char *set)
{
    if (!**p || !strchr(set, **p))
        return 0;
    (*p)++;
    return 1;
}

st_code st_time_parse_rfc3339(const char *text, time_t *out, st_err *err)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text ? text : "", *why = "expected YYYY-MM-DDTHH:MM:SS";
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    if (!take_digits(&p, 4, &y) || !take_char(&p, "-") ||
        !take_digits(&p, 2, &mo) || !take_char(&p, "-") ||
        !take_digits(&p, 2, &d) || !take_char(&p, "Tt") ||
        !take_digits(&p, 2, &h) || !take_char(&p, ":") ||
        !take_digits(&p, 2, &mi) || !take_char(&p, ":") ||
        !take_digits(&p, 2, &sec))
        goto bad;
    why = "month, day, hour, minute or second out of range";
    if (mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && leap_year(y)) || h > 23 || mi > 59 ||
        sec > 60)
        goto bad;
    /* time-secfrac: whole seconds are what the verifier compares, so the
     * fraction is dropped (the earlier second) */
    if (*p == '.') {
        why = "expected digits after the decimal point";
        p++;
        if (!isdigit((unsigned char)*p))
            goto bad;
        while (isdigit((unsigned char)*p))
            p++;
    }
    why = "expected a time offset: Z or +HH:MM or -HH:MM";
    if (take_char(&p, "Zz")) {
        sign = 0;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (!take_digits(&p, 2, &oh) || !take_char(&p, ":") ||
            !take_digits(&p, 2, &om) || oh > 23 || om > 59)
            goto bad;
    } else {
        goto bad;
    }
    why = "unexpected text after the time offset";
    if (*p)
        goto bad;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec; /* a leap second (60) reads as the next second */
    time_t t = timegm(&tm);
    *out = t - (time_t)sign * (oh * 3600 + om * 60);
    return ST_OK;
bad:
    return st_err_set(err, ST_E_INPUT,
                      "invalid RFC 3339 time \"%.60s\": %s (for example "
                      "2026-01-31T12:00:00Z or 2026-01-31T13:00:00.5+01:00)",
                      text ? text : "", why);
}
