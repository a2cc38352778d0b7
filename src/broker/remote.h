/*
 * remote.h (src/broker): the client side of a remote key broker
 * (`sealtrain serve --broker`, docs/api.md "Remote key broker"): the job
 * controller relays the runtime's HELLO and EVIDENCE frames of msg.h
 * to the data owner's broker over HTTPS and hands back its NONCE and KEYS.
 * The keys stay wrapped to the runtime's X25519 key: this side never sees
 * a data key.
 *
 * The broker is authenticated by a pin in the dataset's signed manifest:
 * SHA-256 of the DER SubjectPublicKeyInfo of its TLS certificate (RFC
 * 7469 style). No CA and no system trust store are consulted, and the
 * host name is not checked: the owner's signature over the pin is the
 * trust. The controller authenticates with a client certificate the
 * broker's workspace issued (`principal cert`), configured per broker URL
 * in a small JSON file (docs/jobs.md "Several owners").
 */
#ifndef SEALTRAIN_BROKER_REMOTE_H
#define SEALTRAIN_BROKER_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "broker/msg.h"
#include "sealtrain/err.h"

#define ST_BROKER_URL_MAX 255
#define ST_BROKER_MAX_ENDPOINTS 32

/* One entry of the controller's broker configuration. */
typedef struct st_broker_endpoint {
    char url[ST_BROKER_URL_MAX + 1]; /* as in the manifests, no trailing / */
    char cert[4096];                 /* client certificate (PEM) */
    char key[4096];                  /* its private key (PEM) */
    long connect_timeout_ms;         /* default 5 s, at most 30 */
    long timeout_ms; /* whole request, default 30 s, at most 40 (the
                        runtime waits 90 s for its next frame) */
} st_broker_endpoint;

/* Parses the configuration (strict JSON, untrusted; fuzzed):
 *   {"version": 1, "brokers": [{"url": "https://host:port", "cert": PATH,
 *     "key": PATH, "connect_timeout_seconds": 5, "timeout_seconds": 30}]}
 * Relative paths are taken from `base_dir` (the file's directory; may be
 * NULL). *out is malloc'ed (free()), *n entries. */
ST_MUST_CHECK st_code st_broker_endpoints_parse(const char *text, size_t len,
                                                const char *origin,
                                                const char *base_dir,
                                                st_broker_endpoint **out,
                                                size_t *n, st_err *err);
/* Loads `path` and finds the entry for `url`; ST_E_NOTFOUND naming the
 * file and the URL when there is none. */
ST_MUST_CHECK st_code st_broker_endpoint_load(const char *path, const char *url,
                                              st_broker_endpoint *out,
                                              st_err *err);

typedef struct st_broker_remote st_broker_remote;

/* A connection context to the broker at ep->url whose TLS key must hash
 * to `pin`. Nothing is sent yet. */
ST_MUST_CHECK st_code st_broker_remote_open(const st_broker_endpoint *ep,
                                            const uint8_t pin[32],
                                            st_broker_remote **out,
                                            st_err *err);
void st_broker_remote_close(st_broker_remote *b);

/* The body of POST .../hello (docs/api.md "Remote key broker"): the
 * runtime's HELLO frame followed by the job's signed spec, the DSSE
 * envelope as JSON text (1 to ST_BROKER_SPEC_MAX bytes; its payload is
 * what the spec digest is computed over, so any serialisation of the
 * stored envelope will do). */
#define ST_BROKER_SPEC_MAX (1u << 20)
ST_MUST_CHECK st_code st_broker_hello_body_encode(const st_broker_hello *h,
                                                  const char *envelope,
                                                  size_t len, st_buf *out,
                                                  st_err *err);
/* Splits a body (untrusted; fuzzed): exactly one HELLO frame, then the
 * envelope text (*envelope points into `body`; it is not parsed here:
 * st_job_envelope_open does that strictly). ST_E_INPUT naming what is
 * wrong. */
ST_MUST_CHECK st_code st_broker_hello_body_parse(const uint8_t *body,
                                                 size_t len, st_broker_hello *h,
                                                 const char **envelope,
                                                 size_t *envelope_len,
                                                 st_err *err);

/* POST .../datasets/NAME/hello: relays the runtime's HELLO with the
 * job's signed spec (`envelope`, JSON text), returns the broker's nonce.
 * Errors name the broker URL and the dataset: ST_E_IO when it cannot be
 * reached or times out, ST_E_DENIED for a pin mismatch (naming both
 * fingerprints) or a refusal (the broker's reason: a spec, principal or
 * recipient its policy does not allow). */
ST_MUST_CHECK st_code st_broker_remote_hello(
    st_broker_remote *b, const char *dataset, const char *job_id,
    const uint8_t spec_digest[32], const char *envelope, size_t envelope_len,
    const st_broker_hello *h, uint8_t nonce[32], st_err *err);
/* POST .../datasets/NAME/evidence: relays EVIDENCE (the runtime's frame
 * payload), returns the KEYS (still wrapped to the runtime). A DENIED
 * frame is ST_E_DENIED with the broker's reason. */
ST_MUST_CHECK st_code st_broker_remote_evidence(
    st_broker_remote *b, const char *dataset, const uint8_t nonce[32],
    const void *evidence, size_t len, st_broker_keys *keys, st_err *err);
/* The Sealtrain-EAR header of the broker's last reply (its verdicts as
 * EARs, comma-separated), or NULL. Valid until the next call on `b`. */
const char *st_broker_remote_ear(const st_broker_remote *b);

#endif
