/*
 * age_stream.c: age v1 payloads (C2SP age-encryption.org/v1, section
 * "Payload": ChaCha20-Poly1305 STREAM, 64 KiB chunks, nonce = 11-byte
 * big-endian counter || last-chunk flag) and the file-level operations
 * built on them: streaming writer and reader, decryption between fds,
 * parallel decryption (to an fd with bounded memory, or into secure
 * memory), header rewrap and inspection.
 *
 * Release rule: plaintext leaves this file only chunk by chunk, after the
 * chunk's tag verified, in order. A failed chunk's output is wiped. The
 * chunk framing follows the reference implementation exactly (a full chunk
 * is tried as non-final, then as final; a short chunk must be final; an
 * empty final chunk only for an empty payload; data after the final chunk
 * is an error after that chunk was released), so that the plaintext
 * released before a failure is the same as age's, byte for byte, which the
 * CCTV suite checks.
 *
 * Performance: one EVP context per thread (st_aead_ctx), decryption from
 * the read buffer straight into the output buffer (no copies beyond the
 * kernel's), pread() per worker so that I/O runs in parallel too. Into
 * secure memory, the plaintext SHA-256 a caller checks is hashed in order
 * by whichever worker finished the next batch, while the others decrypt
 * (st_age_decrypt_secmem_sha256), not in a second pass.
 *
 * Must never: release unauthenticated bytes, leave a partial output file
 * (files are written through st_atomic_*), or hold plaintext or keys
 * outside secure memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "age_internal.h"
#include "crypto/age_stream.h"
#include "crypto/primitives.h"
#include "sealtrain/fs.h"

#define HDR_READ 4096
#define MT_BATCH 16 /* chunks per parallel work item: 1 MiB */
/* Secure memory the parallel stream decryptor may hold for plaintext in
 * all its workers together: RLIMIT_MEMLOCK is often 8 MiB in total. */
#define MT_SECMEM_BUDGET (4u << 20)
#define MT_MAX_THREADS 64
#define ENC_BATCH 8 /* chunks per read when encrypting a stream: 512 KiB */

/* --- small I/O helpers -------------------------------------------------- */

