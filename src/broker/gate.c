/*
 * gate.c: THE GATE. The one decision whether a dataset's key leaves this
 * workspace, and the consent check that job submission and job runs share
 * with it (gate_internal.h says which check runs when, and why).
 *
 * In: the asking principal, the job's signed spec, the runtime's keys and
 * evidence, the nonce, the datasets whose keys are asked for. Out: each
 * dataset's file key wrapped to the runtime's X25519 key and bound to the
 * job (st_broker_wrap_key), or a denial with its reason. Every decision is
 * audited here, once per dataset, durably, before a key is handed back.
 *
 * Nothing is taken from the caller on trust: the spec is verified under
 * the submitter's registered key at HELLO and again at EVIDENCE, grants,
 * principals and signed release policies are read from the catalog at
 * each step, and the evidence is judged against every policy. Transports
 * (src/job/run.c, src/server/routes_broker.c) only carry messages to it.
 *
 * It never sees plaintext data, never holds a file key outside secure
 * memory (st_secret, wiped once wrapped), and never sends a key unwrapped.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "attest/ear.h"
#include "broker/gate_internal.h"
#include "crypto/dsse.h"
#include "crypto/primitives.h"
#include "keys/stamp.h"
#include "sealtrain/access.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/json.h"
#include "sealtrain/secmem.h"
#include "store/catalog.h"

/* An attest.verify entry waiting for the decision's first key.release
 * entry, so that both reach the log in one write and one flush. */
typedef struct pending_verdict {
    char actor[ST_PRINCIPAL_NAME_MAX];
    char resource[ST_JOB_NAME_MAX + 16];
    char reason[600];
    int pass;
    json_t *details; /* owned */
} pending_verdict;

struct st_gate {
    st_workspace *ws;
    st_keyring *kr;
    st_gate_opts o;
    st_gate_anchors anchors;
    /* verdicts of the current decision (one per dataset and the job's) */
    pending_verdict pend[ST_GATE_MAX_DATASETS + 1];
    size_t npend;
};

st_code st_gate_open(st_workspace *ws, st_keyring *kr, const st_gate_opts *o,
                     st_gate **out, st_err *err)
{
    *out = NULL;
    st_gate *g = calloc(1, sizeof(*g));
    if (!g)
        return st_err_set(err, ST_E_IO, "out of memory");
    g->ws = ws;
    g->kr = kr;
    if (o)
        g->o = *o;
    st_code rc = st_gate_anchors_load(ws, &g->anchors, err);
    if (rc == ST_OK)
        rc = st_gate_db_migrate(ws, err);
    if (rc != ST_OK) {
        st_gate_close(g);
        return rc;
    }
    *out = g;
    return ST_OK;
}

static void pending_drop(st_gate *g)
{
    for (size_t i = 0; i < g->npend; i++)
        json_decref(g->pend[i].details);
    g->npend = 0;
}

void st_gate_close(st_gate *g)
{
    if (!g)
        return;
    pending_drop(g);
    st_gate_anchors_free(&g->anchors);
    free(g);
}

void st_gate_result_clear(st_gate_result *r)
{
    json_decref(r->verdicts);
    json_decref(r->ears);
    memset(r, 0, sizeof(*r));
}

/* ---- audit ---- */

/* Appends the pending verdicts, then `ev` (may be NULL), in one batch:
 * durable, all or none, when it returns. */
static st_code append(st_gate *g, const st_audit_event *ev, st_err *err)
{
    st_audit_event evs[ST_GATE_MAX_DATASETS + 2];
    size_t n = 0;
    for (size_t i = 0; i < g->npend; i++) {
        pending_verdict *p = &g->pend[i];
        evs[n++] = (st_audit_event){"attestation",
                                    p->actor,
                                    "attest.verify",
                                    p->resource,
                                    p->pass ? "success" : "denied",
                                    p->pass ? NULL : p->reason,
                                    p->details};
    }
    if (ev)
        evs[n++] = *ev;
    st_code rc = g->o.log ? st_audit_log_append_all(g->o.log, evs, n, NULL, err)
                          : st_audit_append_all(g->ws, evs, n, err);
    pending_drop(g);
    return rc;
}

static st_code record(st_gate *g, const char *actor, const char *resource,
                      const char *outcome, const char *reason, json_t *details,
                      st_err *err)
{
    st_audit_event ev = {"key-release", actor && *actor ? actor : "anonymous",
                         "key.release", resource,
                         outcome,       reason,
                         details};
    st_code rc = append(g, &ev, err);
    json_decref(details);
    return rc;
}

static json_t *base_details(const char *job, const char *submitter,
                            const char *runner)
{
    return json_pack("{s:s,s:s,s:s}", "job", job ? job : "", "submitter",
                     submitter ? submitter : "", "runner",
                     runner ? runner : "");
}

/* One audited refusal per dataset asked for; returns ST_E_DENIED with
 * `reason` (an audit failure is reported instead: it is not a refusal the
 * log can vouch for). */
static st_code refuse(st_gate *g, const char *actor, const char *job,
                      const char *submitter, const char *const *datasets,
                      size_t n, const char *reason, json_t *extra, st_err *err)
{
    st_err aerr;
    st_code arc = ST_OK;
    for (size_t i = 0; i < (n ? n : 1); i++) {
        char res[ST_JOB_NAME_MAX + 16];
        snprintf(res, sizeof(res), "dataset:%s", n ? datasets[i] : "-");
        json_t *d = base_details(job, submitter, actor);
        if (extra)
            json_object_update(d, extra);
        if (arc == ST_OK)
            arc = record(g, actor, res, "denied", reason, d, &aerr);
        else
            json_decref(d);
    }
    json_decref(extra);
    if (arc != ST_OK) {
        if (err)
            *err = aerr;
        return st_err_prefix(err, "auditing a refused key release");
    }
    return st_err_set(err, ST_E_DENIED, "%s", reason);
}

/* ---- the signed spec ---- */

/* Opens the signed spec under the submitter's registered key (in a
 * workspace without principals, its integrity only). */
