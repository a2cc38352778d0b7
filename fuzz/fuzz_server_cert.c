/*
 * fuzz_server_cert.c: libFuzzer harness for st_server_cert_principal, the
 * parser of a client certificate's identity (DER from the TLS peer; the
 * chain is verified by OpenSSL first, but the fields are still untrusted
 * input to sealtrain).
 */
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[64];
    uint8_t pub[32];
    st_err err;
    st_discard(st_server_cert_principal(data, size, name, pub, &err));
    return 0;
}