static ST_MUST_CHECK st_code read_full(int fd, uint8_t *buf, size_t n,
                                       size_t *got, st_err *err)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = read(fd, buf + *got, n - *got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return st_err_errno(err, ST_E_IO, errno, "reading age input");
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code pread_full(int fd, uint8_t *buf, size_t n,
                                        off_t off, st_err *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return st_err_errno(err, ST_E_IO, errno, "reading age input");
        if (r == 0)
            return st_err_set(err, ST_E_IO,
                              "age input shrank while being read");
        got += (size_t)r;
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code payload_err(st_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static ST_MUST_CHECK st_code payload_err(st_err *err, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return st_err_set(err, ST_E_DENIED, "age payload: %s", why);
}

/* --- one chunk ---------------------------------------------------------- */

/* Names what a chunk that failed is, when it is a genuine chunk of this
 * file moved from elsewhere (counters near idx); otherwise it was altered. */
static ST_MUST_CHECK st_code diagnose_chunk(st_aead_ctx *a, uint64_t idx,
                                            const uint8_t *ct, size_t n,
                                            uint8_t *pt, st_err *err)
{
    uint8_t nonce[12];
    for (uint64_t d = 1; d <= 8; d++) {
        for (int dir = 0; dir < 2; dir++) {
            if (dir == 1 && idx < d)
                continue;
            uint64_t j = dir ? idx - d : idx + d;
            for (int last = 0; last < 2; last++) {
                if (!last && n != AGE_ENC_CHUNK)
                    continue;
                age_chunk_nonce(j, last, nonce);
                if (st_aead_ctx_open(a, nonce, ct, n, pt, NULL) == ST_OK) {
                    st_wipe(pt, n - AGE_TAG_LEN);
                    return payload_err(err,
                                       "chunk %llu is out of place: it is "
                                       "chunk %llu%s of this file (chunks "
                                       "were reordered)",
                                       (unsigned long long)idx,
                                       (unsigned long long)j,
                                       last ? ", the final one," : "");
                }
            }
        }
    }
    if (n < AGE_ENC_CHUNK)
        return payload_err(err,
                           "the final chunk %llu (%zu bytes) failed "
                           "authentication: the file was truncated or the "
                           "chunk altered",
                           (unsigned long long)idx, n);
    return payload_err(err,
                       "chunk %llu failed authentication: the chunk was "
                       "altered",
                       (unsigned long long)idx);
}

/* Opens chunk idx of n bytes into pt; *final says which flag opened it. */
static ST_MUST_CHECK st_code open_chunk(st_aead_ctx *a, uint64_t idx,
                                        const uint8_t *ct, size_t n,
                                        uint8_t *pt, size_t *ptlen, int *final,
                                        st_err *err)
{
    uint8_t nonce[12];
    if (n < AGE_ENC_CHUNK) {
        if (n == AGE_TAG_LEN && idx != 0)
            return payload_err(err,
                               "the final chunk %llu is empty: only an empty "
                               "payload may end with an empty chunk",
                               (unsigned long long)idx);
        if (n < AGE_TAG_LEN)
            return payload_err(err,
                               "chunk %llu is truncated: %zu bytes, shorter "
                               "than its tag",
                               (unsigned long long)idx, n);
        age_chunk_nonce(idx, 1, nonce);
        if (st_aead_ctx_open(a, nonce, ct, n, pt, NULL) == ST_OK) {
            *final = 1;
            *ptlen = n - AGE_TAG_LEN;
            return ST_OK;
        }
    } else {
        for (int last = 0; last < 2; last++) {
            age_chunk_nonce(idx, last, nonce);
            if (st_aead_ctx_open(a, nonce, ct, n, pt, NULL) == ST_OK) {
                *final = last;
                *ptlen = ST_AGE_CHUNK_LEN;
                return ST_OK;
            }
        }
    }
    return diagnose_chunk(a, idx, ct, n, pt, err);
}

static ST_MUST_CHECK st_code err_trailing(st_err *err, uint64_t idx)
{
    return payload_err(err,
                       "data follows the final chunk %llu (appended data, "
                       "or chunks were reordered)",
                       (unsigned long long)idx);
}

static ST_MUST_CHECK st_code err_truncated(st_err *err, uint64_t idx)
{
    return payload_err(err,
                       "the file was truncated: it ends after chunk %llu, "
                       "which is not the final chunk",
                       (unsigned long long)idx);
}

/* --- input: raw or armored, with the header stage's leftovers ---------- */

typedef struct age_src {
    int fd;
    uint8_t *pend;
    size_t plen, ppos;
    age_armor_dec *armor;
} age_src;

static ST_MUST_CHECK st_code src_read(age_src *s, uint8_t *out, size_t n,
                                      size_t *got, st_age_fail *fail,
                                      st_err *err)
{
    *got = 0;
    if (s->ppos < s->plen) {
        size_t take = s->plen - s->ppos < n ? s->plen - s->ppos : n;
        memcpy(out, s->pend + s->ppos, take);
        s->ppos += take;
        *got = take;
        if (take == n)
            return ST_OK;
    }
    size_t more = 0;
    st_code rc;
    if (s->armor) {
        rc = age_armor_dec_read(s->armor, out + *got, n - *got, &more, err);
        if (rc != ST_OK)
            *fail = rc == ST_E_IO ? ST_AGE_FAIL_IO : ST_AGE_FAIL_ARMOR;
    } else {
        rc = read_full(s->fd, out + *got, n - *got, &more, err);
        if (rc != ST_OK)
            *fail = ST_AGE_FAIL_IO;
    }
    *got += more;
    return rc;
}

static void src_free(age_src *s)
{
    free(s->pend);
    age_armor_dec_free(s->armor);
    memset(s, 0, sizeof(*s));
}

/* Reads the header (detecting armor), leaves the rest in s->pend. The raw
 * header bytes stay in *raw (for the MAC). */
static ST_MUST_CHECK st_code src_header(age_src *s, int fd, st_age_armor armor,
                                        st_age_header *h, st_buf *raw,
                                        int *armored, st_age_fail *fail,
                                        st_err *err)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    st_buf_init(raw);
    *armored = 0;
    *fail = ST_AGE_FAIL_IO;
    st_code rc = st_buf_reserve(raw, HDR_READ, err);
    size_t got = 0;
    if (rc == ST_OK)
        rc = read_full(fd, raw->data, HDR_READ, &got, err);
    if (rc != ST_OK)
        return rc;
    raw->len = got;
    if (armor == ST_AGE_ARMOR_YES ||
        (armor == ST_AGE_ARMOR_AUTO && age_armor_detect(raw->data, got))) {
        *armored = 1;
        if (!(s->armor = age_armor_dec_new(fd, raw->data, got, err)))
            return err ? err->code : ST_E_IO;
        raw->len = 0;
        rc = src_read(s, raw->data, HDR_READ, &got, fail, err);
        if (rc != ST_OK)
            return rc;
        raw->len = got;
    }
    int eof = raw->len < HDR_READ;
    for (;;) {
        int incomplete = 0;
        rc = st_age_header_parse(raw->data, raw->len, h, &incomplete, err);
        if (rc == ST_OK)
            break;
        if (!incomplete || eof || raw->len >= ST_AGE_MAX_HEADER) {
            *fail = rc == ST_E_IO ? ST_AGE_FAIL_IO : ST_AGE_FAIL_HEADER;
            if (incomplete && !eof)
                return st_err_set(err, ST_E_INPUT,
                                  "age header: longer than %u bytes",
                                  ST_AGE_MAX_HEADER);
            return rc;
        }
        size_t want = raw->len; /* doubling: parsing stays linear overall */
        if ((rc = st_buf_reserve(raw, want, err)) != ST_OK)
            return rc;
        if ((rc = src_read(s, raw->data + raw->len, want, &got, fail, err)) !=
            ST_OK)
            return rc;
        raw->len += got;
        eof = got < want;
    }
    /* what follows the header is the start of the payload */
    size_t rest = raw->len - h->len;
    if (rest) {
        if (!(s->pend = malloc(rest))) {
            st_age_header_clear(h);
            return st_err_set(err, ST_E_IO, "out of memory");
        }
        memcpy(s->pend, raw->data + h->len, rest);
        s->plen = rest;
    }
    *fail = ST_AGE_FAIL_NONE;
    return ST_OK;
}

/* Header, file key, nonce: everything before the first chunk. The
 * payload key goes into `key` (secure memory, 32 bytes). */
static ST_MUST_CHECK st_code open_payload(age_src *s, int fd,
                                          const st_age_decrypt_opts *o,
                                          uint8_t *key, size_t *hdr_len,
                                          int *armored, st_age_fail *fail,
                                          st_err *err)
{
    st_age_header h;
    st_buf raw;
    st_code rc = src_header(s, fd, o->armor, &h, &raw, armored, fail, err);
    if (rc != ST_OK) {
        st_buf_free(&raw);
        return rc;
    }
    uint8_t *fk = st_secmem_alloc(ST_AGE_FILE_KEY_LEN, err);
    rc = fk ? age_header_unwrap(&h, raw.data, o->identities, o->nidentities, fk,
                                fail, err)
            : (err ? err->code : ST_E_IO);
    *hdr_len = h.len;
    st_age_header_clear(&h);
    st_buf_free(&raw);
    uint8_t nonce[AGE_NONCE_LEN];
    size_t got = 0;
    if (rc == ST_OK &&
        (rc = src_read(s, nonce, sizeof(nonce), &got, fail, err)) == ST_OK &&
        got != sizeof(nonce)) {
        *fail = ST_AGE_FAIL_HEADER;
        rc = st_err_set(err, ST_E_INPUT,
                        "age header: the payload nonce is %s (%zu of 16 "
                        "bytes)",
                        got ? "truncated" : "missing", got);
    }
    if (rc == ST_OK && (rc = age_payload_key(fk, nonce, key, err)) != ST_OK)
        *fail = ST_AGE_FAIL_IO;
    st_secmem_free(fk);
    return rc;
}

static void set_result(st_age_result *res, st_age_fail fail, uint64_t rel)
{
    if (res) {
        res->fail = fail;
        res->released = rel;
    }
}

/* --- sequential reader ------------------------------------------------ */

struct st_age_reader {
    age_src src;
    st_aead_ctx *aead;
    uint64_t counter;
    uint8_t *ct; /* one encrypted chunk (ciphertext: ordinary memory) */
    uint8_t *pt; /* its plaintext (secure memory) */
    size_t ptlen, ptpos;
    int final_seen, done;
    st_code failed;
    st_err saved;
    st_age_fail fail;
    uint64_t released;
};

/* Completes a reader whose src went through open_payload. */
static ST_MUST_CHECK st_code reader_init(st_age_reader *r, const uint8_t *key,
                                         st_err *err)
{
    r->aead = st_aead_ctx_new(key, err);
    r->ct = malloc(AGE_ENC_CHUNK);
    r->pt = st_secmem_alloc(AGE_ENC_CHUNK, err);
    if (r->aead && r->ct && r->pt)
        return ST_OK;
    return err && err->code ? err->code
                            : st_err_set(err, ST_E_IO, "out of memory");
}

st_code st_age_reader_open(int fd, const st_age_decrypt_opts *o,
                           st_age_reader **out, st_age_result *res, st_err *err)
{
    *out = NULL;
    st_age_reader *r = calloc(1, sizeof(*r));
    uint8_t *key = st_secmem_alloc(32, err);
    st_age_fail fail = ST_AGE_FAIL_IO;
    st_code rc = r && key ? ST_OK : st_err_set(err, ST_E_IO, "out of memory");
    size_t hdr_len;
    int armored;
    if (rc == ST_OK)
        rc = open_payload(&r->src, fd, o, key, &hdr_len, &armored, &fail, err);
    if (rc == ST_OK)
        rc = reader_init(r, key, err);
    st_secmem_free(key);
    set_result(res, rc == ST_OK ? ST_AGE_FAIL_NONE : fail, 0);
    if (rc != ST_OK) {
        st_age_reader_free(r);
        return o->name ? st_err_prefix(err, "%s", o->name) : rc;
    }
    *out = r;
    return ST_OK;
}

void st_age_reader_free(st_age_reader *r)
{
    if (!r)
        return;
    src_free(&r->src);
    st_aead_ctx_free(r->aead);
    free(r->ct);
    st_secmem_free(r->pt);
    free(r);
}

/* Reads, opens and holds the next chunk; sets r->done at the end. */
static ST_MUST_CHECK st_code reader_next(st_age_reader *r, st_err *err)
{
    size_t n = 0;
    st_code rc;
    if (r->final_seen) {
        /* the reference implementation releases the final chunk, then
         * insists on the end of the input */
        uint8_t extra;
        rc = src_read(&r->src, &extra, 1, &n, &r->fail, err);
        if (rc != ST_OK)
            return rc;
        if (n) {
            r->fail = ST_AGE_FAIL_PAYLOAD;
            return err_trailing(err, r->counter - 1);
        }
        r->done = 1;
        return ST_OK;
    }
    rc = src_read(&r->src, r->ct, AGE_ENC_CHUNK, &n, &r->fail, err);
    if (rc != ST_OK)
        return rc;
    r->fail = ST_AGE_FAIL_PAYLOAD;
    if (n == 0) {
        if (r->counter == 0)
            return payload_err(err, "there are no chunks (even an empty "
                                    "file has one, final, chunk)");
        return err_truncated(err, r->counter - 1);
    }
    int final = 0;
    rc = open_chunk(r->aead, r->counter, r->ct, n, r->pt, &r->ptlen, &final,
                    err);
    if (rc != ST_OK)
        return rc;
    r->fail = ST_AGE_FAIL_NONE;
    r->ptpos = 0;
    r->final_seen = final;
    r->counter++;
    return ST_OK;
}

st_code st_age_reader_read(st_age_reader *r, void *buf, size_t cap, size_t *got,
                           st_age_result *res, st_err *err)
{
    *got = 0;
    while (!r->failed && *got < cap) {
        if (r->ptpos < r->ptlen) {
            size_t take = r->ptlen - r->ptpos;
            if (take > cap - *got)
                take = cap - *got;
            memcpy((uint8_t *)buf + *got, r->pt + r->ptpos, take);
            r->ptpos += take;
            *got += take;
            r->released += take;
            continue;
        }
        if (r->done)
            break;
        st_wipe(r->pt, r->ptlen);
        r->ptlen = r->ptpos = 0;
        st_code rc = reader_next(r, &r->saved);
        if (rc != ST_OK)
            r->failed = rc;
    }
    /* bytes already copied are authenticated: hand them out first, the
     * error comes with the next call */
    if (r->failed && *got == 0) {
        if (err)
            *err = r->saved;
        set_result(res, r->fail ? r->fail : ST_AGE_FAIL_IO, r->released);
        return r->failed;
    }
    set_result(res, ST_AGE_FAIL_NONE, r->released);
    return ST_OK;
}

/* --- parallel decryption of a regular file ----------------------------- */

typedef struct mt_job {
    int fd;
    off_t base;    /* file offset of chunk 0 */
    uint64_t plen; /* bytes from chunk 0 to the end of the file */
    uint64_t nchunks;
    const uint8_t *key;
    int out_fd;    /* stream mode */
    uint8_t *dest; /* secure memory mode */
    unsigned nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t batch; /* chunks per work item */
    uint64_t next_batch, nbatches;
    atomic_int failed;
    uint64_t fail_chunk;
    st_code rc;
    st_err err;
    st_age_fail fail;
    uint64_t released;
    /* secure memory mode (mt_secmem_worker): batches of MT_BATCH chunks
     * taken in order by whichever worker is free; with a digest wanted
     * (sha), the plaintext hashed in order by one worker at a time */
    st_sha256_ctx *sha;
    uint64_t total;            /* plaintext bytes */
    uint64_t sbatches;         /* batches of MT_BATCH chunks */
    atomic_uint_fast64_t take; /* next batch to decrypt */
    uint8_t *done;             /* per batch: decrypted (under mu) */
    uint64_t hashed;           /* batches hashed (under mu) */
    int hashing;               /* a worker holds the digest (under mu) */
} mt_job;

typedef struct mt_worker {
    mt_job *job;
    unsigned id;
    pthread_t th;
} mt_worker;

static size_t chunk_len(const mt_job *j, uint64_t k)
{
    uint64_t left = j->plen - k * AGE_ENC_CHUNK;
    return left < AGE_ENC_CHUNK ? (size_t)left : AGE_ENC_CHUNK;
}

/* Records a failure at chunk k; the lowest chunk's error wins. */
static void mt_fail(mt_job *j, uint64_t k, st_code rc, const st_err *e,
                    st_age_fail fail)
{
    pthread_mutex_lock(&j->mu);
    if (!atomic_load(&j->failed) || k < j->fail_chunk) {
        j->fail_chunk = k;
        j->rc = rc;
        j->err = *e;
        j->fail = fail;
    }
    atomic_store(&j->failed, 1);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static int mt_failed_before(mt_job *j, uint64_t k)
{
    pthread_mutex_lock(&j->mu);
    int before = atomic_load(&j->failed) && j->fail_chunk < k;
    pthread_mutex_unlock(&j->mu);
    return before;
}

/* Opens `count` chunks from `first` whose ciphertext is in ct, into pt.
 * Returns how many plaintext bytes are releasable; the failure in rc and e. */
static size_t mt_open_range(mt_job *j, st_aead_ctx *a, uint64_t first,
                            uint64_t count, const uint8_t *ct, uint8_t *pt,
                            st_code *rc, st_err *e, uint64_t *bad)
{
    size_t ptoff = 0;
    *rc = ST_OK;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t k = first + i;
        size_t ptl = 0;
        int final = 0;
        *rc = open_chunk(a, k, ct + i * AGE_ENC_CHUNK, chunk_len(j, k),
                         pt + ptoff, &ptl, &final, e);
        *bad = k;
        if (*rc != ST_OK)
            break;
        ptoff += ptl;
        if (final && k != j->nchunks - 1) {
            *rc = err_trailing(e, k);
            break;
        }
        if (!final && k == j->nchunks - 1) {
            *rc = err_truncated(e, k);
            break;
        }
    }
    return ptoff;
}

static void *mt_stream_worker(void *arg)
{
    mt_worker *w = arg;
    mt_job *j = w->job;
    st_err e;
    st_err_clear(&e);
    st_aead_ctx *a = st_aead_ctx_new(j->key, &e);
    uint8_t *ct = malloc((size_t)j->batch * AGE_ENC_CHUNK);
    uint8_t *pt = st_secmem_alloc((size_t)j->batch * AGE_ENC_CHUNK, &e);
    if (!a || !ct || !pt) {
        if (!e.code)
            st_err_set(&e, ST_E_IO, "out of memory");
        mt_fail(j, 0, e.code, &e, ST_AGE_FAIL_IO);
    }
    for (uint64_t b = w->id; a && ct && pt && b < j->nbatches;
         b += j->nthreads) {
        if (atomic_load(&j->failed))
            break;
        uint64_t first = b * j->batch;
        uint64_t count =
            j->nchunks - first < j->batch ? j->nchunks - first : j->batch;
        uint64_t bytes = j->plen - first * AGE_ENC_CHUNK;
        if (bytes > count * AGE_ENC_CHUNK)
            bytes = count * AGE_ENC_CHUNK;
        st_code rc = pread_full(j->fd, ct, (size_t)bytes,
                                j->base + (off_t)(first * AGE_ENC_CHUNK), &e);
        if (rc != ST_OK) {
            mt_fail(j, first, rc, &e, ST_AGE_FAIL_IO);
            break;
        }
        uint64_t bad = 0;
        size_t ok = mt_open_range(j, a, first, count, ct, pt, &rc, &e, &bad);
        /* in order: wait for the batches before this one */
        pthread_mutex_lock(&j->mu);
        while (j->next_batch != b && !atomic_load(&j->failed))
            pthread_cond_wait(&j->cv, &j->mu);
        int stop = atomic_load(&j->failed);
        if (!stop) {
            st_err we;
            if (ok && st_fs_write_fd(j->out_fd, pt, ok, "decrypted output",
                                     &we) != ST_OK) {
                j->rc = we.code;
                j->err = we;
                j->fail = ST_AGE_FAIL_IO;
                j->fail_chunk = first;
                atomic_store(&j->failed, 1);
                stop = 1;
            } else {
                j->released += ok;
            }
            if (!stop && rc != ST_OK) {
                j->rc = rc;
                j->err = e;
                j->fail = ST_AGE_FAIL_PAYLOAD;
                j->fail_chunk = bad;
                atomic_store(&j->failed, 1);
                stop = 1;
            }
            j->next_batch++;
        }
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        st_wipe(pt, ok);
        if (stop)
            break;
    }
    st_aead_ctx_free(a);
    free(ct);
    st_secmem_free(pt);
    return NULL;
}

/* Batch b is decrypted: mark it, and unless another worker is hashing,
 * hash every decrypted batch that is next in order. The digest is the
 * same SHA-256 over the same bytes in the same order as one pass over
 * the finished plaintext, computed while the other workers decrypt
 * instead of after them. A batch marked while the hashing worker is busy
 * is picked up by it: both look at `done` under the lock. */
static void mt_hash_ready(mt_job *j, uint64_t b)
{
    const uint64_t span = (uint64_t)MT_BATCH * ST_AGE_CHUNK_LEN;
    pthread_mutex_lock(&j->mu);
    j->done[b] = 1;
    if (!j->hashing) {
        j->hashing = 1;
        while (j->hashed < j->sbatches && j->done[j->hashed] &&
               !atomic_load(&j->failed)) {
            uint64_t from = j->hashed * span;
            uint64_t to = from + span < j->total ? from + span : j->total;
            pthread_mutex_unlock(&j->mu);
            st_sha256_update(j->sha, j->dest + from, (size_t)(to - from));
            pthread_mutex_lock(&j->mu);
            j->hashed++;
        }
        j->hashing = 0;
    }
    pthread_mutex_unlock(&j->mu);
}

/* Into secure memory: batches of MT_BATCH chunks (1 MiB reads) taken in
 * order by whichever worker is free, each decrypted straight into its
 * place in dest; with a digest wanted, each decrypted batch goes to
 * mt_hash_ready. */
static void *mt_secmem_worker(void *arg)
{
    mt_worker *w = arg;
    mt_job *j = w->job;
    st_err e;
    st_err_clear(&e);
    st_aead_ctx *a = st_aead_ctx_new(j->key, &e);
    uint8_t *ct = malloc((size_t)MT_BATCH * AGE_ENC_CHUNK);
    if (!a || !ct) {
        if (!e.code)
            st_err_set(&e, ST_E_IO, "out of memory");
        mt_fail(j, 0, e.code, &e, ST_AGE_FAIL_IO);
    }
    while (a && ct) {
        uint64_t b = atomic_fetch_add(&j->take, 1);
        if (b >= j->sbatches)
            break;
        uint64_t first = b * MT_BATCH;
        /* stop only for a failure before this batch: a later one must not
         * hide an earlier chunk's error, which is the one reported (every
         * earlier batch was taken before this one) */
        if (atomic_load(&j->failed) && mt_failed_before(j, first))
            break;
        uint64_t count =
            j->nchunks - first < MT_BATCH ? j->nchunks - first : MT_BATCH;
        uint64_t bytes = j->plen - first * AGE_ENC_CHUNK;
        if (bytes > count * AGE_ENC_CHUNK)
            bytes = count * AGE_ENC_CHUNK;
        st_code rc = pread_full(j->fd, ct, (size_t)bytes,
                                j->base + (off_t)(first * AGE_ENC_CHUNK), &e);
        if (rc != ST_OK) {
            mt_fail(j, first, rc, &e, ST_AGE_FAIL_IO);
            break;
        }
        uint64_t bad = 0;
        mt_open_range(j, a, first, count, ct,
                      j->dest + first * ST_AGE_CHUNK_LEN, &rc, &e, &bad);
        if (rc != ST_OK) {
            mt_fail(j, bad, rc, &e, ST_AGE_FAIL_PAYLOAD);
            break;
        }
        if (j->sha)
            mt_hash_ready(j, b);
    }
    st_aead_ctx_free(a);
    free(ct);
    return NULL;
}

static unsigned online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (unsigned)n;
}

/* Runs fn on job->nthreads workers (the caller's thread is one). */
static ST_MUST_CHECK st_code mt_run(mt_job *j, void *(*fn)(void *), st_err *err)
{
    mt_worker *w = calloc(j->nthreads, sizeof(*w));
    if (!w)
        return st_err_set(err, ST_E_IO, "out of memory");
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    unsigned started = 1;
    for (unsigned i = 0; i < j->nthreads; i++) {
        w[i].job = j;
        w[i].id = i;
    }
    for (unsigned i = 1; i < j->nthreads; i++, started++)
        if (pthread_create(&w[i].th, NULL, fn, &w[i]) != 0)
            break;
    if (started < j->nthreads) {
        /* the work is split by thread count (and the stream workers wait
         * for each other's batches): a missing thread cannot be made up
         * for, so stop everyone */
        st_err e;
        st_err_set(&e, ST_E_IO, "cannot start %u decryption threads",
                   j->nthreads);
        mt_fail(j, 0, ST_E_IO, &e, ST_AGE_FAIL_IO);
    }
    fn(&w[0]);
    for (unsigned i = 1; i < started; i++)
        pthread_join(w[i].th, NULL);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(w);
    if (atomic_load(&j->failed)) {
        if (err)
            *err = j->err;
        return j->rc ? j->rc : ST_E_INTERNAL;
    }
    return ST_OK;
}

/* Sets up a job over the payload of a regular file after open_payload. */
static ST_MUST_CHECK st_code mt_prepare(mt_job *j, int fd, off_t start,
                                        size_t hdr_len, const uint8_t *key,
                                        unsigned threads, st_err *err)
{
    memset(j, 0, sizeof(*j));
    struct stat st;
    if (fstat(fd, &st) != 0)
        return st_err_errno(err, ST_E_IO, errno, "stat of the age input");
    j->fd = fd;
    j->base = start + (off_t)hdr_len + AGE_NONCE_LEN;
    j->plen = st.st_size > j->base ? (uint64_t)(st.st_size - j->base) : 0;
    j->nchunks = (j->plen + AGE_ENC_CHUNK - 1) / AGE_ENC_CHUNK;
    j->key = key;
    j->nthreads = threads ? threads : online_cores();
    if (j->nthreads > MT_MAX_THREADS)
        j->nthreads = MT_MAX_THREADS;
    /* plaintext buffers of all workers within the secure-memory budget */
    j->batch = MT_SECMEM_BUDGET / ((uint64_t)j->nthreads * AGE_ENC_CHUNK);
    j->batch = j->batch > MT_BATCH ? MT_BATCH : j->batch ? j->batch : 1;
    j->nbatches = (j->nchunks + j->batch - 1) / j->batch;
    if (j->nthreads > j->nbatches)
        j->nthreads = j->nbatches ? (unsigned)j->nbatches : 1;
    if (j->nchunks == 0)
        return payload_err(err, "there are no chunks (even an empty file "
                                "has one, final, chunk)");
    return ST_OK;
}

/* --- decryption entry points ------------------------------------------- */

static ST_MUST_CHECK st_code decrypt_sequential(st_age_reader *r, int out_fd,
                                                st_age_result *res, st_err *err)
{
    for (;;) {
        /* hand the reader's chunk buffer straight to write() */
        if (r->ptpos < r->ptlen) {
            st_code rc =
                st_fs_write_fd(out_fd, r->pt + r->ptpos, r->ptlen - r->ptpos,
                               "decrypted output", err);
            if (rc != ST_OK) {
                set_result(res, ST_AGE_FAIL_IO, r->released);
                return rc;
            }
            r->released += r->ptlen - r->ptpos;
            r->ptpos = r->ptlen;
        }
        if (r->done)
            break;
        st_wipe(r->pt, r->ptlen);
        r->ptlen = r->ptpos = 0;
        st_code rc = reader_next(r, err);
        if (rc != ST_OK) {
            set_result(res, r->fail ? r->fail : ST_AGE_FAIL_IO, r->released);
            return rc;
        }
    }
    set_result(res, ST_AGE_FAIL_NONE, r->released);
    return ST_OK;
}

st_code st_age_decrypt_fd(int in_fd, int out_fd, const st_age_decrypt_opts *o,
                          st_age_result *res, st_err *err)
{
    set_result(res, ST_AGE_FAIL_IO, 0);
    struct stat st;
    off_t start = lseek(in_fd, 0, SEEK_CUR);
    int regular = fstat(in_fd, &st) == 0 && S_ISREG(st.st_mode) && start >= 0;
    st_age_reader *r = calloc(1, sizeof(*r));
    uint8_t *key = st_secmem_alloc(32, err);
    st_age_fail fail = ST_AGE_FAIL_IO;
    size_t hdr_len = 0;
    int armored = 0;
    st_code rc = r && key ? ST_OK : st_err_set(err, ST_E_IO, "out of memory");
    if (rc == ST_OK)
        rc = open_payload(&r->src, in_fd, o, key, &hdr_len, &armored, &fail,
                          err);
    if (rc != ST_OK) {
        set_result(res, fail, 0);
    } else if (!regular || armored) {
        rc = reader_init(r, key, err);
        if (rc == ST_OK)
            rc = decrypt_sequential(r, out_fd, res, err);
        else
            set_result(res, ST_AGE_FAIL_IO, 0);
    } else {
        mt_job j;
        rc = mt_prepare(&j, in_fd, start, hdr_len, key, o->threads, err);
        if (rc == ST_OK) {
            j.out_fd = out_fd;
            rc = mt_run(&j, mt_stream_worker, err);
            set_result(res, rc == ST_OK ? ST_AGE_FAIL_NONE : j.fail,
                       j.released);
        } else {
            set_result(res, ST_AGE_FAIL_PAYLOAD, 0);
        }
    }
    st_secmem_free(key);
    st_age_reader_free(r);
    if (rc != ST_OK && o->name)
        st_err_prefix(err, "%s", o->name);
    return rc;
}

static ST_MUST_CHECK st_code open_in(const char *path, int *fd, st_err *err)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO,
                            errno, "cannot open %s", path);
    return ST_OK;
}

