/*
 * evidence.c: the evidence container and its JSON bundle.
 *
 * A bundle is canonical JSON:
 *   {"type":"sealtrain-evidence","version":1,"tee":"snp","created":0,
 *    "parts":{"report":"<base64>","vcek":"<base64>"}}
 * Parsing is strict (unknown keys, bad names and non-canonical base64 are
 * rejected with the origin and key named). Parts are opaque bytes here; the
 * TEE verifiers parse them.
 *
 * Never: interpret part contents, or accept a bundle with duplicate keys.
 */
#include "sealtrain/attest.h"

#include <stdlib.h>
#include <string.h>

#include "sealtrain/fs.h"
#include "sealtrain/json.h"

#define MAX_PARTS 64
#define MAX_BUNDLE (16u << 20)

struct part {
    char *name;
    uint8_t *data;
    size_t len;
};

struct st_evidence {
    st_tee tee;
    int64_t created;
    struct part parts[MAX_PARTS];
    size_t n;
};

static const char *const tee_names[] = {
    [ST_TEE_NONE] = "none",
    [ST_TEE_SIM] = "sim",
    [ST_TEE_TPM] = "tpm",
    [ST_TEE_SNP] = "snp",
    [ST_TEE_TDX] = "tdx",
    [ST_TEE_SGX] = "sgx",
    [ST_TEE_AZ_SNP_VTPM] = "az-snp-vtpm",
    [ST_TEE_AZ_TDX_VTPM] = "az-tdx-vtpm",
};

const char *st_tee_name(st_tee tee)
{
    if ((size_t)tee >= sizeof(tee_names) / sizeof(tee_names[0]))
        return "none";
    return tee_names[tee];
}

st_code st_tee_parse(const char *name, st_tee *out, st_err *err)
{
    for (size_t i = 1; i < sizeof(tee_names) / sizeof(tee_names[0]); i++) {
        if (name && strcmp(name, tee_names[i]) == 0) {
            *out = (st_tee)i;
            return ST_OK;
        }
    }
    return st_err_set(err, ST_E_INPUT,
                      "unknown TEE type \"%s\": expected sim, tpm, snp, tdx, "
                      "sgx, az-snp-vtpm or az-tdx-vtpm",
                      name ? name : "");
}

st_evidence *st_evidence_new(st_tee tee, st_err *err)
{
    st_evidence *ev = calloc(1, sizeof(*ev));
    if (!ev) {
        st_err_set(err, ST_E_IO, "evidence: out of memory");
        return NULL;
    }
    ev->tee = tee;
    return ev;
}

void st_evidence_free(st_evidence *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->n; i++) {
        free(ev->parts[i].name);
        free(ev->parts[i].data);
    }
    free(ev);
}

st_tee st_evidence_tee(const st_evidence *ev)
{
    return ev->tee;
}

int64_t st_evidence_created(const st_evidence *ev)
{
    return ev->created;
}

void st_evidence_set_created(st_evidence *ev, int64_t t)
{
    ev->created = t;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

st_code st_evidence_set(st_evidence *ev, const char *name, const void *data,
                        size_t len, st_err *err)
{
    if (!valid_name(name))
        return st_err_set(err, ST_E_INPUT,
                          "evidence part name \"%s\": must be 1-64 of "
                          "[a-z0-9_.-]",
                          name);
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return st_err_set(err, ST_E_IO, "evidence: out of memory");
    if (len)
        memcpy(copy, data, len);
    for (size_t i = 0; i < ev->n; i++) {
        if (strcmp(ev->parts[i].name, name) == 0) {
            free(ev->parts[i].data);
            ev->parts[i].data = copy;
            ev->parts[i].len = len;
            return ST_OK;
        }
    }
    if (ev->n == MAX_PARTS) {
        free(copy);
        return st_err_set(err, ST_E_INPUT, "evidence: more than %d parts",
                          MAX_PARTS);
    }
    char *nm = strdup(name);
    if (!nm) {
        free(copy);
        return st_err_set(err, ST_E_IO, "evidence: out of memory");
    }
    ev->parts[ev->n].name = nm;
    ev->parts[ev->n].data = copy;
    ev->parts[ev->n].len = len;
    ev->n++;
    return ST_OK;
}

const uint8_t *st_evidence_get(const st_evidence *ev, const char *name,
                               size_t *len)
{
    for (size_t i = 0; i < ev->n; i++) {
        if (strcmp(ev->parts[i].name, name) == 0) {
            if (len)
                *len = ev->parts[i].len;
            return ev->parts[i].data;
        }
    }
    if (len)
        *len = 0;
    return NULL;
}

size_t st_evidence_count(const st_evidence *ev)
{
    return ev->n;
}

const char *st_evidence_name(const st_evidence *ev, size_t i)
{
    return i < ev->n ? ev->parts[i].name : NULL;
}

char *st_evidence_to_json(const st_evidence *ev, size_t *len, st_err *err)
{
    json_t *root = json_object();
    json_t *parts = json_object();
    char *out = NULL;
    if (!root || !parts)
        goto oom;
    json_object_set_new(root, "type", json_string("sealtrain-evidence"));
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "tee", json_string(st_tee_name(ev->tee)));
    json_object_set_new(root, "created", json_integer(ev->created));
    for (size_t i = 0; i < ev->n; i++) {
        char *b = st_base64_encode(ev->parts[i].data, ev->parts[i].len, 1);
        if (!b || json_object_set_new(parts, ev->parts[i].name,
                                      json_string(b)) != 0) {
            free(b);
            goto oom;
        }
        free(b);
    }
    json_object_set(root, "parts", parts);
    out = st_json_canonical(root, len, err);
    json_decref(parts);
    json_decref(root);
    return out;
oom:
    json_decref(parts);
    json_decref(root);
    st_err_set(err, ST_E_IO, "evidence: out of memory");
    return NULL;
}

