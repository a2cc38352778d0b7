/*
 * crypto/bech32.h: Bech32 (BIP 173) as age uses it for recipients
 * ("age1...") and identities ("AGE-SECRET-KEY-1..."): the original bech32
 * checksum (not bech32m), 8-bit data regrouped into 5-bit words, and no
 * 90-character length limit (age's own relaxation).
 *
 * Encoding and decoding write into caller buffers, so that a secret key's
 * bytes can go straight into secure memory; intermediate copies are wiped.
 *
 * Not public: the CLI uses none of it; the modules of src/ that need it
 * include it as "crypto/bech32.h".
 */
#ifndef ST_CRYPTO_BECH32_H
#define ST_CRYPTO_BECH32_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest string accepted or produced (age keys are 62 and 74 chars). */
#define ST_BECH32_MAX 1024

/* Encodes `len` bytes under the human-readable part `hrp` (lowercase
 * ASCII 33..126). `upper` != 0 gives the all-uppercase form (age
 * identities). `out` receives a NUL-terminated string of at most `cap`
 * bytes (ST_E_USAGE if it does not fit). */
ST_MUST_CHECK st_code st_bech32_encode(const char *hrp, const uint8_t *data,
                                       size_t len, int upper, char *out,
                                       size_t cap, st_err *err);

/* Decodes `s`: rejects mixed case, characters outside the charset, a bad
 * checksum and non-zero padding (ST_E_INPUT, saying which). The hrp is
 * returned in lowercase in `hrp` (cap `hrpcap`), the bytes in `out` (cap
 * `cap`, ST_E_INPUT if more), their number in *outlen. */
ST_MUST_CHECK st_code st_bech32_decode(const char *s, char *hrp, size_t hrpcap,
                                       uint8_t *out, size_t cap, size_t *outlen,
                                       st_err *err);

#ifdef __cplusplus
}
#endif
#endif