st_code st_age_decrypt_file(const char *in_path, const char *out_path,
                            const st_age_decrypt_opts *o, st_age_result *res,
                            st_err *err)
{
    set_result(res, ST_AGE_FAIL_IO, 0);
    int fd;
    st_code rc = open_in(in_path, &fd, err);
    if (rc != ST_OK)
        return rc;
    st_atomic_file *af = st_atomic_open(out_path, 0600, err);
    if (!af) {
        close(fd);
        return err ? err->code : ST_E_IO;
    }
    st_age_decrypt_opts named = *o;
    if (!named.name)
        named.name = in_path;
    rc = st_age_decrypt_fd(fd, st_atomic_fd(af), &named, res, err);
    close(fd);
    if (rc != ST_OK) {
        /* the plaintext released so far only ever sat in the temporary
         * file, which goes now: nothing appears at out_path */
        st_atomic_abort(af);
        return rc;
    }
    rc = st_atomic_commit(af, err);
    if (rc != ST_OK && res)
        res->fail = ST_AGE_FAIL_IO;
    return rc;
}

/* Sequential fallback for armored input: grows the buffer by doubling. */
static ST_MUST_CHECK st_code secmem_sequential(st_age_reader *r, void **plain,
                                               size_t *len, st_age_result *res,
                                               st_err *err)
{
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (cap - n < ST_AGE_CHUNK_LEN) {
            size_t ncap = cap ? cap * 2 : 4 * (size_t)ST_AGE_CHUNK_LEN;
            uint8_t *g = st_secmem_alloc(ncap, err);
            if (!g) {
                st_secmem_free(buf);
                set_result(res, ST_AGE_FAIL_IO, 0);
                return err ? err->code : ST_E_IO;
            }
            if (n)
                memcpy(g, buf, n);
            st_secmem_free(buf);
            buf = g;
            cap = ncap;
        }
        size_t got = 0;
        st_code rc = st_age_reader_read(r, buf + n, cap - n, &got, res, err);
        if (rc != ST_OK) {
            st_secmem_free(buf);
            if (res)
                res->released = 0;
            return rc;
        }
        if (got == 0)
            break;
        n += got;
    }
    if (n == 0) {
        st_secmem_free(buf);
        buf = NULL;
    }
    *plain = buf;
    *len = n;
    return ST_OK;
}

