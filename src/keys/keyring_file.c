/*
 * keyring_file.c: parse and write keys/root.json and keys/keyring.json
 * (formats in keyring_file.h). Both files are untrusted input: strict
 * JSON, closed key sets, exact lengths for every encoded field, versions
 * numbered 1..n in order, states consistent with key material. Errors
 * name the file and the field; nothing is repaired.
 *
 * Must never: hold unwrapped key material (only wrapped bytes pass here).
 */
#include "keys/keyring_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/primitives.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"

#define ROOT_FORMAT "sealtrain-root-key"
#define KEYRING_FORMAT "sealtrain-keyring"

void st_root_file_clear(st_root_file *rf)
{
    st_buf_free(&rf->tpm_public);
    st_buf_free(&rf->tpm_private);
    memset(rf, 0, sizeof(*rf));
}

/* Decodes base64 field `key` of `obj` into exactly `n` bytes. */
static ST_MUST_CHECK st_code get_b64_exact(const json_t *obj, const char *key,
                                           uint8_t *out, size_t n,
                                           const char *where, st_err *err)
{
    const char *s = NULL;
    st_code rc = st_json_get_string(obj, key, 1, &s, where, err);
    if (rc)
        return rc;
    uint8_t *d = NULL;
    size_t dl = 0;
    st_err de;
    /* out of memory is not a malformed file (it said "must be 12 bytes") */
    if ((rc = st_base64_decode(s, strlen(s), 1, &d, &dl, &de)) == ST_E_IO) {
        if (err)
            *err = de;
        return st_err_prefix(err, "%s: \"%s\"", where, key);
    }
    if (rc != ST_OK || dl != n) {
        free(d);
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"%s\" must be %zu bytes in base64", where, key,
                          n);
    }
    memcpy(out, d, n);
    free(d);
    return ST_OK;
}

static ST_MUST_CHECK st_code get_b64_buf(const json_t *obj, const char *key,
                                         st_buf *out, size_t max,
                                         const char *where, st_err *err)
{
    const char *s = NULL;
    st_code rc = st_json_get_string(obj, key, 1, &s, where, err);
    if (rc)
        return rc;
    uint8_t *d = NULL;
    size_t dl = 0;
    st_err de;
    if ((rc = st_base64_decode(s, strlen(s), 1, &d, &dl, &de)) == ST_E_IO) {
        if (err)
            *err = de;
        return st_err_prefix(err, "%s: \"%s\"", where, key);
    }
    if (rc != ST_OK || dl == 0 || dl > max) {
        free(d);
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"%s\" must be 1 to %zu bytes in base64", where,
                          key, max);
    }
    rc = st_buf_append(out, d, dl, err);
    free(d);
    return rc;
}

