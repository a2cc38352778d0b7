/*
 * client_config.c: the client configuration of `sealtrain --server FILE`
 * (docs/api.md, "Client side"): instead of a URL, --server (or
 * SEALTRAIN_SERVER) may name a JSON file that says where the server is
 * and which certificate, CA and key to use:
 *
 *   {"server": "https://host:8443", "cert": "mo.crt",
 *    "cacert": "ca.crt", "key": "mo.pem"}
 *
 * Strict: unknown keys, wrong types, a server that is not an https:// URL
 * and over-long values are refused naming the key; only "server" is
 * required. Relative paths are taken relative to the file's directory, so
 * a directory made by `principal cert` plus this file is self-contained.
 * Never reads the files it names (the HTTPS client does, when it needs
 * them) and never holds a key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/server.h"

#define MAX_CONFIG (64u << 10)

static ST_MUST_CHECK st_code put_path(const char *v, const char *base_dir,
                                      char *out, size_t cap, const char *key,
                                      const char *origin, st_err *err)
{
    int n;
    if (!*v)
        return st_err_set(err, ST_E_INPUT, "%s: \"%s\" is empty", origin, key);
    if (v[0] == '/' || !base_dir)
        n = snprintf(out, cap, "%s", v);
    else
        n = snprintf(out, cap, "%s/%s", base_dir, v);
    if (n < 0 || (size_t)n >= cap)
        return st_err_set(err, ST_E_INPUT, "%s: \"%s\" is too long", origin,
                          key);
    return ST_OK;
}

st_code st_client_config_parse(const char *text, size_t len, const char *origin,
                               const char *base_dir, st_client_config *out,
                               st_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *j = st_json_parse(text, len, origin, err);
    if (!j)
        return err ? err->code : ST_E_INPUT;
    static const char *const keys[] = {"server", "cert", "cacert", "key", NULL};
    const char *server = NULL, *v[3] = {NULL, NULL, NULL};
    static const char *const names[3] = {"cert", "cacert", "key"};
    char *dst[3] = {out->cert, out->cacert, out->key};
    st_code rc = json_is_object(j)
                     ? st_json_check_keys(j, keys, origin, err)
                     : st_err_set(err, ST_E_INPUT,
                                  "%s: a client configuration is a JSON "
                                  "object",
                                  origin);
    if (rc == ST_OK)
        rc = st_json_get_string(j, "server", 1, &server, origin, err);
    for (size_t i = 0; rc == ST_OK && i < 3; i++)
        rc = st_json_get_string(j, names[i], 0, &v[i], origin, err);
    if (rc == ST_OK && (strncmp(server, "https://", 8) != 0 || !server[8] ||
                        strlen(server) >= sizeof(out->server)))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"server\" must be an https:// URL (at most "
                        "%zu characters)",
                        origin, sizeof(out->server) - 1);
    if (rc == ST_OK)
        snprintf(out->server, sizeof(out->server), "%s", server);
    for (size_t i = 0; rc == ST_OK && i < 3; i++)
        if (v[i])
            rc = put_path(v[i], base_dir, dst[i], sizeof(out->cert), names[i],
                          origin, err);
    json_decref(j);
    if (rc != ST_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

st_code st_client_config_load(const char *path, st_client_config *out,
                              st_err *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    st_code rc = st_fs_read_all(path, MAX_CONFIG, &text, &len, err);
    if (rc != ST_OK)
        return rc;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    rc = st_client_config_parse((const char *)text, len, path,
                                slash ? (dir[0] ? dir : "/") : ".", out, err);
    free(text);
    return rc;
}
