/*
 * sealtrain/broker.h: what a client of the key broker computes itself.
 * The gate (src/broker/) releases keys only to an attested runtime; the
 * party that hands a runtime a key of its own (a model owner using a
 * model over --server, docs/predict.md) checks the runtime's evidence
 * against the report data below and wraps its key the way the gate does.
 * The wire format between runtime and gate is src/broker/msg.h.
 *
 * Report data binds the evidence to one runtime's keys, one nonce and one
 * signed job spec (st_broker_report_data).
 *
 * Key wrapping (st_broker_wrap_key): ephemeral-static X25519, HKDF-SHA256
 * (salt = epk || runtime pub, info = "sealtrain-key-release-v1" 0 job id 0
 * key name), ChaCha20-Poly1305 with a zero nonce (the key is used once)
 * and the info as AAD, so a wrapped key opens only for that runtime key,
 * that job and that dataset name.
 *
 * A remote broker is pinned by its TLS key (st_broker_pin_from_cert).
 */
#ifndef SEALTRAIN_BROKER_H
#define SEALTRAIN_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_BROKER_VERSION 1
#define ST_BROKER_DOMAIN "sealtrain-key-release-v1"

#define ST_BROKER_KEY_NAME_MAX 128
#define ST_BROKER_SECRET_MAX 32

typedef struct st_broker_key {
    char name[ST_BROKER_KEY_NAME_MAX + 1]; /* "dataset:digits", "job:ckpt" */
    uint8_t epk[32];
    uint8_t ct[ST_BROKER_SECRET_MAX + 16];
    size_t ctlen;
} st_broker_key;

/* report data = SHA-256(domain || x25519 pub || ed25519 pub || nonce ||
 * job spec digest) || 32 zero bytes. */
void st_broker_report_data(const uint8_t x25519[32], const uint8_t ed25519[32],
                           const uint8_t nonce[32],
                           const uint8_t spec_digest[32], uint8_t out[64]);

/* Wraps `len` (<= 32) secret bytes to the runtime's X25519 key. */
ST_MUST_CHECK st_code st_broker_wrap_key(const uint8_t runtime_pub[32],
                                         const char *job_id, const char *name,
                                         const unsigned char *secret,
                                         size_t len, st_broker_key *out,
                                         st_err *err);
/* SHA-256 of the SubjectPublicKeyInfo of the first certificate in a PEM
 * file: the pin a data owner puts in a manifest. */
ST_MUST_CHECK st_code st_broker_pin_from_cert(const char *pem_path,
                                              uint8_t pin[32], st_err *err);

#ifdef __cplusplus
}
#endif
#endif
