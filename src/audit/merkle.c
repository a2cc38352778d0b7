/*
 * merkle.c: the RFC 9162 Merkle tree of the audit log (section 2.1):
 * tree hash (2.1.1), inclusion proofs and their verification (2.1.3),
 * consistency proofs and their verification (2.1.4), and the compact
 * frontier that makes appends O(log n).
 *
 * Proof generation works on an array of leaf hashes (the log is re-read to
 * build it); verification needs only the proof, so a third party can run
 * it. Verifiers reject, never guess: a proof of the wrong length fails.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "crypto/primitives.h"
#include "sealtrain/crypto.h"
#include "sealtrain/secmem.h"

struct st_audit_hasher {
    st_sha256_ctx c;
};

st_audit_hasher *st_audit_hasher_new(void)
{
    return calloc(1, sizeof(st_audit_hasher));
}

void st_audit_hasher_free(st_audit_hasher *h)
{
    free(h);
}

static void hash3(st_audit_hasher *h, uint8_t prefix, const void *a,
                  size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    st_sha256_init(&h->c);
    st_sha256_update(&h->c, &prefix, 1);
    st_sha256_update(&h->c, a, alen);
    if (blen)
        st_sha256_update(&h->c, b, blen);
    st_sha256_final(&h->c, out);
}

void st_audit_hasher_leaf(st_audit_hasher *h, const void *data, size_t len,
                          uint8_t out[32])
{
    hash3(h, 0x00, data, len, NULL, 0, out);
}

void st_audit_hasher_node(st_audit_hasher *h, const uint8_t l[32],
                          const uint8_t r[32], uint8_t out[32])
{
    hash3(h, 0x01, l, 32, r, 32, out);
}

void st_audit_leaf_hash(const void *entry, size_t len, uint8_t out[32])
{
    st_sha256_ctx c;
    uint8_t z = 0x00;
    st_sha256_init(&c);
    st_sha256_update(&c, &z, 1);
    st_sha256_update(&c, entry, len);
    st_sha256_final(&c, out);
}

void st_audit_node_hash(const uint8_t left[32], const uint8_t right[32],
                        uint8_t out[32])
{
    uint8_t buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, left, 32);
    memcpy(buf + 33, right, 32);
    st_sha256(buf, sizeof(buf), out);
}

/* ---- frontier ---- */

static unsigned popcount64(uint64_t x)
{
    return (unsigned)__builtin_popcountll(x);
}

void st_audit_frontier_push(st_audit_frontier *f, st_audit_hasher *h,
                            const uint8_t leaf[32])
{
    unsigned top = popcount64(f->size);
    memcpy(f->hash[top], leaf, 32);
    top++;
    /* every trailing 1 bit of the old size is a complete subtree of the
     * same height as the one just finished: merge them pairwise */
    for (uint64_t s = f->size; s & 1; s >>= 1) {
        st_audit_hasher_node(h, f->hash[top - 2], f->hash[top - 1],
                             f->hash[top - 2]);
        top--;
    }
    f->size++;
}

void st_audit_frontier_root(const st_audit_frontier *f, st_audit_hasher *h,
                            uint8_t out[32])
{
    unsigned n = popcount64(f->size);
    if (n == 0) {
        st_sha256("", 0, out);
        return;
    }
    uint8_t r[32];
    memcpy(r, f->hash[n - 1], 32);
    for (unsigned i = n - 1; i > 0; i--)
        st_audit_hasher_node(h, f->hash[i - 1], r, r);
    memcpy(out, r, 32);
}

/* ---- tree hash and proofs ---- */