static json_t *b64(const uint8_t *d, size_t n)
{
    char *s = st_base64_encode(d, n, 1);
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

/* Canonical text + newline. */
static char *canonical_line(json_t *root, size_t *len, st_err *err)
{
    size_t n = 0;
    char *text = st_json_canonical(root, &n, err);
    if (!text)
        return NULL;
    char *t2 = realloc(text, n + 2);
    if (!t2) {
        free(text);
        st_err_set(err, ST_E_IO, "out of memory");
        return NULL;
    }
    t2[n] = '\n';
    t2[n + 1] = '\0';
    *len = n + 1;
    return t2;
}

/* --- root.json --------------------------------------------------------- */

st_code st_root_file_parse(const char *text, size_t len, const char *origin,
                           st_root_file *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    st_buf_init(&out->tpm_public);
    st_buf_init(&out->tpm_private);
    json_t *root = st_json_parse(text, len, origin, err);
    if (!root)
        return err ? err->code : ST_E_INPUT;
    static const char *const keys[] = {"format", "version", "protection", "kdf",
                                       "nonce",  "wrapped", "tpm",        NULL};
    const char *format, *prot, *kname;
    long long version, v;
    st_code rc;
    char where[600];
    if (!json_is_object(root)) {
        rc = st_err_set(err, ST_E_INPUT, "%s: must be a JSON object", origin);
        goto done;
    }
    if ((rc = st_json_check_keys(root, keys, origin, err)) ||
        (rc = st_json_get_string(root, "format", 1, &format, origin, err)) ||
        (rc = st_json_get_int(root, "version", 1, 1, 1, &version, origin,
                              err)) ||
        (rc = st_json_get_string(root, "protection", 1, &prot, origin, err)))
        goto done;
    if (strcmp(format, ROOT_FORMAT) != 0) {
        rc = st_err_set(err, ST_E_INPUT, "%s: not a sealtrain root key file",
                        origin);
        goto done;
    }
    if (!strcmp(prot, "passphrase"))
        out->kind = ST_PROTECT_PASSPHRASE;
    else if (!strcmp(prot, "file"))
        out->kind = ST_PROTECT_FILE;
    else if (!strcmp(prot, "tpm"))
        out->kind = ST_PROTECT_TPM;
    else {
        rc = st_err_set(err, ST_E_INPUT, "%s: unknown protection \"%.32s\"",
                        origin, prot);
        goto done;
    }
    if (out->kind == ST_PROTECT_TPM) {
        json_t *tpm = json_object_get(root, "tpm");
        snprintf(where, sizeof(where), "%s: tpm", origin);
        static const char *const tkeys[] = {"public", "private", NULL};
        if (json_object_get(root, "kdf") || json_object_get(root, "nonce") ||
            json_object_get(root, "wrapped") || !json_is_object(tpm)) {
            rc = st_err_set(err, ST_E_INPUT,
                            "%s: tpm protection takes a \"tpm\" object and "
                            "no kdf, nonce or wrapped key",
                            origin);
            goto done;
        }
        if ((rc = st_json_check_keys(tpm, tkeys, where, err)) ||
            (rc = get_b64_buf(tpm, "public", &out->tpm_public, 1024, where,
                              err)) ||
            (rc = get_b64_buf(tpm, "private", &out->tpm_private, 1024, where,
                              err)))
            goto done;
        rc = ST_OK;
        goto done;
    }
    json_t *kdf = json_object_get(root, "kdf");
    if (json_object_get(root, "tpm") || !json_is_object(kdf)) {
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: %s protection takes a \"kdf\" object and no "
                        "\"tpm\"",
                        origin, prot);
        goto done;
    }
    snprintf(where, sizeof(where), "%s: kdf", origin);
    if ((rc = st_json_get_string(kdf, "name", 1, &kname, where, err)))
        goto done;
    out->kdf_scrypt = !strcmp(kname, "scrypt");
    if (out->kdf_scrypt != (out->kind == ST_PROTECT_PASSPHRASE) ||
        (!out->kdf_scrypt && strcmp(kname, "hkdf-sha256"))) {
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: kdf \"%.32s\" does not fit protection %s", where,
                        kname, prot);
        goto done;
    }
    if (out->kdf_scrypt) {
        static const char *const skeys[] = {"name", "log2n", "r",
                                            "p",    "salt",  NULL};
        /* bounds keep a tampered file from making us allocate gigabytes */
        if ((rc = st_json_check_keys(kdf, skeys, where, err)) ||
            (rc = st_json_get_int(kdf, "log2n", 1, 10, 22, &v, where, err)))
            goto done;
        out->log2n = (unsigned)v;
        if ((rc = st_json_get_int(kdf, "r", 1, 1, 32, &v, where, err)))
            goto done;
        out->r = (unsigned)v;
        if ((rc = st_json_get_int(kdf, "p", 1, 1, 16, &v, where, err)))
            goto done;
        out->p = (unsigned)v;
    } else {
        static const char *const hkeys[] = {"name", "salt", NULL};
        if ((rc = st_json_check_keys(kdf, hkeys, where, err)))
            goto done;
    }
    if ((rc = get_b64_exact(kdf, "salt", out->salt, sizeof(out->salt), where,
                            err)) ||
        (rc = get_b64_exact(root, "nonce", out->nonce, sizeof(out->nonce),
                            origin, err)) ||
        (rc = get_b64_exact(root, "wrapped", out->wrapped, sizeof(out->wrapped),
                            origin, err)))
        goto done;
    rc = ST_OK;
