#include "crypto/primitives.h"
/*
#include "crypto/primitives.h"
 * fuzz_pubkey_pem.c: st_ed25519_parse_public_pem (principals' registered
#include "crypto/primitives.h"
 * signing keys, `principal add --signing-key`) on arbitrary bytes. Its
#include "crypto/primitives.h"
 * short path for the RFC 8410 layout and OpenSSL's decoder must agree:
#include "crypto/primitives.h"
 * whatever it accepts prints back (st_ed25519_public_pem) to a PEM that
#include "crypto/primitives.h"
 * parses to the same key.
#include "crypto/primitives.h"
 */
#include "crypto/primitives.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/primitives.h"
#include <sealtrain/crypto.h>

#include "crypto/primitives.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#include "crypto/primitives.h"
{
#include "crypto/primitives.h"
    uint8_t pub[32], again[32];
#include "crypto/primitives.h"
    st_err e;
#include "crypto/primitives.h"
    if (st_ed25519_parse_public_pem((const char *)data, size, pub, &e) != ST_OK)
#include "crypto/primitives.h"
        return 0;
#include "crypto/primitives.h"
    char *pem = st_ed25519_public_pem(pub, &e);
#include "crypto/primitives.h"
    if (!pem ||
#include "crypto/primitives.h"
        st_ed25519_parse_public_pem(pem, strlen(pem), again, &e) != ST_OK ||
#include "crypto/primitives.h"
        memcmp(pub, again, 32) != 0)
#include "crypto/primitives.h"
        abort();
#include "crypto/primitives.h"
    free(pem);
#include "crypto/primitives.h"
    return 0;
#include "crypto/primitives.h"
}