static st_code open_spec(st_workspace *ws, const char *submitter,
                         const char *env, size_t len, st_job_spec *spec,
                         uint8_t digest[32], st_err *err)
{
    memset(spec, 0, sizeof(*spec));
    st_principal p;
    memset(&p, 0, sizeof(p));
    st_err e2;
    st_code rc = st_access_principal_get(ws, submitter, &p, &e2);
    if (rc == ST_OK) {
        uint8_t pub[32];
        rc = p.signing_key
                 ? st_ed25519_parse_public_pem(p.signing_key,
                                               strlen(p.signing_key), pub, err)
                 : st_err_set(err, ST_E_DENIED,
                              "submitter \"%s\" has no registered signing key",
                              submitter);
        st_principal_free(&p);
        if (rc == ST_OK)
            rc = st_job_envelope_open(env, len, "signed job spec", pub, spec,
                                      digest, NULL, err);
        return rc == ST_OK ? ST_OK
                           : st_err_prefix(err,
                                           "not a job spec signed by the key "
                                           "registered for \"%s\"",
                                           submitter);
    }
    if (rc != ST_E_NOTFOUND) {
        if (err)
            *err = e2;
        return rc;
    }
    int64_t n = 0;
    if ((rc = st_access_principal_count(ws, &n, err)) != ST_OK)
        return rc;
    if (n > 0)
        return st_err_set(err, ST_E_DENIED,
                          "submitter \"%s\" is not a registered principal",
                          submitter);
    /* bootstrap: nobody to sign for; the payload's digest still binds it */
    json_t *j = st_json_parse(env, len, "signed job spec", err);
    uint8_t *payload = NULL;
    size_t plen = 0;
    rc = j ? st_dsse_payload(j, &payload, &plen, err)
           : (err ? err->code : ST_E_INPUT);
    json_decref(j);
    if (rc == ST_OK) {
        st_sha256(payload, plen, digest);
        rc = st_job_spec_parse((const char *)payload, plen, "signed job spec",
                               spec, err);
    }
    free(payload);
    return rc;
}

/* ---- consent ---- */

/* `keep` (may be NULL): the release policy that consented, verified and
 * parsed, handed to the caller (NULL when another owner's broker holds
 * it), so that one decision verifies each policy once. */
static st_code consent_one(st_workspace *ws, const char *submitter,
                           const st_job_spec *spec, const char *name,
                           st_release_policy **keep, st_err *err)
{
    char res[ST_JOB_NAME_MAX + 16];
    snprintf(res, sizeof(res), "dataset:%s", name);
    /* that it exists, and its owner's key (the policy is verified under
     * it); the manifest's own signature is verified where its key is
     * read, at release */
    char owner[ST_DATASET_NAME_MAX + 1], id[33];
    uint8_t pub[32];
    st_code rc = st_dataset_owner_key(ws, name, owner, id, pub, err);
    if (rc != ST_OK)
        return rc == ST_E_NOTFOUND ? (err->code = ST_E_DENIED) : rc;
    if (!st_access_may_use(ws, submitter, res))
        return st_err_set(err, ST_E_DENIED,
                          "%s: \"%s\" holds no `use` grant from its owner "
                          "(`sealtrain principal grant %s %s use`)",
                          res, submitter ? submitter : "(nobody)",
                          submitter ? submitter : "NAME", res);
    st_release_policy *p = NULL;
    rc = st_release_policy_get(ws, name, &p, err);
    if (rc == ST_E_NOTFOUND) {
        /* no policy here: a refusal, unless its owner's broker holds it */
        st_dataset_record d;
        st_err e2;
        if (st_dataset_get(ws, name, &d, &e2) == ST_OK) {
            int remote = d.m.broker_url[0] != 0;
            st_dataset_record_free(&d);
            if (remote) {
                st_err_clear(err);
                return ST_OK;
            }
        }
        err->code = rc = ST_E_DENIED;
    }
    if (rc == ST_OK)
        rc = st_release_policy_check_job(p, name, spec, submitter, err);
    if (rc == ST_OK && keep)
        *keep = p;
    else
        st_release_policy_free(p);
    return rc;
}

/* The model a model-use spec names: the submitter may decrypt it (its
 * owner, or a `decrypt` grant from the owner). That the submitter's
 * identity opens the sealed file (a recipient) is proved where the key
 * is unwrapped, before it is offered here. */
static st_code consent_model(st_workspace *ws, const char *submitter,
                             const st_job_spec *spec, st_err *err)
{
    char res[ST_JOB_NAME_MAX + 8];
    snprintf(res, sizeof(res), "model:%s", spec->use_model);
    st_code rc = st_access_permits(ws, submitter, "model.decrypt", res, err);
    if (rc == ST_E_DENIED)
        return st_err_prefix(err, "%s of %s@%u on its data",
                             st_job_kind_name(spec->kind), spec->use_model,
                             spec->use_version);
    return rc;
}

/* st_gate_consent; `keep` (may be NULL) as consent_one's, for `only`. */
static st_code consent(st_workspace *ws, const char *submitter,
                       const char *runner, const st_job_spec *spec,
                       const char *only, st_release_policy **keep, st_err *err)
{
    st_code rc;
    int64_t n = 0;
    if ((rc = st_access_principal_count(ws, &n, err)) != ST_OK)
        return rc;
    if (n > 0) {
        st_principal p;
        memset(&p, 0, sizeof(p));
        if ((rc = st_access_principal_get(ws, submitter, &p, err)) != ST_OK)
            return rc == ST_E_NOTFOUND
                       ? st_err_set(err, ST_E_DENIED,
                                    "submitter \"%s\" is not a registered "
                                    "principal",
                                    submitter)
                       : rc;
        int disabled = p.disabled;
        st_principal_free(&p);
        if (disabled)
            return st_err_set(err, ST_E_DENIED,
                              "the job's submitter %s is disabled", submitter);
        if (spec->kind != ST_JOB_KIND_TRAIN &&
            (rc = consent_model(ws, submitter, spec, err)) != ST_OK)
            return rc;
    }
    if (runner &&
        (rc = st_access_permits(ws, runner, "job.run", NULL, err)) != ST_OK)
        return rc;
    const char *names[2] = {spec->train_dataset, spec->valid_dataset};
    int checked = 0;
    for (size_t i = 0; i < 2; i++) {
        if (!names[i][0] || (only && strcmp(only, names[i])))
            continue;
        if (i == 1 && !strcmp(names[1], names[0]))
            continue;
        if ((rc = consent_one(ws, submitter, spec, names[i], only ? keep : NULL,
                              err)) != ST_OK)
            return rc;
        checked++;
    }
    if (only && !checked)
        return st_err_set(err, ST_E_DENIED,
                          "dataset \"%s\" is not among the job spec's "
                          "datasets",
                          only);
    return ST_OK;
}

