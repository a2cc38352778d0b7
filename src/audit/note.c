/*
 * note.c: C2SP signed-note (Ed25519 signatures, key hashes, verifier keys)
 * and C2SP tlog-checkpoint bodies, for the audit log's checkpoints.
 *
 * signed-note: a note is UTF-8 text ending in '\n', a blank line, then one
 * or more signature lines "— <name> <base64(keyhash[4] || sig[64])>\n" (the
 * dash is U+2014). The signature covers the text including its final
 * newline. Ed25519 key hash = SHA-256(name || 0x0A || 0x01 || pub)[:4];
 * a verifier key is "<name>+<hex(keyhash)>+<base64(0x01 || pub)>".
 * tlog-checkpoint: the text is "<origin>\n<size>\n<base64 root>\n" plus
 * optional non-empty extension lines; ours adds "time <unix seconds>".
 *
 * Parsing rejects anything unexpected with what and where; an unknown
 * signer's lines are skipped (as the spec requires) but must be well formed.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "crypto/primitives.h"
#include "sealtrain/audit.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/secmem.h"

#define EM_DASH "\xe2\x80\x94"
#define NOTE_MAX_SIGS 100

/* A key name: non-empty, no whitespace, no '+', no control characters. */
static int name_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '+')
            return 0;
    }
    /* U+2014 and other Unicode spaces are not checked byte-wise here: our
     * own names are ASCII, and a foreign name only has to match ours */
    return 1;
}

static void key_hash(const char *name, size_t n, const uint8_t pub[32],
                     uint8_t out[4])
{
    st_sha256_ctx c;
    uint8_t h[32], sep[2] = {0x0a, 0x01};
    st_sha256_init(&c);
    st_sha256_update(&c, name, n);
    st_sha256_update(&c, sep, 2);
    st_sha256_update(&c, pub, 32);
    st_sha256_final(&c, h);
    memcpy(out, h, 4);
}

char *st_audit_note_vkey(const char *name, const uint8_t pub[32])
{
    uint8_t kh[4], typed[33];
    char hex[9];
    key_hash(name, strlen(name), pub, kh);
    st_hex_encode(kh, 4, hex);
    typed[0] = 0x01;
    memcpy(typed + 1, pub, 32);
    char *b64 = st_base64_encode(typed, 33, 1);
    if (!b64)
        return NULL;
    size_t n = strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s+%s+%s", name, hex, b64);
    free(b64);
    return out;
}

st_code st_audit_note_vkey_parse(const char *vkey, char **name, uint8_t pub[32],
                                 st_err *err)
{
    /* the name holds no '+', the hash is 8 hex digits; the base64 key may
     * itself contain '+' */
    const char *p1 = strchr(vkey, '+');
    const char *p2 = p1 ? strchr(p1 + 1, '+') : NULL;
    if (!p1 || !p2)
        return st_err_set(err, ST_E_INPUT,
                          "verifier key: expected <name>+<hash>+<key>");
    size_t nlen = (size_t)(p1 - vkey);
    if (!name_ok(vkey, nlen))
        return st_err_set(err, ST_E_INPUT,
                          "verifier key: the name is empty or holds a space, "
                          "'+' or control character");
    uint8_t kh[4], want[4];
    char hex[9];
    if (p2 - p1 - 1 != 8)
        return st_err_set(err, ST_E_INPUT,
                          "verifier key: the key hash must be 8 hex digits");
    memcpy(hex, p1 + 1, 8);
    hex[8] = 0;
    if (st_hex_decode(hex, kh, 4, err) != ST_OK)
        return st_err_prefix(err, "verifier key: key hash");
    uint8_t *raw = NULL;
    size_t rlen = 0;
    const char *b64 = p2 + 1;
    size_t blen = strlen(b64);
    while (blen && (b64[blen - 1] == '\n' || b64[blen - 1] == '\r'))
        blen--;
    if (st_base64_decode(b64, blen, 1, &raw, &rlen, err) != ST_OK)
        return st_err_prefix(err, "verifier key: key");
    if (rlen != 33 || raw[0] != 0x01) {
        free(raw);
        return st_err_set(err, ST_E_INPUT,
                          "verifier key: not an Ed25519 key (type 0x01 and "
                          "32 bytes expected)");
    }
    memcpy(pub, raw + 1, 32);
    free(raw);
    key_hash(vkey, nlen, pub, want);
    if (memcmp(want, kh, 4) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "verifier key: the key hash does not match the "
                          "name and key");
    if (name) {
        *name = strndup(vkey, nlen);
        if (!*name)
            return st_err_set(err, ST_E_IO, "verifier key: out of memory");
    }
    return ST_OK;
}

