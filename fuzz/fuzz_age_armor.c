/*
 * fuzz_age_armor.c: libFuzzer harness for the age ASCII armor decoder
 * (age_armor.c) on arbitrary bytes. Property: whatever it accepts, the
 * encoder re-armors canonically and the decoder reads back the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crypto/age_internal.h"

static uint8_t *decode_fd(int fd, size_t *len, int *ok)
{
    age_armor_dec *d = age_armor_dec_new(fd, NULL, 0, NULL);
    if (!d)
        abort();
    size_t cap = 4096, n = 0, got;
    uint8_t *out = malloc(cap);
    *ok = 1;
    for (;;) {
        if (cap - n < 1024)
            out = realloc(out, cap *= 2);
        if (age_armor_dec_read(d, out + n, cap - n, &got, NULL) != ST_OK) {
            *ok = 0;
            break;
        }
        if (!got)
            break;
        n += got;
    }
    age_armor_dec_free(d);
    *len = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int in = memfd_create("in", 0);
    if (in < 0 || write(in, data, size) != (ssize_t)size)
        abort();
    lseek(in, 0, SEEK_SET);
    size_t n;
    int ok;
    uint8_t *dec = decode_fd(in, &n, &ok);
    close(in);
    if (ok && n > 0) {
        int re = memfd_create("re", 0);
        age_armor_enc *e = age_armor_enc_new(re, NULL);
        if (!e || age_armor_enc_write(e, dec, n, NULL) != ST_OK ||
            age_armor_enc_finish(e, NULL) != ST_OK)
            abort();
        lseek(re, 0, SEEK_SET);
        size_t n2;
        int ok2;
        uint8_t *again = decode_fd(re, &n2, &ok2);
        if (!ok2 || n2 != n || memcmp(again, dec, n) != 0)
            abort();
        free(again);
        close(re);
    }
    free(dec);
    return 0;
}