st_code st_gate_consent(st_workspace *ws, const char *submitter,
                        const char *runner, const st_job_spec *spec,
                        const char *only, st_err *err)
{
    return consent(ws, submitter, runner, spec, only, NULL, err);
}

/* ---- what a HELLO checked, shared ---- */

/*
 * The checks of a HELLO (the signed spec under the submitter's registered
 * key, the submitter enabled, the runner's job.run, each dataset's owner,
 * grant and signed release policy) read nothing but the catalog and the
 * bytes of the signed spec: no clock, no file. On the same catalog (its
 * epoch, store/catalog.h: exact, no expiry by time) and the same bytes,
 * asked by the same principals for the same datasets, they reach the same
 * answer. Their result (the parsed spec and the verified policies) is kept
 * twice below: for the next HELLO of the same job ("a HELLO's checks"),
 * and for the EVIDENCE that answers this HELLO's nonce ("the HELLO's
 * consent"). Read-only once made, shared by reference under memo_lock;
 * only a check that passed is kept. Nothing here survives a restart.
 */
typedef struct checks {
    unsigned refs; /* memo_lock */
    st_job_spec spec;
    uint8_t digest[32]; /* SHA-256 of the spec's signed payload */
    st_release_policy *pols[ST_GATE_MAX_DATASETS]; /* NULL: none here */
    size_t nds;
} checks;
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;

static checks *checks_new(void)
{
    checks *c = calloc(1, sizeof(*c));
    if (c)
        c->refs = 1;
    return c;
}

static void checks_free(checks *c)
{
    st_job_spec_free(&c->spec);
    for (size_t i = 0; i < c->nds; i++)
        st_release_policy_free(c->pols[i]);
    free(c);
}

/* memo_lock held; returns the checks to free (outside it), or NULL */
static checks *checks_drop_locked(checks *c)
{
    return c && --c->refs == 0 ? c : NULL;
}

static void checks_unref(checks *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&memo_lock);
    c = checks_drop_locked(c);
    pthread_mutex_unlock(&memo_lock);
    if (c)
        checks_free(c);
}

/* ---- a HELLO's checks, kept for the next HELLO of the same job ---- */

/*
 * A job's runtime says HELLO once per start and per dataset broker, a
 * job of several processes once per process, a resumed job again: the
 * same signed spec, principals and datasets each time. Keyed by all of
 * them and by the catalog's epoch; a few slots, the least recently used
 * given up first.
 */
#define HELLO_SLOTS 16
typedef struct hello_memo {
    checks *c; /* NULL: a free slot */
    char ws[PATH_MAX];
    uint64_t epoch;
    uint8_t envelope[32]; /* SHA-256 of the signed spec's bytes */
    char submitter[ST_PRINCIPAL_NAME_MAX];
    char principal[ST_PRINCIPAL_NAME_MAX];
    char scope[ST_GATE_MAX_DATASETS * (ST_JOB_NAME_MAX + 1) + 1];
    unsigned long age;
} hello_memo;
static hello_memo hellos[HELLO_SLOTS];
static unsigned long hello_clock, hello_reused;

static int hello_match(const hello_memo *h, st_workspace *ws,
                       const uint8_t envelope[32], const char *submitter,
                       const char *principal, const char *scope)
{
    return h->c && !memcmp(h->envelope, envelope, 32) &&
           !strcmp(h->submitter, submitter) &&
           !strcmp(h->principal, principal) && !strcmp(h->scope, scope) &&
           !strcmp(h->ws, st_workspace_dir(ws));
}

/* The checks kept for this HELLO when the catalog is still at `epoch`
 * (observed in the caller's snapshot; 0: none), a reference the caller
 * drops; else NULL. */
static checks *hello_take(st_workspace *ws, uint64_t epoch,
                          const uint8_t envelope[32], const char *submitter,
                          const char *principal, const char *scope)
{
    checks *c = NULL;
    if (!epoch)
        return NULL;
    pthread_mutex_lock(&memo_lock);
    for (size_t i = 0; i < HELLO_SLOTS && !c; i++) {
        hello_memo *h = &hellos[i];
        if (h->epoch != epoch ||
            !hello_match(h, ws, envelope, submitter, principal, scope))
            continue;
        c = h->c;
        c->refs++;
        h->age = ++hello_clock;
        hello_reused++;
    }
    pthread_mutex_unlock(&memo_lock);
    return c;
}

/* Keeps `c` (a reference of its own) for HELLOs on the catalog at
 * `epoch` (read before the snapshot the checks ran in began). */
static void hello_put(st_workspace *ws, uint64_t epoch,
                      const uint8_t envelope[32], const char *submitter,
                      const char *principal, const char *scope, checks *c)
{
    checks *gone = NULL;
    pthread_mutex_lock(&memo_lock);
    hello_memo *h = &hellos[0];
    for (size_t i = 0; i < HELLO_SLOTS; i++) {
        hello_memo *x = &hellos[i];
        if (hello_match(x, ws, envelope, submitter, principal, scope)) {
            h = x;
            break;
        }
        if (!x->c || (h->c && x->age < h->age))
            h = x;
    }
    gone = checks_drop_locked(h->c);
    memset(h, 0, sizeof(*h));
    c->refs++;
    h->c = c;
    snprintf(h->ws, sizeof(h->ws), "%s", st_workspace_dir(ws));
    h->epoch = epoch;
    memcpy(h->envelope, envelope, 32);
    snprintf(h->submitter, sizeof(h->submitter), "%s", submitter);
    snprintf(h->principal, sizeof(h->principal), "%s", principal);
    snprintf(h->scope, sizeof(h->scope), "%s", scope);
    h->age = ++hello_clock;
    pthread_mutex_unlock(&memo_lock);
    if (gone)
        checks_free(gone);
}

