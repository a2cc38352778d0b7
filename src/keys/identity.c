/*
 * identity.c: new user identities (include/sealtrain/identity.h).
 *
 * The age identity file is byte-for-byte the layout age-keygen writes
 * (filippo.io/age cmd/age-keygen):
 *   # created: <RFC 3339 time>
 *   # public key: age1...
 *   AGE-SECRET-KEY-1...
 * The X25519 key itself comes from the age module (st_age_keygen, bech32
 * per BIP 173); the Ed25519 key is a fresh 32-byte seed in secure memory,
 * written as PKCS#8 PEM (RFC 8410) with its SPKI public half.
 *
 * Must never: overwrite an existing key file, leave a secret in ordinary
 * memory without wiping it, or write a secret file readable by others.
 */
#include "sealtrain/identity.h"
#include "sealtrain/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/dsse.h"
#include "crypto/primitives.h"
#include "sealtrain/clock.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/secmem.h"

static int name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.' || name[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void st_identity_info_clear(st_identity_info *info)
{
    free(info->public_pem);
    memset(info, 0, sizeof(*info));
}

/* Writes a secret text held in secure memory. */
static ST_MUST_CHECK st_code write_secret_text(const char *path,
                                               const unsigned char *text,
                                               size_t len, st_err *err)
{
    return st_fs_write_atomic(path, text, len, 0600, err);
}

st_code st_identity_new(const char *name, const char *outdir,
                        st_identity_info *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!name_valid(name))
        return st_err_set(err, ST_E_USAGE,
                          "invalid identity name \"%.80s\": use 1-64 of "
                          "A-Z a-z 0-9 . _ -, not starting with . or -",
                          name);
    if ((size_t)snprintf(out->age_path, sizeof(out->age_path), "%s/%s.age",
                         outdir, name) >= sizeof(out->age_path) ||
        (size_t)snprintf(out->key_path, sizeof(out->key_path), "%s/%s.pem",
                         outdir, name) >= sizeof(out->key_path) ||
        (size_t)snprintf(out->pub_path, sizeof(out->pub_path), "%s/%s.pub.pem",
                         outdir, name) >= sizeof(out->pub_path))
        return st_err_set(err, ST_E_USAGE, "output path too long");
    const char *paths[] = {out->age_path, out->key_path, out->pub_path};
    for (size_t i = 0; i < 3; i++)
        if (st_fs_exists(paths[i]))
            return st_err_set(err, ST_E_EXISTS,
                              "%s already exists; not overwriting a key",
                              paths[i]);

    st_secret *age_secret = NULL, *seed = NULL, *file = NULL;
    char *pem = NULL;
    st_code rc = st_age_keygen(&age_secret, out->recipient, err);
    if (rc)
        goto done;
    char created[ST_TIME_LEN];
    st_time_format(time(NULL), created);
    /* "# created: " + time + "\n# public key: " + age1 + "\n" + secret */
    size_t cap = 512;
    file = st_secret_new(cap, err);
    if (!file) {
        rc = err ? err->code : ST_E_IO;
        goto done;
    }
    int n =
        snprintf((char *)st_secret_bytes(file), cap,
                 "# created: %s\n# public key: %s\n%s\n", created,
                 out->recipient, (const char *)st_secret_cbytes(age_secret));
    if (n < 0 || (size_t)n >= cap) {
        rc = st_err_set(err, ST_E_INTERNAL, "identity text too long");
        goto done;
    }
    seed = st_secret_new(ST_ED25519_SEED_LEN, err);
    if (!seed) {
        rc = err ? err->code : ST_E_IO;
        goto done;
    }
    uint8_t pub[ST_ED25519_PUB_LEN];
    if ((rc = st_random(st_secret_bytes(seed), ST_ED25519_SEED_LEN, err)) ||
        (rc = st_ed25519_public(st_secret_bytes(seed), pub, err)))
        goto done;
    st_dsse_keyid(pub, out->keyid);
    pem = st_ed25519_private_pem(st_secret_bytes(seed), err);
    out->public_pem = st_ed25519_public_pem(pub, err);
    if (!pem || !out->public_pem) {
        rc = err ? err->code : ST_E_INTERNAL;
        goto done;
    }
    if ((rc = write_secret_text(out->age_path, st_secret_bytes(file), (size_t)n,
                                err)) ||
        (rc = write_secret_text(out->key_path, (const unsigned char *)pem,
                                strlen(pem), err)) ||
        (rc = st_fs_write_atomic(out->pub_path, out->public_pem,
                                 strlen(out->public_pem), 0644, err)))
        goto done;
done:
    if (pem) {
        st_wipe(pem, strlen(pem));
        free(pem);
    }
    st_secret_free(file);
    st_secret_free(seed);
    st_secret_free(age_secret);
    if (rc) {
        /* all or nothing: remove what this call wrote */
        for (size_t i = 0; i < 3; i++)
            if (st_fs_exists(paths[i]) && st_fs_shred(paths[i], NULL) != ST_OK)
                st_warn("identity.create", "could not remove %s", paths[i]);
        free(out->public_pem);
        out->public_pem = NULL;
    }
    return rc;
}
