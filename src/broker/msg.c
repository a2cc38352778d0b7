/*
 * msg.c: frames and payloads of the key release protocol (broker.h), and
 * the two cryptographic pieces both ends share: the report data binding
 * and the wrapping of released keys.
 *
 * Every length is checked against a per-type bound before anything is
 * allocated or read; payloads are parsed through st_reader (binary) or the
 * strict JSON parser. A malformed frame is rejected, never repaired.
 *
 * This module never sees plaintext data and never logs key material: the
 * only secrets it touches are the 16/32-byte keys being wrapped or
 * unwrapped, which it holds in secure memory or the caller's buffers.
 */
#include "broker/msg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/primitives.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"

static const struct {
    int type;
    const char *name;
    size_t max;
} types[] = {
    {ST_MSG_HELLO, "HELLO", 65},
    {ST_MSG_NONCE, "NONCE", 32},
    {ST_MSG_EVIDENCE, "EVIDENCE", ST_BROKER_MAX_FRAME},
    {ST_MSG_KEYS, "KEYS",
     2 + ST_BROKER_MAX_KEYS *(1 + ST_BROKER_KEY_NAME_MAX + 32 + 1 +
                              ST_BROKER_SECRET_MAX + 16)},
    {ST_MSG_DENIED, "DENIED", 256u << 10},
    {ST_MSG_PROGRESS, "PROGRESS", 8192},
    {ST_MSG_HEARTBEAT, "HEARTBEAT", 1024},
    {ST_MSG_RESULT, "RESULT", 256u << 10},
    {ST_MSG_ERROR, "ERROR", 4096},
    {ST_MSG_CANCEL, "CANCEL", 0},
};

const char *st_broker_type_name(int type)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].type == type)
            return types[i].name;
    return "?";
}

static int type_known(int type, size_t *max)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].type == type) {
            *max = types[i].max;
            return 1;
        }
    return 0;
}

size_t st_broker_max_len(int type)
{
    size_t max = 0;
    type_known(type, &max);
    return max;
}

void st_broker_msg_free(st_broker_msg *m)
{
    if (!m)
        return;
    free(m->data);
    m->data = NULL;
    m->len = 0;
}

/* send() with MSG_NOSIGNAL: a peer that died is an error, not SIGPIPE. */
static ST_MUST_CHECK st_code send_all(int fd, const void *p, size_t n,
                                      const char *what, st_err *err)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK)
            w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return st_err_errno(err, ST_E_IO, errno, "%s", what);
        b += w;
        n -= (size_t)w;
    }
    return ST_OK;
}

/* The header of a frame of `type` carrying `len` bytes; ST_E_USAGE when
 * they exceed the type's bound. */
static ST_MUST_CHECK st_code header_make(int type, size_t len,
                                         uint8_t hdr[ST_BROKER_HEADER_LEN],
                                         st_err *err)
{
    size_t max;
    if (!type_known(type, &max) || len > max)
        return st_err_set(err, ST_E_USAGE,
                          "broker message %s: %zu bytes exceed its bound",
                          st_broker_type_name(type), len);
    hdr[0] = (uint8_t)type;
    hdr[1] = (uint8_t)(len >> 24);
    hdr[2] = (uint8_t)(len >> 16);
    hdr[3] = (uint8_t)(len >> 8);
    hdr[4] = (uint8_t)len;
    return ST_OK;
}

st_code st_broker_frame_encode(int type, const void *payload, size_t len,
                               st_buf *out, st_err *err)
{
    uint8_t hdr[ST_BROKER_HEADER_LEN];
    st_code rc = header_make(type, len, hdr, err);
    if (rc == ST_OK)
        rc = st_buf_append(out, hdr, sizeof(hdr), err);
    if (rc == ST_OK && len)
        rc = st_buf_append(out, payload, len, err);
    return rc;
}

