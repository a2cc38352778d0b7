/*
 * manifest.c: the dataset manifest: building its canonical JSON and
 * parsing it back strictly (docs/datasets.md lists the fields).
 *
 * The manifest is what the owner signs (DSSE, dataset.c): it must say
 * everything a consumer relies on (shape, digests, key, classification)
 * and nothing secret: label texts and values never appear here, only
 * counts, names of columns and digests. Parsing treats the JSON as
 * untrusted (it comes from the catalog, which others can edit): unknown
 * keys, missing keys, wrong types, bad digests and out-of-range numbers
 * are rejected with the field's name. Never repairs.
 */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "sealtrain/bytes.h"
#include "sealtrain/clock.h"
#include "sealtrain/dataset.h"
#include "sealtrain/json.h"

static const char *const classifications[] = {"public", "internal",
                                              "confidential", "restricted"};

int st_dataset_classification_rank(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, classifications[i]))
            return i;
    return -1;
}

st_code st_dataset_check_name(const char *what, const char *name, st_err *err)
{
    size_t n = name ? strlen(name) : 0;
    int ok = n >= 1 && n <= ST_DATASET_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9');
        ok = alnum || (i > 0 && (c == '.' || c == '_' || c == '-'));
    }
    if (!ok)
        return st_err_set(err, ST_E_USAGE,
                          "invalid %s \"%.80s\": expected 1-%d characters of "
                          "A-Z a-z 0-9 . _ -, starting with a letter or digit",
                          what, name ? name : "", ST_DATASET_NAME_MAX);
    return ST_OK;
}

st_code st_dataset_check_broker_url(const char *url, st_err *err)
{
    size_t n = url ? strlen(url) : 0;
    const char *host = url && !strncmp(url, "https://", 8) ? url + 8 : NULL;
    int ok = host && n <= ST_DATASET_BROKER_URL_MAX && *host && *host != '/' &&
             *host != ':';
    /* the URL goes into HTTP requests and error messages: no characters
     * that could split or disguise them, no credentials, no query */
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        ok = c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '@' &&
             c != '?' && c != '#' && c != '%';
    }
    if (!ok)
        return st_err_set(err, ST_E_USAGE,
                          "invalid broker URL \"%.80s\": expected "
                          "https://HOST[:PORT][/PATH] (at most %d characters, "
                          "no user, query or fragment)",
                          url ? url : "", ST_DATASET_BROKER_URL_MAX);
    return ST_OK;
}

static json_t *hexj(const uint8_t d[32])
{
    char h[65];
    st_hex_encode(d, 32, h);
    return json_string(h);
}

static json_t *strings(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

char *st_dataset_manifest_encode(const st_dataset_manifest *m, size_t *len,
                                 st_err *err)
{
    json_t *schema =
        json_pack("{s:s, s:I, s:I, s:s, s:I, s:b}", "layout", ST_DATASET_LAYOUT,
                  "rows", (json_int_t)m->rows, "features", (json_int_t)m->cols,
                  "label_kind", m->regression ? "value" : "class", "classes",
                  (json_int_t)m->classes, "labels_mapped", m->labels_mapped);
    /* classification manifests keep the v1 keys exactly (their signatures
     * cover these bytes); regression adds its targets */
    if (schema && m->regression) {
        json_object_set_new(schema, "targets", json_integer(m->targets));
        if (m->target_names)
            json_object_set_new(schema, "target_names",
                                strings(m->target_names, m->targets));
    }
    if (schema && m->label_name)
        json_object_set_new(schema, "label", json_string(m->label_name));
    if (schema && m->feature_names)
        json_object_set_new(schema, "feature_names",
                            strings(m->feature_names, m->cols));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o, "
        "s:{s:o, s:I}, s:{s:o, s:I, s:o, s:o, s:I}, s:{s:s, s:I}, s:o}",
        "_type", ST_DATASET_MANIFEST_TYPE, "name", m->name, "id", m->id,
        "generation", (json_int_t)m->generation, "owner", m->owner, "created",
        m->created, "updated", m->updated, "classification", m->classification,
        "source", "format", m->source_format, "file", m->source_file, "schema",
        schema, "plaintext", "sha256", hexj(m->plain_sha256), "size",
        (json_int_t)m->plain_size, "encrypted", "file_sha256",
        hexj(m->file_sha256), "size", (json_int_t)m->file_size, "header_sha256",
        hexj(m->header_sha256), "payload_sha256", hexj(m->payload_sha256),
        "chunk_size", (json_int_t)65536, "kek", "name", m->kek_name, "version",
        (json_int_t)m->kek_version, "recipients",
        strings(m->recipients, m->nrecipients));
    if (!o) {
        st_err_set(err, ST_E_INTERNAL, "building the manifest JSON");
        return NULL;
    }
    json_object_set_new(
        o, "retention_days",
        m->retention_days < 0 ? json_null() : json_integer(m->retention_days));
    /* absent rather than empty: manifests without a broker keep their
     * exact bytes (and signatures) */
    if (m->broker_url[0])
        json_object_set_new(o, "broker",
                            json_pack("{s:s, s:o}", "url", m->broker_url,
                                      "tls_spki_sha256",
                                      hexj(m->broker_spki_sha256)));
    char *s = st_json_canonical(o, len, err);
    json_decref(o);
    return s;
}