/* The largest power of two smaller than n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

static void mth(st_audit_hasher *h, const uint8_t (*d)[32], uint64_t n,
                uint8_t out[32])
{
    if (n == 0) {
        st_sha256("", 0, out);
        return;
    }
    if (n == 1) {
        memcpy(out, d[0], 32);
        return;
    }
    uint64_t k = split_point(n);
    uint8_t l[32], r[32];
    mth(h, d, k, l);
    mth(h, d + k, n - k, r);
    st_audit_hasher_node(h, l, r, out);
}

void st_audit_tree_root(const uint8_t (*leaves)[32], uint64_t n,
                        uint8_t out[32])
{
    st_audit_hasher *h = st_audit_hasher_new();
    if (!h) {
        memset(out, 0, 32);
        return;
    }
    mth(h, leaves, n, out);
    st_audit_hasher_free(h);
}

typedef struct proof_acc {
    uint8_t (*p)[32];
    size_t len;
} proof_acc;

static void path(st_audit_hasher *h, uint64_t m, const uint8_t (*d)[32],
                 uint64_t n, proof_acc *acc)
{
    if (n <= 1)
        return;
    uint64_t k = split_point(n);
    if (m < k) {
        path(h, m, d, k, acc);
        mth(h, d + k, n - k, acc->p[acc->len++]);
    } else {
        path(h, m - k, d + k, n - k, acc);
        mth(h, d, k, acc->p[acc->len++]);
    }
}

static void subproof(st_audit_hasher *h, uint64_t m, const uint8_t (*d)[32],
                     uint64_t n, int b, proof_acc *acc)
{
    if (m == n) {
        if (!b)
            mth(h, d, n, acc->p[acc->len++]);
        return;
    }
    uint64_t k = split_point(n);
    if (m <= k) {
        subproof(h, m, d, k, b, acc);
        mth(h, d + k, n - k, acc->p[acc->len++]);
    } else {
        subproof(h, m - k, d + k, n - k, 0, acc);
        mth(h, d, k, acc->p[acc->len++]);
    }
}

static ST_MUST_CHECK st_code proof_alloc(proof_acc *acc, st_audit_hasher **h,
                                         st_err *err)
{
    /* a proof has at most ceil(log2 n) + 1 <= 65 hashes */
    acc->p = calloc(66, 32);
    acc->len = 0;
    *h = st_audit_hasher_new();
    if (!acc->p || !*h) {
        free(acc->p);
        acc->p = NULL;
        st_audit_hasher_free(*h);
        *h = NULL;
        return st_err_set(err, ST_E_IO,
                          "building a Merkle proof: out of "
                          "memory");
    }
    return ST_OK;
}

