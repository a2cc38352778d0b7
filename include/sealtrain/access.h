/*
 * sealtrain/access.h: principals, roles, grants and the one access check.
 *
 * A principal is a name with roles (admin, data-owner, model-owner,
 * trainer, auditor), an Ed25519 signing public key (PEM) that proves who
 * acts, an age X25519 recipient that encrypted results can be sent to, and
 * a disabled flag. Roles give actions (the matrix is in docs/access.md and
 * st_access_role_allows); resources with an owner (a dataset, a model)
 * further need the acting principal to be that owner or to hold a grant
 * from the owner (e.g. "use" of dataset:digits lets a model owner submit
 * jobs that read it).
 *
 * Bootstrap: while a workspace has no principal at all, access control is
 * off (the workspace is private to its Unix owner) and the first principal
 * added must hold the admin role; from then on every action needs an
 * authenticated principal.
 *
 * This module never holds a principal's private key beyond the
 * authentication call (secure memory, wiped), and every denial is both an
 * ST_E_DENIED naming the missing permission and an "access" audit entry.
 */
#ifndef SEALTRAIN_ACCESS_H
#define SEALTRAIN_ACCESS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_workspace st_workspace;

/* Roles as bits. */
enum {
    ST_ROLE_ADMIN = 1u << 0,
    ST_ROLE_DATA_OWNER = 1u << 1,
    ST_ROLE_MODEL_OWNER = 1u << 2,
    ST_ROLE_TRAINER = 1u << 3,
    ST_ROLE_AUDITOR = 1u << 4
};
#define ST_ROLE_COUNT 5

/* "admin", ... for bit index i (0..4); NULL past the end. */
const char *st_access_role_name(unsigned i);
/* The bit of a role name, 0 if unknown. */
unsigned st_access_role_parse(const char *name);

/* Every action the library checks (NULL-terminated): the agreed list of
 * INTERFACES.md plus "principal.read" (list/show principals) and
 * "audit.repair" (cut a torn, unacknowledged last line). */
extern const char *const st_access_actions[];
/* 1 if `action` is one of them. */
int st_access_action_valid(const char *action);
/* Roles (bits) whose holders may perform `action`; 0 if unknown. */
unsigned st_access_roles_for(const char *action);
/* What `role` (one bit) may do with `action`, as docs/access.md's matrix
 * shows it: "yes" (on every resource), "own" (on resources it owns or
 * holds the owner's grant on), "unowned" (only on resources without
 * owner, e.g. an admin and the system KEKs) or "" (not at all). */
const char *st_access_cell(const char *action, unsigned role);

/* ---- principals ---- */

#define ST_PRINCIPAL_NAME_MAX 64

typedef struct st_principal {
    char name[ST_PRINCIPAL_NAME_MAX];
    unsigned roles;
    char *signing_key; /* PEM (SubjectPublicKeyInfo) */
    char *recipient;   /* "age1..." or NULL */
    int disabled;
    char created[32];     /* RFC 3339 */
    char last_active[32]; /* RFC 3339 or "" */
} st_principal;

void st_principal_free(st_principal *p); /* frees the strings; NULL ok */

/* 1 if `name` is a valid principal name: [a-z0-9][a-z0-9._-]{0,62}. */
int st_access_name_valid(const char *name);

/* The principal as `principal show --json` and GET /v1/principals/NAME
 * print it: name, roles, signing_key, recipient, disabled, created,
 * last_active; with `with_grants` also "grants" (the n `grants`, which
 * may be NULL when n is 0). New reference. */
typedef struct st_grant st_grant;
json_t *st_principal_json(const st_principal *p, int with_grants,
                          const st_grant *grants, size_t n);

/* Adds a principal. `actor` must hold principal.admin, except for the
 * first principal of a workspace (actor NULL), which must be an admin. The
 * signing key must be an Ed25519 public key in PEM; the recipient, when
 * given, an age X25519 recipient (bech32 "age1..."). Audited. */
ST_MUST_CHECK st_code st_access_principal_add(
    st_workspace *ws, const char *actor, const char *name, unsigned roles,
    const char *signing_key_pem, const char *recipient, st_err *err);
ST_MUST_CHECK st_code st_access_principal_get(st_workspace *ws,
                                              const char *name,
                                              st_principal *out, st_err *err);
/* All principals by name; *out is malloc'ed (free each, then the array). */
ST_MUST_CHECK st_code st_access_principal_list(st_workspace *ws,
                                               st_principal **out, size_t *n,
                                               st_err *err);
/* Disables (or re-enables) a principal; needs principal.admin. The last
 * enabled admin cannot be disabled. Audited. */
ST_MUST_CHECK st_code st_access_principal_disable(st_workspace *ws,
                                                  const char *actor,
                                                  const char *name,
                                                  int disabled, st_err *err);
/* Number of principals (0: bootstrap mode). */
ST_MUST_CHECK st_code st_access_principal_count(st_workspace *ws, int64_t *n,
                                                st_err *err);

/* ---- ownership and grants ---- */

/* Records `owner` as the owner of `resource` ("dataset:NAME",
 * "model:NAME"), e.g. at import. Idempotent for the same owner;
 * ST_E_EXISTS if another principal owns it. */