/* Note text rules shared by signing and opening: ends in '\n', no blank
 * line, no control characters other than '\n'. */
static ST_MUST_CHECK st_code text_ok(const char *t, size_t n, st_err *err)
{
    if (n == 0 || t[n - 1] != '\n')
        return st_err_set(err, ST_E_INPUT,
                          "note: the text must end with a newline");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            return st_err_set(err, ST_E_INPUT,
                              "note: control character at byte %zu", i);
        if (c == '\n' && (i == 0 || t[i - 1] == '\n'))
            return st_err_set(err, ST_E_INPUT,
                              "note: blank line in the text at byte %zu", i);
    }
    return ST_OK;
}

st_code st_audit_note_sign(const char *name, const uint8_t seed[32],
                           const char *text, char **note, st_err *err)
{
    size_t tlen = strlen(text);
    if (!name_ok(name, strlen(name)))
        return st_err_set(err, ST_E_USAGE, "signing a note: bad key name");
    if (text_ok(text, tlen, err) != ST_OK)
        return err ? err->code : ST_E_INPUT;
    uint8_t pub[32], sig[64], blob[68];
    if (st_ed25519_public(seed, pub, err) != ST_OK ||
        st_ed25519_sign(seed, text, tlen, sig, err) != ST_OK)
        return st_err_prefix(err, "signing a note");
    key_hash(name, strlen(name), pub, blob);
    memcpy(blob + 4, sig, 64);
    char *b64 = st_base64_encode(blob, sizeof(blob), 1);
    if (!b64)
        return st_err_set(err, ST_E_IO, "signing a note: out of memory");
    st_buf b;
    st_buf_init(&b);
    st_code rc =
        st_buf_printf(&b, err, "%s\n" EM_DASH " %s %s\n", text, name, b64);
    free(b64);
    if (rc != ST_OK) {
        st_buf_free(&b);
        return rc;
    }
    *note = (char *)b.data; /* st_buf_printf keeps a NUL after len */
    return ST_OK;
}

st_code st_audit_note_open(const char *note, size_t len, const char *vkey,
                           size_t *textlen, st_err *err)
{
    char *name = NULL;
    uint8_t pub[32], kh[4];
    if (st_audit_note_vkey_parse(vkey, &name, pub, err) != ST_OK)
        return err ? err->code : ST_E_INPUT;
    key_hash(name, strlen(name), pub, kh);
    st_code rc = ST_OK;
    if (len > 1 << 20) {
        rc = st_err_set(err, ST_E_INPUT, "note: larger than 1 MiB");
        goto out;
    }
    if (len == 0 || note[len - 1] != '\n' || memchr(note, 0, len)) {
        rc = st_err_set(err, ST_E_INPUT,
                        "note: must end with a newline and hold no NUL");
        goto out;
    }
    /* the signatures follow the last blank line */
    size_t split = 0;
    int found = 0;
    for (size_t i = len - 1; i >= 1; i--)
        if (note[i] == '\n' && note[i - 1] == '\n') {
            split = i; /* note[split] starts the signature block */
            found = 1;
            break;
        }
    if (!found) {
        rc = st_err_set(err, ST_E_INPUT, "note: no signature block");
        goto out;
    }
    if (text_ok(note, split, err) != ST_OK) {
        rc = err ? err->code : ST_E_INPUT;
        goto out;
    }
    size_t off = split + 1;
    int nsigs = 0, verified = 0;
    while (off < len) {
        const char *line = note + off;
        const char *eol = memchr(line, '\n', len - off);
        size_t llen = (size_t)(eol - line);
        off += llen + 1;
        if (++nsigs > NOTE_MAX_SIGS) {
            rc = st_err_set(err, ST_E_INPUT, "note: more than %d signatures",
                            NOTE_MAX_SIGS);
            goto out;
        }
        if (llen < 5 || memcmp(line, EM_DASH " ", 4) != 0) {
            rc = st_err_set(err, ST_E_INPUT,
                            "note: signature line %d does not start with "
                            "\"\u2014 \"",
                            nsigs);
            goto out;
        }
        const char *sp = memchr(line + 4, ' ', llen - 4);
        if (!sp || !name_ok(line + 4, (size_t)(sp - line - 4))) {
            rc = st_err_set(err, ST_E_INPUT,
                            "note: signature line %d has no valid key name",
                            nsigs);
            goto out;
        }
        size_t namelen = (size_t)(sp - line - 4);
        uint8_t *raw = NULL;
        size_t rlen = 0;
        st_err e2;
        if (st_base64_decode(sp + 1, (size_t)(line + llen - sp - 1), 1, &raw,
                             &rlen, &e2) != ST_OK ||
            rlen < 5) {
            free(raw);
            rc = st_err_set(err, ST_E_INPUT,
                            "note: signature line %d: the signature is not "
                            "valid base64 of a key hash and signature",
                            nsigs);
            goto out;
        }
        if (namelen == strlen(name) && memcmp(line + 4, name, namelen) == 0 &&
            memcmp(raw, kh, 4) == 0) {
            if (rlen != 68 ||
                st_ed25519_verify(pub, note, split, raw + 4, &e2) != ST_OK) {
                free(raw);
                rc = st_err_set(err, ST_E_DENIED,
                                "note: the signature by %s does not verify",
                                name);
                goto out;
            }
            verified = 1;
        }
        free(raw);
    }
    if (!verified) {
        rc = st_err_set(err, ST_E_DENIED, "note: no signature by %s", name);
        goto out;
    }
    if (textlen)
        *textlen = split;
out:
    free(name);
    return rc;
}