st_code st_age_decrypt_secmem(const char *path, const st_age_decrypt_opts *o,
                              void **plain, size_t *len, st_age_result *res,
                              st_err *err)
{
    return st_age_decrypt_secmem_sha256(-1, path, o, plain, len, NULL, res,
                                        err);
}

/* sha256: NULL, or filled with the plaintext digest on success */
static ST_MUST_CHECK st_code decrypt_secmem(int fd, const char *path,
                                            const st_age_decrypt_opts *o,
                                            void **plain, size_t *len,
                                            uint8_t *sha256, st_age_result *res,
                                            st_err *err)
{
    *plain = NULL;
    *len = 0;
    set_result(res, ST_AGE_FAIL_IO, 0);
    st_code rc = ST_OK;
    st_age_reader *r = calloc(1, sizeof(*r));
    uint8_t *key = st_secmem_alloc(32, err);
    st_age_fail fail = ST_AGE_FAIL_IO;
    size_t hdr_len = 0;
    int armored = 0;
    struct stat st;
    off_t start = lseek(fd, 0, SEEK_CUR);
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && start >= 0;
    rc = r && key ? ST_OK : st_err_set(err, ST_E_IO, "out of memory");
    if (rc == ST_OK)
        rc = open_payload(&r->src, fd, o, key, &hdr_len, &armored, &fail, err);
    if (rc != ST_OK) {
        set_result(res, fail, 0);
    } else if (armored || !regular) {
        rc = reader_init(r, key, err);
        if (rc == ST_OK)
            rc = secmem_sequential(r, plain, len, res, err);
        if (rc == ST_OK && sha256)
            st_sha256(*plain, *len, sha256);
    } else {
        mt_job j;
        rc = mt_prepare(&j, fd, start, hdr_len, key, o->threads, err);
        fail = ST_AGE_FAIL_PAYLOAD;
        uint64_t total = 0;
        if (rc == ST_OK) {
            /* batches of MT_BATCH chunks (mt_prepare sized its batches
             * for the stream mode's bounded buffers) */
            j.sbatches = (j.nchunks + MT_BATCH - 1) / MT_BATCH;
            j.nthreads = o->threads ? o->threads : online_cores();
            if (j.nthreads > MT_MAX_THREADS)
                j.nthreads = MT_MAX_THREADS;
            if (j.nthreads > j.sbatches)
                j.nthreads = (unsigned)j.sbatches;
            uint64_t last = chunk_len(&j, j.nchunks - 1);
            total = (j.nchunks - 1) * ST_AGE_CHUNK_LEN +
                    (last > AGE_TAG_LEN ? last - AGE_TAG_LEN : 0);
            if (total > SIZE_MAX / 2)
                rc = st_err_set(err, ST_E_INPUT, "%s: too large", path);
        }
        /* room for the last chunk's tag-sized scratch is not needed: the
         * output of a chunk is never longer than its plaintext */
        if (rc == ST_OK)
            j.dest = st_secmem_alloc(total ? (size_t)total : 1, err);
        if (rc == ST_OK && !j.dest) {
            rc = err ? err->code : ST_E_IO;
            fail = ST_AGE_FAIL_IO;
        }
        j.total = total;
        if (rc == ST_OK && sha256) {
            j.done = calloc((size_t)j.sbatches, 1);
            j.sha = st_sha256_new();
            if (!j.done || !j.sha) {
                rc = st_err_errno(err, ST_E_IO, ENOMEM, "decrypting %s", path);
                fail = ST_AGE_FAIL_IO;
            }
        }
        if (rc == ST_OK) {
            rc = mt_run(&j, mt_secmem_worker, err);
            fail = rc == ST_OK ? ST_AGE_FAIL_NONE : j.fail;
        }
        if (rc == ST_OK && sha256 && j.hashed != j.sbatches)
            rc = st_err_set(err, ST_E_INTERNAL,
                            "%s: plaintext digest incomplete (%llu of %llu "
                            "batches)",
                            path, (unsigned long long)j.hashed,
                            (unsigned long long)j.sbatches);
        if (j.sha) {
            uint8_t d[ST_SHA256_LEN];
            st_sha256_final(j.sha, d);
            if (rc == ST_OK)
                memcpy(sha256, d, sizeof(d));
            st_sha256_free(j.sha);
        }
        free(j.done);
        if (rc == ST_OK && total) {
            *plain = j.dest;
            *len = (size_t)total;
        } else {
            st_secmem_free(j.dest); /* wiped: nothing partial is returned */
        }
        set_result(res, rc == ST_OK ? ST_AGE_FAIL_NONE : fail,
                   rc == ST_OK ? total : 0);
    }
    if (rc != ST_OK)
        st_err_prefix(err, "%s", path);
    st_secmem_free(key);
    st_age_reader_free(r);
    return rc;
}

