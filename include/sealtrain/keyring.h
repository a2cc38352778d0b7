/*
 * sealtrain/keyring.h: the workspace keyring: a root key and named,
 * versioned key encryption keys (KEKs).
 *
 * The root key (32 random bytes, only ever in secure memory) is protected
 * as chosen at init: scrypt of a passphrase, sealed to a TPM 2.0, or a
 * 32-byte key file. It never encrypts data; it wraps KEK versions
 * (ChaCha20-Poly1305, AAD = key name + version) and authenticates the
 * keyring file (HMAC-SHA256 under a key derived with HKDF). KEKs wrap
 * data keys (e.g. age file keys) and never leave the keyring.
 *
 * KEK version states (docs/keys.md):
 *   active   the current version wraps; every active version unwraps
 *   retired  no longer wraps; still unwraps (so data can be rewrapped)
 *   revoked  its key material is destroyed: never wraps or unwraps again
 *            (ST_E_DENIED naming the key and version)
 *
 * Errors that matter to users each have their own message: a wrong
 * passphrase or key file (ST_E_DENIED "wrong passphrase ..."), a missing
 * TPM (ST_E_IO "TPM not available ..."), a keyring file altered or rolled
 * back (ST_E_DENIED "keyring ... tampered ...").
 */
#ifndef SEALTRAIN_KEYRING_H
#define SEALTRAIN_KEYRING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sealtrain/audit.h"
#include "sealtrain/bytes.h"
#include "sealtrain/clock.h"
#include "sealtrain/err.h"
#include "sealtrain/secmem.h"
#include "sealtrain/workspace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_keyring st_keyring;

#define ST_KEK_NAME_MAX 64
#define ST_KEK_DEFAULT_ROTATION_DAYS 90
/* Bytes st_kek_wrap adds to a secret: nonce + tag. */
#define ST_KEK_WRAP_OVERHEAD (12 + 16)

/* Creates the root key and an empty keyring in a workspace being created
 * (between st_workspace_create_begin and _commit), with the protection
 * recorded in the workspace config. For passphrase protection the
 * passphrase is read from $SEALTRAIN_PASSPHRASE_FILE, else asked twice on
 * the terminal; for file:PATH a missing key file is created (0600). */
ST_MUST_CHECK st_code st_keyring_create(st_workspace *ws, st_keyring **out,
                                        st_err *err);

/* Unlocks the root key with the protection chosen at init (passphrase
 * from $SEALTRAIN_PASSPHRASE_FILE or a prompt; TPM via
 * $SEALTRAIN_TPM_TCTI; file:PATH, which must be 0600), then loads and
 * authenticates the keyring file. */
ST_MUST_CHECK st_code st_keyring_open(st_workspace *ws, st_keyring **out,
                                      st_err *err);
/* Wipes the root key and frees. Accepts NULL. */
void st_keyring_close(st_keyring *kr);

/* Wrap a secret (e.g. a 16-byte age file key) under KEK `name`, version
 * `version` (0 = current). AEAD with the caller's `aad` bound. Appends
 * nonce || ciphertext || tag (len + ST_KEK_WRAP_OVERHEAD bytes) to `out`
 * and stores the version used in *used (may be NULL). Only active
 * versions wrap. */
ST_MUST_CHECK st_code st_kek_wrap(st_keyring *kr, const char *name,
                                  uint32_t version, const uint8_t *secret,
                                  size_t len, const uint8_t *aad, size_t aadlen,
                                  st_buf *out, uint32_t *used, st_err *err);
/* Unwraps into a new secret. ST_E_DENIED if that version is revoked or
 * the bytes / aad do not authenticate; retired versions unwrap. */
ST_MUST_CHECK st_code st_kek_unwrap(st_keyring *kr, const char *name,
                                    uint32_t version, const uint8_t *wrapped,
                                    size_t len, const uint8_t *aad,
                                    size_t aadlen, st_secret **out,
                                    st_err *err);
/* The keyring's KEK "audit.log" as the audit log's sealer (for
 * st_audit_checkpoint_sealed), valid while `kr` is open. */
st_audit_sealer st_keyring_audit_sealer(st_keyring *kr);
/* The current version of `name` (ST_E_DENIED if it has none usable, e.g.
 * its current version was revoked). */
ST_MUST_CHECK st_code st_kek_current(st_keyring *kr, const char *name,
                                     uint32_t *version, st_err *err);

/* Key management. Names: 1-64 of [a-z0-9._-], starting with a letter or
 * digit. rotation_days 0 means the default (90). No access check: the
 * library's own keys (audit.log, jobs, owner.NAME at import) are made
 * here; a principal creates one with st_kek_create_as. */
ST_MUST_CHECK st_code st_kek_create(st_keyring *kr, const char *name,
                                    uint32_t rotation_days, st_err *err);
/* `actor` creates a key (key.create; NULL or "" in bootstrap mode). A
 * data owner's key is theirs (recorded as the owner of "key:NAME"); an
 * admin's has no owner (the admins'). A data owner may not create a
 * system name (audit.log, jobs) nor another principal's owner.NAME:
 * ST_E_DENIED. */