st_code st_audit_inclusion_proof(const uint8_t (*leaves)[32], uint64_t n,
                                 uint64_t m, uint8_t (**proof)[32], size_t *len,
                                 st_err *err)
{
    if (m >= n)
        return st_err_set(err, ST_E_USAGE,
                          "inclusion proof: index %llu is outside a tree of "
                          "%llu entries",
                          (unsigned long long)m, (unsigned long long)n);
    proof_acc acc;
    st_audit_hasher *h;
    if (proof_alloc(&acc, &h, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    path(h, m, leaves, n, &acc);
    st_audit_hasher_free(h);
    *proof = acc.p;
    *len = acc.len;
    return ST_OK;
}

st_code st_audit_consistency_proof(const uint8_t (*leaves)[32], uint64_t n,
                                   uint64_t m, uint8_t (**proof)[32],
                                   size_t *len, st_err *err)
{
    if (m > n)
        return st_err_set(err, ST_E_USAGE,
                          "consistency proof: size %llu is larger than the "
                          "tree (%llu entries)",
                          (unsigned long long)m, (unsigned long long)n);
    proof_acc acc;
    st_audit_hasher *h;
    if (proof_alloc(&acc, &h, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    /* PROOF(0, D[n]) and PROOF(n, D[n]) are empty (2.1.4.1) */
    if (m > 0 && m < n)
        subproof(h, m, leaves, n, 1, &acc);
    st_audit_hasher_free(h);
    *proof = acc.p;
    *len = acc.len;
    return ST_OK;
}

st_code st_audit_verify_inclusion(uint64_t index, uint64_t size,
                                  const uint8_t leaf[32],
                                  const uint8_t (*proof)[32], size_t len,
                                  const uint8_t root[32], st_err *err)
{
    if (index >= size)
        return st_err_set(err, ST_E_DENIED,
                          "inclusion proof: index %llu is not below the tree "
                          "size %llu",
                          (unsigned long long)index, (unsigned long long)size);
    uint64_t fn = index, sn = size - 1;
    uint8_t r[32];
    memcpy(r, leaf, 32);
    for (size_t i = 0; i < len; i++) {
        if (sn == 0)
            return st_err_set(err, ST_E_DENIED,
                              "inclusion proof: too many hashes (%zu) for "
                              "index %llu in a tree of %llu",
                              len, (unsigned long long)index,
                              (unsigned long long)size);
        if ((fn & 1) || fn == sn) {
            st_audit_node_hash(proof[i], r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            st_audit_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return st_err_set(err, ST_E_DENIED,
                          "inclusion proof: too few hashes (%zu) for index "
                          "%llu in a tree of %llu",
                          len, (unsigned long long)index,
                          (unsigned long long)size);
    if (!st_ct_equal(r, root, 32))
        return st_err_set(err, ST_E_DENIED,
                          "inclusion proof: the computed root does not match "
                          "the tree's root hash");
    return ST_OK;
}

st_code st_audit_verify_consistency(uint64_t size1, uint64_t size2,
                                    const uint8_t root1[32],
                                    const uint8_t root2[32],
                                    const uint8_t (*proof)[32], size_t len,
                                    st_err *err)
{
    if (size1 > size2)
        return st_err_set(err, ST_E_DENIED,
                          "consistency proof: the first size %llu exceeds "
                          "the second %llu",
                          (unsigned long long)size1, (unsigned long long)size2);
    if (size1 == size2 || size1 == 0) {
        if (len != 0)
            return st_err_set(err, ST_E_DENIED,
                              "consistency proof: must be empty for sizes "
                              "%llu and %llu",
                              (unsigned long long)size1,
                              (unsigned long long)size2);
        if (size1 == size2 && !st_ct_equal(root1, root2, 32))
            return st_err_set(err, ST_E_DENIED,
                              "consistency proof: equal sizes but different "
                              "roots");
        return ST_OK;
    }
    if (len == 0 || len > 65)
        return st_err_set(err, ST_E_DENIED,
                          "consistency proof: %zu hashes is not a valid "
                          "length",
                          len);
    uint8_t first[32];
    const uint8_t(*c)[32] = proof;
    size_t n = len, i = 0;
    uint64_t fn = size1 - 1, sn = size2 - 1;
    uint8_t fr[32], sr[32];
    /* when size1 is a power of two, its root is a node of the path and the
     * proof omits it (2.1.4.2 step 2) */
    int pow2 = (size1 & (size1 - 1)) == 0;
    if (pow2) {
        memcpy(first, root1, 32);
    } else {
        memcpy(first, c[0], 32);
        i = 1;
    }
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    memcpy(fr, first, 32);
    memcpy(sr, first, 32);
    for (; i < n; i++) {
        if (sn == 0)
            return st_err_set(err, ST_E_DENIED,
                              "consistency proof: too many hashes (%zu)", len);
        if ((fn & 1) || fn == sn) {
            st_audit_node_hash(c[i], fr, fr);
            st_audit_node_hash(c[i], sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            st_audit_node_hash(sr, c[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return st_err_set(err, ST_E_DENIED,
                          "consistency proof: too few hashes (%zu)", len);
    if (!st_ct_equal(fr, root1, 32))
        return st_err_set(err, ST_E_DENIED,
                          "consistency proof: does not lead to the first "
                          "root: the old tree is not a prefix of the new one");
    if (!st_ct_equal(sr, root2, 32))
        return st_err_set(err, ST_E_DENIED,
                          "consistency proof: does not lead to the second "
                          "root");
    return ST_OK;
}