st_code st_audit_checkpoint_parse(const char *text, size_t len,
                                  st_audit_checkpoint_body *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *p = text, *end = text + len;
    const char *lines[3];
    size_t lens[3];
    for (int i = 0; i < 3; i++) {
        const char *eol = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (!eol)
            return st_err_at(err, ST_E_INPUT, "checkpoint", i + 1, 0,
                             "line %d is missing (origin, size, root hash)",
                             i + 1);
        lines[i] = p;
        lens[i] = (size_t)(eol - p);
        p = eol + 1;
    }
    if (lens[0] == 0 || lens[0] >= sizeof(out->origin) ||
        memchr(lines[0], 0, lens[0]))
        return st_err_at(err, ST_E_INPUT, "checkpoint", 1, 1,
                         "the origin is empty or too long");
    memcpy(out->origin, lines[0], lens[0]);
    /* tree size: decimal, no sign, no leading zero */
    if (lens[1] == 0 || lens[1] > 19 || (lines[1][0] == '0' && lens[1] > 1))
        return st_err_at(err, ST_E_INPUT, "checkpoint", 2, 1,
                         "the tree size must be a decimal number without "
                         "leading zeros");
    uint64_t size = 0;
    for (size_t i = 0; i < lens[1]; i++) {
        if (lines[1][i] < '0' || lines[1][i] > '9')
            return st_err_at(err, ST_E_INPUT, "checkpoint", 2, (long)i + 1,
                             "the tree size must be a decimal number");
        size = size * 10 + (uint64_t)(lines[1][i] - '0');
    }
    out->size = size;
    uint8_t *raw = NULL;
    size_t rlen = 0;
    if (st_base64_decode(lines[2], lens[2], 1, &raw, &rlen, err) != ST_OK ||
        rlen != 32) {
        free(raw);
        return st_err_at(err, ST_E_INPUT, "checkpoint", 3, 1,
                         "the root hash must be base64 of 32 bytes");
    }
    memcpy(out->root, raw, 32);
    free(raw);
    /* extension lines: non-empty; ours is "time <unix seconds>" */
    long line = 4;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol || eol == p)
            return st_err_at(err, ST_E_INPUT, "checkpoint", line, 1,
                             "an extension line is empty or unterminated");
        size_t l = (size_t)(eol - p);
        if (l > 5 && memcmp(p, "time ", 5) == 0) {
            long long t = 0;
            for (size_t i = 5; i < l; i++) {
                if (p[i] < '0' || p[i] > '9' || i > 20)
                    return st_err_at(err, ST_E_INPUT, "checkpoint", line,
                                     (long)i + 1,
                                     "the time extension must be unix "
                                     "seconds");
                t = t * 10 + (p[i] - '0');
            }
            out->time = t;
        }
        p = eol + 1;
        line++;
    }
    return ST_OK;
}