ST_MUST_CHECK st_code st_kek_create_as(st_keyring *kr, const char *actor,
                                       const char *name, uint32_t rotation_days,
                                       st_err *err);
/* The changes below need `actor` (NULL or "" in bootstrap mode) to hold
 * the key action (key.rotate, key.retire, key.revoke) on "key:NAME": a
 * data owner on their own keys, an admin on keys without owner (the
 * system keys audit.log and jobs among them). ST_E_DENIED (audited)
 * otherwise, before anything changes. */
/* Adds version current+1 and makes it current; *new_version may be
 * NULL. Earlier versions stay active (unwrap only) until retired. */
ST_MUST_CHECK st_code st_kek_rotate(st_keyring *kr, const char *actor,
                                    const char *name, uint32_t *new_version,
                                    st_err *err);
/* Retiring the current version is refused: rotate first. */
ST_MUST_CHECK st_code st_kek_retire(st_keyring *kr, const char *actor,
                                    const char *name, uint32_t version,
                                    st_err *err);
/* Destroys the version's key material; allowed on the current version
 * (after which the key wraps nothing until rotated). */
ST_MUST_CHECK st_code st_kek_revoke(st_keyring *kr, const char *actor,
                                    const char *name, uint32_t version,
                                    st_err *err);

/* ---- owners (src/keys/kek_owner.c) ---- */

/* Records a refused or failed key change `action` ("key.rotate", ...) of
 * KEK `name` by `principal` (a change that succeeds is committed with its
 * entry by the keyring itself; access denials are audited by the check):
 * outcome "denied" or "failure" with `why`. `version` (0: none) is the
 * version the change made or touched: `sealtrain check` compares the
 * revocations recorded here with the keyring, which catches a keyring
 * rolled back past one. Never fails: a log that cannot be written is
 * logged as a warning. */
void st_kek_audit_failure(st_workspace *ws, const char *principal,
                          const char *action, const char *name,
                          uint32_t version, const st_err *why);

/* 1 for the system KEK names, audit.log and jobs. */
int st_kek_name_is_system(const char *name);
/* The owner of KEK `name` into out, "" when it has none (then it is the
 * admins'). A key without a recorded owner that wraps datasets of exactly
 * one registered owner belongs to that owner, and that is recorded. */
ST_MUST_CHECK st_code st_kek_owner(st_workspace *ws, const char *name,
                                   char *out, size_t cap, st_err *err);
/* st_access_check of `action` on "key:NAME" after settling the owner as
 * st_kek_owner does. */
ST_MUST_CHECK st_code st_kek_authorize(st_workspace *ws, const char *principal,
                                       const char *action, const char *name,
                                       st_err *err);
/* May `principal` create a key named `name`? key.create, and a data owner
 * neither a system name nor another's owner.NAME. *owns: the new key is
 * to be recorded as theirs. */
ST_MUST_CHECK st_code st_kek_create_check(st_workspace *ws,
                                          const char *principal,
                                          const char *name, int *owns,
                                          st_err *err);

typedef enum st_kek_state {
    ST_KEK_ACTIVE = 0,
    ST_KEK_RETIRED,
    ST_KEK_REVOKED
} st_kek_state;
const char *st_kek_state_name(st_kek_state state);

typedef struct st_kek_version_info {
    uint32_t version;
    st_kek_state state;
    char created[ST_TIME_LEN];
    char changed[ST_TIME_LEN]; /* when retired/revoked, else "" */
} st_kek_version_info;

typedef struct st_kek_info {
    char name[ST_KEK_NAME_MAX + 1];
    uint32_t current; /* 0 when the current version was revoked */
    uint32_t rotation_days;
    char created[ST_TIME_LEN];
    char rotated[ST_TIME_LEN]; /* creation time of the newest version */
    time_t rotation_due;       /* rotated + rotation_days */
    int overdue;               /* rotation_due is in the past */
    size_t nversions;
    st_kek_version_info *versions; /* ascending */
} st_kek_info;

/* All keys (sorted by name) / one key; overdue computed against `now`
 * (pass time(NULL)). Free with st_kek_info_free. */
ST_MUST_CHECK st_code st_kek_list(st_keyring *kr, time_t now, st_kek_info **out,
                                  size_t *n, st_err *err);
ST_MUST_CHECK st_code st_kek_show(st_keyring *kr, const char *name, time_t now,
                                  st_kek_info **out, st_err *err);
void st_kek_info_free(st_kek_info *infos, size_t n);
/* JSON form of an info (for --json output); new reference. */
json_t *st_kek_info_json(const st_kek_info *info);

/* The scrypt parameters used for new passphrase-protected workspaces
 * (tuned to ~0.5 s here; see docs/keys.md). */
#define ST_SCRYPT_LOG2N 17
#define ST_SCRYPT_R 10
#define ST_SCRYPT_P 1

#ifdef __cplusplus
}
#endif
#endif
