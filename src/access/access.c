/*
 * access.c: the role x action permission matrix, authentication of a
 * principal by signing a fresh challenge, and st_access_check, the one
 * access check every action of the library passes through.
 *
 * The check, in order: bootstrap (no principal registered: allowed, access
 * control is off), a principal is named, exists, is enabled and has
 * authenticated in this process; one of its roles allows the action; and
 * if the resource has an owner and the action is one that owners control,
 * the principal is the owner or holds the owner's grant, unless one of
 * its roles acts on every resource (see the rules). The first failing
 * step is the denial, with the permission that is missing, and it is
 * appended to the audit log ("access", outcome "denied").
 *
 * Authentication is a challenge-response with the principal's Ed25519 key:
 * a random 32-byte challenge, domain-separated, is signed with the seed the
 * caller holds and verified with the public key in the catalog; it shows
 * the caller holds the key without the key ever being stored here.
 * The docs/access.md table is generated from the matrix below by
 * `sealtrain principal matrix`.
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access_internal.h"
#include "crypto/primitives.h"
#include "sealtrain/audit.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/secmem.h"
#include "sealtrain/workspace.h"

static const char *const role_names[ST_ROLE_COUNT] = {
    "admin", "data-owner", "model-owner", "trainer", "auditor"};

const char *st_access_role_name(unsigned i)
{
    return i < ST_ROLE_COUNT ? role_names[i] : NULL;
}

unsigned st_access_role_parse(const char *name)
{
    for (unsigned i = 0; name && i < ST_ROLE_COUNT; i++)
        if (strcmp(role_names[i], name) == 0)
            return 1u << i;
    return 0;
}

void st_access_roles_string(unsigned roles, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = 0;
    for (unsigned i = 0; i < ST_ROLE_COUNT; i++)
        if (roles & (1u << i))
            off += (size_t)snprintf(out + off, off < cap ? cap - off : 0,
                                    "%s%s", off ? ", " : "", role_names[i]);
    if (!out[0])
        snprintf(out, cap, "none");
}

#define A ST_ROLE_ADMIN
#define D ST_ROLE_DATA_OWNER
#define M ST_ROLE_MODEL_OWNER
#define T ST_ROLE_TRAINER
#define U ST_ROLE_AUDITOR

/* The permission matrix. `scoped`: when the resource has an owner, only
 * the owner or a holder of the owner's grant `grant` (or of the action
 * itself) may act, except holders of the `every` roles, who act on every
 * owned resource (admins rewrapping during key rotation; admins and
 * trainers cancelling, trainers and auditors reading any job's log).
 * `grant_gives`: the owner's grant gives the action even to a principal
 * whose roles do not (a `read` grant on a dataset gives data.read, as
 * docs/access.md promises); for the other actions a grant only narrows
 * what the role allows to the owner's resources. `unowned`: when not 0,
 * the only roles that act on a resource without owner (a KEK without
 * owner, such as the system KEKs audit.log and jobs, is the admins': a
 * data owner rotates, retires or revokes only their own KEKs). */