unsigned long st_gate_hello_reused(void)
{
    pthread_mutex_lock(&memo_lock);
    unsigned long n = hello_reused;
    pthread_mutex_unlock(&memo_lock);
    return n;
}

/* ---- the HELLO's consent, kept for its EVIDENCE ---- */

/*
 * A HELLO verified the signed spec and every consent in one catalog
 * snapshot; its EVIDENCE checks them all again "on the catalog as it is at
 * that moment". When the catalog has not changed in between (the epoch),
 * the second check would read the same rows and reach the same answer, so
 * the EVIDENCE takes the HELLO's checks (above). Any commit to the catalog
 * in between (a grant revoked, a principal disabled, a policy replaced or
 * its row edited, by this process or another) moves the epoch and the
 * EVIDENCE checks everything again.
 *
 * Process-wide, so that an EVIDENCE served by another worker than its
 * HELLO finds it; keyed by the nonce, taken by the one EVIDENCE that uses
 * the nonce; a fixed number of slots, the oldest given up first; nothing
 * here survives a restart (the EVIDENCE then checks everything, as
 * without it).
 */
#define MEMO_SLOTS 64
typedef struct consent_memo {
    checks *c; /* NULL: a free slot */
    uint8_t nonce[32];
    uint64_t epoch;
    time_t issued;
    char ws[PATH_MAX];
    char submitter[ST_PRINCIPAL_NAME_MAX];
    char principal[ST_PRINCIPAL_NAME_MAX];
} consent_memo;
static consent_memo memos[MEMO_SLOTS];
static unsigned long memo_reused;

/* Keeps the HELLO's checks `c` (a reference of its own) for the nonce. */
static void memo_put(st_workspace *ws, const st_gate_nonce *n, uint64_t epoch,
                     checks *c)
{
    pthread_mutex_lock(&memo_lock);
    consent_memo *m = &memos[0];
    for (size_t i = 0; i < MEMO_SLOTS && m->c; i++)
        if (!memos[i].c || memos[i].issued < m->issued)
            m = &memos[i];
    checks *gone = checks_drop_locked(m->c);
    memset(m, 0, sizeof(*m));
    c->refs++;
    m->c = c;
    memcpy(m->nonce, n->nonce, 32);
    m->epoch = epoch;
    m->issued = n->issued;
    snprintf(m->ws, sizeof(m->ws), "%s", st_workspace_dir(ws));
    snprintf(m->submitter, sizeof(m->submitter), "%s", n->submitter);
    snprintf(m->principal, sizeof(m->principal), "%s", n->principal);
    pthread_mutex_unlock(&memo_lock);
    if (gone)
        checks_free(gone);
}

/* Takes the HELLO's checks for the nonce `n` just consumed, when the
 * catalog is still the one they were made on (`epoch`, observed in the
 * EVIDENCE's snapshot), for `nds` datasets: a reference the caller drops;
 * else NULL. Either way the slot is given up. */
static checks *memo_take(st_workspace *ws, const st_gate_nonce *n,
                         uint64_t epoch, size_t nds)
{
    checks *hit = NULL, *gone = NULL;
    pthread_mutex_lock(&memo_lock);
    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        consent_memo *m = &memos[i];
        if (!m->c || memcmp(m->nonce, n->nonce, 32))
            continue;
        if (epoch && m->epoch == epoch && m->c->nds == nds &&
            !strcmp(m->ws, st_workspace_dir(ws)) &&
            !strcmp(m->submitter, n->submitter) &&
            !strcmp(m->principal, n->principal) &&
            !memcmp(m->c->digest, n->spec_digest, 32)) {
            hit = m->c; /* the slot's reference passes to the caller */
            memo_reused++;
        } else
            gone = checks_drop_locked(m->c);
        memset(m, 0, sizeof(*m));
        break;
    }
    pthread_mutex_unlock(&memo_lock);
    if (gone)
        checks_free(gone);
    return hit;
}

unsigned long st_gate_consent_reused(void)
{
    pthread_mutex_lock(&memo_lock);
    unsigned long n = memo_reused;
    pthread_mutex_unlock(&memo_lock);
    return n;
}

/* ---- HELLO ---- */

static void scope_join(const st_gate_ask *a, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = 0;
    for (size_t i = 0; i < a->ndatasets; i++)
        off += (size_t)snprintf(out + off, off < cap ? cap - off : 0, "%s%s",
                                i ? "," : "", a->datasets[i]);
}