ST_MUST_CHECK st_code st_access_set_owner(st_workspace *ws,
                                          const char *resource,
                                          const char *owner, st_err *err);
/* The owner of `resource` into out (ST_E_NOTFOUND if none). */
ST_MUST_CHECK st_code st_access_get_owner(st_workspace *ws,
                                          const char *resource, char *out,
                                          size_t cap, st_err *err);
/* Forgets a resource's owner and its grants (when it is removed). */
ST_MUST_CHECK st_code st_access_forget_resource(st_workspace *ws,
                                                const char *resource,
                                                st_err *err);

/* Grant permissions: "use" (job.submit with the resource), "read"
 * (data.read, model.read), "decrypt" (model.decrypt), "share"
 * (model.share), or an action name itself. Only the resource's owner (or
 * an admin, for a resource without owner) grants and revokes. Audited. */
ST_MUST_CHECK st_code st_access_grant(st_workspace *ws, const char *actor,
                                      const char *grantee, const char *resource,
                                      const char *permission, st_err *err);
ST_MUST_CHECK st_code st_access_revoke(st_workspace *ws, const char *actor,
                                       const char *grantee,
                                       const char *resource,
                                       const char *permission, st_err *err);

struct st_grant {
    char grantor[ST_PRINCIPAL_NAME_MAX];
    char grantee[ST_PRINCIPAL_NAME_MAX];
    char resource[256];
    char permission[32];
    char created[32];
};
/* Grants held by `grantee` (NULL: all). *out malloc'ed. */
ST_MUST_CHECK st_code st_access_grants(st_workspace *ws, const char *grantee,
                                       st_grant **out, size_t *n, st_err *err);

/* ---- authentication and the check ---- */

/* 1 when st_access_check would allow it, without auditing a "no": for
 * filtering lists (e.g. the jobs a principal may read). */
int st_access_allows(st_workspace *ws, const char *principal,
                     const char *action, const char *resource);

typedef struct st_access_session {
    char name[ST_PRINCIPAL_NAME_MAX]; /* "" in bootstrap mode */
    unsigned roles;
    int bootstrap; /* no principals registered: access control is off */
} st_access_session;

/* Proves that the caller holds `name`'s signing key: makes a random
 * challenge, signs it with `seed` and verifies the signature with the
 * registered public key. On success the principal is authenticated for
 * this process (st_access_check requires that) and its last activity is
 * recorded. A disabled or unknown principal, or the wrong key, is
 * ST_E_DENIED (and audited). */
ST_MUST_CHECK st_code st_access_authenticate(st_workspace *ws, const char *name,
                                             const uint8_t seed[32],
                                             st_access_session *session,
                                             st_err *err);
/* For a caller that proved possession of a private key over another
 * channel (the server: a TLS 1.3 client certificate whose CertificateVerify
 * OpenSSL checked): authenticates `name` when `pub` is exactly its
 * registered Ed25519 signing key and it is enabled. Same effects as
 * st_access_authenticate (session, last activity; denials audited). */
ST_MUST_CHECK st_code st_access_authenticate_key(st_workspace *ws,
                                                 const char *name,
                                                 const uint8_t pub[32],
                                                 st_access_session *session,
                                                 st_err *err);
/* The CLI's way in: `as` and `keyfile` from --as/--key (or SEALTRAIN_AS /
 * SEALTRAIN_KEY). Loads the PEM private key into secure memory and
 * authenticates. With no principals registered and no `as`, returns a
 * bootstrap session; with principals registered, `as` and `keyfile` are
 * required. */
ST_MUST_CHECK st_code st_access_login(st_workspace *ws, const char *as,
                                      const char *keyfile,
                                      st_access_session *session, st_err *err);

/* The one access check. `principal` is the authenticated principal (NULL
 * or "" in bootstrap mode); `resource` may be NULL. A denial is
 * ST_E_DENIED naming the missing permission, and is audited. */
ST_MUST_CHECK st_code st_access_check(st_workspace *ws, const char *principal,
                                      const char *action, const char *resource,
                                      st_err *err);

/* The same decision for a principal that does not act in this process:
 * the submitter of a queued job, checked again when the job runs and when
 * its keys are released. The principal must exist and be enabled, and the
 * matrix and the owner's grants must allow the action, as in
 * st_access_check; no session is needed and nothing is audited (the
 * caller audits its own decision). */
ST_MUST_CHECK st_code st_access_permits(st_workspace *ws, const char *principal,
                                        const char *action,
                                        const char *resource, st_err *err);
/* 1 when `principal` may have its jobs use `resource` (a dataset): it is
 * its owner or holds the owner's `use` grant (or the job.submit action
 * itself), or the resource has no owner here (a dataset that another
 * owner's broker releases, which asks its own grants); always 1 in a
 * workspace without principals. Roles are not
 * looked at: the key broker of another owner asks this of the principal
 * that submitted the job elsewhere. */
int st_access_may_use(st_workspace *ws, const char *principal,
                      const char *resource);

/* Appends the "denied" access entry (category "access") of a refusal
 * made elsewhere (a job's submission refused by the owners' consent, a
 * taken model name); a failed append is logged. */
void st_access_audit_denial(st_workspace *ws, const char *principal,
                            const char *action, const char *resource,
                            const char *reason);

#ifdef __cplusplus
}
#endif
#endif
