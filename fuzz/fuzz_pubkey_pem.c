/*
 * fuzz_pubkey_pem.c: st_ed25519_parse_public_pem (principals' registered
 * signing keys, `principal add --signing-key`) on arbitrary bytes. Its
 * short path for the RFC 8410 layout and OpenSSL's decoder must agree:
 * whatever it accepts prints back (st_ed25519_public_pem) to a PEM that
 * parses to the same key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/crypto.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t pub[32], again[32];
    st_err e;
    if (st_ed25519_parse_public_pem((const char *)data, size, pub, &e) != ST_OK)
        return 0;
    char *pem = st_ed25519_public_pem(pub, &e);
    if (!pem ||
        st_ed25519_parse_public_pem(pem, strlen(pem), again, &e) != ST_OK ||
        memcmp(pub, again, 32) != 0)
        abort();
    free(pem);
    return 0;
}