done:
    json_decref(root);
    if (rc)
        st_root_file_clear(out);
    return rc;
}

char *st_root_file_serialize(const st_root_file *rf, size_t *len, st_err *err)
{
    json_t *root = json_pack("{s:s,s:i,s:s}", "format", ROOT_FORMAT, "version",
                             1, "protection", st_protect_kind_name(rf->kind));
    if (!root)
        goto oom;
    /* every member must land: a root file missing one is unreadable */
    int bad = 0;
    if (rf->kind == ST_PROTECT_TPM) {
        json_t *tpm = json_object();
        bad |= json_object_set_new(
            tpm, "public", b64(rf->tpm_public.data, rf->tpm_public.len));
        bad |= json_object_set_new(
            tpm, "private", b64(rf->tpm_private.data, rf->tpm_private.len));
        bad |= json_object_set_new(root, "tpm", tpm);
    } else {
        json_t *kdf = json_object();
        bad |= json_object_set_new(
            kdf, "name",
            json_string(rf->kdf_scrypt ? "scrypt" : "hkdf-sha256"));
        if (rf->kdf_scrypt) {
            bad |= json_object_set_new(kdf, "log2n", json_integer(rf->log2n));
            bad |= json_object_set_new(kdf, "r", json_integer(rf->r));
            bad |= json_object_set_new(kdf, "p", json_integer(rf->p));
        }
        bad |=
            json_object_set_new(kdf, "salt", b64(rf->salt, sizeof(rf->salt)));
        bad |= json_object_set_new(root, "kdf", kdf);
        bad |= json_object_set_new(root, "nonce",
                                   b64(rf->nonce, sizeof(rf->nonce)));
        bad |= json_object_set_new(root, "wrapped",
                                   b64(rf->wrapped, sizeof(rf->wrapped)));
    }
    if (bad) {
        json_decref(root);
        goto oom;
    }
    char *text = canonical_line(root, len, err);
    json_decref(root);
    return text;
oom:
    st_err_set(err, ST_E_IO, "out of memory");
    return NULL;
}

/* --- keyring.json ------------------------------------------------------ */

int st_kr_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > ST_KEK_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return 0;
    }
    return 1;
}

void st_kr_data_free(st_kr_data *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nkeys; i++)
        free(d->keys[i].versions);
    free(d->keys);
    free(d);
}