st_code st_gate_hello(st_gate *g, const st_gate_ask *a, uint8_t nonce[32],
                      st_err *err)
{
    char reason[600] = "";
    st_err e;
    st_err_clear(&e);
    st_code rc = ST_OK;
    if (!a->ndatasets || a->ndatasets > ST_GATE_MAX_DATASETS)
        return st_err_set(err, ST_E_USAGE, "key release: %zu datasets asked",
                          a->ndatasets);
    for (size_t i = 0; i < a->ndatasets; i++)
        if (strlen(a->datasets[i]) > ST_JOB_NAME_MAX ||
            strchr(a->datasets[i], ','))
            return st_err_set(err, ST_E_INPUT, "key release: bad dataset name");
    char scope[sizeof(((st_gate_nonce *)0)->scope)];
    scope_join(a, scope, sizeof(scope));
    uint8_t envd[32];
    st_sha256(a->envelope, a->envelope_len, envd);
    /* read before the snapshot begins (store/catalog.h says why) */
    uint64_t epoch = st_catalog_epoch();
    uint64_t snap = st_catalog_snapshot_begin(g->ws);
    /* the checks an earlier HELLO of this job made on this very catalog,
     * or all of them now */
    uint64_t now = st_catalog_epoch_observe(g->ws);
    checks *c = hello_take(g->ws, now, envd, a->submitter, a->principal,
                           scope);
    int kept = c != NULL;
    if (kept)
        epoch = now;
    else if (!(c = checks_new()))
        rc = st_err_set(&e, ST_E_IO, "out of memory");
    else {
        c->nds = a->ndatasets;
        rc = open_spec(g->ws, a->submitter, a->envelope, a->envelope_len,
                       &c->spec, c->digest, &e);
    }
    /* each dataset's policy as its consent read and verified it, kept
     * for the EVIDENCE (the memo above) */
    for (size_t i = 0; !kept && rc == ST_OK && i < a->ndatasets; i++)
        rc = consent(g->ws, a->submitter, a->principal, &c->spec,
                     a->datasets[i], &c->pols[i], &e);
    st_catalog_snapshot_end(g->ws, snap);
    if (rc == ST_OK && !kept)
        hello_put(g->ws, epoch, envd, a->submitter, a->principal, scope, c);
    if (rc == ST_OK && a->spec_digest &&
        memcmp(c->digest, a->spec_digest, 32)) {
        char gh[65], wh[65];
        st_hex_encode(c->digest, 32, gh);
        st_hex_encode(a->spec_digest, 32, wh);
        rc = st_err_set(&e, ST_E_DENIED,
                        "the signed job spec's digest sha256:%s is not the "
                        "job's spec_digest sha256:%s",
                        gh, wh);
    }
    if (rc != ST_OK) {
        checks_unref(c);
        c = NULL;
    }
    if (rc != ST_OK && rc != ST_E_DENIED && rc != ST_E_INPUT) {
        if (err)
            *err = e;
        return rc;
    }
    if (rc != ST_OK) {
        snprintf(reason, sizeof(reason), "%s", e.msg);
        char sd[65] = "";
        if (a->spec_digest)
            st_hex_encode(a->spec_digest, 32, sd);
        return refuse(g, a->principal, a->job_id, a->submitter, a->datasets,
                      a->ndatasets, reason,
                      json_pack("{s:s}", "spec_sha256", sd), err);
    }
    st_gate_nonce n;
    memset(&n, 0, sizeof(n));
    snprintf(n.job_id, sizeof(n.job_id), "%s", a->job_id);
    snprintf(n.principal, sizeof(n.principal), "%s", a->principal);
    snprintf(n.submitter, sizeof(n.submitter), "%s", a->submitter);
    snprintf(n.scope, sizeof(n.scope), "%s", scope);
    memcpy(n.spec_digest, c->digest, 32);
    memcpy(n.envelope_digest, envd, 32);
    n.hello = a->hello;
    n.issued = time(NULL);
    rc = st_gate_db_nonce_put(g->ws, &n, a->envelope, a->envelope_len, err);
    if (rc == ST_OK) {
        memcpy(nonce, n.nonce, 32);
        memo_put(g->ws, &n, epoch, c);
    }
    st_gate_nonce_clear(&n);
    checks_unref(c);
    return rc;
}

/* ---- file keys, kept while nothing they depend on changed ---- */

/*
 * A dataset's file key is what st_dataset_file_key reads: its catalog row
 * and signed manifest (the manifest's signature, its owner's key), the
 * encrypted file's header (checked against the manifest), and the KEK
 * version the keyring unwraps it with (revoked versions never do). All of
 * that is the catalog (the epoch, store/catalog.h), the dataset file (its
 * identity, size and times) and the keyring file (st_keyring_stamp: what
 * makes a keyring handle load it again). While none of the three changed,
 * reading again returns the same key or the same refusal, so the key is
 * kept (in secure memory) and handed out again; any change (the KEK
 * revoked or rotated, the file replaced, the dataset's row or its owner
 * changed) and it is read and checked in full. Process-wide, a few slots.
 * A failure is never kept.
 */
#define KEYS_SLOTS 8
typedef struct key_memo {
    int used;
    char ws[PATH_MAX];
    char name[ST_JOB_NAME_MAX + 1];
    uint64_t epoch;
    char path[4096];
    struct stat file;
    st_keyring_stamp ring;
    st_secret *key; /* owned */
    char kek_name[65];
    uint32_t kek_version;
    unsigned long age;
} key_memo;
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static key_memo keys_memo[KEYS_SLOTS];
static unsigned long keys_clock, keys_reused;

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The kept key of `name`, copied to *out with its KEK in *m, when the
 * catalog's epoch is still `epoch` and neither file changed; 1 then. */
static int keys_take(st_gate *g, const char *name, uint64_t epoch,
                     st_secret **out, st_dataset_manifest *m)
{
    int hit = 0;
    st_keyring_stamp ring;
    st_keyring_stamp_get(g->kr, &ring);
    pthread_mutex_lock(&keys_lock);
    for (size_t i = 0; i < KEYS_SLOTS && !hit; i++) {
        key_memo *k = &keys_memo[i];
        struct stat st;
        if (!k->used || k->epoch != epoch || strcmp(k->name, name) ||
            strcmp(k->ws, st_workspace_dir(g->ws)) ||
            !st_keyring_stamp_equal(&k->ring, &ring) ||
            stat(k->path, &st) != 0 || !same_file(&st, &k->file))
            continue;
        st_secret *s = st_secret_new(st_secret_len(k->key), NULL);
        if (!s)
            break;
        memcpy(st_secret_bytes(s), st_secret_cbytes(k->key),
               st_secret_len(k->key));
        *out = s;
        memset(m, 0, sizeof(*m));
        snprintf(m->kek_name, sizeof(m->kek_name), "%s", k->kek_name);
        m->kek_version = k->kek_version;
        k->age = ++keys_clock;
        keys_reused++;
        hit = 1;
    }
    pthread_mutex_unlock(&keys_lock);
    return hit;
}

static void keys_put(st_gate *g, const char *name, uint64_t epoch,
                     const char *path, const struct stat *file,
                     const st_keyring_stamp *ring, const st_secret *key,
                     const st_dataset_manifest *m)
{
    st_secret *s = st_secret_new(st_secret_len(key), NULL);
    if (!s)
        return;
    memcpy(st_secret_bytes(s), st_secret_cbytes(key), st_secret_len(key));
    pthread_mutex_lock(&keys_lock);
    key_memo *k = &keys_memo[0];
    for (size_t i = 0; i < KEYS_SLOTS; i++) {
        key_memo *c = &keys_memo[i];
        if (c->used && !strcmp(c->name, name) &&
            !strcmp(c->ws, st_workspace_dir(g->ws))) {
            k = c;
            break;
        }
        if (!c->used || (k->used && c->age < k->age))
            k = c;
    }
    st_secret_free(k->key);
    memset(k, 0, sizeof(*k));
    k->used = 1;
    snprintf(k->ws, sizeof(k->ws), "%s", st_workspace_dir(g->ws));
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->epoch = epoch;
    snprintf(k->path, sizeof(k->path), "%s", path);
    k->file = *file;
    k->ring = *ring;
    k->key = s;
    snprintf(k->kek_name, sizeof(k->kek_name), "%s", m->kek_name);
    k->kek_version = m->kek_version;
    k->age = ++keys_clock;
    pthread_mutex_unlock(&keys_lock);
}

