/*
 * sealtrain/audit.h: the tamper-evident audit log.
 *
 * Every security-relevant event is one leaf: a JSON object on one line of
 * <workspace>/audit/log.jsonl. The leaves form an RFC 9162 (RFC 6962) Merkle
 * tree over SHA-256 (section 2.1.1: leaf hash = H(0x00 || entry bytes),
 * node hash = H(0x01 || left || right)); each entry also names the leaf hash
 * of the one before it ("prev") and its own index ("seq"), so that an
 * edited, removed or reordered entry is pinpointed, not just detected.
 * Checkpoints are C2SP tlog-checkpoint notes signed as C2SP signed-notes
 * with the log's Ed25519 key; `st_audit_verifier_key` prints that key in
 * the signed-note verifier-key format so third-party note verifiers (Go's
 * golang.org/x/mod/sumdb/note, sigsum, ...) accept our checkpoints.
 *
 * Appends are durable when st_audit_append returns: the entry is written
 * to log.jsonl and to the write-ahead file log.wal, and log.wal is
 * fdatasync'ed (overwritten in place, so the flush carries data only; see
 * src/audit/wal.c). Concurrent appenders (threads of one process) share
 * one write + fdatasync (group commit); processes serialise on flock(2)
 * and fsync outside the lock, so the filesystem merges their flushes too.
 * A crash loses at most entries that were never acknowledged; a torn last
 * line (never acknowledged) is cut off by an explicit, audited repair;
 * after a kernel crash the first st_audit_log_open replays log.wal into
 * log.jsonl (audited as "audit.recover").
 *
 * Fast path for servers: keep one handle from st_audit_log_open for the
 * life of the process and call st_audit_log_append on it from any thread
 * (appends that overlap share one flush). st_audit_append opens and closes
 * the workspace's log around each call (a few extra system calls, the same
 * single flush).
 *
 * The audit module never removes or rewrites an acknowledged entry, and
 * never writes a secret into an entry (callers pass digests, not data).
 */
#ifndef SEALTRAIN_AUDIT_H
#define SEALTRAIN_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/bytes.h"
#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_workspace st_workspace;

typedef struct st_audit_event {
    const char *category; /* "access" "operation" "security" "attestation"
                             "key-release" "enclave" "compliance" */
    const char *actor;    /* principal name or "system" */
    const char *action;   /* e.g. "data.import", "key.rotate" */
    const char *resource; /* e.g. "dataset:digits" */
    const char *outcome;  /* "success" "failure" "denied" */
    const char *reason;   /* free text, never a secret; may be NULL */
    json_t *details;      /* optional, borrowed: digests, claims */
} st_audit_event;

/* Appends one event to the workspace's log; durable when it returns. */
ST_MUST_CHECK st_code st_audit_append(st_workspace *ws,
                                      const st_audit_event *ev, st_err *err);
/* Appends n events in their order, as one write and one flush: durable,
 * all of them or none, when it returns. */
ST_MUST_CHECK st_code st_audit_append_all(st_workspace *ws,
                                          const st_audit_event *evs, size_t n,
                                          st_err *err);

/* 1 if `category` is one of the names above. */
int st_audit_category_valid(const char *category);

/* ---- a log in a directory (the workspace's is <ws>/audit) ---- */

typedef struct st_audit_log st_audit_log;

/* Opens (creating on first use: log file, Ed25519 log key, origin) the log
 * kept in `dir`. One handle per directory is shared by all threads of a
 * process; st_audit_log_open returns that shared handle. */
ST_MUST_CHECK st_code st_audit_log_open(const char *dir, st_audit_log **out,
                                        st_err *err);
/* Drops the reference; the last one closes. Accepts NULL. */
void st_audit_log_close(st_audit_log *log);
/* Appends; *index (may be NULL) receives the entry's index. Thread-safe. */
ST_MUST_CHECK st_code st_audit_log_append(st_audit_log *log,
                                          const st_audit_event *ev,
                                          uint64_t *index, st_err *err);