st_code st_age_decrypt_secmem_fd(int fd, const char *name,
                                 const st_age_decrypt_opts *o, void **plain,
                                 size_t *len, st_age_result *res, st_err *err)
{
    return decrypt_secmem(fd, name, o, plain, len, NULL, res, err);
}

st_code st_age_decrypt_secmem_sha256(int fd, const char *name,
                                     const st_age_decrypt_opts *o, void **plain,
                                     size_t *len, uint8_t sha256[32],
                                     st_age_result *res, st_err *err)
{
    if (fd >= 0)
        return decrypt_secmem(fd, name, o, plain, len, sha256, res, err);
    *plain = NULL;
    *len = 0;
    set_result(res, ST_AGE_FAIL_IO, 0);
    st_code rc = open_in(name, &fd, err);
    if (rc != ST_OK)
        return rc;
    rc = decrypt_secmem(fd, name, o, plain, len, sha256, res, err);
    close(fd);
    return rc;
}

/* --- writer -------------------------------------------------------------- */

struct st_age_writer {
    int fd;
    st_atomic_file *af;
    age_armor_enc *armor;
    st_aead_ctx *aead;
    uint64_t counter;
    uint8_t *buf; /* one chunk of plaintext, sealed in place (secure memory) */
    size_t fill;
};