unsigned long st_gate_keys_reused(void)
{
    pthread_mutex_lock(&keys_lock);
    unsigned long n = keys_reused;
    pthread_mutex_unlock(&keys_lock);
    return n;
}

/* st_dataset_file_key, or the key kept for `name` (above). `before`: the
 * epoch read before the snapshot this runs in began; `now`: the one
 * observed in it. */
static st_code file_key(st_gate *g, const char *name, uint64_t before,
                        uint64_t now, st_secret **out, st_dataset_manifest *m,
                        st_err *err)
{
    if (now && keys_take(g, name, now, out, m))
        return ST_OK;
    /* what the key depends on, looked at before it is read: a change
     * after this makes the next look differ */
    st_keyring_stamp ring;
    st_keyring_stamp_get(g->kr, &ring);
    st_dataset_record d;
    struct stat file;
    int keep = 0;
    if (before && before == now &&
        st_dataset_get(g->ws, name, &d, NULL) == ST_OK) {
        keep = stat(d.path, &file) == 0;
        if (!keep)
            st_dataset_record_free(&d);
    }
    st_code rc = st_dataset_file_key(g->ws, g->kr, name, out, m, err);
    if (keep) {
        if (rc == ST_OK)
            keys_put(g, name, before, d.path, &file, &ring, *out, m);
        st_dataset_record_free(&d);
    }
    return rc;
}

/* ---- EVIDENCE ---- */

/* Judges the evidence against one policy; fills *pass and adds the
 * verdict to r->verdicts. ST_E_INPUT: malformed evidence. */
static st_code judge(st_gate *g, const char *actor, const char *job,
                     const st_evidence *ev, const uint8_t nonce[32],
                     const uint8_t rd[64], const st_attest_policy *pol,
                     const char *policy_of, json_t **claims, st_gate_result *r,
                     int *pass, st_err *err)
{
    st_attest_refs refs;
    st_gate_anchors_refs(&g->anchors, &refs);
    st_verdict v;
    st_verdict_init(&v);
    int64_t now = (int64_t)time(NULL);
    st_code rc = st_attest_verify(ev, rd, &refs, pol, now, &v, err);
    /* the verdict as an EAR; its eat_nonce is the gate's nonce */
    char *jwt = NULL, pid[80];
    st_attest_policy_id(pol, pid);
    st_ear_inputs in = {now, nonce, 32, pid, ev};
    if (rc == ST_OK)
        rc = st_ear_sign(&g->anchors.ear, &v, &in, &jwt, err);
    if (rc == ST_OK) {
        uint8_t h[32];
        char hex[65];
        st_sha256(jwt, strlen(jwt), h);
        st_hex_encode(h, 32, hex);
        json_t *e = json_pack("{s:s,s:s,s:s}", "policy_of", policy_of, "ear",
                              jwt, "sha256", hex);
        if (!e || json_array_append_new(r->ears, e))
            rc = st_err_set(err, ST_E_IO, "out of memory");
    }
    free(jwt);
    if (rc == ST_OK) {
        json_t *vj = st_verdict_to_json(&v);
        if (vj) {
            json_object_set_new(vj, "policy_of", json_string(policy_of));
            json_array_append_new(r->verdicts, vj);
        }
        if (!*claims)
            *claims = st_claims_to_json(&v.claims);
        *pass = v.pass;
        r->attestation_failed |= !v.pass;
        if (!v.pass)
            snprintf(r->reason, sizeof(r->reason), "%s: %s", policy_of,
                     v.reason);
        /* the verdict itself (metrics and `check` count verdicts by TEE
         * and age); it reaches the log with the decision that follows as
         * key.release, in one batch, before any key leaves */
        if (!g->o.verdict_entries) {
            st_verdict_free(&v);
            return rc;
        }
        pending_verdict *p = &g->pend[g->npend];
        if (g->npend >= sizeof(g->pend) / sizeof(g->pend[0]))
            rc = st_err_set(err, ST_E_INTERNAL, "too many verdicts");
        else if (!(p->details = json_pack(
                       "{s:s,s:s,s:o*,s:s,s:s}", "job", job, "evidence_sha256",
                       r->evidence_sha256, "claims",
                       st_claims_to_json(&v.claims), "verdict", v.reason, "tee",
                       st_tee_name(r->tee))))
            rc = st_err_set(err, ST_E_IO, "out of memory");
        else {
            snprintf(p->resource, sizeof(p->resource), "%s", policy_of);
            snprintf(p->reason, sizeof(p->reason), "%s", v.reason);
            p->pass = v.pass;
            /* copied: a gate outlives its requests (serve --broker keeps
             * one per worker) */
            snprintf(p->actor, sizeof(p->actor), "%s",
                     actor && *actor ? actor : "anonymous");
            g->npend++;
        }
    }
    st_verdict_free(&v);
    return rc;
}

/* The EARs' digests, for the audit entry (the tokens go to the client). */
static json_t *ear_digests(const json_t *ears)
{
    json_t *out = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(ears, i, e)
        json_array_append(out, json_object_get(e, "sha256"));
    return out;
}

static size_t scope_split(char *scope, const char **out, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(scope, ",", &save); t && n < max;
         t = strtok_r(NULL, ",", &save))
        out[n++] = t;
    return n;
}

/* The model's key, after the datasets' under the same decision: wrapped
 * to the runtime and recorded (durably) before it is handed back. */