/* Appends n events in their order as one batch: one write, one flush,
 * all of them or none; *index (may be NULL) receives the first one's
 * index. Thread-safe. */
ST_MUST_CHECK st_code st_audit_log_append_all(st_audit_log *log,
                                              const st_audit_event *evs,
                                              size_t n, uint64_t *index,
                                              st_err *err);
/* Cuts off a torn (never acknowledged) last line and records the repair
 * as a "security" entry. *cut receives the number of bytes removed (0 when
 * the log was intact). */
ST_MUST_CHECK st_code st_audit_log_repair(st_audit_log *log, size_t *cut,
                                          st_err *err);

/* The KEK that seals the workspace log's key: its wrap and unwrap, as
 * st_kek_wrap and st_kek_unwrap do them with the caller's keyring
 * (st_keyring_audit_sealer, src/keys: the keyring sits above the log, so
 * the log calls it only through this). wrap creates the KEK when it has
 * no version yet and returns the version used. */
typedef struct st_secret st_secret;
typedef struct st_audit_sealer {
    void *ctx;
    st_code (*wrap)(void *ctx, const uint8_t *secret, size_t len,
                    const uint8_t *aad, size_t aadlen, st_buf *out,
                    uint32_t *used, st_err *err);
    st_code (*unwrap)(void *ctx, uint32_t version, const uint8_t *wrapped,
                      size_t len, const uint8_t *aad, size_t aadlen,
                      st_secret **out, st_err *err);
} st_audit_sealer;
/* The workspace's way: the log key is kept sealed under the KEK
 * "audit.log" (log.key.sealed; created on first use, and a plain log.key
 * left by the first append is sealed and shredded here). Signs a
 * checkpoint of the workspace's log and records it in the log. */
ST_MUST_CHECK st_code st_audit_checkpoint_sealed(st_workspace *ws,
                                                 const st_audit_sealer *kek,
                                                 const char *actor, char **note,
                                                 st_err *err);
/* 1 if the workspace's log key is sealed (no plain copy on disk). */
int st_audit_key_sealed(st_workspace *ws);

/* The newest stored checkpoint (NULL note and size 0 when none). */
ST_MUST_CHECK st_code st_audit_latest_checkpoint(const char *dir, char **note,
                                                 uint64_t *size, st_err *err);
/* The log's verifier key "<name>+<hex keyhash>+<base64(0x01||pub)>". */
ST_MUST_CHECK st_code st_audit_verifier_key(const char *dir, char **vkey,
                                            st_err *err);

/* Writes a copy of a log in the layout st_audit_verify reads into the
 * existing directory `dir`: `lines` (its entries exactly as stored, as
 * GET /v1/audit/log serves them) and `note`, a signed checkpoint (GET
 * /v1/audit/checkpoint). So a client verifies a server's log with the
 * very verifier it runs on its own (`audit verify --server`), under a
 * verifier key it chose. */
ST_MUST_CHECK st_code st_audit_copy_write(const char *dir, const char *lines,
                                          size_t len, const char *note,
                                          st_err *err);

/* ---- parsed entries ---- */

typedef struct st_audit_view {
    const char *p;
    size_t len;
} st_audit_view;

/* A view of one entry's fields. Strings are the raw JSON string bodies
 * (still escaped); `details` spans the whole JSON value, or len 0. */
typedef struct st_audit_entry {
    uint64_t seq;
    uint8_t prev[32];
    st_audit_view time, category, actor, action, resource, outcome, reason,
        details;
} st_audit_entry;

/* Strictly parses one entry line (without its '\n'): a JSON object with
 * exactly the keys v(1), seq, time, category, actor, action, resource,
 * outcome, prev and optionally reason and details, no duplicates, valid
 * JSON throughout (nesting depth <= 32), valid UTF-8, known category and
 * outcome, RFC 3339 UTC time, 64-hex prev. Errors name the column. */
ST_MUST_CHECK st_code st_audit_entry_parse(const char *line, size_t len,
                                           st_audit_entry *out, st_err *err);

