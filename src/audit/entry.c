/*
 * entry.c: the strict parser of one audit log entry (one JSON line).
 *
 * `audit verify` parses every entry of logs with millions of lines, and a
 * general JSON library (building a tree per line) costs ten times more than
 * hashing the line. So this is a single-pass validating scanner for exactly
 * the entry shape (RFC 8259 grammar, UTF-8 per RFC 3629, nesting depth
 * limit) that returns views into the line instead of building values.
 * It rejects, never repairs, and names the column of the first problem.
 * It must never read outside [line, line + len): fuzz/fuzz_audit_entry.c.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "sealtrain/audit.h"

#define MAX_DEPTH 32

typedef struct scan {
    const unsigned char *p;
    size_t len, off;
    st_err *err;
} scan;

static ST_MUST_CHECK st_code bad(scan *s, const char *what)
{
    return st_err_at(s->err, ST_E_INPUT, "entry", 1, (long)s->off + 1, "%s",
                     what);
}

static void skip_ws(scan *s)
{
    while (s->off < s->len && (s->p[s->off] == ' ' || s->p[s->off] == '\t' ||
                               s->p[s->off] == '\r'))
        s->off++;
}

static int lower_hexval(unsigned char c)
{
    return (c >= 'A' && c <= 'F') ? -1 : st_hex_digit(c);
}

static int read_u4(scan *s, unsigned *out)
{
    if (s->len - s->off < 4)
        return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = st_hex_digit(s->p[s->off + (size_t)i]);
        if (h < 0)
            return 0;
        v = v << 4 | (unsigned)h;
    }
    s->off += 4;
    *out = v;
    return 1;
}

/* One UTF-8 sequence starting at s->off (first byte >= 0x80). */
static int utf8_seq(scan *s)
{
    const unsigned char *p = s->p + s->off;
    size_t left = s->len - s->off;
    unsigned c = p[0], cp, n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (left < n)
        return 0;
    for (unsigned i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    s->off += n;
    return 1;
}

/* A JSON string; *v receives the body between the quotes. */
static ST_MUST_CHECK st_code parse_string(scan *s, st_audit_view *v)
{
    if (s->off >= s->len || s->p[s->off] != '"')
        return bad(s, "expected a string");
    s->off++;
    size_t start = s->off;
    for (;;) {
        /* fast path: plain printable ASCII */
        while (s->off < s->len && s->p[s->off] >= 0x20 && s->p[s->off] < 0x80 &&
               s->p[s->off] != '"' && s->p[s->off] != '\\')
            s->off++;
        if (s->off >= s->len)
            return bad(s, "unterminated string");
        unsigned char c = s->p[s->off];
        if (c == '"')
            break;
        if (c < 0x20)
            return bad(s, "control character in a string");
        if (c == '\\') {
            s->off++;
            if (s->off >= s->len)
                return bad(s, "unterminated escape");
            c = s->p[s->off++];
            if (c == 'u') {
                unsigned u, lo;
                if (!read_u4(s, &u))
                    return bad(s, "\\u needs four hex digits");
                if (u == 0)
                    return bad(s, "\\u0000 is not allowed");
                if (u >= 0xdc00 && u <= 0xdfff)
                    return bad(s, "lone low surrogate");
                if (u >= 0xd800 && u <= 0xdbff) {
                    if (s->len - s->off < 2 || s->p[s->off] != '\\' ||
                        s->p[s->off + 1] != 'u')
                        return bad(s, "high surrogate without a low one");
                    s->off += 2;
                    if (!read_u4(s, &lo) || lo < 0xdc00 || lo > 0xdfff)
                        return bad(s, "high surrogate without a low one");
                }
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return bad(s, "invalid escape");
            }
            continue;
        }
        if (c >= 0x80) {
            if (!utf8_seq(s))
                return bad(s, "invalid UTF-8");
            continue;
        }
        s->off++;
    }
    if (v) {
        v->p = (const char *)s->p + start;
        v->len = s->off - start;
    }
    s->off++;
    return ST_OK;
}

static int digit(scan *s)
{
    return s->off < s->len && s->p[s->off] >= '0' && s->p[s->off] <= '9';
}

static ST_MUST_CHECK st_code parse_number(scan *s)
{
    size_t start = s->off;
    int real = 0;
    if (s->off < s->len && s->p[s->off] == '-')
        s->off++;
    if (!digit(s))
        return bad(s, "invalid number");
    if (s->p[s->off] == '0') {
        s->off++;
        if (digit(s))
            return bad(s, "leading zero in a number");
    } else {
        while (digit(s))
            s->off++;
    }
    if (s->off < s->len && s->p[s->off] == '.') {
        real = 1;
        s->off++;
        if (!digit(s))
            return bad(s, "digits expected after '.'");
        while (digit(s))
            s->off++;
    }
    if (s->off < s->len && (s->p[s->off] == 'e' || s->p[s->off] == 'E')) {
        real = 1;
        s->off++;
        if (s->off < s->len && (s->p[s->off] == '+' || s->p[s->off] == '-'))
            s->off++;
        if (!digit(s))
            return bad(s, "digits expected in an exponent");
        while (digit(s))
            s->off++;
    }
    /* like jansson: integers must fit in 64 bits, reals must be finite */
    char small[64], *buf = small;
    size_t n = s->off - start;
    if (n >= sizeof(small)) {
        if (!real)
            return bad(s, "integer too large");
        buf = malloc(n + 1); /* a long real: still check its range */
        if (!buf)
            return bad(s, "out of memory");
    }
    memcpy(buf, s->p + start, n);
    buf[n] = 0;
    errno = 0;
    int range = 0;
    if (real) {
        double d = strtod(buf, NULL);
        range = errno == ERANGE && isinf(d);
    } else {
        (void)strtoll(buf, NULL, 10);
        range = errno == ERANGE;
    }
    if (buf != small)
        free(buf);
    return range ? bad(s, "number out of range") : ST_OK;
}

static ST_MUST_CHECK st_code parse_value(scan *s, int depth);

static ST_MUST_CHECK st_code parse_container(scan *s, int depth)
{
    unsigned char open = s->p[s->off];
    unsigned char close = open == '{' ? '}' : ']';
    if (depth >= MAX_DEPTH)
        return bad(s, "nested too deeply");
    s->off++;
    skip_ws(s);
    if (s->off < s->len && s->p[s->off] == close) {
        s->off++;
        return ST_OK;
    }
    for (;;) {
        skip_ws(s);
        if (open == '{') {
            if (parse_string(s, NULL) != ST_OK)
                return ST_E_INPUT;
            skip_ws(s);
            if (s->off >= s->len || s->p[s->off] != ':')
                return bad(s, "expected ':'");
            s->off++;
            skip_ws(s);
        }
        if (parse_value(s, depth + 1) != ST_OK)
            return ST_E_INPUT;
        skip_ws(s);
        if (s->off >= s->len)
            return bad(s, "unterminated object or array");
        if (s->p[s->off] == ',') {
            s->off++;
            continue;
        }
        if (s->p[s->off] == close) {
            s->off++;
            return ST_OK;
        }
        return bad(s, "expected ',' or the end of an object or array");
    }
}

static ST_MUST_CHECK st_code literal(scan *s, const char *word)
{
    size_t n = strlen(word);
    if (s->len - s->off < n || memcmp(s->p + s->off, word, n) != 0)
        return bad(s, "invalid literal");
    s->off += n;
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_value(scan *s, int depth)
{
    if (s->off >= s->len)
        return bad(s, "value expected");
    switch (s->p[s->off]) {
    case '{':
    case '[': return parse_container(s, depth);
    case '"': return parse_string(s, NULL);
    case 't': return literal(s, "true");
    case 'f': return literal(s, "false");
    case 'n': return literal(s, "null");
    default: return parse_number(s);
    }
}

enum {
    K_V,
    K_SEQ,
    K_TIME,
    K_CATEGORY,
    K_ACTOR,
    K_ACTION,
    K_RESOURCE,
    K_OUTCOME,
    K_REASON,
    K_DETAILS,
    K_PREV,
    K_COUNT
};
static const char *const keys[K_COUNT] = {
    "v",        "seq",     "time",   "category", "actor", "action",
    "resource", "outcome", "reason", "details",  "prev"};
static const size_t key_len[K_COUNT] = {1, 3, 4, 8, 5, 6, 8, 7, 6, 7, 4};
#define REQUIRED                                                               \
    ((1u << K_V) | (1u << K_SEQ) | (1u << K_TIME) | (1u << K_CATEGORY) |       \
     (1u << K_ACTOR) | (1u << K_ACTION) | (1u << K_RESOURCE) |                 \
     (1u << K_OUTCOME) | (1u << K_PREV))

static const char *const categories[] = {
    "access",      "operation", "security",   "attestation",
    "key-release", "enclave",   "compliance", NULL};
static const char *const outcomes[] = {"success", "failure", "denied", NULL};

static int in_list(const char *const *list, const char *s, size_t n)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == n && memcmp(list[i], s, n) == 0)
            return 1;
    return 0;
}

