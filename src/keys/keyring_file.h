/*
 * keyring_file.h (private to src/keys): the two files of the keyring.
 *
 * keys/root.json: how the root key is protected (untrusted until the root
 * key it yields authenticates the keyring file):
 *   {"format": "sealtrain-root-key", "version": 1,
 *    "protection": "passphrase" | "file" | "tpm",
 *    "kdf": {"name": "scrypt", "log2n": 17, "r": 10, "p": 1, "salt": B64}
 *         | {"name": "hkdf-sha256", "salt": B64},   (not for tpm)
 *    "nonce": B64, "wrapped": B64,                   (not for tpm)
 *    "tpm": {"public": B64, "private": B64}}         (tpm only)
 *
 * keys/keyring.json: the KEKs, each version wrapped by the root key:
 *   {"format": "sealtrain-keyring", "version": 1, "generation": N,
 *    "keys": [{"name": S, "rotation_days": D, "created": T,
 *              "current": V,
 *              "versions": [{"version": V, "state": S, "created": T,
 *                            "changed": T, "nonce": B64,
 *                            "wrapped": B64}]}],
 *    "mac": HEX}
 * "changed" only for retired/revoked versions; "nonce"/"wrapped" absent
 * exactly when revoked. "mac" = HMAC-SHA256 under HKDF(root key,
 * "sealtrain keyring mac v1") of the canonical JSON of the rest, as
 * rebuilt from the parsed structure (what is authenticated is what is
 * used). Parsers are strict and fuzzed (fuzz/fuzz_keyring.c).
 */
#ifndef SEALTRAIN_KEYS_KEYRING_FILE_H
#define SEALTRAIN_KEYS_KEYRING_FILE_H

#include "sealtrain/bytes.h"
#include "sealtrain/clock.h"
#include "sealtrain/keyring.h"
#include "sealtrain/workspace.h"

#define ST_KR_KEY_LEN 32
#define ST_KR_WRAPPED_LEN (ST_KR_KEY_LEN + 16)
#define ST_KR_SALT_LEN 16

typedef struct st_root_file {
    st_protect_kind kind;
    int kdf_scrypt; /* 1 scrypt, 0 hkdf-sha256 */
    unsigned log2n, r, p;
    uint8_t salt[ST_KR_SALT_LEN];
    uint8_t nonce[12];
    uint8_t wrapped[ST_KR_WRAPPED_LEN];
    st_buf tpm_public, tpm_private;
} st_root_file;

ST_MUST_CHECK st_code st_root_file_parse(const char *text, size_t len,
                                         const char *origin, st_root_file *out,
                                         st_err *err);
char *st_root_file_serialize(const st_root_file *rf, size_t *len, st_err *err);
void st_root_file_clear(st_root_file *rf);

typedef struct st_kr_version {
    uint32_t version;
    st_kek_state state;
    char created[ST_TIME_LEN];
    char changed[ST_TIME_LEN];
    uint8_t nonce[12];
    uint8_t wrapped[ST_KR_WRAPPED_LEN];
} st_kr_version;

typedef struct st_kr_key {
    char name[ST_KEK_NAME_MAX + 1];
    uint32_t rotation_days;
    char created[ST_TIME_LEN];
    uint32_t current;
    size_t nversions;
    st_kr_version *versions; /* version i+1 at index i */
} st_kr_key;

typedef struct st_kr_data {
    uint64_t generation;
    size_t nkeys;
    st_kr_key *keys; /* sorted by name */
    uint8_t mac[32];
} st_kr_data;

/* Parses structure and values; does not check the MAC. */
ST_MUST_CHECK st_code st_kr_data_parse(const char *text, size_t len,
                                       const char *origin, st_kr_data **out,
                                       st_err *err);
/* HMAC over the canonical form of everything but the MAC. */
ST_MUST_CHECK st_code st_kr_data_mac(const st_kr_data *d,
                                     const uint8_t mac_key[32], uint8_t out[32],
                                     st_err *err);
/* Computes d->mac and returns the file text (canonical JSON + newline). */
char *st_kr_data_serialize(st_kr_data *d, const uint8_t mac_key[32],
                           size_t *len, st_err *err);
void st_kr_data_free(st_kr_data *d);
/* Valid KEK name? */
int st_kr_name_valid(const char *name);

#endif
