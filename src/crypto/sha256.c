/*
 * sha256.c: SHA-256, one-shot and incremental (see crypto.h).
 *
 * On OpenSSL's SHA256_* functions, not EVP: they hash into a context the
 * caller owns, so hashing allocates nothing and cannot fail. EVP_Digest
 * allocates a context on every call (and an implicit fetch looks the
 * algorithm up under a lock); its failure under memory pressure was
 * either ignored (st_sha256 returned whatever the buffer held) or, for
 * the incremental context, an abort. The functions are deprecated in
 * OpenSSL 3.0 in favour of EVP, not removed, and compute the same digest
 * with the same assembly.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/primitives.h"
#include "sealtrain/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <unistd.h>

void st_sha256(const void *data, size_t len, uint8_t out[ST_SHA256_LEN])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
}

_Static_assert(sizeof(st_sha256_ctx) >= sizeof(SHA256_CTX) &&
                   _Alignof(st_sha256_ctx) >= _Alignof(SHA256_CTX),
               "st_sha256_ctx cannot hold OpenSSL's SHA256_CTX");

static SHA256_CTX *ctx(st_sha256_ctx *c)
{
    return (SHA256_CTX *)(void *)c->state;
}

void st_sha256_init(st_sha256_ctx *c)
{
    SHA256_Init(ctx(c));
}

void st_sha256_update(st_sha256_ctx *c, const void *data, size_t len)
{
    SHA256_Update(ctx(c), data, len);
}

void st_sha256_final(st_sha256_ctx *c, uint8_t out[ST_SHA256_LEN])
{
    SHA256_Final(out, ctx(c));
}

st_sha256_ctx *st_sha256_new(void)
{
    st_sha256_ctx *c = malloc(sizeof(*c));
    if (c)
        st_sha256_init(c);
    else
        errno = ENOMEM;
    return c;
}

void st_sha256_free(st_sha256_ctx *c)
{
    free(c);
}

st_code st_sha256_file(const char *path, uint8_t out[ST_SHA256_LEN],
                       st_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO,
                            errno, "cannot open %s", path);
    unsigned char *buf = malloc(1 << 20);
    if (!buf) {
        close(fd);
        return st_err_errno(err, ST_E_IO, ENOMEM, "hashing %s", path);
    }
    SHA256_CTX c;
    SHA256_Init(&c);
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return st_err_errno(err, ST_E_IO, e, "read %s", path);
        }
        if (n == 0)
            break;
        SHA256_Update(&c, buf, (size_t)n);
    }
    close(fd);
    free(buf);
    SHA256_Final(out, &c);
    return ST_OK;
}