int st_audit_category_valid(const char *c)
{
    return c && in_list(categories, c, strlen(c));
}

int st_audit_outcome_valid(const char *o)
{
    return o && in_list(outcomes, o, strlen(o));
}

/* "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" with plausible field ranges. */
static int time_ok(const st_audit_view *v)
{
    const char *t = v->p;
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (v->len < 20)
        return 0;
    for (size_t i = 0; i < 19; i++) {
        if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i])
            return 0;
    }
    int mon = (t[5] - '0') * 10 + t[6] - '0';
    int day = (t[8] - '0') * 10 + t[9] - '0';
    int hh = (t[11] - '0') * 10 + t[12] - '0';
    int mm = (t[14] - '0') * 10 + t[15] - '0';
    int ss = (t[17] - '0') * 10 + t[18] - '0';
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 ||
        ss > 60)
        return 0;
    size_t i = 19;
    if (t[i] == '.') {
        size_t d = 0;
        for (i++; i < v->len && t[i] >= '0' && t[i] <= '9'; i++)
            d++;
        if (d < 1 || d > 9)
            return 0;
    }
    return i + 1 == v->len && t[i] == 'Z';
}

static int nonempty_plain(const st_audit_view *v)
{
    return v->len > 0;
}

st_code st_audit_entry_parse(const char *line, size_t len, st_audit_entry *out,
                             st_err *err)
{
    scan s = {(const unsigned char *)line, len, 0, err};
    unsigned seen = 0;
    memset(out, 0, sizeof(*out));
    skip_ws(&s);
    if (s.off >= s.len || s.p[s.off] != '{')
        return bad(&s, "an entry must be a JSON object");
    s.off++;
    for (;;) {
        skip_ws(&s);
        st_audit_view key;
        size_t key_off = s.off;
        if (parse_string(&s, &key) != ST_OK)
            return ST_E_INPUT;
        int k;
        for (k = 0; k < K_COUNT; k++)
            if (key_len[k] == key.len && keys[k][0] == key.p[0] &&
                memcmp(keys[k], key.p, key.len) == 0)
                break;
        if (k == K_COUNT) {
            s.off = key_off;
            return bad(&s, "unknown key");
        }
        if (seen & (1u << k)) {
            s.off = key_off;
            return bad(&s, "duplicate key");
        }
        seen |= 1u << k;
        skip_ws(&s);
        if (s.off >= s.len || s.p[s.off] != ':')
            return bad(&s, "expected ':'");
        s.off++;
        skip_ws(&s);
        size_t voff = s.off;
        st_audit_view *str = NULL;
        switch (k) {
        case K_V:
            if (literal(&s, "1") != ST_OK || digit(&s) ||
                (s.off < s.len && strchr(".eE", s.p[s.off]) && s.p[s.off]))
                return s.off = voff, bad(&s, "\"v\" must be 1");
            break;
        case K_SEQ: {
            if (!digit(&s) || (s.p[s.off] == '0' && s.off + 1 < s.len &&
                               s.p[s.off + 1] >= '0' && s.p[s.off + 1] <= '9'))
                return bad(&s, "\"seq\" must be a non-negative integer");
            uint64_t v = 0;
            while (digit(&s)) {
                if (v > (UINT64_MAX >> 1) / 10)
                    return bad(&s, "\"seq\" is too large");
                v = v * 10 + (uint64_t)(s.p[s.off++] - '0');
            }
            if (s.off < s.len && strchr(".eE", s.p[s.off]) && s.p[s.off])
                return bad(&s, "\"seq\" must be an integer");
            out->seq = v;
            break;
        }
        case K_TIME: str = &out->time; break;
        case K_CATEGORY: str = &out->category; break;
        case K_ACTOR: str = &out->actor; break;
        case K_ACTION: str = &out->action; break;
        case K_RESOURCE: str = &out->resource; break;
        case K_OUTCOME: str = &out->outcome; break;
        case K_REASON: str = &out->reason; break;
        case K_PREV: {
            st_audit_view hx;
            if (parse_string(&s, &hx) != ST_OK)
                return ST_E_INPUT;
            if (hx.len != 64)
                return s.off = voff, bad(&s, "\"prev\" must be 64 hex digits");
            for (size_t i = 0; i < 32; i++) {
                int a = lower_hexval((unsigned char)hx.p[2 * i]);
                int b = lower_hexval((unsigned char)hx.p[2 * i + 1]);
                if (a < 0 || b < 0)
                    return s.off = voff,
                           bad(&s, "\"prev\" must be lowercase hex");
                out->prev[i] = (uint8_t)(a << 4 | b);
            }
            break;
        }
        case K_DETAILS:
            if (s.off >= s.len || s.p[s.off] != '{')
                return bad(&s, "\"details\" must be an object");
            if (parse_container(&s, 1) != ST_OK)
                return ST_E_INPUT;
            out->details.p = line + voff;
            out->details.len = s.off - voff;
            break;
        }
        if (str) {
            if (parse_string(&s, str) != ST_OK)
                return ST_E_INPUT;
            s.off = voff;
            if (k == K_TIME && !time_ok(str))
                return bad(&s, "\"time\" must be RFC 3339 UTC "
                               "(YYYY-MM-DDTHH:MM:SS[.frac]Z)");
            if (k == K_CATEGORY && !in_list(categories, str->p, str->len))
                return bad(&s, "unknown category");
            if (k == K_OUTCOME && !in_list(outcomes, str->p, str->len))
                return bad(&s, "unknown outcome");
            if ((k == K_ACTOR || k == K_ACTION || k == K_RESOURCE) &&
                !nonempty_plain(str))
                return bad(&s, "must not be empty");
            s.off = voff + str->len + 2;
        }
        skip_ws(&s);
        if (s.off >= s.len)
            return bad(&s, "unterminated entry");
        if (s.p[s.off] == ',') {
            s.off++;
            continue;
        }
        if (s.p[s.off] == '}') {
            s.off++;
            break;
        }
        return bad(&s, "expected ',' or '}'");
    }
    skip_ws(&s);
    if (s.off != s.len)
        return bad(&s, "text after the entry");
    if ((seen & REQUIRED) != REQUIRED) {
        for (int k = 0; k < K_COUNT; k++)
            if ((REQUIRED & (1u << k)) && !(seen & (1u << k)))
                return st_err_at(err, ST_E_INPUT, "entry", 1, 0,
                                 "missing key \"%s\"", keys[k]);
    }
    return ST_OK;
}