void st_dataset_manifest_free(st_dataset_manifest *m)
{
    if (!m)
        return;
    free(m->label_name);
    if (m->feature_names)
        for (uint32_t i = 0; i < m->cols; i++)
            free(m->feature_names[i]);
    free(m->feature_names);
    if (m->target_names)
        for (uint32_t i = 0; i < m->targets; i++)
            free(m->target_names[i]);
    free(m->target_names);
    for (size_t i = 0; i < m->nrecipients; i++)
        free(m->recipients[i]);
    free(m->recipients);
    memset(m, 0, sizeof(*m));
}

static ST_MUST_CHECK st_code get_str(const json_t *o, const char *key,
                                     char *out, size_t cap, const char *where,
                                     st_err *err)
{
    const char *s;
    st_code rc = st_json_get_string(o, key, 1, &s, where, err);
    if (rc)
        return rc;
    if (strlen(s) >= cap ||
        strlen(s) != json_string_length(json_object_get(o, key)))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"%s\" is too long or holds a NUL", where, key);
    memcpy(out, s, strlen(s) + 1);
    return ST_OK;
}

static ST_MUST_CHECK st_code get_hex(const json_t *o, const char *key,
                                     uint8_t out[32], const char *where,
                                     st_err *err)
{
    const char *s;
    st_code rc = st_json_get_string(o, key, 1, &s, where, err);
    if (rc)
        return rc;
    for (const char *c = s; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return st_err_set(err, ST_E_INPUT,
                              "%s: \"%s\" must be 64 lowercase hex digits",
                              where, key);
    if (st_hex_decode(s, out, 32, err))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"%s\" must be 64 lowercase hex digits", where,
                          key);
    return ST_OK;
}

static ST_MUST_CHECK st_code get_obj(const json_t *o, const char *key,
                                     const char *const *keys,
                                     const json_t **out, const char *where,
                                     st_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || !json_is_object(v))
        return st_err_set(err, ST_E_INPUT, "%s: \"%s\" must be an object",
                          where, key);
    char w[64];
    snprintf(w, sizeof(w), "manifest.%s", key);
    *out = v;
    return st_json_check_keys(v, keys, w, err);
}

static ST_MUST_CHECK st_code get_strings(const json_t *o, const char *key,
                                         size_t want, char ***out, size_t *n,
                                         const char *where, st_err *err)
{
    json_t *a = json_object_get(o, key);
    if (!a || !json_is_array(a) || (want && json_array_size(a) != want))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"%s\" must be an array of %zu strings", where,
                          key, want);
    size_t k = json_array_size(a);
    *out = calloc(k ? k : 1, sizeof(char *));
    if (!*out)
        return st_err_set(err, ST_E_IO, "out of memory");
    *n = k;
    for (size_t i = 0; i < k; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s) ||
            strlen(json_string_value(s)) != json_string_length(s) ||
            json_string_length(s) == 0)
            return st_err_set(err, ST_E_INPUT,
                              "%s: \"%s\"[%zu] must be a non-empty string",
                              where, key, i);
        if (!((*out)[i] = strdup(json_string_value(s))))
            return st_err_set(err, ST_E_IO, "out of memory");
    }
    return ST_OK;
}

/* A bad name inside a manifest is bad input, not a usage error. */
static ST_MUST_CHECK st_code as_input(st_code rc, st_err *err)
{
    if (rc == ST_E_USAGE && err)
        err->code = ST_E_INPUT;
    return rc == ST_E_USAGE ? ST_E_INPUT : rc;
}

