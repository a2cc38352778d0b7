/*
 * fuzz_checkpoint.c: libFuzzer harness for st_trainer_restore and
 * st_trainer_resume (train.h).
 * The harness recomputes the SHA-256 trailer of each input first, so that
 * mutations reach the field checks behind the digest instead of all
 * stopping at it; a restored trainer must checkpoint again to the same
 * bytes, and resuming it under its own configuration must succeed while
 * resuming under a changed one must be refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/crypto.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < ST_SHA256_LEN || size > (1u << 20))
        return 0;
    uint8_t *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    st_sha256(buf, size - ST_SHA256_LEN, buf + size - ST_SHA256_LEN);
    st_trainer *t = NULL;
    if (st_trainer_restore(buf, size, &t, NULL) == ST_OK) {
        st_secret *again = NULL;
        if (st_trainer_checkpoint(t, &again, NULL) != ST_OK)
            abort();
        /* the configuration text may be normalised; the state after it
           must be byte for byte what was read */
        const uint8_t *a = st_secret_cbytes(again);
        size_t n = st_secret_len(again);
        uint32_t cl_in, cl_out;
        memcpy(&cl_in, buf + 12, 4);
        memcpy(&cl_out, a + 12, 4);
        size_t s_in = size - 16 - cl_in - ST_SHA256_LEN;
        size_t s_out = n - 16 - cl_out - ST_SHA256_LEN;
        if (s_in != s_out || memcmp(buf + 16 + cl_in, a + 16 + cl_out, s_in))
            abort();
        /* resume under its own configuration, then under another */
        st_train_config cfg = *st_trainer_config(t);
        st_trainer *r = NULL;
        if (st_trainer_resume(&cfg, buf, size, &r, NULL) != ST_OK)
            abort();
        st_trainer_free(r);
        cfg.epochs += 1;
        r = NULL;
        if (st_trainer_resume(&cfg, buf, size, &r, NULL) == ST_OK)
            abort();
        st_secret_free(again);
        st_trainer_free(t);
    }
    free(buf);
    return 0;
}
