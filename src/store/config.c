/*
 * config.c: parse and write the workspace config file (config.json). See
 * config.h for the format. Input is untrusted: strict JSON (duplicate keys
 * rejected by st_json_parse), closed key sets, typed fields; errors name
 * the file and the field. Never repairs.
 */
#include "store/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sealtrain/json.h"

#define CONFIG_FORMAT "sealtrain-workspace"

static const char *const top_keys[] = {"format", "version", "created",
                                       "protection", NULL};
static const char *const protect_keys[] = {"type", "path", NULL};

st_code st_protect_parse(const char *spec, st_protect *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!spec)
        return st_err_set(err, ST_E_USAGE, "no protection given");
    if (strcmp(spec, "passphrase") == 0) {
        out->kind = ST_PROTECT_PASSPHRASE;
        return ST_OK;
    }
    if (strcmp(spec, "tpm") == 0) {
        out->kind = ST_PROTECT_TPM;
        return ST_OK;
    }
    if (strncmp(spec, "file:", 5) == 0 && spec[5]) {
        out->kind = ST_PROTECT_FILE;
        const char *p = spec + 5;
        int n;
        if (p[0] == '/') {
            n = snprintf(out->path, sizeof(out->path), "%s", p);
        } else {
            char cwd[2048];
            if (!getcwd(cwd, sizeof(cwd)))
                return st_err_set(err, ST_E_IO,
                                  "cannot get the current "
                                  "directory for %s",
                                  p);
            n = snprintf(out->path, sizeof(out->path), "%s/%s", cwd, p);
        }
        if (n < 0 || (size_t)n >= sizeof(out->path))
            return st_err_set(err, ST_E_USAGE, "key file path too long");
        return ST_OK;
    }
    return st_err_set(err, ST_E_USAGE,
                      "unknown protection \"%s\": use passphrase, tpm or "
                      "file:PATH",
                      spec);
}

const char *st_protect_kind_name(st_protect_kind kind)
{
    switch (kind) {
    case ST_PROTECT_PASSPHRASE: return "passphrase";
    case ST_PROTECT_TPM: return "tpm";
    case ST_PROTECT_FILE: return "file";
    }
    return "unknown";
}

st_code st_ws_config_parse(const char *text, size_t len, const char *origin,
                           st_ws_config *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *root = st_json_parse(text, len, origin, err);
    if (!root)
        return err ? err->code : ST_E_INPUT;
    st_code rc;
    const char *format = NULL, *created = NULL, *type = NULL, *path = NULL;
    json_t *prot;
    if (!json_is_object(root)) {
        rc = st_err_set(err, ST_E_INPUT, "%s: must be a JSON object", origin);
        goto done;
    }
    if ((rc = st_json_check_keys(root, top_keys, origin, err)) ||
        (rc = st_json_get_string(root, "format", 1, &format, origin, err)) ||
        (rc = st_json_get_int(root, "version", 1, 1, 1000000, &out->version,
                              origin, err)) ||
        (rc = st_json_get_string(root, "created", 1, &created, origin, err)))
        goto done;
    if (strcmp(format, CONFIG_FORMAT) != 0) {
        rc =
            st_err_set(err, ST_E_INPUT,
                       "%s: \"format\" is \"%.64s\", not \"" CONFIG_FORMAT "\"",
                       origin, format);
        goto done;
    }
    if (out->version != ST_WORKSPACE_VERSION) {
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: workspace version %lld is not supported (this "
                        "sealtrain reads version %d)",
                        origin, out->version, ST_WORKSPACE_VERSION);
        goto done;
    }
    time_t t;
    if ((rc = st_time_parse(created, &t, err))) {
        st_err_prefix(err, "%s: \"created\"", origin);
        goto done;
    }
    snprintf(out->created, sizeof(out->created), "%s", created);
    prot = json_object_get(root, "protection");
    if (!json_is_object(prot)) {
        rc = st_err_set(err, ST_E_INPUT, "%s: \"protection\" must be an object",
                        origin);
        goto done;
    }
    char where[600];
    snprintf(where, sizeof(where), "%s: protection", origin);
    if ((rc = st_json_check_keys(prot, protect_keys, where, err)) ||
        (rc = st_json_get_string(prot, "type", 1, &type, where, err)) ||
        (rc = st_json_get_string(prot, "path", 0, &path, where, err)))
        goto done;
    if (strcmp(type, "passphrase") == 0)
        out->protect.kind = ST_PROTECT_PASSPHRASE;
    else if (strcmp(type, "tpm") == 0)
        out->protect.kind = ST_PROTECT_TPM;
    else if (strcmp(type, "file") == 0)
        out->protect.kind = ST_PROTECT_FILE;
    else {
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: unknown type \"%.64s\" (passphrase, tpm, file)",
                        where, type);
        goto done;
    }
    if (out->protect.kind == ST_PROTECT_FILE) {
        if (!path || path[0] != '/' ||
            strlen(path) >= sizeof(out->protect.path)) {
            rc = st_err_set(err, ST_E_INPUT,
                            "%s: type \"file\" needs an absolute \"path\"",
                            where);
            goto done;
        }
        snprintf(out->protect.path, sizeof(out->protect.path), "%s", path);
    } else if (path) {
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"path\" is only for type \"file\"", where);
        goto done;
    }
    rc = ST_OK;
done:
    json_decref(root);
    return rc;
}

char *st_ws_config_serialize(const st_ws_config *cfg, size_t *len, st_err *err)
{
    json_t *prot =
        json_pack("{s:s}", "type", st_protect_kind_name(cfg->protect.kind));
    if (prot && cfg->protect.kind == ST_PROTECT_FILE)
        json_object_set_new(prot, "path", json_string(cfg->protect.path));
    json_t *root = json_pack("{s:s,s:I,s:s,s:o}", "format", CONFIG_FORMAT,
                             "version", (json_int_t)cfg->version, "created",
                             cfg->created, "protection", prot);
    if (!root) {
        st_err_set(err, ST_E_INTERNAL, "cannot build the workspace config");
        return NULL;
    }
    size_t n;
    char *text = st_json_canonical(root, &n, err);
    json_decref(root);
    if (!text)
        return NULL;
    char *withnl = realloc(text, n + 2);
    if (!withnl) {
        free(text);
        st_err_set(err, ST_E_IO, "out of memory");
        return NULL;
    }
    withnl[n] = '\n';
    withnl[n + 1] = '\0';
    *len = n + 1;
    return withnl;
}
