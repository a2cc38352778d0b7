/*
 * age_keys.h (src/crypto): the sealtrain-kek recipient and identity of
 * sealtrain/age.h (age_keys.c): a file key wrapped under a keyring KEK,
 * which the data and key modules use; the CLI never does.
 */
#ifndef SEALTRAIN_CRYPTO_AGE_KEYS_H
#define SEALTRAIN_CRYPTO_AGE_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sealtrain/age.h"
#include "sealtrain/err.h"

/* version 0: the KEK's current version. `ctx` is borrowed. */
ST_MUST_CHECK st_code st_age_kek_recipient(const char *name, uint32_t version,
                                           st_age_kek_wrap_fn wrap, void *ctx,
                                           st_age_recipient *out, st_err *err);
/* name NULL: any KEK name. Unwrap errors other than ST_E_NOTFOUND (for
 * example ST_E_DENIED for a revoked version) abort the decryption. */
ST_MUST_CHECK st_code st_age_kek_identity(const char *name,
                                          st_age_kek_unwrap_fn unwrap,
                                          void *ctx, st_age_identity *out,
                                          st_err *err);
/* Parses the arguments of a sealtrain-kek stanza. */
ST_MUST_CHECK st_code st_age_kek_stanza_parse(const st_age_stanza *s,
                                              const char **name,
                                              uint32_t *version, st_err *err);

#endif