static ST_MUST_CHECK st_code parse_obj(const json_t *o, st_dataset_manifest *m,
                                       st_err *err)
{
    static const char *const top[] = {"_type",
                                      "name",
                                      "id",
                                      "generation",
                                      "owner",
                                      "created",
                                      "updated",
                                      "classification",
                                      "retention_days",
                                      "source",
                                      "schema",
                                      "plaintext",
                                      "encrypted",
                                      "kek",
                                      "recipients",
                                      "broker",
                                      NULL};
    static const char *const k_source[] = {"format", "file", NULL};
    static const char *const k_schema[] = {
        "layout",  "rows",          "features", "label_kind",
        "classes", "labels_mapped", "label",    "feature_names",
        "targets", "target_names",  NULL};
    static const char *const k_plain[] = {"sha256", "size", NULL};
    static const char *const k_enc[] = {"file_sha256",   "size",
                                        "header_sha256", "payload_sha256",
                                        "chunk_size",    NULL};
    static const char *const k_kek[] = {"name", "version", NULL};
    static const char *const k_broker[] = {"url", "tls_spki_sha256", NULL};
    const char *W = "manifest";
    const json_t *src, *sch, *pl, *enc, *kek;
    const char *s;
    long long v;
    st_code rc;
    time_t t;
    if (!json_is_object(o))
        return st_err_set(err, ST_E_INPUT, "manifest: expected an object");
    if ((rc = st_json_check_keys(o, top, W, err)) ||
        (rc = st_json_get_string(o, "_type", 1, &s, W, err)))
        return rc;
    if (strcmp(s, ST_DATASET_MANIFEST_TYPE) != 0)
        return st_err_set(err, ST_E_INPUT, "manifest: \"_type\" must be \"%s\"",
                          ST_DATASET_MANIFEST_TYPE);
    if ((rc = get_str(o, "name", m->name, sizeof(m->name), W, err)) ||
        (rc = st_dataset_check_name("dataset name", m->name, err)) ||
        (rc = get_str(o, "id", m->id, sizeof(m->id), W, err)) ||
        (rc = st_json_get_int(o, "generation", 1, 1, INT32_MAX, &m->generation,
                              W, err)) ||
        (rc = get_str(o, "owner", m->owner, sizeof(m->owner), W, err)) ||
        (rc = st_dataset_check_name("owner", m->owner, err)) ||
        (rc = get_str(o, "created", m->created, sizeof(m->created), W, err)) ||
        (rc = st_time_parse(m->created, &t, err)) ||
        (rc = get_str(o, "updated", m->updated, sizeof(m->updated), W, err)) ||
        (rc = st_time_parse(m->updated, &t, err)) ||
        (rc = get_str(o, "classification", m->classification,
                      sizeof(m->classification), W, err)))
        return as_input(rc, err);
    if (strlen(m->id) != 32)
        return st_err_set(err, ST_E_INPUT,
                          "manifest: \"id\" must be 32 hex digits");
    for (const char *c = m->id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return st_err_set(err, ST_E_INPUT,
                              "manifest: \"id\" must be 32 hex digits");
    if (st_dataset_classification_rank(m->classification) < 0)
        return st_err_set(err, ST_E_INPUT,
                          "manifest: \"classification\" must be public, "
                          "internal, confidential or restricted");
    json_t *ret = json_object_get(o, "retention_days");
    if (!ret || json_is_null(ret))
        m->retention_days = -1;
    else if ((rc = st_json_get_int(o, "retention_days", 1, 1, 1000000,
                                   &m->retention_days, W, err)))
        return rc;
    if ((rc = get_obj(o, "source", k_source, &src, W, err)) ||
        (rc = get_str(src, "format", m->source_format, sizeof(m->source_format),
                      "manifest.source", err)) ||
        (rc = get_str(src, "file", m->source_file, sizeof(m->source_file),
                      "manifest.source", err)))
        return rc;
    st_data_format f;
    if (st_data_format_parse(m->source_format, &f, NULL))
        return st_err_set(err, ST_E_INPUT,
                          "manifest.source: unknown \"format\"");
    const char *WS = "manifest.schema";
    if ((rc = get_obj(o, "schema", k_schema, &sch, W, err)) ||
        (rc = st_json_get_string(sch, "layout", 1, &s, WS, err)))
        return rc;
    if (strcmp(s, ST_DATASET_LAYOUT) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "manifest.schema: \"layout\" must be \"%s\"",
                          ST_DATASET_LAYOUT);
    if ((rc = st_json_get_int(sch, "rows", 1, 1, INT64_MAX, &v, WS, err)))
        return rc;
    m->rows = (uint64_t)v;
    if ((rc = st_json_get_int(sch, "features", 1, 1, ST_DATA_MAX_COLUMNS, &v,
                              WS, err)))
        return rc;
    m->cols = (uint32_t)v;
    if ((rc = st_json_get_string(sch, "label_kind", 1, &s, WS, err)))
        return rc;
    if (strcmp(s, "class") != 0 && strcmp(s, "value") != 0)
        return st_err_set(err, ST_E_INPUT,
                          "manifest.schema: \"label_kind\" must be "
                          "\"class\" or \"value\"");
    m->regression = strcmp(s, "value") == 0;
    /* class: 1..K classes, no targets keys; value: 0 classes, 1..T targets */
    int reg = m->regression;
    if ((rc = st_json_get_int(sch, "classes", 1, reg ? 0 : 1,
                              reg ? 0 : ST_DATA_MAX_CLASSES, &v, WS, err)) ||
        (rc = st_json_get_bool(sch, "labels_mapped", 1, &m->labels_mapped, WS,
                               err)))
        return rc;
    m->classes = (uint32_t)v;
    m->targets = 1;
    if (reg && m->labels_mapped)
        return st_err_set(err, ST_E_INPUT,
                          "manifest.schema: regression targets are never "
                          "mapped (\"labels_mapped\" must be false)");
    if (!reg && (json_object_get(sch, "targets") ||
                 json_object_get(sch, "target_names")))
        return st_err_set(err, ST_E_INPUT,
                          "manifest.schema: \"targets\" and "
                          "\"target_names\" belong to label_kind "
                          "\"value\"");
    if (reg) {
        if ((rc = st_json_get_int(sch, "targets", 1, 1, ST_DATA_MAX_TARGETS, &v,
                                  WS, err)))
            return rc;
        m->targets = (uint32_t)v;
        if (json_object_get(sch, "target_names")) {
            size_t n;
            if ((rc = get_strings(sch, "target_names", m->targets,
                                  &m->target_names, &n, WS, err)))
                return rc;
        }
    }
    if (json_object_get(sch, "label")) {
        if ((rc = st_json_get_string(sch, "label", 1, &s, WS, err)))
            return rc;
        if (!(m->label_name = strdup(s)))
            return st_err_set(err, ST_E_IO, "out of memory");
    }
    if (json_object_get(sch, "feature_names")) {
        size_t n;
        if ((rc = get_strings(sch, "feature_names", m->cols, &m->feature_names,
                              &n, WS, err)))
            return rc;
    }
    if ((rc = get_obj(o, "plaintext", k_plain, &pl, W, err)) ||
        (rc = get_hex(pl, "sha256", m->plain_sha256, "manifest.plaintext",
                      err)) ||
        (rc = st_json_get_int(pl, "size", 1, 1, INT64_MAX, &v,
                              "manifest.plaintext", err)))
        return rc;
    m->plain_size = (uint64_t)v;
    const char *WE = "manifest.encrypted";
    if ((rc = get_obj(o, "encrypted", k_enc, &enc, W, err)) ||
        (rc = get_hex(enc, "file_sha256", m->file_sha256, WE, err)) ||
        (rc = get_hex(enc, "header_sha256", m->header_sha256, WE, err)) ||
        (rc = get_hex(enc, "payload_sha256", m->payload_sha256, WE, err)) ||
        (rc = st_json_get_int(enc, "size", 1, 1, INT64_MAX, &v, WE, err)))
        return rc;
    m->file_size = (uint64_t)v;
    if ((rc = st_json_get_int(enc, "chunk_size", 1, 65536, 65536, &v, WE, err)))
        return rc;
    if ((rc = get_obj(o, "kek", k_kek, &kek, W, err)) ||
        (rc = get_str(kek, "name", m->kek_name, sizeof(m->kek_name),
                      "manifest.kek", err)) ||
        (rc = st_json_get_int(kek, "version", 1, 1, UINT32_MAX, &v,
                              "manifest.kek", err)))
        return rc;
    m->kek_version = (uint32_t)v;
    /* the tensor size follows from the shape: a cheap consistency check */
    if (m->rows > (UINT64_C(1) << 50) / m->cols ||
        m->plain_size <
            ST_TENSOR_HEADER_SIZE + m->rows * m->cols * 4 +
                m->rows * m->targets * 4 +
                (m->classes + (m->regression ? m->targets : 0)) * 5ull)
        return st_err_set(err, ST_E_INPUT,
                          "manifest: plaintext size does not fit the shape");
    if (json_object_get(o, "broker")) {
        const json_t *br;
        const char *WB = "manifest.broker";
        if ((rc = get_obj(o, "broker", k_broker, &br, W, err)) ||
            (rc = get_str(br, "url", m->broker_url, sizeof(m->broker_url), WB,
                          err)) ||
            (rc = st_dataset_check_broker_url(m->broker_url, err)) ||
            (rc = get_hex(br, "tls_spki_sha256", m->broker_spki_sha256, WB,
                          err)))
            return as_input(rc, err);
    }
    return get_strings(o, "recipients", 0, &m->recipients, &m->nrecipients, W,
                       err);
}

st_code st_dataset_manifest_parse(const char *text, size_t len,
                                  st_dataset_manifest *m, st_err *err)
{
    memset(m, 0, sizeof(*m));
    json_t *o = st_json_parse(text, len, "manifest", err);
    if (!o)
        return err ? err->code : ST_E_INPUT;
    st_code rc = parse_obj(o, m, err);
    json_decref(o);
    if (rc)
        st_dataset_manifest_free(m);
    return rc;
}
