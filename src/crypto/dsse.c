/*
 * dsse.c: DSSE v1 envelopes with Ed25519 (see src/crypto/dsse.h and
 * the DSSE protocol specification, "Signature definition" and "Envelope").
 */
#include "crypto/dsse.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/primitives.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"

void st_dsse_keyid(const uint8_t pub[32], char out[ST_KEYID_LEN + 1])
{
    uint8_t h[32];
    st_sha256(pub, 32, h);
    st_hex_encode(h, 32, out);
}

st_code st_dsse_pae(const char *type, const uint8_t *payload, size_t len,
                    st_buf *out, st_err *err)
{
    if (st_buf_printf(out, err, "DSSEv1 %zu %s %zu ", strlen(type), type,
                      len) != ST_OK)
        return err ? err->code : ST_E_IO;
    return st_buf_append(out, payload, len, err);
}

static json_t *signature_of(const char *type, const uint8_t *payload,
                            size_t len, const uint8_t seed[32], st_err *err)
{
    uint8_t pub[32], sig[64];
    char keyid[ST_KEYID_LEN + 1];
    st_buf pae;
    st_buf_init(&pae);
    json_t *s = NULL;
    if (st_ed25519_public(seed, pub, err) != ST_OK ||
        st_dsse_pae(type, payload, len, &pae, err) != ST_OK ||
        st_ed25519_sign(seed, pae.data, pae.len, sig, err) != ST_OK)
        goto out;
    st_dsse_keyid(pub, keyid);
    char *sig64 = st_base64_encode(sig, 64, 1);
    if (sig64)
        s = json_pack("{s:s, s:s}", "keyid", keyid, "sig", sig64);
    free(sig64);
    if (!s)
        st_err_set(err, ST_E_IO, "out of memory");
out:
    st_buf_free(&pae);
    return s;
}

json_t *st_dsse_sign(const char *type, const uint8_t *payload, size_t len,
                     const uint8_t seed[32], st_err *err)
{
    json_t *sig = signature_of(type, payload, len, seed, err);
    if (!sig)
        return NULL;
    char *body64 = st_base64_encode(payload, len, 1);
    json_t *env = body64 ? json_pack("{s:s, s:s, s:[o]}", "payload", body64,
                                     "payloadType", type, "signatures", sig)
                         : NULL;
    free(body64);
    if (!env)
        st_err_set(err, ST_E_IO, "out of memory");
    return env;
}

/* Structural checks shared by verify and payload. */
static ST_MUST_CHECK st_code parse_envelope(const json_t *env,
                                            const char **type,
                                            uint8_t **payload, size_t *len,
                                            const json_t **sigs, st_err *err)
{
    static const char *const keys[] = {"payload", "payloadType", "signatures",
                                       NULL};
    const char *p64 = NULL;
    if (st_json_check_keys(env, keys, "DSSE envelope", err) != ST_OK ||
        st_json_get_string(env, "payload", 1, &p64, "DSSE envelope", err) !=
            ST_OK ||
        st_json_get_string(env, "payloadType", 1, type, "DSSE envelope", err) !=
            ST_OK)
        return err ? err->code : ST_E_INPUT;
    *sigs = json_object_get(env, "signatures");
    if (!json_is_array(*sigs))
        return st_err_set(err, ST_E_INPUT,
                          "DSSE envelope: \"signatures\" must be an array");
    if (st_base64_decode(p64, strlen(p64), 1, payload, len, err) != ST_OK)
        return st_err_prefix(err, "DSSE envelope: payload");
    return ST_OK;
}

st_code st_dsse_payload(const json_t *env, uint8_t **payload, size_t *len,
                        st_err *err)
{
    const char *type;
    const json_t *sigs = NULL;
    return parse_envelope(env, &type, payload, len, &sigs, err);
}

st_code st_dsse_add_signature(json_t *env, const uint8_t seed[32], st_err *err)
{
    const char *type;
    const json_t *sigs = NULL;
    uint8_t *payload;
    size_t len;
    if (parse_envelope(env, &type, &payload, &len, &sigs, err) != ST_OK)
        return err ? err->code : ST_E_INPUT;
    json_t *sig = signature_of(type, payload, len, seed, err);
    free(payload);
    if (!sig)
        return err ? err->code : ST_E_IO;
    json_array_append_new((json_t *)sigs, sig);
    return ST_OK;
}

