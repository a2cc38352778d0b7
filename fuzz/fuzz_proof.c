/*
 * fuzz_proof.c: the proof verifiers (src/audit/merkle.c) and the proof
 * document parser (src/audit/verify.c) on arbitrary bytes. Inputs that
 * start with '{' go to st_audit_proof_check as JSON (with a fixed verifier
 * key, so the embedded-checkpoint path runs too); others are read as
 * binary: index, size (or size1, size2), a root or two, and proof hashes,
 * for both RFC 9162 verifiers. Properties: no crash, no out-of-bounds read,
 * and an inclusion proof that verifies also verifies for a copy of itself
 * (the verifiers are pure).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "sealtrain/audit.h"
#include "sealtrain/bytes.h"

#define VKEY                                                                   \
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_err err;
    if (size && data[0] == '{') {
        char what[128];
        (void)st_audit_proof_check((const char *)data, size, VKEY, NULL, what,
                                   sizeof(what), &err);
        (void)st_audit_proof_check((const char *)data, size, NULL, NULL, what,
                                   sizeof(what), &err);
        return 0;
    }
    st_reader r;
    st_reader_init(&r, data, size);
    uint8_t mode = st_read_u8(&r);
    /* small sizes make the interesting paths reachable */
    uint64_t a = st_read_u16be(&r), b = st_read_u16be(&r);
    uint8_t root1[32], root2[32];
    st_read_bytes(&r, root1, 32);
    st_read_bytes(&r, root2, 32);
    if (r.failed)
        return 0;
    size_t n = st_reader_left(&r) / 32;
    if (n > 70)
        n = 70;
    uint8_t(*proof)[32] = malloc(n ? n * 32 : 1);
    if (!proof)
        return 0;
    st_read_bytes(&r, proof, n * 32);
    if (mode & 1) {
        if (st_audit_verify_inclusion(a, b, root1, (const uint8_t(*)[32])proof,
                                      n, root2, &err) == ST_OK) {
            uint8_t(*copy)[32] = malloc(n ? n * 32 : 1);
            if (copy) {
                memcpy(copy, proof, n * 32);
                if (st_audit_verify_inclusion(a, b, root1,
                                              (const uint8_t(*)[32])copy, n,
                                              root2, &err) != ST_OK)
                    abort();
                free(copy);
            }
        }
    } else {
        (void)st_audit_verify_consistency(a, b, root1, root2,
                                          (const uint8_t(*)[32])proof, n, &err);
    }
    free(proof);
    return 0;
}