/* ---- verification ---- */

typedef struct st_audit_problem {
    uint64_t index; /* the entry (or checkpoint size) concerned */
    char kind[24];  /* "torn" "malformed" "modified" "removed" "reordered"
                       "truncated" "checkpoint" "unreplayed" (after a
                       system crash, log.wal holds appends that log.jsonl
                       lacks until a writer opens the log) */
    char msg[256];
} st_audit_problem;

typedef struct st_audit_report {
    uint64_t entries;     /* complete lines in the log */
    uint64_t checkpoints; /* checkpoints whose signature verified */
    uint64_t last_checkpoint_size;
    long long last_checkpoint_time; /* unix seconds, 0 if none */
    uint8_t root[32];               /* root of the whole log */
    size_t nproblems;               /* total found */
    st_audit_problem problems[16];  /* the first 16 */
} st_audit_report;

/* Recomputes the tree over every entry of the log in `dir`, checks each
 * entry's syntax, seq and prev links, each checkpoint's signature under
 * `vkey` (NULL: the log's own verifier key file) and that its root equals
 * the tree at its size. ST_OK when the log is intact, ST_E_DENIED naming the
 * first problem (all of them are in *rep). */
ST_MUST_CHECK st_code st_audit_verify(const char *dir, const char *vkey,
                                      st_audit_report *rep, st_err *err);

/* Reads the log's entries one by one (complete lines only). The callback
 * returns 0 to go on, non-zero to stop. */
typedef int (*st_audit_visit_fn)(void *ctx, uint64_t index, const char *line,
                                 size_t len);
ST_MUST_CHECK st_code st_audit_read(const char *dir, st_audit_visit_fn fn,
                                    void *ctx, st_err *err);

/* Proofs as JSON documents, the form `audit prove` / `audit consistency`
 * print and `audit check-proof` reads:
 *   {"type":"inclusion","index":N,"tree_size":S,"leaf_hash":B64,
 *    "root_hash":B64,"proof":[B64...],"checkpoint":"<signed note>"}
 *   {"type":"consistency","size1":M,"size2":N,"root1":B64,"root2":B64,
 *    "proof":[B64...],"checkpoint":"<signed note>"}
 * st_audit_proof_check parses one strictly and verifies it; with `vkey`
 * it also verifies the embedded checkpoint, that its origin is the key's
 * name and that its size and root are the ones the proof is for. With
 * `old` (a consistency proof, and vkey required): the checkpoint the
 * auditor saved earlier, a signed note verified the same way, whose size
 * and root must be the proof's old size and root (ST_E_DENIED: the log
 * forked; ST_E_USAGE: another size). `what` then prints both old roots;
 * without `old` it says the old root was not checked. */
/* Builds those documents for the log in `dir` against its latest
 * checkpoint (verified first; the log must extend it). *doc malloc'ed. */
ST_MUST_CHECK st_code st_audit_prove_inclusion(const char *dir, uint64_t index,
                                               char **doc, st_err *err);
ST_MUST_CHECK st_code st_audit_prove_consistency(const char *dir, uint64_t from,
                                                 char **doc, st_err *err);
ST_MUST_CHECK st_code st_audit_proof_check(const char *text, size_t len,
                                           const char *vkey, const char *old,
                                           char *what, size_t whatcap,
                                           st_err *err);

/* ---- signed notes (C2SP signed-note) and checkpoints (C2SP
 * tlog-checkpoint) ---- */

typedef struct st_audit_checkpoint_body {
    char origin[256];
    uint64_t size;
    uint8_t root[32];
    long long time; /* from our "time <unix>" extension line, 0 if absent */
} st_audit_checkpoint_body;

/* Parses checkpoint text (the signed part of the note). */
ST_MUST_CHECK st_code st_audit_checkpoint_parse(const char *text, size_t len,
                                                st_audit_checkpoint_body *out,
                                                st_err *err);

#ifdef __cplusplus
}
#endif
#endif
