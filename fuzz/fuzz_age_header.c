/*
 * fuzz_age_header.c: libFuzzer harness for the age v1 reader: the header
 * parser on its own, then the whole decryption path (armor detection,
 * header, X25519 unwrap, MAC, STREAM chunks) with a fixed test identity,
 * one thread, to a memfd. Properties: no crash, no sanitizer report; a
 * parsed header's length lies within the input; plaintext is released only
 * on success or as whole authenticated chunks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sealtrain/sealtrain.h>

/* A key made for this harness only (seeds are encrypted to it). */
#define FUZZ_IDENTITY                                                          \
    "AGE-SECRET-KEY-1GA7EDX7YMG8ZLG5LZ84HNT8F4UQ30NQZK9GT4XTWQFEYULP62E8QGP"   \
    "PDR0"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_age_header h;
    if (st_age_header_parse(data, size, &h, NULL, NULL) == ST_OK) {
        if (h.len > size || h.mac_off >= h.len)
            abort();
        for (size_t i = 0; i < h.nstanzas; i++)
            if (h.stanzas[i].nargs == 0)
                abort();
        st_age_header_clear(&h);
    }
    if (size > (1u << 20))
        return 0;
    static st_age_identity id;
    static int have_id;
    if (!have_id) {
        if (st_age_x25519_identity(FUZZ_IDENTITY, &id, NULL) != ST_OK)
            abort();
        have_id = 1;
    }
    int in = memfd_create("in", 0), out = memfd_create("out", 0);
    if (in < 0 || out < 0 || write(in, data, size) != (ssize_t)size)
        abort();
    lseek(in, 0, SEEK_SET);
    st_age_decrypt_opts o = {.identities = &id, .nidentities = 1, .threads = 1};
    st_age_result res = {0};
    st_err err;
    st_code rc = st_age_decrypt_fd(in, out, &o, &res, &err);
    off_t released = lseek(out, 0, SEEK_END);
    if ((uint64_t)released != res.released)
        abort();
    if (rc != ST_OK && res.fail == ST_AGE_FAIL_NONE)
        abort();
    /* before the payload nothing is released; an armor failure stops at
     * a chunk boundary */
    if ((res.fail == ST_AGE_FAIL_HEADER || res.fail == ST_AGE_FAIL_NO_MATCH ||
         res.fail == ST_AGE_FAIL_HMAC) &&
        res.released != 0)
        abort();
    if (res.fail == ST_AGE_FAIL_ARMOR && res.released % ST_AGE_CHUNK_LEN)
        abort();
    close(in);
    close(out);
    return 0;
}
