/*
 * msg.h (src/broker): the wire format of the attestation-gated key release
 * protocol between the key broker (the controller, which holds the keyring) and
 * the enclave runtime (which never holds a KEK), over a socketpair or any
 * stream.
 *
 * Frames: type (1 byte) || length (4 bytes, big-endian) || payload. Each
 * type has a bounded length; anything else is refused before reading the
 * payload (like OpenSSH's monitor). The conversation:
 *
 *   runtime -> broker  HELLO     version 1, X25519 pub, Ed25519 pub (65 B)
 *   broker  -> runtime NONCE     32 fresh random bytes
 *   runtime -> broker  EVIDENCE  evidence bundle (JSON) whose report data is
 *                                st_broker_report_data(...)
 *   broker  -> runtime KEYS      each dataset's file key (and the job's
 *                                checkpoint key) wrapped to the X25519 pub
 *                   or DENIED    {"reason", "verdict"}: the verifier's trace
 *   runtime -> broker  PROGRESS / HEARTBEAT  (bounded JSON; metrics only)
 *   runtime -> broker  RESULT    {"model", "provenance", "metrics", ...}
 *                   or ERROR     {"code", "message"}
 *   broker  -> runtime CANCEL    stop now, cleanly
 *
 * Keys are wrapped as include/sealtrain/broker.h says.
 */
#ifndef SEALTRAIN_BROKER_MSG_H
#define SEALTRAIN_BROKER_MSG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/broker.h"
#include "sealtrain/bytes.h"
#include "sealtrain/err.h"
#include "sealtrain/secmem.h"

typedef enum st_broker_type {
    ST_MSG_HELLO = 1,
    ST_MSG_NONCE = 2,
    ST_MSG_EVIDENCE = 3,
    ST_MSG_KEYS = 4,
    ST_MSG_DENIED = 5,
    ST_MSG_PROGRESS = 6,
    ST_MSG_HEARTBEAT = 7,
    ST_MSG_RESULT = 8,
    ST_MSG_ERROR = 9,
    ST_MSG_CANCEL = 10
} st_broker_type;

/* "HELLO", ...; "?" for an unknown type. */
const char *st_broker_type_name(int type);
/* The largest payload a type may carry; 0 for an unknown type. */
size_t st_broker_max_len(int type);

#define ST_BROKER_HEADER_LEN 5
#define ST_BROKER_MAX_FRAME (1u << 20) /* EVIDENCE: the largest */

typedef struct st_broker_msg {
    int type;
    uint8_t *data; /* malloc'ed; NUL-terminated (not counted in len) */
    size_t len;
} st_broker_msg;

void st_broker_msg_free(st_broker_msg *m);

/* Writes one frame; ST_E_USAGE when the payload exceeds the type's bound. */
ST_MUST_CHECK st_code st_broker_send(int fd, int type, const void *payload,
                                     size_t len, st_err *err);
/* Sends a JSON value (compact) as the payload of `type`. */
ST_MUST_CHECK st_code st_broker_send_json(int fd, int type, const json_t *v,
                                          st_err *err);

/* Appends one frame (header and payload) to `out`, for transports that
 * carry frames as bytes (the remote broker's HTTP bodies); ST_E_USAGE
 * when the payload exceeds the type's bound. */
ST_MUST_CHECK st_code st_broker_frame_encode(int type, const void *payload,
                                             size_t len, st_buf *out,
                                             st_err *err);

/* Reads one frame. timeout_ms < 0 waits forever. ST_E_IO when the peer
 * closed ("closed the connection") or nothing came in time ("no message
 * within N ms"); ST_E_INPUT for an unknown type or an oversized length
 * (nothing more is read). */
ST_MUST_CHECK st_code st_broker_recv(int fd, int timeout_ms, st_broker_msg *out,
                                     st_err *err);

/* Parses one frame from a buffer (the same checks as st_broker_recv);
 * *used receives its length. Fuzzed. */
ST_MUST_CHECK st_code st_broker_frame_parse(const uint8_t *buf, size_t len,
                                            st_broker_msg *out, size_t *used,
                                            st_err *err);

/* ---- typed payloads ---- */

typedef struct st_broker_hello {
    uint8_t x25519[32];
    uint8_t ed25519[32];
} st_broker_hello;

ST_MUST_CHECK st_code st_broker_hello_encode(const st_broker_hello *h,
                                             uint8_t out[65]);
ST_MUST_CHECK st_code st_broker_hello_parse(const st_broker_msg *m,
                                            st_broker_hello *out, st_err *err);
/* NONCE: exactly 32 bytes. */
ST_MUST_CHECK st_code st_broker_nonce_parse(const st_broker_msg *m,
                                            uint8_t out[32], st_err *err);

#define ST_BROKER_MAX_KEYS 64

typedef struct st_broker_keys {
    size_t n;
    st_broker_key k[ST_BROKER_MAX_KEYS];
} st_broker_keys;

/* KEYS: u16 count, then per key: u8 name length, name, epk (32), u8
 * ciphertext length, ciphertext. */
ST_MUST_CHECK st_code st_broker_keys_encode(const st_broker_keys *k,
                                            st_buf *out, st_err *err);
ST_MUST_CHECK st_code st_broker_keys_parse(const st_broker_msg *m,
                                           st_broker_keys *out, st_err *err);
/* The payload as a JSON object (PROGRESS, RESULT, ERROR, DENIED,
 * HEARTBEAT); strict JSON, objects only. */
ST_MUST_CHECK st_code st_broker_json_parse(const st_broker_msg *m, json_t **out,
                                           st_err *err);

/* Opens a wrapped key with the runtime's private key (secure memory).
 * ST_E_DENIED when it does not authenticate (wrong key, job or name). */
ST_MUST_CHECK st_code st_broker_unwrap_key(const unsigned char runtime_priv[32],
                                           const char *job_id,
                                           const st_broker_key *k,
                                           st_secret **out, st_err *err);
/* The key named `name` in a KEYS message, or NULL. */
const st_broker_key *st_broker_keys_find(const st_broker_keys *k,
                                         const char *name);

#endif