static const struct rule {
    const char *action;
    unsigned roles;
    int scoped;
    const char *grant;
    unsigned every;
    int grant_gives;
    unsigned unowned;
} rules[] = {
    {"init", A, 0, NULL, 0, 0, 0},
    {"key.create", A | D, 0, NULL, 0, 0, 0},
    {"key.rotate", A | D, 1, NULL, 0, 0, A},
    {"key.retire", A | D, 1, NULL, 0, 0, A},
    {"key.revoke", A | D, 1, NULL, 0, 0, A},
    {"key.read", A | D | U, 0, NULL, 0, 0, 0},
    {"data.import", D, 0, NULL, 0, 0, 0},
    {"data.read", D, 1, "read", 0, 1, 0},
    {"data.policy", D, 1, NULL, 0, 0, 0},
    {"data.rm", D, 1, NULL, 0, 0, 0},
    {"data.rewrap", A | D, 1, NULL, A, 0, 0},
    {"job.submit", M, 1, "use", 0, 0, 0},
    {"job.run", T, 0, NULL, 0, 0, 0},
    {"job.cancel", A | M | T, 1, NULL, A | T, 0, 0},
    {"job.read", A | M | T | U, 1, "read", A | T | U, 0, 0},
    {"model.decrypt", M, 1, "decrypt", 0, 0, 0},
    {"model.share", M, 1, "share", 0, 0, 0},
    {"model.rm", M, 1, NULL, 0, 0, 0},
    {"model.read", M | U, 0, NULL, 0, 0, 0},
    {"audit.read", A | D | U, 0, NULL, 0, 0, 0},
    {"audit.verify", A | D | M | T | U, 0, NULL, 0, 0, 0},
    {"audit.checkpoint", A | U, 0, NULL, 0, 0, 0},
    {"check", A | U, 0, NULL, 0, 0, 0},
    {"cleanup", A, 0, NULL, 0, 0, 0},
    {"principal.admin", A, 0, NULL, 0, 0, 0},
    {"principal.read", A | D | M | T | U, 0, NULL, 0, 0, 0},
    {"audit.repair", A, 0, NULL, 0, 0, 0},
    {"attest.collateral", A, 0, NULL, 0, 0, 0},
    {"attest.collateral.read", A | D | M | T | U, 0, NULL, 0, 0, 0},
};

#undef A
#undef D
#undef M
#undef T
#undef U

/* clang-format off */
const char *const st_access_actions[] = {
    "init", "key.create", "key.rotate", "key.retire", "key.revoke",
    "key.read", "data.import", "data.read", "data.policy", "data.rm",
    "data.rewrap", "job.submit", "job.run", "job.cancel", "job.read",
    "model.decrypt", "model.share", "model.rm", "model.read", "audit.read",
    "audit.verify", "audit.checkpoint", "check", "cleanup", "principal.admin",
    "principal.read", "audit.repair", "attest.collateral",
    "attest.collateral.read",
    NULL};
/* clang-format on */

static const struct rule *rule_of(const char *action)
{
    for (size_t i = 0; action && i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strcmp(rules[i].action, action) == 0)
            return &rules[i];
    return NULL;
}

int st_access_action_valid(const char *action)
{
    return rule_of(action) != NULL;
}

unsigned st_access_roles_for(const char *action)
{
    const struct rule *r = rule_of(action);
    return r ? r->roles : 0;
}

/* ---- authenticated principals of this process ---- */

#define MAX_SESSIONS 32
static pthread_mutex_t sess_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char dir[PATH_MAX];
    char name[ST_PRINCIPAL_NAME_MAX];
} sessions[MAX_SESSIONS];
static size_t nsessions;

static void session_add(const char *dir, const char *name)
{
    pthread_mutex_lock(&sess_mu);
    size_t i;
    for (i = 0; i < nsessions; i++)
        if (!strcmp(sessions[i].dir, dir) && !strcmp(sessions[i].name, name))
            break;
    if (i == nsessions) {
        /* full: the oldest session is forgotten (it re-authenticates) */
        if (nsessions == MAX_SESSIONS) {
            memmove(&sessions[0], &sessions[1],
                    sizeof(sessions[0]) * (MAX_SESSIONS - 1));
            i = MAX_SESSIONS - 1;
        } else {
            nsessions++;
        }
        snprintf(sessions[i].dir, sizeof(sessions[i].dir), "%s", dir);
        snprintf(sessions[i].name, sizeof(sessions[i].name), "%s", name);
    }
    pthread_mutex_unlock(&sess_mu);
}

static int session_has(const char *dir, const char *name)
{
    int found = 0;
    pthread_mutex_lock(&sess_mu);
    for (size_t i = 0; i < nsessions && !found; i++)
        found =
            !strcmp(sessions[i].dir, dir) && !strcmp(sessions[i].name, name);
    pthread_mutex_unlock(&sess_mu);
    return found;
}

/* ---- denials ---- */