st_code st_broker_send(int fd, int type, const void *payload, size_t len,
                       st_err *err)
{
    uint8_t hdr[ST_BROKER_HEADER_LEN];
    st_code rc = header_make(type, len, hdr, err);
    if (rc != ST_OK)
        return rc;
    char what[64];
    snprintf(what, sizeof(what), "sending %s", st_broker_type_name(type));
    rc = send_all(fd, hdr, sizeof(hdr), what, err);
    if (rc == ST_OK && len)
        rc = send_all(fd, payload, len, what, err);
    return rc;
}

st_code st_broker_send_json(int fd, int type, const json_t *v, st_err *err)
{
    char *text = st_json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!text)
        return st_err_set(err, ST_E_INTERNAL, "serialising %s",
                          st_broker_type_name(type));
    st_code rc = st_broker_send(fd, type, text, strlen(text), err);
    free(text);
    return rc;
}

/* Reads exactly n bytes before the deadline (ms since an arbitrary
 * origin, or -1 for none). */
static ST_MUST_CHECK st_code recv_all(int fd, void *p, size_t n, int timeout_ms,
                                      st_err *err)
{
    uint8_t *b = p;
    while (n) {
        if (timeout_ms >= 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            int r = poll(&pfd, 1, timeout_ms);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return st_err_errno(err, ST_E_IO, errno,
                                    "waiting for a "
                                    "message");
            if (r == 0)
                return st_err_set(err, ST_E_IO, "no message within %d ms",
                                  timeout_ms);
        }
        ssize_t got = read(fd, b, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return st_err_errno(err, ST_E_IO, errno, "reading a message");
        if (got == 0)
            return st_err_set(err, ST_E_IO, "the peer closed the connection");
        b += got;
        n -= (size_t)got;
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code
header_check(const uint8_t hdr[ST_BROKER_HEADER_LEN], int *type, size_t *len,
             st_err *err)
{
    size_t max;
    *type = hdr[0];
    *len = (size_t)hdr[1] << 24 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 8 |
           hdr[4];
    if (!type_known(*type, &max))
        return st_err_set(err, ST_E_INPUT, "broker message: unknown type %d",
                          *type);
    if (*len > max)
        return st_err_set(err, ST_E_INPUT,
                          "broker message %s: length %zu exceeds its bound "
                          "%zu",
                          st_broker_type_name(*type), *len, max);
    return ST_OK;
}

st_code st_broker_recv(int fd, int timeout_ms, st_broker_msg *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    uint8_t hdr[ST_BROKER_HEADER_LEN];
    st_code rc = recv_all(fd, hdr, sizeof(hdr), timeout_ms, err);
    if (rc != ST_OK)
        return rc;
    int type;
    size_t len;
    if ((rc = header_check(hdr, &type, &len, err)) != ST_OK)
        return rc;
    uint8_t *data = malloc(len + 1);
    if (!data)
        return st_err_set(err, ST_E_IO, "out of memory");
    /* once a frame has started, its body follows at once */
    rc = recv_all(fd, data, len, timeout_ms < 0 ? -1 : 10000, err);
    if (rc != ST_OK) {
        free(data);
        return st_err_prefix(err, "reading %s", st_broker_type_name(type));
    }
    data[len] = 0;
    out->type = type;
    out->data = data;
    out->len = len;
    return ST_OK;
}

st_code st_broker_frame_parse(const uint8_t *buf, size_t len,
                              st_broker_msg *out, size_t *used, st_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len < ST_BROKER_HEADER_LEN)
        return st_err_set(err, ST_E_INPUT, "broker message: truncated header");
    int type;
    size_t plen;
    st_code rc = header_check(buf, &type, &plen, err);
    if (rc != ST_OK)
        return rc;
    if (len - ST_BROKER_HEADER_LEN < plen)
        return st_err_set(err, ST_E_INPUT,
                          "broker message %s: truncated payload (%zu of %zu "
                          "bytes)",
                          st_broker_type_name(type), len - ST_BROKER_HEADER_LEN,
                          plen);
    out->data = malloc(plen + 1);
    if (!out->data)
        return st_err_set(err, ST_E_IO, "out of memory");
    memcpy(out->data, buf + ST_BROKER_HEADER_LEN, plen);
    out->data[plen] = 0;
    out->len = plen;
    out->type = type;
    *used = ST_BROKER_HEADER_LEN + plen;
    return ST_OK;
}

/* ---- typed payloads ---- */

static ST_MUST_CHECK st_code expect_type(const st_broker_msg *m, int type,
                                         st_err *err)
{
    if (m->type != type)
        return st_err_set(err, ST_E_INPUT, "expected %s, got %s",
                          st_broker_type_name(type),
                          st_broker_type_name(m->type));
    return ST_OK;
}

st_code st_broker_hello_encode(const st_broker_hello *h, uint8_t out[65])
{
    out[0] = ST_BROKER_VERSION;
    memcpy(out + 1, h->x25519, 32);
    memcpy(out + 33, h->ed25519, 32);
    return ST_OK;
}

st_code st_broker_hello_parse(const st_broker_msg *m, st_broker_hello *out,
                              st_err *err)
{
    st_code rc = expect_type(m, ST_MSG_HELLO, err);
    if (rc != ST_OK)
        return rc;
    if (m->len != 65)
        return st_err_set(err, ST_E_INPUT, "HELLO: %zu bytes, expected 65",
                          m->len);
    if (m->data[0] != ST_BROKER_VERSION)
        return st_err_set(err, ST_E_INPUT,
                          "HELLO: protocol version %u, expected %u", m->data[0],
                          ST_BROKER_VERSION);
    memcpy(out->x25519, m->data + 1, 32);
    memcpy(out->ed25519, m->data + 33, 32);
    return ST_OK;
}

st_code st_broker_nonce_parse(const st_broker_msg *m, uint8_t out[32],
                              st_err *err)
{
    st_code rc = expect_type(m, ST_MSG_NONCE, err);
    if (rc != ST_OK)
        return rc;
    if (m->len != 32)
        return st_err_set(err, ST_E_INPUT, "NONCE: %zu bytes, expected 32",
                          m->len);
    memcpy(out, m->data, 32);
    return ST_OK;
}

static int name_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return 0;
    }
    return n > 0;
}