static ST_MUST_CHECK st_code emit(st_age_writer *w, const uint8_t *data,
                                  size_t n, st_err *err)
{
    if (w->armor)
        return age_armor_enc_write(w->armor, data, n, err);
    return st_fs_write_fd(w->fd, data, n, "age output", err);
}

static ST_MUST_CHECK st_code seal_emit(st_age_writer *w, uint8_t *buf,
                                       size_t len, int final, st_err *err)
{
    uint8_t nonce[12];
    age_chunk_nonce(w->counter, final, nonce);
    st_code rc = st_aead_ctx_seal(w->aead, nonce, buf, len, buf, err);
    if (rc == ST_OK)
        rc = emit(w, buf, len + AGE_TAG_LEN, err);
    w->counter++;
    return rc;
}

static ST_MUST_CHECK st_code writer_start(st_age_writer *w,
                                          const st_age_recipient *rcpts,
                                          size_t nrcpts, st_age_armor armor,
                                          st_err *err)
{
    uint8_t *keys = st_secmem_alloc(ST_AGE_FILE_KEY_LEN + 32, err);
    if (!keys)
        return err ? err->code : ST_E_IO;
    uint8_t *fk = keys, *pk = keys + ST_AGE_FILE_KEY_LEN;
    uint8_t nonce[AGE_NONCE_LEN];
    st_age_stanza *stanzas = NULL;
    size_t n = 0;
    st_buf hdr;
    st_buf_init(&hdr);
    st_code rc = st_random(fk, ST_AGE_FILE_KEY_LEN, err);
    if (rc == ST_OK)
        rc = age_wrap_all(rcpts, nrcpts, fk, &stanzas, &n, err);
    if (rc == ST_OK)
        rc = age_header_encode(stanzas, n, fk, &hdr, err);
    if (rc == ST_OK)
        rc = st_random(nonce, sizeof(nonce), err);
    if (rc == ST_OK)
        rc = age_payload_key(fk, nonce, pk, err);
    if (rc == ST_OK && !(w->aead = st_aead_ctx_new(pk, err)))
        rc = err ? err->code : ST_E_IO;
    st_secmem_free(keys);
    age_stanzas_free(stanzas, n);
    if (rc == ST_OK && !(w->buf = st_secmem_alloc(AGE_ENC_CHUNK, err)))
        rc = err ? err->code : ST_E_IO;
    if (rc == ST_OK && armor == ST_AGE_ARMOR_YES &&
        !(w->armor = age_armor_enc_new(w->fd, err)))
        rc = err ? err->code : ST_E_IO;
    if (rc == ST_OK)
        rc = emit(w, hdr.data, hdr.len, err);
    if (rc == ST_OK)
        rc = emit(w, nonce, sizeof(nonce), err);
    st_buf_free(&hdr);
    return rc;
}

