/*
 * audit_internal.h: internals shared by the files of src/audit (not public).
 *
 * st_audit_hasher: the Merkle tree's hashing, which hashes millions of
 * short inputs; on st_sha256_ctx (no fetch, no allocation: it cannot
 * fail, where a failed EVP call left a zero hash that read as tampering).
 * st_audit_frontier: the compact range of a growing tree (one subtree root
 * per set bit of the size), so that appending a leaf costs O(log n).
 */
#ifndef ST_AUDIT_INTERNAL_H
#define ST_AUDIT_INTERNAL_H

#include <stdint.h>

#include "crypto/primitives.h"
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
#define ST_AUDIT_WAL_FILE "log.wal"

/* ---- log.wal, the write-ahead file (wal.c has the format) ---- */

#define ST_AUDIT_WAL_DATA 4096u     /* records start here */
#define ST_AUDIT_WAL_CAP (1u << 20) /* a cycle's records end before this */

typedef struct st_audit_wal_header {
    char magic[8];    /* "STAWAL01" */
    uint64_t gen;     /* cycle number, grows by one per cycle */
    uint64_t base;    /* log.jsonl offset (durable) of the cycle's start */
    uint8_t boot[16]; /* boot id of the kernel that began the cycle */
    uint8_t sum[32];  /* SHA-256 of the fields above */
} st_audit_wal_header;

typedef struct st_audit_wal {
    int fd;        /* reads, page-cache writes, fdatasync */
    int dfd;       /* O_DIRECT writes of records, or -1 */
    uint64_t gen;  /* the cycle this handle appends to; 0: begin one */
    uint64_t pos;  /* file offset of the next record */
    uint64_t next; /* log.jsonl offset the next record must start at */
    uint64_t size; /* bytes of the file known to be written */
} st_audit_wal;

typedef struct st_audit_wal_recovery {
    int ran;           /* the boot id differed: records were replayed */
    uint64_t records;  /* valid records of the cycle */
    uint64_t restored; /* log.jsonl bytes that were missing or different */
    uint64_t end;      /* log.jsonl offset where the records end */
    uint64_t cut;      /* bytes cut beyond `end` (they held NUL bytes) */
    uint8_t cut_sha256[32];
} st_audit_wal_recovery;

ST_MUST_CHECK st_code st_audit_wal_open(st_audit_wal *w, const char *dir,
                                        st_err *err);
void st_audit_wal_close(st_audit_wal *w);
/* 1 if the header is intact (magic and checksum). */
int st_audit_wal_header_read(int fd, st_audit_wal_header *h);
/* Sets the magic and the checksum. */
void st_audit_wal_header_seal(st_audit_wal_header *h);
/* Begins a cycle at log offset `base`; log.jsonl must be durable up to
 * `base` already (the caller fdatasync'ed it). */
ST_MUST_CHECK st_code st_audit_wal_begin(st_audit_wal *w, uint64_t base,
                                         st_err *err);
/* Writes the record for log bytes [off, off+len). *full is set (nothing
 * written) when the cycle has no room, no cycle is open or `off` is not
 * where the cycle continues: the caller begins a cycle or flushes
 * log.jsonl itself. Not durable until fdatasync(w->fd). */
ST_MUST_CHECK st_code st_audit_wal_put(st_audit_wal *w, uint64_t off,
                                       const void *data, size_t len, int *full,
                                       st_err *err);
/* 1 if log.wal in `dir` was written before the last boot and holds bytes
 * that log.jsonl lacks (or log.jsonl a tail of zeros): a replay is due.
 * Only reads. */
int st_audit_wal_replay_pending(const char *dir);
/* After a kernel crash (boot id changed): replays the cycle's records
 * into log.jsonl and cuts a NUL-holding tail beyond them (see wal.c).
 * Caller holds the log's flock. */
ST_MUST_CHECK st_code st_audit_wal_recover(st_audit_wal *w, int log_fd,
                                           const char *log_path,
                                           st_audit_wal_recovery *out,
                                           st_err *err);

/* Reads the plain log key file into secure memory. */
ST_MUST_CHECK st_code st_audit_log_read_key(st_audit_log *log, st_secret **seed,
                                            st_err *err);

/* Lists stored checkpoint sizes in ascending order (malloc'ed). */
ST_MUST_CHECK st_code st_audit_checkpoint_list(const char *dir,
                                               uint64_t **sizes, size_t *n,
                                               st_err *err);