static ST_MUST_CHECK st_code parse_time_field(const json_t *obj,
                                              const char *key, int required,
                                              char out[ST_TIME_LEN],
                                              const char *where, st_err *err)
{
    const char *s = NULL;
    time_t t;
    st_code rc = st_json_get_string(obj, key, required, &s, where, err);
    if (rc || !s)
        return rc;
    if ((rc = st_time_parse(s, &t, err)))
        return st_err_prefix(err, "%s: \"%s\"", where, key);
    snprintf(out, ST_TIME_LEN, "%s", s);
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_version(const json_t *jv, st_kr_version *v,
                                           uint32_t expect, const char *where,
                                           st_err *err)
{
    static const char *const vkeys[] = {
        "version", "state", "created", "changed", "nonce", "wrapped", NULL};
    long long num;
    const char *state;
    st_code rc;
    if (!json_is_object(jv))
        return st_err_set(err, ST_E_INPUT, "%s: must be an object", where);
    if ((rc = st_json_check_keys(jv, vkeys, where, err)) ||
        (rc = st_json_get_int(jv, "version", 1, 1, UINT32_MAX, &num, where,
                              err)) ||
        (rc = st_json_get_string(jv, "state", 1, &state, where, err)) ||
        (rc = parse_time_field(jv, "created", 1, v->created, where, err)) ||
        (rc = parse_time_field(jv, "changed", 0, v->changed, where, err)))
        return rc;
    if ((uint32_t)num != expect)
        return st_err_set(err, ST_E_INPUT,
                          "%s: version %lld out of order (expected %u)", where,
                          num, expect);
    v->version = (uint32_t)num;
    if (!strcmp(state, "active"))
        v->state = ST_KEK_ACTIVE;
    else if (!strcmp(state, "retired"))
        v->state = ST_KEK_RETIRED;
    else if (!strcmp(state, "revoked"))
        v->state = ST_KEK_REVOKED;
    else
        return st_err_set(err, ST_E_INPUT, "%s: unknown state \"%.32s\"", where,
                          state);
    if ((v->state == ST_KEK_ACTIVE) != (v->changed[0] == '\0'))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"changed\" is required for retired and "
                          "revoked versions only",
                          where);
    int has = json_object_get(jv, "nonce") || json_object_get(jv, "wrapped");
    if (v->state == ST_KEK_REVOKED) {
        if (has)
            return st_err_set(err, ST_E_INPUT,
                              "%s: a revoked version has no key material",
                              where);
        return ST_OK;
    }
    if ((rc = get_b64_exact(jv, "nonce", v->nonce, sizeof(v->nonce), where,
                            err)) ||
        (rc = get_b64_exact(jv, "wrapped", v->wrapped, sizeof(v->wrapped),
                            where, err)))
        return rc;
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_key(const json_t *jk, st_kr_key *k,
                                       const char *where, st_err *err)
{
    static const char *const kkeys[] = {"name",    "rotation_days", "created",
                                        "current", "versions",      NULL};
    const char *name;
    long long days, current;
    st_code rc;
    if (!json_is_object(jk))
        return st_err_set(err, ST_E_INPUT, "%s: must be an object", where);
    if ((rc = st_json_check_keys(jk, kkeys, where, err)) ||
        (rc = st_json_get_string(jk, "name", 1, &name, where, err)) ||
        (rc = st_json_get_int(jk, "rotation_days", 1, 1, 36500, &days, where,
                              err)) ||
        (rc = parse_time_field(jk, "created", 1, k->created, where, err)) ||
        (rc = st_json_get_int(jk, "current", 1, 0, UINT32_MAX, &current, where,
                              err)))
        return rc;
    if (!st_kr_name_valid(name))
        return st_err_set(err, ST_E_INPUT, "%s: invalid key name", where);
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->rotation_days = (uint32_t)days;
    json_t *vs = json_object_get(jk, "versions");
    size_t nv = json_array_size(vs);
    if (!json_is_array(vs) || nv == 0 || nv > 100000)
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"versions\" must be a non-empty array", where);
    k->versions = calloc(nv, sizeof(*k->versions));
    if (!k->versions)
        return st_err_set(err, ST_E_IO, "out of memory");
    k->nversions = nv;
    for (size_t i = 0; i < nv; i++) {
        char w[700];
        snprintf(w, sizeof(w), "%.500s: version #%zu", where, i + 1);
        if ((rc = parse_version(json_array_get(vs, i), &k->versions[i],
                                (uint32_t)(i + 1), w, err)))
            return rc;
    }
    /* current: the newest version, active; 0 only if that one is revoked */
    st_kr_version *last = &k->versions[nv - 1];
    uint32_t want = last->state == ST_KEK_REVOKED ? 0 : last->version;
    if ((uint32_t)current != want || (want && last->state != ST_KEK_ACTIVE))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"current\" must be the newest version, "
                          "active (or 0 when it is revoked)",
                          where);
    k->current = (uint32_t)current;
    return ST_OK;
}