void st_age_writer_abort(st_age_writer *w)
{
    if (!w)
        return;
    st_atomic_abort(w->af);
    age_armor_enc_free(w->armor);
    st_aead_ctx_free(w->aead);
    st_secmem_free(w->buf);
    free(w);
}

st_code st_age_writer_new_fd(int fd, const st_age_recipient *rcpts,
                             size_t nrcpts, st_age_armor armor,
                             st_age_writer **out, st_err *err)
{
    *out = NULL;
    st_age_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return st_err_set(err, ST_E_IO, "out of memory");
    w->fd = fd;
    st_code rc = writer_start(w, rcpts, nrcpts, armor, err);
    if (rc != ST_OK) {
        st_age_writer_abort(w);
        return rc;
    }
    *out = w;
    return ST_OK;
}

st_code st_age_writer_new_file(const char *path, mode_t mode,
                               const st_age_recipient *rcpts, size_t nrcpts,
                               st_age_armor armor, st_age_writer **out,
                               st_err *err)
{
    *out = NULL;
    st_age_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return st_err_set(err, ST_E_IO, "out of memory");
    if (!(w->af = st_atomic_open(path, mode, err))) {
        free(w);
        return err ? err->code : ST_E_IO;
    }
    w->fd = st_atomic_fd(w->af);
    st_code rc = writer_start(w, rcpts, nrcpts, armor, err);
    if (rc != ST_OK) {
        st_age_writer_abort(w);
        return rc;
    }
    *out = w;
    return ST_OK;
}

st_code st_age_writer_write(st_age_writer *w, const void *data, size_t len,
                            st_err *err)
{
    const uint8_t *p = data;
    while (len) {
        /* a full chunk is sealed only once more data shows it is not the
         * final one */
        if (w->fill == ST_AGE_CHUNK_LEN) {
            st_code rc = seal_emit(w, w->buf, w->fill, 0, err);
            if (rc != ST_OK)
                return rc;
            w->fill = 0;
        }
        size_t take = ST_AGE_CHUNK_LEN - w->fill;
        if (take > len)
            take = len;
        memcpy(w->buf + w->fill, p, take);
        w->fill += take;
        p += take;
        len -= take;
    }
    return ST_OK;
}

st_code st_age_writer_finish(st_age_writer *w, st_err *err)
{
    st_code rc = seal_emit(w, w->buf, w->fill, 1, err);
    if (rc == ST_OK && w->armor) {
        rc = age_armor_enc_finish(w->armor, err);
        w->armor = NULL;
    }
    if (rc == ST_OK && w->af) {
        rc = st_atomic_commit(w->af, err);
        w->af = NULL;
    }
    st_age_writer_abort(w);
    return rc;
}

/* Seals `len` bytes of plaintext as consecutive chunks into ct and writes
 * them with one call; the last chunk gets the final flag if `final`. */
static ST_MUST_CHECK st_code seal_batch(st_age_writer *w, const uint8_t *pt,
                                        size_t len, int final, uint8_t *ct,
                                        st_err *err)
{
    size_t out = 0;
    size_t off = 0;
    do {
        size_t n = len - off < ST_AGE_CHUNK_LEN ? len - off : ST_AGE_CHUNK_LEN;
        uint8_t nonce[12];
        age_chunk_nonce(w->counter++, final && off + n == len, nonce);
        st_code rc =
            st_aead_ctx_seal(w->aead, nonce, pt + off, n, ct + out, err);
        if (rc != ST_OK)
            return rc;
        out += n + AGE_TAG_LEN;
        off += n;
    } while (off < len);
    return emit(w, ct, out, err);
}

/* Reads ENC_BATCH chunks at a time (fewer system calls) into two
 * alternating plaintext buffers, so that the last chunk of a batch is
 * sealed as non-final only after the next read found data. */
static ST_MUST_CHECK st_code encrypt_stream(st_age_writer *w, int in_fd,
                                            st_err *err)
{
    const size_t cap = (size_t)ENC_BATCH * ST_AGE_CHUNK_LEN;
    uint8_t *pt[2] = {st_secmem_alloc(cap, err), st_secmem_alloc(cap, err)};
    uint8_t *ct = malloc((size_t)ENC_BATCH * AGE_ENC_CHUNK);
    st_code rc =
        pt[0] && pt[1] && ct
            ? ST_OK
            : (err && err->code ? err->code
                                : st_err_set(err, ST_E_IO, "out of memory"));
    int cur = 0;
    size_t fill = 0, next = 0;
    if (rc == ST_OK)
        rc = read_full(in_fd, pt[cur], cap, &fill, err);
    while (rc == ST_OK) {
        if (fill < cap) {
            rc = seal_batch(w, pt[cur], fill, 1, ct, err);
            break;
        }
        if ((rc = read_full(in_fd, pt[1 - cur], cap, &next, err)) != ST_OK)
            break;
        rc = seal_batch(w, pt[cur], fill, next == 0, ct, err);
        if (next == 0)
            break;
        cur = 1 - cur;
        fill = next;
    }
    st_secmem_free(pt[0]);
    st_secmem_free(pt[1]);
    free(ct);
    return rc;
}

