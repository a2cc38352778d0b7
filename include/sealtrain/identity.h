/*
 * sealtrain/identity.h: a user's key pair files: an age X25519 identity
 * (encryption; the exact text format of age-keygen, so existing age keys
 * and tools work) and an Ed25519 signing key (PKCS#8 / SPKI PEM, as
 * OpenSSL writes them).
 */
#ifndef SEALTRAIN_IDENTITY_H
#define SEALTRAIN_IDENTITY_H

#include <stddef.h>

#include "sealtrain/age.h"
#include "sealtrain/crypto.h"
#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_identity_info {
    char age_path[4096];                     /* DIR/NAME.age      (0600) */
    char key_path[4096];                     /* DIR/NAME.pem      (0600) */
    char pub_path[4096];                     /* DIR/NAME.pub.pem  (0644) */
    char recipient[ST_AGE_RECIPIENT_STRLEN]; /* age1... */
    char keyid[ST_KEYID_LEN + 1]; /* hex SHA-256 of the Ed25519 public key */
    char *public_pem;             /* malloc'ed; st_identity_info_clear */
} st_identity_info;

/* Creates the three files in `outdir` (which must exist). `name`: 1-64 of
 * [A-Za-z0-9._-], not starting with '.'. Refuses to overwrite any of them
 * (ST_E_EXISTS, checked before anything is written); each file is written
 * atomically, secret ones 0600. Private key bytes only pass through
 * secure memory (the PEM text is wiped after writing). */
ST_MUST_CHECK st_code st_identity_new(const char *name, const char *outdir,
                                      st_identity_info *out, st_err *err);
void st_identity_info_clear(st_identity_info *info);

#ifdef __cplusplus
}
#endif
#endif
