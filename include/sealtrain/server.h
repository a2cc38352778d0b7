/*
 * sealtrain/server.h: `sealtrain serve`, the workspace behind an HTTPS
 * API with mutual TLS (docs/api.md), and the workspace CA that issues the
 * certificates it accepts.
 *
 * Workspace CA (<workspace>/keys/tls/, 0700; keys 0600): an Ed25519 CA key
 * and self-signed certificate, created on first use. A principal's client
 * certificate carries the principal's *registered Ed25519 signing key* as
 * its subject public key and the principal's name as CN and as SAN URI
 * "sealtrain:principal:NAME". So the TLS 1.3 handshake (CertificateVerify)
 * proves possession of the same key `--key` proves to the CLI; the server
 * also compares the certificate key with the registered key on every
 * connection, so re-keying or disabling a principal invalidates its old
 * certificates without a revocation list.
 *
 * The server never holds a principal's private key, never serves
 * plaintext HTTP, and never releases a dataset key except through the
 * attestation-gated broker exchange.
 */
#ifndef SEALTRAIN_SERVER_H
#define SEALTRAIN_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_workspace st_workspace;
typedef struct st_keyring st_keyring;

/* ---- workspace CA ---- */

/* Creates the CA key and certificate when missing. */
ST_MUST_CHECK st_code st_server_ca_ensure(st_workspace *ws, st_err *err);
/* Paths of CA / server files in the workspace ("ca.crt", "server.crt",
 * "server.key"). */
ST_MUST_CHECK st_code st_server_tls_path(const st_workspace *ws,
                                         const char *file, char *out,
                                         size_t cap, st_err *err);
/* Issues NAME's client certificate (valid `days`) over its registered
 * signing key; writes DIR/NAME.crt and DIR/ca.crt atomically. The caller
 * has checked principal.admin. */
ST_MUST_CHECK st_code st_server_cert_issue(st_workspace *ws, const char *name,
                                           const char *dir, unsigned days,
                                           st_err *err);
/* (Re)creates the server key and certificate (SAN: localhost, 127.0.0.1,
 * ::1 and `host` when not NULL) when missing or expiring within a day. */
ST_MUST_CHECK st_code st_server_cert_ensure(st_workspace *ws, const char *host,
                                            st_err *err);

/* Extracts the principal and its raw Ed25519 key from a PEM/DER client
 * certificate's fields (used by the server and its fuzz harness). */
ST_MUST_CHECK st_code st_server_cert_principal(const uint8_t *der, size_t len,
                                               char name[64], uint8_t pub[32],
                                               st_err *err);

/* Checks, before a connection is made, that the client certificate at
 * cert_path carries the public key of the Ed25519 private key at key_path;
 * ST_E_INPUT otherwise, naming both files and the certificate's principal
 * (a TLS handshake would only fail with an opaque message). */
ST_MUST_CHECK st_code st_server_cert_check_key(const char *cert_path,
                                               const char *key_path,
                                               st_err *err);

/* ---- client configuration (`sealtrain --server FILE`) ---- */

typedef struct st_client_config {
    char server[1024];                        /* "https://host:port" */
    char cert[4096], cacert[4096], key[4096]; /* paths; "" when absent */
} st_client_config;

/* Strict JSON {"server": "https://...", "cert": P, "cacert": P, "key": P}
 * ("server" required); relative paths are joined to `base_dir` (NULL:
 * kept as given). Errors name `origin` and the key. */
ST_MUST_CHECK st_code st_client_config_parse(const char *text, size_t len,
                                             const char *origin,
                                             const char *base_dir,
                                             st_client_config *out,
                                             st_err *err);
/* Reads `path` (at most 64 KiB); paths are relative to its directory. */
ST_MUST_CHECK st_code st_client_config_load(const char *path,
                                            st_client_config *out, st_err *err);

/* ---- the server ---- */

typedef struct st_server_opts {
    const char *listen;        /* "HOST:PORT"; default 127.0.0.1:8443 */
    int broker;                /* also serve /v1/broker (key release) */
    const char *ready_file;    /* written with the bound port once listening */
    unsigned max_conns;        /* all connections (default 256) */
    unsigned max_conns_per_ip; /* default 32 */
    double ip_rate, ip_burst;  /* requests/s and bucket size per IP */
    double principal_rate, principal_burst;
    size_t max_body;    /* bytes (default 8 MiB) */
    size_t max_headers; /* bytes (default 8 KiB) */
    int timeout_s;      /* read/write timeout (default 10) */
    int drain_s;        /* graceful shutdown limit (default 10) */
    unsigned workers;   /* key-release worker threads (default 4; 0: the
                           event loop thread does everything) */
    /* the job runner (not with `broker`): queued jobs run as child
     * processes `sealtrain job run ID` of this binary, at most `jobs` at
     * a time (default 1; 0: none), as principal runner_as with its key
     * file runner_key (a trainer; NULL: no --as/--key, bootstrap only).
     * On shutdown they get drain_s to finish, then SIGTERM: they
     * checkpoint and stop, resumable. */
    unsigned jobs;
    const char *runner_as;
    const char *runner_key;
    /* dataset uploads (/v1/uploads, needs the keyring); 0 = default */
    int uploads;
    uint64_t max_upload;          /* bytes per upload (default 4 GiB) */
    uint64_t max_upload_inflight; /* declared bytes of open uploads (16 GiB) */
    uint64_t upload_ttl_s;        /* idle uploads expire (default 86400) */
} st_server_opts;

void st_server_opts_default(st_server_opts *o);

/* Serves until SIGTERM or SIGINT, then stops accepting, finishes the
 * requests in flight (at most drain_s seconds), lets running jobs finish
 * or stops them at a checkpoint, and returns ST_OK. `kr` may
 * be NULL (no key release). */
ST_MUST_CHECK st_code st_server_run(st_workspace *ws, st_keyring *kr,
                                    const st_server_opts *o, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