st_code st_dsse_verify(const json_t *env, const char *type,
                       const uint8_t (*pubs)[32], size_t n, uint8_t **payload,
                       size_t *len, size_t *which, st_err *err)
{
    const char *got_type;
    const json_t *sigs = NULL;
    uint8_t *body;
    size_t blen;
    *payload = NULL;
    *len = 0;
    if (parse_envelope(env, &got_type, &body, &blen, &sigs, err) != ST_OK)
        return err ? err->code : ST_E_INPUT;
    if (type && strcmp(type, got_type) != 0) {
        free(body);
        return st_err_set(err, ST_E_INPUT,
                          "DSSE envelope: payload type is \"%s\", expected "
                          "\"%s\"",
                          got_type, type);
    }
    if (json_array_size(sigs) == 0) {
        free(body);
        return st_err_set(err, ST_E_DENIED, "DSSE envelope has no signature");
    }
    st_buf pae;
    st_buf_init(&pae);
    if (st_dsse_pae(got_type, body, blen, &pae, err) != ST_OK) {
        free(body);
        return err ? err->code : ST_E_IO;
    }
    size_t i;
    json_t *s;
    st_code rc = ST_E_DENIED;
    json_array_foreach(sigs, i, s)
    {
        const char *sig64 = NULL;
        if (!json_is_object(s) ||
            st_json_get_string(s, "sig", 1, &sig64, "DSSE signature", err) !=
                ST_OK) {
            rc = st_err_set(err, ST_E_INPUT,
                            "DSSE envelope: signature %zu is malformed", i);
            break;
        }
        uint8_t *sig;
        size_t siglen;
        if (st_base64_decode(sig64, strlen(sig64), 1, &sig, &siglen, NULL) !=
                ST_OK ||
            siglen != 64) {
            if (siglen != 64 && sig)
                free(sig);
            continue; /* not an Ed25519 signature: another may be */
        }
        for (size_t k = 0; k < n; k++) {
            if (st_ed25519_verify(pubs[k], pae.data, pae.len, sig, NULL) ==
                ST_OK) {
                if (which)
                    *which = k;
                rc = ST_OK;
                break;
            }
        }
        free(sig);
        if (rc == ST_OK)
            break;
    }
    st_buf_free(&pae);
    if (rc == ST_OK) {
        *payload = body;
        *len = blen;
        return ST_OK;
    }
    free(body);
    if (rc == ST_E_DENIED)
        return st_err_set(err, ST_E_DENIED,
                          "DSSE envelope: no signature verifies under the "
                          "expected key%s",
                          n == 1 ? "" : "s");
    return rc;
}

/* ---- envelopes already verified (see dsse.h) ---- */

#define REMEMBERED_SLOTS 64
#define REMEMBERED_MAX (64 * 1024) /* larger payloads are not kept */

static struct {
    pthread_mutex_t lock;
    struct {
        uint8_t key[32];
        uint8_t *payload;
        size_t len, which;
    } slot[REMEMBERED_SLOTS];
} remembered = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The slot, or -1 when out of memory (then nothing is remembered). */
static int remembered_key(const char *text, size_t len, const char *type,
                          const uint8_t (*pubs)[32], size_t n, uint8_t key[32])
{
    st_sha256_ctx c;
    uint8_t count[8];
    for (int i = 0; i < 8; i++)
        count[i] = (uint8_t)((uint64_t)n >> (8 * i));
    st_sha256_init(&c);
    st_sha256_update(&c, type, strlen(type) + 1);
    st_sha256_update(&c, count, sizeof(count));
    st_sha256_update(&c, pubs, 32 * n);
    st_sha256_update(&c, text, len);
    st_sha256_final(&c, key);
    return (int)(((unsigned)key[0] << 8 | key[1]) % REMEMBERED_SLOTS);
}

int st_dsse_remembered(const char *text, size_t len, const char *type,
                       const uint8_t (*pubs)[32], size_t n, uint8_t **payload,
                       size_t *plen, size_t *which)
{
    uint8_t key[32];
    int i = remembered_key(text, len, type, pubs, n, key);
    int hit = 0;
    if (i < 0)
        return 0;
    pthread_mutex_lock(&remembered.lock);
    if (remembered.slot[i].payload &&
        !memcmp(remembered.slot[i].key, key, 32)) {
        size_t l = remembered.slot[i].len;
        uint8_t *copy = malloc(l + 1);
        if (copy) {
            memcpy(copy, remembered.slot[i].payload, l);
            copy[l] = 0;
            *payload = copy;
            *plen = l;
            if (which)
                *which = remembered.slot[i].which;
            hit = 1;
        }
    }
    pthread_mutex_unlock(&remembered.lock);
    return hit;
}

void st_dsse_remember(const char *text, size_t len, const char *type,
                      const uint8_t (*pubs)[32], size_t n,
                      const uint8_t *payload, size_t plen, size_t which)
{
    if (plen > REMEMBERED_MAX)
        return;
    uint8_t key[32];
    int i = remembered_key(text, len, type, pubs, n, key);
    uint8_t *copy = i < 0 ? NULL : malloc(plen ? plen : 1);
    if (!copy)
        return; /* not remembered: verified again next time */
    memcpy(copy, payload, plen);
    pthread_mutex_lock(&remembered.lock);
    uint8_t *old = remembered.slot[i].payload;
    memcpy(remembered.slot[i].key, key, 32);
    remembered.slot[i].payload = copy;
    remembered.slot[i].len = plen;
    remembered.slot[i].which = which;
    pthread_mutex_unlock(&remembered.lock);
    free(old);
}