st_code st_broker_keys_encode(const st_broker_keys *k, st_buf *out, st_err *err)
{
    if (k->n > ST_BROKER_MAX_KEYS)
        return st_err_set(err, ST_E_USAGE, "KEYS: too many keys");
    uint8_t cnt[2] = {(uint8_t)(k->n >> 8), (uint8_t)k->n};
    st_code rc = st_buf_append(out, cnt, 2, err);
    for (size_t i = 0; rc == ST_OK && i < k->n; i++) {
        const st_broker_key *e = &k->k[i];
        size_t nl = strlen(e->name);
        if (!name_ok(e->name, nl) || nl > ST_BROKER_KEY_NAME_MAX ||
            e->ctlen < 16 || e->ctlen > sizeof(e->ct))
            return st_err_set(err, ST_E_USAGE, "KEYS: bad entry %zu", i);
        uint8_t b = (uint8_t)nl;
        rc = st_buf_append(out, &b, 1, err);
        if (rc == ST_OK)
            rc = st_buf_append(out, e->name, nl, err);
        if (rc == ST_OK)
            rc = st_buf_append(out, e->epk, 32, err);
        b = (uint8_t)e->ctlen;
        if (rc == ST_OK)
            rc = st_buf_append(out, &b, 1, err);
        if (rc == ST_OK)
            rc = st_buf_append(out, e->ct, e->ctlen, err);
    }
    return rc;
}