st_code st_age_encrypt_fd(int in_fd, int out_fd, const st_age_recipient *rcpts,
                          size_t nrcpts, st_age_armor armor, st_err *err)
{
    st_age_writer *w;
    st_code rc = st_age_writer_new_fd(out_fd, rcpts, nrcpts, armor, &w, err);
    if (rc != ST_OK)
        return rc;
    rc = encrypt_stream(w, in_fd, err);
    if (rc != ST_OK) {
        st_age_writer_abort(w);
        return rc;
    }
    w->fill = 0; /* the final chunk is out already */
    if (w->armor) {
        rc = age_armor_enc_finish(w->armor, err);
        w->armor = NULL;
    }
    st_age_writer_abort(w);
    return rc;
}

st_code st_age_encrypt_file(const char *in_path, const char *out_path,
                            const st_age_recipient *rcpts, size_t nrcpts,
                            st_age_armor armor, st_err *err)
{
    int fd;
    st_code rc = open_in(in_path, &fd, err);
    if (rc != ST_OK)
        return rc;
    st_age_writer *w;
    rc = st_age_writer_new_file(out_path, 0600, rcpts, nrcpts, armor, &w, err);
    if (rc == ST_OK) {
        rc = encrypt_stream(w, fd, err);
        if (rc != ST_OK) {
            st_age_writer_abort(w);
        } else {
            if (w->armor) {
                rc = age_armor_enc_finish(w->armor, err);
                w->armor = NULL;
            }
            if (rc == ST_OK) {
                rc = st_atomic_commit(w->af, err);
                w->af = NULL;
            }
            st_age_writer_abort(w);
        }
    }
    close(fd);
    return rc;
}

/* --- header inspection and rewrap ---------------------------------------- */

st_code st_age_inspect_file(const char *path, st_age_header *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    int fd;
    st_code rc = open_in(path, &fd, err);
    if (rc != ST_OK)
        return rc;
    age_src src;
    st_buf raw;
    int armored;
    st_age_fail fail;
    rc = src_header(&src, fd, ST_AGE_ARMOR_AUTO, out, &raw, &armored, &fail,
                    err);
    st_buf_free(&raw);
    src_free(&src);
    close(fd);
    return rc == ST_OK ? rc : st_err_prefix(err, "%s", path);
}

static ST_MUST_CHECK st_code copy_stanza(st_age_stanza *dst,
                                         const st_age_stanza *s, st_err *err)
{
    return st_age_stanza_set(dst, (const char *const *)s->args, s->nargs,
                             s->body, s->body_len, err);
}

static ST_MUST_CHECK st_code copy_rest(int in, off_t off, int out, st_err *err)
{
    uint8_t *buf = malloc(1 << 20);
    if (!buf)
        return st_err_set(err, ST_E_IO, "out of memory");
    st_code rc = ST_OK;
    for (;;) {
        ssize_t r = pread(in, buf, 1 << 20, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = st_err_errno(err, ST_E_IO, errno, "reading the payload");
            break;
        }
        if (r == 0)
            break;
        if ((rc = st_fs_write_fd(out, buf, (size_t)r, "rewrapped file", err)) !=
            ST_OK)
            break;
        off += r;
    }
    free(buf);
    return rc;
}

st_code st_age_rewrap_file(const char *in_path, const char *out_path,
                           const st_age_rewrap *rw, st_age_result *res,
                           st_err *err)
{
    set_result(res, ST_AGE_FAIL_IO, 0);
    int fd;
    st_code rc = open_in(in_path, &fd, err);
    if (rc != ST_OK)
        return rc;
    age_src src;
    st_buf raw, hdr;
    st_buf_init(&hdr);
    st_age_header h;
    int armored = 0;
    st_age_fail fail = ST_AGE_FAIL_IO;
    uint8_t *fk = NULL;
    st_age_stanza *all = NULL, *added = NULL;
    size_t nall = 0, nadded = 0;
    rc =
        src_header(&src, fd, ST_AGE_ARMOR_AUTO, &h, &raw, &armored, &fail, err);
    src_free(&src);
    if (rc != ST_OK) {
        st_buf_free(&raw);
        close(fd);
        set_result(res, fail, 0);
        return st_err_prefix(err, "%s", in_path);
    }
    if (armored) {
        fail = ST_AGE_FAIL_ARMOR;
        rc = st_err_set(err, ST_E_USAGE,
                        "%s: armored files cannot be rewrapped in place",
                        in_path);
    }
    if (rc == ST_OK && !(fk = st_secmem_alloc(ST_AGE_FILE_KEY_LEN, err)))
        rc = err ? err->code : ST_E_IO;
    if (rc == ST_OK)
        rc = age_header_unwrap(&h, raw.data, rw->identities, rw->nidentities,
                               fk, &fail, err);
    if (rc == ST_OK && rw->nadd) {
        fail = ST_AGE_FAIL_IO;
        rc = age_wrap_all(rw->add, rw->nadd, fk, &added, &nadded, err);
    }
    if (rc == ST_OK && !(all = calloc(h.nstanzas + nadded + 1, sizeof(*all))))
        rc = st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; rc == ST_OK && i < h.nstanzas; i++)
        if (rw->keep && rw->keep(rw->keep_ctx, &h.stanzas[i]))
            rc = copy_stanza(&all[nall++], &h.stanzas[i], err);
    for (size_t i = 0; rc == ST_OK && i < nadded; i++)
        rc = copy_stanza(&all[nall++], &added[i], err);
    if (rc == ST_OK && nall == 0)
        rc = st_err_set(err, ST_E_USAGE,
                        "%s: rewrap would leave no stanza: the file could "
                        "never be decrypted",
                        in_path);
    for (size_t i = 0; rc == ST_OK && i < nall; i++)
        if (!strcmp(all[i].args[0], ST_AGE_STANZA_SCRYPT) && nall != 1)
            rc = st_err_set(err, ST_E_USAGE,
                            "%s: an scrypt stanza must stay alone", in_path);
    if (rc == ST_OK)
        rc = age_header_encode(all, nall, fk, &hdr, err);
    if (rc == ST_OK) {
        st_atomic_file *af = st_atomic_open(out_path, 0600, err);
        if (!af)
            rc = err ? err->code : ST_E_IO;
        if (rc == ST_OK)
            rc = st_atomic_write(af, hdr.data, hdr.len, err);
        if (rc == ST_OK)
            rc = copy_rest(fd, (off_t)h.len, st_atomic_fd(af), err);
        if (rc == ST_OK)
            rc = st_atomic_commit(af, err);
        else
            st_atomic_abort(af);
        if (rc != ST_OK)
            fail = ST_AGE_FAIL_IO;
    }
    set_result(res, rc == ST_OK ? ST_AGE_FAIL_NONE : fail, 0);
    age_stanzas_free(all, nall);
    age_stanzas_free(added, nadded);
    st_secmem_free(fk);
    st_age_header_clear(&h);
    st_buf_free(&raw);
    st_buf_free(&hdr);
    close(fd);
    return rc;
}