/* Reads checkpoints/<size>.note (malloc'ed, NUL-terminated). */
ST_MUST_CHECK st_code st_audit_checkpoint_read(const char *dir, uint64_t size,
                                               char **note, size_t *len,
                                               st_err *err);
/* Reads every complete line's leaf hash (malloc'ed array of *n). */
ST_MUST_CHECK st_code st_audit_leaf_hashes(const char *dir,
                                           uint8_t (**leaves)[32], uint64_t *n,
                                           st_err *err);

/* ---- the parts of the log that only this module uses (the public
 * header, include/sealtrain/audit.h, holds what the CLI and the other
 * modules call) ---- */

/* 1 if `outcome` is one of the names of sealtrain/audit.h. */
int st_audit_outcome_valid(const char *outcome);

/* Current tree size and root hash (catches up with other processes). */
ST_MUST_CHECK st_code st_audit_log_head(st_audit_log *log, uint64_t *size,
                                        uint8_t root[32], st_err *err);
const char *st_audit_log_dir(const st_audit_log *log);
/* The log's name (signed-note key name and checkpoint origin). */
const char *st_audit_log_origin(const st_audit_log *log);

/* Signs a checkpoint of the current tree and stores it as
 * checkpoints/<size>.note; the note text goes to *note (malloc'ed). */
ST_MUST_CHECK st_code st_audit_checkpoint(st_audit_log *log, char **note,
                                          st_err *err);
/* The same with the log key given (secure memory, 32-byte seed). */

ST_MUST_CHECK st_code st_audit_checkpoint_with(st_audit_log *log,
                                               const st_secret *seed,
                                               char **note, st_err *err);

/* ---- Merkle tree (RFC 9162 section 2.1) ---- */

void st_audit_leaf_hash(const void *entry, size_t len, uint8_t out[32]);
void st_audit_node_hash(const uint8_t left[32], const uint8_t right[32],
                        uint8_t out[32]);
/* MTH of n leaf hashes (RFC 9162 2.1.1); the empty tree is SHA-256(""). */
void st_audit_tree_root(const uint8_t (*leaves)[32], uint64_t n,
                        uint8_t out[32]);
/* PATH(m, D[n]) (2.1.3.1) and PROOF(m, D[n]) (2.1.4.1); *proof is
 * malloc'ed, *len hashes. */
ST_MUST_CHECK st_code st_audit_inclusion_proof(const uint8_t (*leaves)[32],
                                               uint64_t n, uint64_t m,
                                               uint8_t (**proof)[32],
                                               size_t *len, st_err *err);
ST_MUST_CHECK st_code st_audit_consistency_proof(const uint8_t (*leaves)[32],
                                                 uint64_t n, uint64_t m,
                                                 uint8_t (**proof)[32],
                                                 size_t *len, st_err *err);
/* Verifiers (2.1.3.2, 2.1.4.2): ST_OK or ST_E_DENIED with the reason. */
ST_MUST_CHECK st_code st_audit_verify_inclusion(uint64_t index, uint64_t size,
                                                const uint8_t leaf[32],
                                                const uint8_t (*proof)[32],
                                                size_t len,
                                                const uint8_t root[32],
                                                st_err *err);
ST_MUST_CHECK st_code st_audit_verify_consistency(uint64_t size1,
                                                  uint64_t size2,
                                                  const uint8_t root1[32],
                                                  const uint8_t root2[32],
                                                  const uint8_t (*proof)[32],
                                                  size_t len, st_err *err);

/* ---- signed notes (C2SP signed-note) ---- */

/* Signs `text` (must end in '\n', no blank line) with key `name`; *note
 * is malloc'ed: text, blank line, "— name base64(keyhash||sig)\n". */
ST_MUST_CHECK st_code st_audit_note_sign(const char *name,
                                         const uint8_t seed[32],
                                         const char *text, char **note,
                                         st_err *err);
/* "<name>+<8 hex>+<base64(0x01||pub)>", malloc'ed. */
char *st_audit_note_vkey(const char *name, const uint8_t pub[32]);
/* Parses a verifier key; *name is malloc'ed. */
ST_MUST_CHECK st_code st_audit_note_vkey_parse(const char *vkey, char **name,
                                               uint8_t pub[32], st_err *err);
/* Verifies that `note` carries a valid signature by `vkey`; *textlen
 * receives the length of the signed text (a prefix of note). */
ST_MUST_CHECK st_code st_audit_note_open(const char *note, size_t len,
                                         const char *vkey, size_t *textlen,
                                         st_err *err);

#endif
