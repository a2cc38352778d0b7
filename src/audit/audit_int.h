/*
 * audit_int.h: internals shared by the files of src/audit (not public).
 *
 * st_audit_hasher: SHA-256 with a pre-fetched EVP_MD and a reused context,
 * because the Merkle tree hashes millions of short inputs and an implicit
 * fetch per call (EVP_Digest) costs more than the hash itself.
 * st_audit_frontier: the compact range of a growing tree (one subtree root
 * per set bit of the size), so that appending a leaf costs O(log n).
 */
#ifndef ST_AUDIT_INT_H
#define ST_AUDIT_INT_H

#include <stdint.h>

#include "sealtrain/audit.h"
#include "sealtrain/secmem.h"

typedef struct st_audit_hasher st_audit_hasher;
st_audit_hasher *st_audit_hasher_new(void);
void st_audit_hasher_free(st_audit_hasher *h);
void st_audit_hasher_leaf(st_audit_hasher *h, const void *data, size_t len,
                          uint8_t out[32]);
void st_audit_hasher_node(st_audit_hasher *h, const uint8_t l[32],
                          const uint8_t r[32], uint8_t out[32]);

typedef struct st_audit_frontier {
    uint64_t size;
    uint8_t hash[64][32]; /* hash[0] is the leftmost (largest) subtree */
} st_audit_frontier;

void st_audit_frontier_push(st_audit_frontier *f, st_audit_hasher *h,
                            const uint8_t leaf[32]);
void st_audit_frontier_root(const st_audit_frontier *f, st_audit_hasher *h,
                            uint8_t out[32]);

/* The file names inside an audit directory. */
#define ST_AUDIT_LOG_FILE "log.jsonl"
#define ST_AUDIT_STATE_FILE "tree.state"
#define ST_AUDIT_KEY_FILE "log.key"
#define ST_AUDIT_VKEY_FILE "log.vkey"
#define ST_AUDIT_SEALED_FILE "log.key.sealed"
#define ST_AUDIT_CP_DIR "checkpoints"

/* Reads the plain log key file into secure memory. */
st_code st_audit_log_read_key(st_audit_log *log, st_secret **seed,
                              st_err *err);

/* Lists stored checkpoint sizes in ascending order (malloc'ed). */
st_code st_audit_checkpoint_list(const char *dir, uint64_t **sizes, size_t *n,
                                 st_err *err);
/* Reads checkpoints/<size>.note (malloc'ed, NUL-terminated). */
st_code st_audit_checkpoint_read(const char *dir, uint64_t size, char **note,
                                 size_t *len, st_err *err);
/* Reads every complete line's leaf hash (malloc'ed array of *n). */
st_code st_audit_leaf_hashes(const char *dir, uint8_t (**leaves)[32],
                             uint64_t *n, st_err *err);

#endif