st_code st_evidence_from_json(const char *text, size_t len, const char *origin,
                              st_evidence **out, st_err *err)
{
    static const char *const keys[] = {"type",    "version", "tee",
                                       "created", "parts",   NULL};
    char where[300];
    snprintf(where, sizeof(where), "evidence bundle %s",
             origin ? origin : "<bundle>");
    *out = NULL;
    json_t *root = st_json_parse(text, len, origin, err);
    if (!root)
        return err ? err->code : ST_E_INPUT;
    st_evidence *ev = NULL;
    st_code rc = st_json_check_keys(root, keys, where, err);
    const char *type = NULL, *tee = NULL;
    long long version = 0, created = 0;
    if (rc == ST_OK)
        rc = st_json_get_string(root, "type", 1, &type, where, err);
    if (rc == ST_OK && strcmp(type, "sealtrain-evidence") != 0)
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"type\" must be \"sealtrain-evidence\"", where);
    if (rc == ST_OK)
        rc = st_json_get_int(root, "version", 1, 1, 1, &version, where, err);
    if (rc == ST_OK)
        rc = st_json_get_int(root, "created", 0, 0, INT64_MAX, &created, where,
                             err);
    if (rc == ST_OK)
        rc = st_json_get_string(root, "tee", 1, &tee, where, err);
    st_tee t = ST_TEE_NONE;
    if (rc == ST_OK && (rc = st_tee_parse(tee, &t, err)) != ST_OK)
        st_err_prefix(err, "%s: \"tee\"", where);
    json_t *parts = json_object_get(root, "parts");
    if (rc == ST_OK && !json_is_object(parts))
        rc = st_err_set(err, ST_E_INPUT, "%s: \"parts\" must be an object",
                        where);
    if (rc == ST_OK && !(ev = st_evidence_new(t, err)))
        rc = ST_E_IO;
    if (rc == ST_OK) {
        ev->created = created;
        const char *k;
        json_t *v;
        json_object_foreach(parts, k, v)
        {
            uint8_t *bytes = NULL;
            size_t n = 0;
            if (!json_is_string(v)) {
                rc = st_err_set(err, ST_E_INPUT,
                                "%s: part \"%s\" must be a base64 string",
                                where, k);
                break;
            }
            rc = st_base64_decode(json_string_value(v), json_string_length(v),
                                  1, &bytes, &n, err);
            if (rc != ST_OK) {
                st_err_prefix(err, "%s: part \"%s\"", where, k);
                break;
            }
            rc = st_evidence_set(ev, k, bytes, n, err);
            free(bytes);
            if (rc != ST_OK) {
                st_err_prefix(err, "%s", where);
                break;
            }
        }
    }
    json_decref(root);
    if (rc != ST_OK) {
        st_evidence_free(ev);
        return rc;
    }
    *out = ev;
    return ST_OK;
}

st_code st_evidence_load(const char *path, st_evidence **out, st_err *err)
{
    unsigned char *buf;
    size_t len;
    st_code rc = st_fs_read_all(path, MAX_BUNDLE, &buf, &len, err);
    if (rc != ST_OK)
        return rc;
    rc = st_evidence_from_json((const char *)buf, len, path, out, err);
    free(buf);
    return rc;
}

st_code st_evidence_save(const st_evidence *ev, const char *path, st_err *err)
{
    size_t len;
    char *s = st_evidence_to_json(ev, &len, err);
    if (!s)
        return err ? err->code : ST_E_INTERNAL;
    st_code rc = st_fs_write_atomic(path, s, len, 0644, err);
    free(s);
    return rc;
}