void st_access_audit_denial(st_workspace *ws, const char *principal,
                            const char *action, const char *resource,
                            const char *reason)
{
    st_audit_event ev = {"access",
                         principal && *principal ? principal : "anonymous",
                         action && *action ? action : "unknown",
                         resource && *resource ? resource : "-",
                         "denied",
                         reason,
                         NULL};
    st_err e;
    if (st_audit_append(ws, &ev, &e) != ST_OK)
        st_error("access.audit", "could not audit a denial of %s: %s",
                 ev.action, e.msg);
}

/* A denial: audited unless `quiet` (st_access_allows, which only asks). */
static st_code deny(int quiet, st_workspace *ws, const char *principal,
                    const char *action, const char *resource, st_err *err,
                    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static st_code deny(int quiet, st_workspace *ws, const char *principal,
                    const char *action, const char *resource, st_err *err,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!quiet)
        st_access_audit_denial(ws, principal, action, resource, msg);
    return st_err_set(err, ST_E_DENIED, "%s", msg);
}

static st_code identity(st_workspace *ws, const char *principal,
                        const char *action, const char *resource, st_err *err,
                        int quiet, int need_session)
{
    int64_t count;
    if (st_access_principal_count(ws, &count, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    if (!principal || !*principal) {
        if (count == 0)
            return ST_OK; /* bootstrap: access control starts with the
                             first principal */
        return deny(quiet, ws, NULL, action, resource, err,
                    "permission denied: %s needs an authenticated principal "
                    "(--as NAME --key FILE, or SEALTRAIN_AS/SEALTRAIN_KEY)",
                    action);
    }
    st_principal p;
    st_err e2;
    if (st_access_principal_get(ws, principal, &p, &e2) != ST_OK) {
        if (e2.code != ST_E_NOTFOUND) {
            if (err)
                *err = e2;
            return e2.code;
        }
        return deny(quiet, ws, principal, action, resource, err,
                    "permission denied: unknown principal \"%s\"", principal);
    }
    int disabled = p.disabled;
    st_principal_free(&p);
    if (disabled)
        return deny(quiet, ws, principal, action, resource, err,
                    "permission denied: principal %s is disabled", principal);
    if (need_session && !session_has(st_workspace_dir(ws), principal))
        return deny(quiet, ws, principal, action, resource, err,
                    "permission denied: principal %s has not authenticated "
                    "(sign the challenge with its key: --key FILE)",
                    principal);
    return ST_OK;
}

st_code st_access_check_identity(st_workspace *ws, const char *principal,
                                 const char *action, const char *resource,
                                 st_err *err)
{
    return identity(ws, principal, action, resource, err, 0, 1);
}

/* `need_session`: the principal acts in this process and must have
 * authenticated here (st_access_check); otherwise it is the one on whose
 * behalf something runs later (the submitter of a queued job, checked
 * again when it runs and when its keys are released: st_access_permits),
 * which must only be known and enabled. */
static st_code check(st_workspace *ws, const char *principal,
                     const char *action, const char *resource, st_err *err,
                     int quiet, int need_session)
{
    const struct rule *r = rule_of(action);
    if (!r)
        return st_err_set(err, ST_E_USAGE,
                          "access check: unknown action \"%s\"",
                          action ? action : "(null)");
    int64_t count;
    if (st_access_principal_count(ws, &count, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    if (count == 0 && (!principal || !*principal))
        return ST_OK;
    st_code irc =
        identity(ws, principal, action, resource, err, quiet, need_session);
    if (irc != ST_OK)
        return irc;
    st_principal p;
    if (st_access_principal_get(ws, principal, &p, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    unsigned roles = p.roles;
    st_principal_free(&p);
    /* the owner of a scoped resource, "" when it has none */
    char owner[ST_PRINCIPAL_NAME_MAX] = "";
    if (r->scoped && resource) {
        st_err e2;
        st_code rc =
            st_access_get_owner(ws, resource, owner, sizeof(owner), &e2);
        if (rc != ST_OK && rc != ST_E_NOTFOUND) {
            if (err)
                *err = e2;
            return rc;
        }
        if (rc == ST_E_NOTFOUND)
            owner[0] = 0;
    }
    int granted =
        owner[0] && strcmp(owner, principal) != 0 &&
        st_access_has_grant(ws, principal, resource, action, r->grant);
    if (!(roles & r->roles) && !(r->grant_gives && granted)) {
        char have[128], need[128];
        st_access_roles_string(roles, have, sizeof(have));
        st_access_roles_string(r->roles, need, sizeof(need));
        return deny(quiet, ws, principal, action, resource, err,
                    "permission denied: %s (roles: %s) lacks permission %s%s%s "
                    "(granted to roles: %s)",
                    principal, have, action, resource ? " on " : "",
                    resource ? resource : "", need);
    }
    if (!r->scoped || !resource)
        return ST_OK;
    if (!owner[0]) {
        if (!r->unowned || (roles & r->unowned))
            return ST_OK;
        char need[128];
        st_access_roles_string(r->unowned, need, sizeof(need));
        return deny(quiet, ws, principal, action, resource, err,
                    "permission denied: %s has no owner, and %s on it is "
                    "reserved to the role %s (%s may %s only what it owns)",
                    resource, action, need, principal, action);
    }
    if (strcmp(owner, principal) == 0 || (roles & r->every) || granted)
        return ST_OK;
    return deny(quiet, ws, principal, action, resource, err,
                "permission denied: %s lacks a grant of \"%s\" on %s from its "
                "owner %s (for %s)",
                principal, r->grant ? r->grant : action, resource, owner,
                action);
}

st_code st_access_check(st_workspace *ws, const char *principal,
                        const char *action, const char *resource, st_err *err)
{
    return check(ws, principal, action, resource, err, 0, 1);
}

int st_access_allows(st_workspace *ws, const char *principal,
                     const char *action, const char *resource)
{
    return check(ws, principal, action, resource, NULL, 1, 1) == ST_OK;
}

st_code st_access_permits(st_workspace *ws, const char *principal,
                          const char *action, const char *resource, st_err *err)
{
    return check(ws, principal, action, resource, err, 1, 0);
}

int st_access_may_use(st_workspace *ws, const char *principal,
                      const char *resource)
{
    int64_t count = 0;
    if (st_access_principal_count(ws, &count, NULL) != ST_OK)
        return 0;
    if (count == 0)
        return 1;
    if (!principal || !*principal)
        return 0;
    char owner[ST_PRINCIPAL_NAME_MAX];
    st_code rc = st_access_get_owner(ws, resource, owner, sizeof(owner), NULL);
    /* no owner here (a dataset of another owner's broker, added with
     * import-encrypted): that owner's broker asks the same question of its
     * own grants before it releases the key */
    if (rc == ST_E_NOTFOUND || (rc == ST_OK && !strcmp(owner, principal)))
        return 1;
    return rc == ST_OK &&
           st_access_has_grant(ws, principal, resource, "use", "job.submit");
}

/* The matrix cell of `role` (a bit) for `action`: "yes" (on every
 * resource), "own" (only on what the principal owns or was granted; for
 * the key actions, only its own KEKs), "unowned" (only on resources
 * without owner), or "" (never). */
const char *st_access_cell(const char *action, unsigned role)
{
    const struct rule *r = rule_of(action);
    if (!r || !(r->roles & role))
        return "";
    if (!r->scoped || (r->every & role))
        return "yes";
    if (r->unowned & role)
        return "unowned";
    return "own";
}

/* ---- authentication ---- */

/* The registered signing key and roles of an enabled principal; an
 * unknown or disabled principal is an audited denial. */
static ST_MUST_CHECK st_code registered_key(st_workspace *ws, const char *name,
                                            uint8_t pub[32], unsigned *roles,
                                            st_err *err)
{
    st_principal p;
    st_err e2;
    if (st_access_principal_get(ws, name, &p, &e2) != ST_OK) {
        if (e2.code != ST_E_NOTFOUND) {
            if (err)
                *err = e2;
            return e2.code;
        }
        return deny(0, ws, name, "authenticate", "-", err,
                    "authentication failed: unknown principal \"%s\"", name);
    }
    if (p.disabled) {
        st_principal_free(&p);
        return deny(0, ws, name, "authenticate", "-", err,
                    "authentication failed: principal %s is disabled", name);
    }
    st_code rc = st_ed25519_parse_public_pem(p.signing_key,
                                             strlen(p.signing_key), pub, err);
    *roles = p.roles;
    st_principal_free(&p);
    if (rc != ST_OK)
        return st_err_prefix(err, "principal %s: registered signing key", name);
    return ST_OK;
}

/* Records a proven principal: the session, and its last activity. */
static ST_MUST_CHECK st_code session_open(st_workspace *ws, const char *name,
                                          unsigned roles,
                                          st_access_session *session)
{
    st_err e2;
    session_add(st_workspace_dir(ws), name);
    snprintf(session->name, sizeof(session->name), "%s", name);
    session->roles = roles;
    if (st_access_touch(ws, name, &e2) != ST_OK)
        st_warn("access.touch", "could not record activity of %s: %s", name,
                e2.msg);
    return ST_OK;
}

st_code st_access_authenticate(st_workspace *ws, const char *name,
                               const uint8_t seed[32],
                               st_access_session *session, st_err *err)
{
    memset(session, 0, sizeof(*session));
    uint8_t pub[32], challenge[32], sig[64];
    unsigned roles = 0;
    st_code rc = registered_key(ws, name, pub, &roles, err);
    if (rc != ST_OK)
        return rc;
    /* domain separation: this signature can never be mistaken for a
     * signature over a manifest, job spec or other sealtrain statement */
    st_buf msg;
    st_buf_init(&msg);
    if ((rc = st_random(challenge, sizeof(challenge), err)) != ST_OK)
        return rc;
    char hex[65];
    st_hex_encode(challenge, 32, hex);
    if ((rc = st_buf_printf(&msg, err,
                            "sealtrain access challenge v1\n%s\n%s\n%s\n",
                            st_workspace_dir(ws), name, hex)) != ST_OK) {
        st_buf_free(&msg);
        return rc;
    }
    rc = st_ed25519_sign(seed, msg.data, msg.len, sig, err);
    if (rc == ST_OK)
        rc = st_ed25519_verify(pub, msg.data, msg.len, sig, NULL);
    st_buf_free(&msg);
    if (rc != ST_OK)
        return deny(0, ws, name, "authenticate", "-", err,
                    "authentication failed: the key does not match the "
                    "signing key registered for %s",
                    name);
    return session_open(ws, name, roles, session);
}

st_code st_access_authenticate_key(st_workspace *ws, const char *name,
                                   const uint8_t pub[32],
                                   st_access_session *session, st_err *err)
{
    memset(session, 0, sizeof(*session));
    uint8_t reg[32];
    unsigned roles = 0;
    st_code rc = registered_key(ws, name, reg, &roles, err);
    if (rc != ST_OK)
        return rc;
    if (!st_ct_equal(reg, pub, 32))
        return deny(0, ws, name, "authenticate", "-", err,
                    "authentication failed: the certificate's key is not the "
                    "signing key registered for %s",
                    name);
    return session_open(ws, name, roles, session);
}

st_code st_access_login(st_workspace *ws, const char *as, const char *keyfile,
                        st_access_session *session, st_err *err)
{
    memset(session, 0, sizeof(*session));
    int64_t count;
    if (st_access_principal_count(ws, &count, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    if (!as || !*as) {
        if (count == 0) {
            session->bootstrap = 1;
            return ST_OK;
        }
        return st_err_set(err, ST_E_DENIED,
                          "this workspace has principals: act as one with "
                          "--as NAME --key FILE (or SEALTRAIN_AS and "
                          "SEALTRAIN_KEY)");
    }
    if (!keyfile || !*keyfile)
        return st_err_set(err, ST_E_DENIED,
                          "acting as %s needs its signing key: --key FILE "
                          "(or SEALTRAIN_KEY)",
                          as);
    uint8_t *seed = st_secmem_alloc(32, err);
    if (!seed)
        return err ? err->code : ST_E_IO;
    st_code rc = st_ed25519_load_private_pem(keyfile, seed, err);
    if (rc == ST_OK)
        rc = st_access_authenticate(ws, as, seed, session, err);
    else
        st_err_prefix(err, "signing key of %s", as);
    st_secmem_free(seed);
    return rc;
}