st_code st_broker_keys_parse(const st_broker_msg *m, st_broker_keys *out,
                             st_err *err)
{
    st_code rc = expect_type(m, ST_MSG_KEYS, err);
    if (rc != ST_OK)
        return rc;
    memset(out, 0, sizeof(*out));
    st_reader r;
    st_reader_init(&r, m->data, m->len);
    size_t n = st_read_u16be(&r);
    if (r.failed || n > ST_BROKER_MAX_KEYS)
        return st_err_set(err, ST_E_INPUT, "KEYS: bad key count");
    for (size_t i = 0; i < n; i++) {
        st_broker_key *e = &out->k[i];
        size_t nl = st_read_u8(&r);
        const uint8_t *name = st_read_view(&r, nl);
        st_read_bytes(&r, e->epk, 32);
        size_t cl = st_read_u8(&r);
        if (r.failed || !name || nl > ST_BROKER_KEY_NAME_MAX ||
            !name_ok((const char *)name, nl) || cl < 16 || cl > sizeof(e->ct))
            return st_err_set(err, ST_E_INPUT,
                              "KEYS: entry %zu is malformed at offset %zu", i,
                              r.off);
        memcpy(e->name, name, nl);
        e->name[nl] = 0;
        st_read_bytes(&r, e->ct, cl);
        e->ctlen = cl;
        if (r.failed)
            return st_err_set(err, ST_E_INPUT, "KEYS: entry %zu truncated", i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(out->k[j].name, e->name))
                return st_err_set(err, ST_E_INPUT, "KEYS: key \"%s\" twice",
                                  e->name);
    }
    if (st_reader_left(&r))
        return st_err_set(err, ST_E_INPUT, "KEYS: %zu trailing bytes",
                          st_reader_left(&r));
    out->n = n;
    return ST_OK;
}

const st_broker_key *st_broker_keys_find(const st_broker_keys *k,
                                         const char *name)
{
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->k[i].name, name))
            return &k->k[i];
    return NULL;
}

st_code st_broker_json_parse(const st_broker_msg *m, json_t **out, st_err *err)
{
    *out = NULL;
    if (m->type != ST_MSG_PROGRESS && m->type != ST_MSG_RESULT &&
        m->type != ST_MSG_ERROR && m->type != ST_MSG_DENIED &&
        m->type != ST_MSG_HEARTBEAT)
        return st_err_set(err, ST_E_INPUT, "%s does not carry JSON",
                          st_broker_type_name(m->type));
    json_t *v = st_json_parse((const char *)m->data, m->len,
                              st_broker_type_name(m->type), err);
    if (!v)
        return err ? err->code : ST_E_INPUT;
    if (!json_is_object(v)) {
        json_decref(v);
        return st_err_set(err, ST_E_INPUT, "%s: expected a JSON object",
                          st_broker_type_name(m->type));
    }
    *out = v;
    return ST_OK;
}

/* ---- cryptography ---- */

void st_broker_report_data(const uint8_t x25519[32], const uint8_t ed25519[32],
                           const uint8_t nonce[32],
                           const uint8_t spec_digest[32], uint8_t out[64])
{
    st_sha256_ctx c;
    st_sha256_init(&c);
    st_sha256_update(&c, ST_BROKER_DOMAIN, strlen(ST_BROKER_DOMAIN));
    st_sha256_update(&c, x25519, 32);
    st_sha256_update(&c, ed25519, 32);
    st_sha256_update(&c, nonce, 32);
    st_sha256_update(&c, spec_digest, 32);
    st_sha256_final(&c, out);
    memset(out + 32, 0, 32);
}

/* info = domain 0 job 0 name: the HKDF info and the AEAD's AAD. */
static ST_MUST_CHECK st_code wrap_info(const char *job_id, const char *name,
                                       st_buf *info, st_err *err)
{
    st_buf_init(info);
    st_code rc = st_buf_append(info, ST_BROKER_DOMAIN,
                               strlen(ST_BROKER_DOMAIN) + 1, err);
    if (rc == ST_OK)
        rc = st_buf_append(info, job_id, strlen(job_id) + 1, err);
    if (rc == ST_OK)
        rc = st_buf_append(info, name, strlen(name), err);
    return rc;
}