static st_code release_model(st_gate *g, const char *principal,
                             const st_gate_nonce *n, const char *res,
                             const st_gate_result *r, json_t *claims,
                             st_broker_keys *keys, st_err *err)
{
    /* no key offered: the spec asks the requester to wrap it to this
     * runtime itself, after verifying the evidence (docs/predict.md); the
     * decision to let the model be used here is still this one */
    if (g->o.model_key) {
        if (keys->n >= ST_BROKER_MAX_KEYS)
            return st_err_set(err, ST_E_INTERNAL,
                              "too many keys for one release");
        st_code rc = st_broker_wrap_key(
            n->hello.x25519, n->job_id, res, st_secret_cbytes(g->o.model_key),
            st_secret_len(g->o.model_key), &keys->k[keys->n], err);
        if (rc != ST_OK)
            return rc;
        keys->n++;
    }
    char sd[65];
    st_hex_encode(n->spec_digest, 32, sd);
    json_t *d = base_details(n->job_id, n->submitter, principal);
    json_object_update_new(d, json_pack("{s:s,s:s,s:s,s:O*,s:o}",
                                        "evidence_sha256", r->evidence_sha256,
                                        "spec_sha256", sd, "tee",
                                        st_tee_name(r->tee), "claims", claims,
                                        "ear_sha256", ear_digests(r->ears)));
    if (!g->o.model_key)
        json_object_set_new(d, "wrapped_by", json_string("requester"));
    return record(g, principal, res, "success",
                  g->o.model_key
                      ? "evidence verified; the requester's identity opened "
                        "the model"
                      : "evidence verified; the requester wraps the model's "
                        "key to this runtime after verifying its evidence",
                  d, err);
}

