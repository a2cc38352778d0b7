/*
 * bech32.c: Bech32 encoding (BIP 173, section "Bech32") for age keys. See
 * src/crypto/bech32.h. The checksum is the BCH code of BIP 173 with
 * constant 1 (bech32, not bech32m, which age does not use). Untrusted
 * input: every character and length is checked; padding must be zero and
 * shorter than a 5-bit group (BIP 173 "convertbits" strict mode).
 *
 * Must never leave decoded or encoded key bits behind: the 5-bit working
 * arrays are wiped before return.
 */
#include "crypto/bech32.h"

#include <string.h>

#include "sealtrain/secmem.h"

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t pre)
{
    uint8_t b = (uint8_t)(pre >> 25);
    return ((pre & 0x1ffffff) << 5) ^ (-((b >> 0) & 1) & 0x3b6a57b2UL) ^
           (-((b >> 1) & 1) & 0x26508e6dUL) ^ (-((b >> 2) & 1) & 0x1ea119faUL) ^
           (-((b >> 3) & 1) & 0x3d4233ddUL) ^ (-((b >> 4) & 1) & 0x2a1462b3UL);
}

static uint32_t hrp_polymod(const char *hrp, size_t hlen)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < hlen; i++)
        chk = polymod_step(chk) ^ ((unsigned char)hrp[i] >> 5);
    chk = polymod_step(chk);
    for (size_t i = 0; i < hlen; i++)
        chk = polymod_step(chk) ^ ((unsigned char)hrp[i] & 0x1f);
    return chk;
}

st_code st_bech32_encode(const char *hrp, const uint8_t *data, size_t len,
                         int upper, char *out, size_t cap, st_err *err)
{
    size_t hlen = strlen(hrp);
    size_t nwords = (len * 8 + 4) / 5;
    if (hlen == 0 || hlen > 83)
        return st_err_set(err, ST_E_USAGE, "bech32: bad prefix length");
    if (hlen + 1 + nwords + 6 + 1 > cap ||
        hlen + 1 + nwords + 6 > ST_BECH32_MAX)
        return st_err_set(err, ST_E_USAGE, "bech32: output too long");
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)hrp[i];
        if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z'))
            return st_err_set(err, ST_E_USAGE, "bech32: bad prefix");
    }
    uint8_t words[ST_BECH32_MAX];
    size_t nw = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | data[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            words[nw++] = (acc >> bits) & 31;
        }
    }
    if (bits > 0)
        words[nw++] = (acc << (5 - bits)) & 31;
    acc = 0;
    uint32_t chk = hrp_polymod(hrp, hlen);
    for (size_t i = 0; i < nw; i++)
        chk = polymod_step(chk) ^ words[i];
    for (int i = 0; i < 6; i++)
        chk = polymod_step(chk);
    chk ^= 1;
    size_t o = 0;
    for (size_t i = 0; i < hlen; i++)
        out[o++] = hrp[i];
    out[o++] = '1';
    for (size_t i = 0; i < nw; i++)
        out[o++] = charset[words[i]];
    for (int i = 0; i < 6; i++)
        out[o++] = charset[(chk >> ((5 - i) * 5)) & 31];
    out[o] = '\0';
    st_wipe(words, sizeof(words));
    if (upper)
        for (size_t i = 0; i < o; i++)
            if (out[i] >= 'a' && out[i] <= 'z')
                out[i] = (char)(out[i] - 'a' + 'A');
    return ST_OK;
}

st_code st_bech32_decode(const char *s, char *hrp, size_t hrpcap, uint8_t *out,
                         size_t cap, size_t *outlen, st_err *err)
{
    *outlen = 0;
    size_t n = strnlen(s, ST_BECH32_MAX + 1);
    if (n > ST_BECH32_MAX)
        return st_err_set(err, ST_E_INPUT, "bech32: string too long");
    int lower = 0, upper = 0;
    size_t sep = n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126)
            return st_err_set(err, ST_E_INPUT,
                              "bech32: invalid character at position %zu",
                              i + 1);
        if (c >= 'a' && c <= 'z')
            lower = 1;
        if (c >= 'A' && c <= 'Z')
            upper = 1;
        if (c == '1')
            sep = i;
    }
    if (lower && upper)
        return st_err_set(err, ST_E_INPUT, "bech32: mixed case");
    if (sep == n || sep == 0 || n - sep - 1 < 6)
        return st_err_set(err, ST_E_INPUT,
                          "bech32: missing separator, prefix or checksum");
    if (sep + 1 > hrpcap)
        return st_err_set(err, ST_E_INPUT, "bech32: prefix too long");
    for (size_t i = 0; i < sep; i++) {
        char c = s[i];
        hrp[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    hrp[sep] = '\0';
    uint8_t words[ST_BECH32_MAX];
    size_t nw = n - sep - 1;
    uint32_t chk = hrp_polymod(hrp, sep);
    st_code rc = ST_OK;
    for (size_t i = 0; i < nw; i++) {
        char c = s[sep + 1 + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        const char *p = memchr(charset, c, 32);
        if (!p || !c) {
            rc = st_err_set(err, ST_E_INPUT,
                            "bech32: invalid character at position %zu",
                            sep + 2 + i);
            goto done;
        }
        words[i] = (uint8_t)(p - charset);
        chk = polymod_step(chk) ^ words[i];
    }
    if (chk != 1) {
        rc = st_err_set(err, ST_E_INPUT, "bech32: checksum mismatch");
        goto done;
    }
    nw -= 6;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < nw; i++) {
        acc = ((acc << 5) | words[i]) & 0xfff;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) {
                rc = st_err_set(err, ST_E_INPUT, "bech32: data too long");
                goto done;
            }
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 5 || ((acc << (8 - bits)) & 0xff)) {
        rc = st_err_set(err, ST_E_INPUT, "bech32: non-zero or long padding");
        st_wipe(out, o);
        goto done;
    }
    *outlen = o;
done:
    acc = 0;
    st_wipe(words, sizeof(words));
    return rc;
}
