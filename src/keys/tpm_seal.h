/*
 * tpm_seal.h (private to src/keys): sealing the root key to a TPM 2.0.
 */
#ifndef SEALTRAIN_KEYS_TPM_SEAL_H
#define SEALTRAIN_KEYS_TPM_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/bytes.h"
#include "sealtrain/secmem.h"

/* The TCTI configuration used: $SEALTRAIN_TPM_TCTI, or NULL for
 * tctildr's defaults (tabrmd, /dev/tpmrm0, /dev/tpm0, ...). */
const char *st_tpm_tcti(void);

/* Seals `len` bytes (<= 128) under a primary key of the owner hierarchy;
 * appends the marshalled TPM2B_PUBLIC / TPM2B_PRIVATE of the sealed
 * object to `pub` / `priv`. */
ST_MUST_CHECK st_code st_tpm_seal(const uint8_t *secret, size_t len,
                                  st_buf *pub, st_buf *priv, st_err *err);
/* Loads the sealed object under the same primary and unseals it into a
 * new secret. A missing or unreachable TPM is ST_E_IO ("TPM not
 * available"); a blob the TPM refuses (another TPM, altered) is
 * ST_E_DENIED. */
ST_MUST_CHECK st_code st_tpm_unseal(const uint8_t *pub, size_t publen,
                                    const uint8_t *priv, size_t privlen,
                                    st_secret **out, st_err *err);

#endif