st_code st_gate_release(st_gate *g, const char *principal,
                        const uint8_t nonce[32], const char *only,
                        const uint8_t *evidence, size_t evidence_len,
                        st_broker_keys *keys, st_gate_result *r, st_err *err)
{
    memset(r, 0, sizeof(*r));
    keys->n = 0;
    pending_drop(g);
    uint8_t evd[32];
    st_sha256(evidence, evidence_len, evd);
    st_hex_encode(evd, 32, r->evidence_sha256);
    r->verdicts = json_array();
    r->ears = json_array();
    if (!r->verdicts || !r->ears)
        return st_err_set(err, ST_E_IO, "out of memory");
    st_gate_nonce n;
    st_err e;
    st_err_clear(&e);
    st_code rc = st_gate_db_nonce_take(g->ws, nonce, principal,
                                       ST_GATE_NONCE_TTL_S, &n, &e);
    if (rc != ST_OK) {
        if (rc != ST_E_DENIED) {
            if (err)
                *err = e;
            return rc;
        }
        snprintf(r->reason, sizeof(r->reason), "%s", e.msg);
        return refuse(g, principal, NULL, NULL, NULL, 0, r->reason,
                      json_pack("{s:s}", "evidence_sha256", r->evidence_sha256),
                      err);
    }
    const char *names[ST_GATE_MAX_DATASETS];
    size_t nds = scope_split(n.scope, names, ST_GATE_MAX_DATASETS);
    char sd[65];
    st_hex_encode(n.spec_digest, 32, sd);
    json_t *claims = NULL;
    st_evidence *ev = NULL;
    checks *c = NULL;
    const st_job_spec *spec = NULL;
    /* each dataset's policy: the checks', or read here (own) */
    const st_release_policy *pols[ST_GATE_MAX_DATASETS] = {0};
    st_release_policy *own[ST_GATE_MAX_DATASETS] = {0};
    int pass = 1;
    /* nothing read at HELLO is trusted now: the spec and every consent
     * again, on the catalog as it is at this moment (or, when the epoch
     * shows that is the catalog the HELLO read, the HELLO's answer) */
    rc = ST_OK;
    uint64_t snap = st_catalog_snapshot_begin(g->ws);
    /* unless nothing changed since the HELLO checked it all (the memo) */
    c = memo_take(g->ws, &n, st_catalog_epoch_observe(g->ws), nds);
    int same = c != NULL;
    if (only && (nds != 1 || strcmp(names[0], only)))
        rc = st_err_set(&e, ST_E_DENIED,
                        "the nonce was issued for dataset \"%s\", not \"%s\"",
                        nds ? names[0] : "-", only);
    if (rc == ST_OK && !same) {
        if ((c = checks_new()) != NULL)
            c->nds = nds;
        else
            rc = st_err_set(&e, ST_E_IO, "out of memory");
    }
    if (rc == ST_OK && !same)
        rc = st_gate_db_nonce_envelope(g->ws, &n, &e);
    if (rc == ST_OK && !same)
        rc = open_spec(g->ws, n.submitter, n.envelope, strlen(n.envelope),
                       &c->spec, c->digest, &e);
    if (rc == ST_OK && !same && memcmp(c->digest, n.spec_digest, 32))
        rc = st_err_set(&e, ST_E_DENIED,
                        "the signed job spec changed since HELLO");
    /* each dataset's policy as its consent read and verified it */
    for (size_t i = 0; rc == ST_OK && !same && i < nds; i++)
        rc = consent(g->ws, n.submitter, principal, &c->spec, names[i],
                     &c->pols[i], &e);
    if (rc == ST_OK)
        spec = &c->spec;
    for (size_t i = 0; rc == ST_OK && i < nds; i++)
        pols[i] = c->pols[i];
    /* a model-use job: the model's key leaves with the datasets' or not
     * at all */
    char model_res[ST_JOB_NAME_MAX + 24] = "";
    if (rc == ST_OK && spec->kind != ST_JOB_KIND_TRAIN) {
        snprintf(model_res, sizeof(model_res), "model:%s@%u", spec->use_model,
                 spec->use_version);
        if (!g->o.model_key &&
            !(g->o.model_key_by_requester && spec->use_key_by_requester))
            rc = st_err_set(&e, ST_E_DENIED,
                            "%s: no key for %s was offered (only the local "
                            "controller, with the requester's identity, "
                            "can)",
                            st_job_kind_name(spec->kind), model_res);
    }
    /* no policy here (another owner's broker judges the dataset): the
     * refusal says so */
    for (size_t i = 0; rc == ST_OK && i < nds; i++)
        if (!pols[i] &&
            (rc = st_release_policy_get(g->ws, names[i], &own[i], &e)) ==
                ST_OK)
            pols[i] = own[i];
    st_catalog_snapshot_end(g->ws, snap);
    if (rc == ST_OK)
        rc = st_evidence_from_json((const char *)evidence, evidence_len,
                                   "EVIDENCE", &ev, &e);
    if (rc == ST_OK)
        r->tee = st_evidence_tee(ev);
    uint8_t rd[64];
    st_broker_report_data(n.hello.x25519, n.hello.ed25519, n.nonce,
                          n.spec_digest, rd);
    /* one verdict per dataset policy, and the job's own */
    for (size_t i = 0; rc == ST_OK && pass && i < nds; i++) {
        char of[ST_JOB_NAME_MAX + 16];
        snprintf(of, sizeof(of), "dataset:%s", names[i]);
        rc = judge(g, principal, n.job_id, ev, n.nonce, rd,
                   pols[i]->attestation, of, &claims, r, &pass, &e);
    }
    if (rc == ST_OK && pass && g->o.job_policy && spec->attestation) {
        char of[ST_JOB_ID_LEN + 8],
            *text = st_json_dumps(spec->attestation, JSON_COMPACT);
        st_attest_policy *jp = NULL;
        snprintf(of, sizeof(of), "job:%s", n.job_id);
        rc = text ? st_attest_policy_parse(text, strlen(text), of, &jp, &e)
                  : st_err_set(&e, ST_E_IO, "out of memory");
        free(text);
        if (rc == ST_OK)
            rc = judge(g, principal, n.job_id, ev, n.nonce, rd, jp, of, &claims,
                       r, &pass, &e);
        st_attest_policy_free(jp);
    }
    st_evidence_free(ev);
    if (rc == ST_E_INPUT) {
        snprintf(r->reason, sizeof(r->reason), "malformed evidence: %s", e.msg);
        pass = 0;
        rc = ST_OK;
    } else if (rc == ST_E_DENIED || rc == ST_E_NOTFOUND) {
        snprintf(r->reason, sizeof(r->reason), "%s", e.msg);
        pass = 0;
        rc = ST_OK;
    }
    if (rc == ST_OK && !pass) {
        for (size_t i = 0; i < nds; i++)
            st_release_policy_free(own[i]);
        checks_unref(c);
        rc = refuse(g, principal, n.job_id, n.submitter, names, nds, r->reason,
                    json_pack("{s:s,s:s,s:o*,s:O,s:o}", "evidence_sha256",
                              r->evidence_sha256, "spec_sha256", sd, "claims",
                              claims, "verdicts", r->verdicts, "ear_sha256",
                              ear_digests(r->ears)),
                    err);
        st_gate_nonce_clear(&n);
        return rc;
    }
    /* release: each file key, unwrapped by its KEK (read in one
     * snapshot), wrapped to the runtime and recorded before it is handed
     * back */
    st_secret *fks[ST_GATE_MAX_DATASETS] = {0};
    st_dataset_manifest ms[ST_GATE_MAX_DATASETS];
    memset(ms, 0, sizeof(ms));
    size_t got = 0; /* datasets read; the last one failed if rc says so */
    if (rc == ST_OK) {
        /* (not after a failure of the judging itself: an audit entry or
         * the catalog that could not be read or written) */
        uint64_t before = st_catalog_epoch();
        snap = st_catalog_snapshot_begin(g->ws);
        uint64_t now = st_catalog_epoch_observe(g->ws);
        while (rc == ST_OK && got < nds) {
            rc = g->kr ? file_key(g, names[got], before, now, &fks[got],
                                  &ms[got], &e)
                       : st_err_set(&e, ST_E_IO, "the keyring is not open");
            got++;
        }
        st_catalog_snapshot_end(g->ws, snap);
    }
    /* a key that is not read is not released: only its failure is
     * recorded, and none of the others leaves */
    size_t from = rc == ST_OK || got == 0 ? 0 : got - 1;
    for (size_t i = 0; i < from; i++) {
        st_secret_free(fks[i]);
        st_dataset_manifest_free(&ms[i]);
    }
    for (size_t i = from; i < got; i++) {
        char res[ST_JOB_NAME_MAX + 16];
        snprintf(res, sizeof(res), "dataset:%s", names[i]);
        if (rc == ST_OK)
            rc = st_broker_wrap_key(
                n.hello.x25519, n.job_id, res, st_secret_bytes(fks[i]),
                st_secret_len(fks[i]), &keys->k[keys->n++], &e);
        st_secret_free(fks[i]);
        fks[i] = NULL;
        json_t *d = base_details(n.job_id, n.submitter, principal);
        json_object_update_new(
            d, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:O*,s:O,s:o}",
                         "evidence_sha256", r->evidence_sha256, "spec_sha256",
                         sd, "tee", st_tee_name(r->tee), "policy_sha256",
                         pols[i]->digest, "kek", ms[i].kek_name, "kek_version",
                         (json_int_t)ms[i].kek_version, "claims", claims,
                         "verdicts", r->verdicts, "ear_sha256",
                         ear_digests(r->ears)));
        st_dataset_manifest_free(&ms[i]);
        if (rc == ST_OK)
            rc = record(g, principal, res, "success",
                        "evidence verified against the release policy", d, &e);
        else if (!r->reason[0]) {
            /* the failure is audited, once, for its dataset */
            snprintf(r->reason, sizeof(r->reason), "%s", e.msg);
            st_err e2;
            if (record(g, principal, res,
                       rc == ST_E_DENIED ? "denied" : "failure", e.msg, d,
                       &e2) != ST_OK)
                e = e2;
        } else
            json_decref(d);
    }
    if (rc == ST_OK && model_res[0])
        rc = release_model(g, principal, &n, model_res, r, claims, keys, &e);
    for (size_t i = 0; i < nds; i++)
        st_release_policy_free(own[i]);
    checks_unref(c);
    json_decref(claims);
    st_gate_nonce_clear(&n);
    /* verdicts that no key.release entry took along (the judging or the
     * catalog failed after them) are still recorded */
    st_err e2;
    if (g->npend && append(g, NULL, &e2) != ST_OK && rc == ST_OK) {
        rc = e2.code;
        e = e2;
    }
    if (rc != ST_OK) {
        st_wipe(keys, sizeof(*keys));
        if (err)
            *err = e;
        return rc;
    }
    r->pass = 1;
    return ST_OK;
}
