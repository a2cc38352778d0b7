/*
 * number.c: strict, locale-independent parsing of decimal numbers for the
 * dataset readers.
 *
 * Grammar (the whole field, nothing else):
 *     [+-] ( digits [ "." digits* ] | "." digits ) [ (e|E) [+-] digits ]
 * No leading or trailing spaces, no hex floats, no "nan"/"inf" (reported
 * as such, so the user learns why). The value is the correctly rounded
 * double, then rounded to float32; a value beyond FLT_MAX is an error,
 * underflow rounds towards zero as IEEE 754 says.
 *
 * Speed matters (a 1 GiB CSV holds ~10^8 numbers): the common case of at
 * at most 19 significant digits (after which only zeros) with a mantissa
 * below 2^53 and a power of ten within 10^+-22 is computed exactly with one
 * multiplication or division (Clinger's fast path: both operands are exact
 * doubles, so the result is correctly rounded). Anything else goes to strtod_l
 * in the "C" locale. Must never depend on the process locale or read past
 * `len`.
 */
#include "data_internal.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static int is_nonfinite_word(const char *s, size_t len)
{
    if (len > 0 && (s[0] == '+' || s[0] == '-')) {
        s++;
        len--;
    }
    static const char *const words[] = {"nan", "inf", "infinity"};
    for (size_t w = 0; w < 3; w++) {
        size_t wl = strlen(words[w]);
        if (len == wl && strncasecmp(s, words[w], wl) == 0)
            return 1;
    }
    /* glibc also reads "nan(chars)" */
    return len >= 4 && strncasecmp(s, "nan(", 4) == 0;
}

st_num_status st_data_parse_double(const char *s, size_t len, double *out)
{
    if (len == 0)
        return ST_NUM_EMPTY;
    size_t i = 0;
    int neg = 0;
    if (s[i] == '+' || s[i] == '-') {
        neg = s[i] == '-';
        i++;
    }
    uint64_t mant = 0;
    int sig = 0;     /* significant digits kept in mant */
    int dropped = 0; /* nonzero significant digits beyond 19 */
    long exp10 = 0;
    size_t ndigits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, ndigits++) {
        if (sig < 19) {
            if (mant || s[i] != '0') {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                sig++;
            }
        } else {
            dropped |= s[i] != '0';
            exp10++;
        }
    }
    if (i < len && s[i] == '.') {
        i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, ndigits++) {
            if (sig < 19) {
                if (mant || s[i] != '0') {
                    mant = mant * 10 + (uint64_t)(s[i] - '0');
                    sig++;
                }
                exp10--;
            } else {
                dropped |= s[i] != '0';
            }
        }
    }
    if (ndigits == 0)
        return is_nonfinite_word(s, len) ? ST_NUM_NONFINITE : ST_NUM_SYNTAX;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i == len || s[i] < '0' || s[i] > '9')
            return ST_NUM_SYNTAX;
        long e = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < 1000000000L) /* saturates: only magnitude matters */
                e = e * 10 + (s[i] - '0');
        exp10 += eneg ? -e : e;
    }
    if (i != len)
        return ST_NUM_SYNTAX;

    /* trailing zeros of the mantissa only scale it ("1000" is 1e3) */
    while (!dropped && mant && mant % 10 == 0) {
        mant /= 10;
        exp10++;
    }
    double v;
    if (mant == 0 || exp10 < -400) {
        v = 0.0; /* below 1e-381: rounds to zero */
    } else if (exp10 > 400) {
        return ST_NUM_RANGE;
    } else if (!dropped && mant <= (1ull << 53) && exp10 >= -22 &&
               exp10 <= 22) {
        v = (double)mant;
        v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
    } else {
        /* rare: let the C library round it, in the C locale */
        char tmp[1100];
        if (len >= sizeof(tmp))
            return ST_NUM_SYNTAX;
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        pthread_once(&c_locale_once, c_locale_init);
        if (!c_locale)
            return ST_NUM_SYNTAX;
        v = strtod_l(tmp, NULL, c_locale);
        if (isinf(v))
            return ST_NUM_RANGE;
        v = fabs(v);
    }
    *out = neg ? -v : v;
    return ST_NUM_OK;
}

st_num_status st_data_parse_float(const char *s, size_t len, float *out)
{
    double d;
    st_num_status st = st_data_parse_double(s, len, &d);
    if (st != ST_NUM_OK)
        return st;
    if (fabs(d) > (double)FLT_MAX) {
        /* values that round to FLT_MAX are fine; beyond are not */
        float f = (float)d;
        if (isinf(f))
            return ST_NUM_RANGE;
    }
    *out = (float)d;
    return ST_NUM_OK;
}

const char *st_data_num_why(st_num_status st)
{
    switch (st) {
    case ST_NUM_OK: return "ok";
    case ST_NUM_EMPTY: return "expected a number, found an empty field";
    case ST_NUM_SYNTAX: return "expected a number";
    case ST_NUM_NONFINITE: return "NaN and infinity are not allowed";
    case ST_NUM_RANGE: return "number out of float32 range";
    }
    return "expected a number";
}

void st_data_quote(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    size_t max = len > 40 ? 40 : len;
    if (cap < 8) {
        if (cap)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < max && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        }
    }
    if (len > max && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}