st_code st_kr_data_parse(const char *text, size_t len, const char *origin,
                         st_kr_data **out, st_err *err)
{
    *out = NULL;
    json_t *root = st_json_parse(text, len, origin, err);
    if (!root)
        return err ? err->code : ST_E_INPUT;
    st_kr_data *d = calloc(1, sizeof(*d));
    static const char *const keys[] = {"format", "version", "generation",
                                       "keys",   "mac",     NULL};
    const char *format, *mac;
    long long version, gen;
    st_code rc;
    if (!d) {
        rc = st_err_set(err, ST_E_IO, "out of memory");
        goto done;
    }
    if (!json_is_object(root)) {
        rc = st_err_set(err, ST_E_INPUT, "%s: must be a JSON object", origin);
        goto done;
    }
    if ((rc = st_json_check_keys(root, keys, origin, err)) ||
        (rc = st_json_get_string(root, "format", 1, &format, origin, err)) ||
        (rc = st_json_get_int(root, "version", 1, 1, 1, &version, origin,
                              err)) ||
        (rc = st_json_get_int(root, "generation", 1, 1, INT64_MAX, &gen, origin,
                              err)) ||
        (rc = st_json_get_string(root, "mac", 1, &mac, origin, err)))
        goto done;
    if (strcmp(format, KEYRING_FORMAT) != 0) {
        rc = st_err_set(err, ST_E_INPUT, "%s: not a sealtrain keyring", origin);
        goto done;
    }
    d->generation = (uint64_t)gen;
    if (strlen(mac) != 64 ||
        st_hex_decode(mac, d->mac, sizeof(d->mac), NULL) != ST_OK) {
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"mac\" must be 64 hex characters", origin);
        goto done;
    }
    json_t *ks = json_object_get(root, "keys");
    size_t nk = json_array_size(ks);
    if (!json_is_array(ks) || nk > 100000) {
        rc = st_err_set(err, ST_E_INPUT, "%s: \"keys\" must be an array",
                        origin);
        goto done;
    }
    d->keys = calloc(nk ? nk : 1, sizeof(*d->keys));
    if (!d->keys) {
        rc = st_err_set(err, ST_E_IO, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nk; i++) {
        char w[600];
        snprintf(w, sizeof(w), "%.500s: key #%zu", origin, i + 1);
        d->nkeys = i + 1;
        if ((rc = parse_key(json_array_get(ks, i), &d->keys[i], w, err)))
            goto done;
        /* sorted and unique: one canonical file per keyring state */
        if (i > 0 && strcmp(d->keys[i - 1].name, d->keys[i].name) >= 0) {
            rc = st_err_set(err, ST_E_INPUT,
                            "%s: keys must be sorted by name without "
                            "duplicates",
                            w);
            goto done;
        }
    }
    rc = ST_OK;
done:
    json_decref(root);
    if (rc)
        st_kr_data_free(d);
    else
        *out = d;
    return rc;
}

/* The keyring as JSON, without "mac". NULL when any allocation fails: a
 * document missing a member must never be MACed or written (jansson's
 * *_new functions take the value even when they fail, so nothing leaks). */
static json_t *data_json(const st_kr_data *d)
{
    json_t *keys = json_array();
    if (!keys)
        return NULL;
    for (size_t i = 0; i < d->nkeys; i++) {
        const st_kr_key *k = &d->keys[i];
        json_t *vs = json_array();
        if (!vs)
            goto fail;
        for (size_t j = 0; j < k->nversions; j++) {
            const st_kr_version *v = &k->versions[j];
            json_t *jv = json_pack(
                "{s:I,s:s,s:s}", "version", (json_int_t)v->version, "state",
                st_kek_state_name(v->state), "created", v->created);
            int bad = !jv;
            if (!bad && v->changed[0])
                bad = json_object_set_new(jv, "changed",
                                          json_string(v->changed)) != 0;
            if (!bad && v->state != ST_KEK_REVOKED)
                bad = json_object_set_new(jv, "nonce",
                                          b64(v->nonce, sizeof(v->nonce))) ||
                      json_object_set_new(jv, "wrapped",
                                          b64(v->wrapped, sizeof(v->wrapped)));
            if (bad) {
                json_decref(jv);
                json_decref(vs);
                goto fail;
            }
            if (json_array_append_new(vs, jv) != 0) {
                json_decref(vs);
                goto fail;
            }
        }
        /* "o" takes vs, also when json_pack fails */
        if (json_array_append_new(
                keys, json_pack("{s:s,s:I,s:s,s:I,s:o}", "name", k->name,
                                "rotation_days", (json_int_t)k->rotation_days,
                                "created", k->created, "current",
                                (json_int_t)k->current, "versions", vs)) != 0)
            goto fail;
    }
    return json_pack("{s:s,s:i,s:I,s:o}", "format", KEYRING_FORMAT, "version",
                     1, "generation", (json_int_t)d->generation, "keys", keys);
fail:
    json_decref(keys);
    return NULL;
}

