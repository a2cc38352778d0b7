/*
 * kek_owner.c: who owns a KEK, and the checks that changing or creating
 * one passes (docs/keys.md, "Owners").
 *
 * A KEK's owner is the owner of the resource "key:NAME" in the access
 * module's table: the data owner who created it (`key create`) or whose
 * dataset import created it (owner.NAME, recorded by src/data). A KEK
 * without owner (the system KEKs audit.log and jobs, and keys an admin
 * created) is the admins': st_access_check reserves key.rotate, retire
 * and revoke on an unowned key to the admin role, and gives them on an
 * owned one to its owner alone. So a data owner cannot crypto-shred
 * another owner's data, nor stop the audit log or the job checkpoints.
 *
 * Workspaces from before KEK owners have no record: the owner is then the
 * one registered owner of the datasets the KEK wraps (the only read of
 * the datasets table in this module), recorded on first use. A KEK that
 * wraps datasets of several owners stays without owner (the admins').
 *
 * Names that say whose a key is cannot be taken first by someone else:
 * owner.NAME is NAME's (dataset import creates it), audit.log and jobs
 * are the system's (the audit log and the job runner create them).
 *
 * Never: decide on roles itself (st_access_check does); touch key
 * material.
 */
#include <stdio.h>
#include <string.h>

#include "keys/keyring_file.h"
#include "keys/keys_db.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/keyring.h"
#include "sealtrain/log.h"

int st_kek_name_is_system(const char *name)
{
    return name && (!strcmp(name, "audit.log") || !strcmp(name, "jobs"));
}

st_code st_kek_owner(st_workspace *ws, const char *name, char *out, size_t cap,
                     st_err *err)
{
    char resource[ST_KEK_NAME_MAX + 8];
    snprintf(resource, sizeof(resource), "key:%s", name);
    out[0] = 0;
    st_err e2;
    st_code rc = st_access_get_owner(ws, resource, out, cap, &e2);
    if (rc == ST_OK)
        return ST_OK;
    if (rc != ST_E_NOTFOUND) {
        if (err)
            *err = e2;
        return rc;
    }
    out[0] = 0;
    if (st_kek_name_is_system(name))
        return ST_OK;
    if ((rc = st_keys_db_wrapped_owner(ws, name, out, cap, err)) != ST_OK ||
        !out[0])
        return rc;
    /* recorded once, so that a later import by someone else under the
     * same key does not make the owner ambiguous */
    if ((rc = st_access_set_owner(ws, resource, out, err)) != ST_OK)
        return st_err_prefix(err, "recording the owner of KEK %s", name);
    st_info("keyring.owner", "KEK %s belongs to %s, the owner of its datasets",
            name, out);
    return ST_OK;
}

st_code st_kek_authorize(st_workspace *ws, const char *principal,
                         const char *action, const char *name, st_err *err)
{
    char owner[ST_PRINCIPAL_NAME_MAX], resource[ST_KEK_NAME_MAX + 8];
    int64_t count = 0;
    st_code rc = st_access_principal_count(ws, &count, err);
    /* bootstrap (no principals): access control is off, and there is
     * nobody to own a key yet */
    if (rc == ST_OK && count > 0)
        rc = st_kek_owner(ws, name, owner, sizeof(owner), err);
    if (rc != ST_OK)
        return rc;
    snprintf(resource, sizeof(resource), "key:%s", name);
    return st_access_check(ws, principal, action, resource, err);
}

st_code st_kek_create_check(st_workspace *ws, const char *principal,
                            const char *name, int *owns, st_err *err)
{
    *owns = 0;
    st_code rc = st_access_check(ws, principal, "key.create", NULL, err);
    if (rc != ST_OK || !principal || !*principal)
        return rc;
    st_principal p;
    if ((rc = st_access_principal_get(ws, principal, &p, err)) != ST_OK)
        return rc;
    int admin = (p.roles & ST_ROLE_ADMIN) != 0;
    st_principal_free(&p);
    if (admin)
        return ST_OK; /* an admin's key has no owner: the admins' */
    if (st_kek_name_is_system(name))
        return st_err_set(err, ST_E_DENIED,
                          "permission denied: %s is a system KEK name (the "
                          "audit log and the job runner create their own); "
                          "%s may not create it",
                          name, principal);
    if (!strncmp(name, "owner.", 6) && strcmp(name + 6, principal) != 0)
        return st_err_set(err, ST_E_DENIED,
                          "permission denied: %s is the KEK that the datasets "
                          "of %s are wrapped under; %s may not create it",
                          name, name + 6, principal);
    *owns = 1;
    return ST_OK;
}

void st_kek_audit_failure(st_workspace *ws, const char *principal,
                          const char *action, const char *name,
                          uint32_t version, const st_err *why)
{
    json_t *details =
        version ? json_pack("{s:I}", "version", (json_int_t)version) : NULL;
    char resource[128];
    snprintf(resource, sizeof(resource), "key:%s", name);
    st_audit_event ev = {
        .category = "operation",
        .actor = principal && *principal ? principal : "system",
        .action = action,
        .resource = resource,
        .outcome = why->code == ST_E_DENIED ? "denied" : "failure",
        .reason = why->msg,
        .details = details,
    };
    st_err e;
    if (st_audit_append(ws, &ev, &e) != ST_OK)
        st_warn("keys", "audit log: %s", e.msg);
    json_decref(details);
}