static ST_MUST_CHECK st_code wrap_kdf(const unsigned char shared[32],
                                      const uint8_t epk[32],
                                      const uint8_t rpk[32], const st_buf *info,
                                      unsigned char key[32], st_err *err)
{
    uint8_t salt[64];
    memcpy(salt, epk, 32);
    memcpy(salt + 32, rpk, 32);
    return st_hkdf_sha256(shared, 32, salt, sizeof(salt), info->data, info->len,
                          key, 32, err);
}

st_code st_broker_wrap_key(const uint8_t runtime_pub[32], const char *job_id,
                           const char *name, const unsigned char *secret,
                           size_t len, st_broker_key *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    size_t nl = strlen(name);
    if (len == 0 || len > ST_BROKER_SECRET_MAX || !name_ok(name, nl) ||
        nl > ST_BROKER_KEY_NAME_MAX)
        return st_err_set(err, ST_E_USAGE,
                          "wrapping key \"%s\": bad length "
                          "or name",
                          name);
    /* ephemeral private key, shared secret and derived key: secure memory */
    unsigned char *sk = st_secmem_alloc(96, err);
    if (!sk)
        return err ? err->code : ST_E_IO;
    unsigned char *shared = sk + 32, *key = sk + 64;
    st_buf info;
    st_code rc = wrap_info(job_id, name, &info, err);
    if (rc == ST_OK)
        rc = st_random(sk, 32, err);
    if (rc == ST_OK)
        rc = st_x25519_pair(sk, runtime_pub, out->epk, shared, err);
    if (rc == ST_OK)
        rc = wrap_kdf(shared, out->epk, runtime_pub, &info, key, err);
    static const uint8_t zero_nonce[ST_AEAD_NONCE_LEN];
    if (rc == ST_OK)
        rc = st_aead_seal(key, zero_nonce, info.data, info.len, secret, len,
                          out->ct, err);
    if (rc == ST_OK) {
        memcpy(out->name, name, nl + 1);
        out->ctlen = len + ST_AEAD_TAG_LEN;
    }
    st_buf_free(&info);
    st_secmem_free(sk);
    return rc;
}

st_code st_broker_unwrap_key(const unsigned char runtime_priv[32],
                             const char *job_id, const st_broker_key *k,
                             st_secret **out, st_err *err)
{
    *out = NULL;
    if (k->ctlen <= ST_AEAD_TAG_LEN || k->ctlen > sizeof(k->ct))
        return st_err_set(err, ST_E_INPUT, "wrapped key \"%s\": bad length",
                          k->name);
    unsigned char *tmp = st_secmem_alloc(96, err);
    if (!tmp)
        return err ? err->code : ST_E_IO;
    unsigned char *shared = tmp, *key = tmp + 32, *rpk = tmp + 64;
    st_buf info;
    st_code rc = wrap_info(job_id, k->name, &info, err);
    if (rc == ST_OK)
        rc = st_x25519_pair(runtime_priv, k->epk, rpk, shared, err);
    if (rc == ST_OK)
        rc = wrap_kdf(shared, k->epk, rpk, &info, key, err);
    st_secret *s = NULL;
    if (rc == ST_OK)
        s = st_secret_new(k->ctlen - ST_AEAD_TAG_LEN, err);
    if (rc == ST_OK && !s)
        rc = err ? err->code : ST_E_IO;
    static const uint8_t zero_nonce[ST_AEAD_NONCE_LEN];
    if (rc == ST_OK && st_aead_open(key, zero_nonce, info.data, info.len, k->ct,
                                    k->ctlen, st_secret_bytes(s), err) != ST_OK)
        rc = st_err_set(err, ST_E_DENIED,
                        "key \"%s\" does not open for this runtime and job",
                        k->name);
    st_buf_free(&info);
    st_secmem_free(tmp);
    if (rc != ST_OK) {
        st_secret_free(s);
        return rc;
    }
    *out = s;
    return ST_OK;
}