/* The bytes the MAC covers: the canonical document without "mac". */
static char *mac_input(const st_kr_data *d, size_t *n, st_err *err)
{
    json_t *j = data_json(d);
    if (!j) {
        st_err_errno(err, ST_E_IO, ENOMEM, "serialising the keyring");
        return NULL;
    }
    char *text = st_json_canonical(j, n, err);
    json_decref(j);
    return text;
}

st_code st_kr_data_mac(const st_kr_data *d, const uint8_t mac_key[32],
                       uint8_t out[32], st_err *err)
{
    size_t n = 0;
    char *text = mac_input(d, &n, err);
    if (!text)
        return err ? err->code : ST_E_IO;
    st_code rc = st_hmac_sha256(mac_key, 32, text, n, out, err);
    free(text);
    return rc;
}

/* The written text must read back as exactly the keyring that was MACed:
 * it parses, carries `mac`, and its MAC input is byte for byte `body`. A
 * failure here is ours (or the system's), never the file's. */
static ST_MUST_CHECK st_code check_read_back(const char *text, size_t len,
                                             const char *body, size_t n,
                                             const uint8_t mac[32], st_err *err)
{
    st_kr_data *back = NULL;
    st_code rc =
        st_kr_data_parse(text, len, "the keyring being written", &back, err);
    if (rc != ST_OK)
        return rc == ST_E_IO ? rc
                             : st_err_set(err, ST_E_INTERNAL,
                                          "the keyring being written does "
                                          "not read back: %s",
                                          err ? err->msg : "");
    size_t n2 = 0;
    char *body2 = mac_input(back, &n2, err);
    if (!body2)
        rc = err ? err->code : ST_E_IO;
    else if (n2 != n || memcmp(body2, body, n) != 0 ||
             memcmp(back->mac, mac, 32) != 0)
        rc = st_err_set(err, ST_E_INTERNAL,
                        "the keyring being written does not read back as "
                        "the keyring that was authenticated");
    free(body2);
    st_kr_data_free(back);
    return rc;
}

char *st_kr_data_serialize(st_kr_data *d, const uint8_t mac_key[32],
                           size_t *len, st_err *err)
{
    /* built once: the MAC input and the file come from the same document */
    json_t *j = data_json(d);
    if (!j) {
        st_err_errno(err, ST_E_IO, ENOMEM, "serialising the keyring");
        return NULL;
    }
    size_t n = 0;
    uint8_t mac[32];
    char *text = NULL;
    char *body = st_json_canonical(j, &n, err);
    if (body && st_hmac_sha256(mac_key, 32, body, n, mac, err) == ST_OK) {
        char hex[65];
        st_hex_encode(mac, sizeof(mac), hex);
        if (json_object_set_new(j, "mac", json_string(hex)) != 0)
            st_err_errno(err, ST_E_IO, ENOMEM, "serialising the keyring");
        else
            text = canonical_line(j, len, err);
    }
    json_decref(j);
    if (text && check_read_back(text, *len, body, n, mac, err) != ST_OK) {
        free(text);
        text = NULL;
    }
    free(body);
    if (text)
        memcpy(d->mac, mac, sizeof(mac));
    return text;
}
