/*
 * check.c: the security checklist (see include/sealtrain/check.h).
 *
 * Each item gathers its evidence through the owning module's public API
 * (workspace paths, keyring, datasets, release policies, jobs, principals,
 * audit log) and decides pass / warn / fail. Where a module's data is not
 * there to look at (a locked keyring), the item is "n/a" with the reason,
 * never a silent pass; where it is there but cannot be read (a catalog
 * row that does not parse), the item fails naming the row: an unreadable
 * row may be exactly what the item exists to catch.
 * Evidence strings are bounded; an item lists at most a handful of
 * offenders and the total.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/check.h"
#include "sealtrain/clock.h"
#include "sealtrain/collateral.h"
#include "sealtrain/dataset.h"
#include "sealtrain/fs.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/keyring.h"
#include "sealtrain/release.h"
#include "sealtrain/workspace.h"

const char *st_check_level_name(st_check_level s)
{
    switch (s) {
    case ST_CHECK_PASS: return "pass";
    case ST_CHECK_WARN: return "warn";
    case ST_CHECK_FAIL: return "fail";
    default: return "n/a";
    }
}

typedef struct list {
    st_check_item *items;
    size_t n, cap;
} list;

static st_check_item *item(list *l, const char *id, const char *title)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        st_check_item *p = realloc(l->items, cap * sizeof(*p));
        if (!p)
            abort(); /* a few KiB: out of memory here is not recoverable */
        l->items = p;
        l->cap = cap;
    }
    st_check_item *it = &l->items[l->n++];
    memset(it, 0, sizeof(*it));
    snprintf(it->id, sizeof(it->id), "%s", id);
    snprintf(it->title, sizeof(it->title), "%s", title);
    return it;
}

static void ev(st_check_item *it, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends to the evidence ("; " between parts). */
static void ev(st_check_item *it, const char *fmt, ...)
{
    size_t off = strlen(it->evidence);
    if (off + 4 >= sizeof(it->evidence))
        return;
    if (off)
        off += (size_t)snprintf(it->evidence + off, sizeof(it->evidence) - off,
                                "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->evidence + off, sizeof(it->evidence) - off, fmt, ap);
    va_end(ap);
}

static void worsen(st_check_item *it, st_check_level s)
{
    if (it->status == ST_CHECK_NA || s > it->status)
        it->status = s;
}

/* ---- permissions ---- */

static int check_path(st_check_item *it, const char *path, int *bad)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    st_err e;
    if (st_fs_check_private(path, &e) != ST_OK) {
        if ((*bad)++ < 6)
            ev(it, "%s is mode %04o", path, (unsigned)(st.st_mode & 07777));
    }
    return 1;
}

static void permissions(st_workspace *ws, list *l)
{
    st_check_item *it = item(l, "workspace-permissions",
                             "Workspace directories and catalog are private");
    static const char *const subs[] = {"blobs",  "datasets", "jobs",
                                       "models", "audit",    "logs",
                                       "keys",   "tmp",      NULL};
    char p[PATH_MAX];
    int bad = 0, n = 0;
    n += check_path(it, st_workspace_dir(ws), &bad);
    for (size_t i = 0; subs[i]; i++)
        if (st_workspace_subdir(ws, subs[i], p, sizeof(p), NULL) == ST_OK)
            n += check_path(it, p, &bad);
    static const char *const files[] = {"catalog.db", "catalog.db-wal",
                                        "catalog.db-shm", "config.json", NULL};
    for (size_t i = 0; files[i]; i++)
        if (st_workspace_path(ws, NULL, files[i], p, sizeof(p), NULL) == ST_OK)
            n += check_path(it, p, &bad);
    it->status = bad ? ST_CHECK_FAIL : ST_CHECK_PASS;
    if (!bad)
        ev(it, "%d paths are owned by this user with no group/other access", n);
    else
        ev(it, "%d of %d paths are accessible by others", bad, n);

    it = item(l, "key-files", "Key files are private (0600 or stricter)");
    bad = n = 0;
    const char *dirs[] = {"keys", "audit"};
    for (size_t d = 0; d < 2; d++) {
        char dir[PATH_MAX];
        if (st_workspace_subdir(ws, dirs[d], dir, sizeof(dir), NULL) != ST_OK)
            continue;
        DIR *dd = opendir(dir);
        struct dirent *e;
        while (dd && (e = readdir(dd))) {
            if (e->d_name[0] == '.' ||
                (d == 1 && strncmp(e->d_name, "log.key", 7)))
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
                n += check_path(it, p, &bad);
        }
        if (dd)
            closedir(dd);
    }
    it->status = bad ? ST_CHECK_FAIL : ST_CHECK_PASS;
    if (!bad)
        ev(it, "%d key files checked (keys/, audit/log.key)", n);
}

/* ---- keys and datasets ---- */

static const st_kek_info *find_kek(const st_kek_info *k, size_t n,
                                   const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k[i].name, name))
            return &k[i];
    return NULL;
}

static int policy_allows_sim(const json_t *policy)
{
    const json_t *att = json_object_get(policy, "attestation");
    const json_t *tees = json_object_get(att ? att : policy, "tee");
    size_t i;
    json_t *t;
    json_array_foreach(tees, i, t)
    {
        if (json_is_string(t) && !strcmp(json_string_value(t), "sim"))
            return 1;
    }
    return 0;
}

/* A release policy's attestation rule accepting an out-of-date TCB
 * (OutOfDate, OutOfDateConfigurationNeeded): a platform missing security
 * fixes may then receive keys. Since issue 16 only an explicit rule does. */
static int policy_accepts_out_of_date(const json_t *policy)
{
    const json_t *att = json_object_get(policy, "attestation");
    const json_t *st = json_object_get(att ? att : policy, "tcb_status");
    size_t i;
    json_t *t;
    json_array_foreach(st, i, t)
    {
        if (json_is_string(t) && !strncmp(json_string_value(t), "OutOfDate", 9))
            return 1;
    }
    return 0;
}

static long long policy_max_age(const json_t *policy)
{
    const json_t *att = json_object_get(policy, "attestation");
    const json_t *m = json_object_get(att ? att : policy, "max_age_seconds");
    return json_is_integer(m) ? (long long)json_integer_value(m) : -1;
}

static void keys_and_data(st_workspace *ws, st_keyring *kr,
                          const st_check_opts *o, list *l,
                          long long *strictest_age)
{
    st_kek_info *keks = NULL;
    size_t nk = 0;
    st_err e;
    int have_keys = kr && st_kek_list(kr, o->now, &keks, &nk, &e) == ST_OK;

    st_check_item *it =
        item(l, "kek-rotation", "KEKs are rotated within their period");
    if (!have_keys) {
        it->status = ST_CHECK_NA;
        ev(it, "not applicable: keyring locked (set "
               "SEALTRAIN_PASSPHRASE_FILE, or use file:/tpm protection)");
    } else {
        int overdue = 0;
        for (size_t i = 0; i < nk; i++)
            if (keks[i].overdue && overdue++ < 6)
                ev(it, "%s last rotated %s, every %u days: overdue",
                   keks[i].name, keks[i].rotated, keks[i].rotation_days);
        it->status = overdue ? ST_CHECK_WARN : ST_CHECK_PASS;
        if (!overdue)
            ev(it, "%zu KEKs, none past its rotation period", nk);
    }

    st_dataset_record *ds = NULL;
    size_t nd = 0;
    int have_ds = st_dataset_list(ws, &ds, &nd, &e) == ST_OK;

    it = item(l, "retired-keys",
              "No retired or revoked KEK version still wraps data");
    if (!have_ds) {
        it->status = ST_CHECK_FAIL;
        ev(it, "cannot read the datasets: %s", e.msg);
    } else if (!have_keys) {
        it->status = ST_CHECK_NA;
        ev(it, "not applicable: keyring locked");
    } else {
        int warn = 0, fail = 0;
        for (size_t i = 0; i < nd; i++) {
            const st_kek_info *k = find_kek(keks, nk, ds[i].m.kek_name);
            for (size_t v = 0; k && v < k->nversions; v++) {
                if (k->versions[v].version != ds[i].m.kek_version ||
                    k->versions[v].state == ST_KEK_ACTIVE)
                    continue;
                int revoked = k->versions[v].state == ST_KEK_REVOKED;
                revoked ? fail++ : warn++;
                if (warn + fail <= 6)
                    ev(it, "dataset %s is wrapped by %s version %u, %s%s",
                       ds[i].m.name, k->name, k->versions[v].version,
                       st_kek_state_name(k->versions[v].state),
                       revoked ? " (no longer decryptable)"
                               : " (run `sealtrain data rewrap`)");
            }
        }
        it->status = fail   ? ST_CHECK_FAIL
                     : warn ? ST_CHECK_WARN
                            : ST_CHECK_PASS;
        if (!fail && !warn)
            ev(it, "%zu datasets, all wrapped by active KEK versions", nd);
    }

    st_check_item *pol =
        item(l, "release-policies", "Every dataset has a release policy");
    st_check_item *sim = item(l, "policies-allow-sim",
                              "No release policy accepts the insecure sim TEE");
    st_check_item *ood = item(l, "policies-accept-out-of-date",
                              "No release policy accepts an OutOfDate TCB");
    st_check_item *ret =
        item(l, "retention", "No dataset is kept past its retention");
    if (!have_ds) {
        pol->status = sim->status = ood->status = ret->status = ST_CHECK_FAIL;
        ev(pol, "cannot read the datasets: %s", e.msg);
        ev(sim, "cannot read the datasets: %s", e.msg);
        ev(ood, "cannot read the datasets: %s", e.msg);
        ev(ret, "cannot read the datasets: %s", e.msg);
    } else {
        int missing = 0, sims = 0, overdue = 0, policies = 0, bad = 0,
            outdated = 0;
        for (size_t i = 0; i < nd; i++) {
            st_release_policy *rp = NULL;
            const json_t *p = NULL;
            st_err pe;
            st_code rc = st_release_policy_get(ws, ds[i].m.name, &rp, &pe);
            if (rc == ST_OK)
                p = rp->json;
            if (rc != ST_OK && rc != ST_E_NOTFOUND) {
                /* unsigned, edited, or unreadable: never released, and
                 * named here (the gate refuses it at every use) */
                if (bad++ < 6)
                    ev(pol, "release policy of dataset %s: %s", ds[i].m.name,
                       pe.msg);
            } else if (rc == ST_E_NOTFOUND) {
                if (missing++ < 6)
                    ev(pol,
                       "dataset %s has no release policy (it is never "
                       "released)",
                       ds[i].m.name);
            } else if (rc == ST_OK) {
                policies++;
                if (policy_allows_sim(p) && sims++ < 6)
                    ev(sim, "the policy of dataset %s accepts \"sim\"",
                       ds[i].m.name);
                if (policy_accepts_out_of_date(p) && outdated++ < 6)
                    ev(ood,
                       "the policy of dataset %s accepts an OutOfDate TCB "
                       "(its tcb_status rule names it)",
                       ds[i].m.name);
                long long a = policy_max_age(p);
                if (a >= 0 && (*strictest_age < 0 || a < *strictest_age))
                    *strictest_age = a;
            }
            st_release_policy_free(rp);
            if (ds[i].m.retention_days >= 0) {
                char c[ST_TIME_LEN];
                time_t t;
                snprintf(c, sizeof(c), "%.19sZ", ds[i].m.created);
                if (st_time_parse(c, &t, NULL) == ST_OK &&
                    t + (time_t)ds[i].m.retention_days * 86400 <= o->now &&
                    overdue++ < 6)
                    ev(ret,
                       "dataset %s (created %s, retention %lld days) is "
                       "overdue: run `sealtrain cleanup`",
                       ds[i].m.name, ds[i].m.created, ds[i].m.retention_days);
            }
        }
        pol->status = bad       ? ST_CHECK_FAIL
                      : missing ? ST_CHECK_WARN
                                : ST_CHECK_PASS;
        if (!missing && !bad)
            ev(pol, "%zu datasets, each with a policy", nd);
        sim->status = sims ? ST_CHECK_FAIL : ST_CHECK_PASS;
        if (!sims)
            ev(sim, "%d policies checked", policies);
        ood->status = outdated ? ST_CHECK_WARN : ST_CHECK_PASS;
        if (!outdated)
            ev(ood, "%d policies checked", policies);
        ret->status = overdue ? ST_CHECK_WARN : ST_CHECK_PASS;
        if (!overdue)
            ev(ret, "%zu datasets within retention", nd);
        st_dataset_records_free(ds, nd);
    }
    st_kek_info_free(keks, nk);
}

/* ---- revocations the audit log recorded, against the keyring ---- */

typedef struct revocation {
    char key[65];
    uint32_t version;
    uint64_t index; /* of the audit entry */
} revocation;

typedef struct revocations {
    revocation *r;
    size_t n, cap;
    int nomem;
} revocations;

static int revocation_visit(void *ctx, uint64_t index, const char *line,
                            size_t len)
{
    revocations *s = ctx;
    if (!memmem(line, len, "\"key.revoke\"", 12))
        return 0; /* the cheap test first: most entries are not */
    st_err pe;
    json_t *o = st_json_parse(line, len, "audit entry", &pe);
    if (!o && pe.code == ST_E_IO) {
        s->nomem = 1; /* not a malformed entry: nothing can be said */
        return 1;
    }
    const char *action = json_string_value(json_object_get(o, "action"));
    const char *outcome = json_string_value(json_object_get(o, "outcome"));
    const char *res = json_string_value(json_object_get(o, "resource"));
    json_t *v = json_object_get(json_object_get(o, "details"), "version");
    if (action && !strcmp(action, "key.revoke") && outcome &&
        !strcmp(outcome, "success") && res && !strncmp(res, "key:", 4) &&
        json_is_integer(v) && json_integer_value(v) > 0 &&
        json_integer_value(v) <= UINT32_MAX) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            revocation *r = realloc(s->r, cap * sizeof(*r));
            if (!r) {
                s->nomem = 1;
                json_decref(o);
                return 1;
            }
            s->r = r;
            s->cap = cap;
        }
        revocation *r = &s->r[s->n++];
        snprintf(r->key, sizeof(r->key), "%s", res + 4);
        r->version = (uint32_t)json_integer_value(v);
        r->index = index;
    }
    json_decref(o);
    return 0;
}

/* A KEK version the log says was revoked but the keyring holds (active or
 * retired): the keyring, and its catalog record with it, was rolled back
 * to a state before the revocation. The log, append-only and
 * tamper-evident, is the witness the keyring cannot be for itself. */
static void revoked_keys(st_workspace *ws, st_keyring *kr, const time_t now,
                         list *l)
{
    st_check_item *it = item(l, "revoked-keys",
                             "Every KEK version the audit log says was "
                             "revoked is revoked in the keyring");
    char dir[PATH_MAX];
    st_err e;
    st_kek_info *keks = NULL;
    size_t nk = 0;
    if (!kr || st_kek_list(kr, now, &keks, &nk, &e) != ST_OK) {
        it->status = ST_CHECK_NA;
        ev(it, "not applicable: %s", kr ? e.msg : "keyring locked");
        return;
    }
    revocations s = {0};
    if (st_workspace_subdir(ws, "audit", dir, sizeof(dir), &e) != ST_OK ||
        st_audit_read(dir, revocation_visit, &s, &e) != ST_OK || s.nomem) {
        it->status = ST_CHECK_FAIL;
        ev(it, "the audit log could not be read: %s",
           s.nomem ? "out of memory" : e.msg);
        free(s.r);
        st_kek_info_free(keks, nk);
        return;
    }
    int back = 0;
    for (size_t i = 0; i < s.n; i++) {
        const st_kek_info *k = find_kek(keks, nk, s.r[i].key);
        if (!k || s.r[i].version > k->nversions)
            continue; /* a key removed, or rolled back before it existed */
        st_kek_state st = k->versions[s.r[i].version - 1].state;
        if (st == ST_KEK_REVOKED)
            continue;
        if (back++ < 6)
            ev(it,
               "key %s version %u was revoked (audit entry %llu) but is %s "
               "in the keyring: it was rolled back",
               s.r[i].key, s.r[i].version, (unsigned long long)s.r[i].index,
               st_kek_state_name(st));
    }
    it->status = back ? ST_CHECK_FAIL : ST_CHECK_PASS;
    if (!back)
        ev(it, "%zu revocation(s) recorded, all in force", s.n);
    free(s.r);
    st_kek_info_free(keks, nk);
}

/* ---- audit log, denials, attestation times ---- */

typedef struct denial {
    char actor[64];
    int n;
} denial;

typedef struct audit_scan {
    char since[20];
    denial d[64];
    size_t nd;
    char (*att_res)[64]; /* resource of the latest attestation per job */
    char (*att_time)[32];
    size_t natt, capatt;
    int nomem; /* an entry could not be looked at: out of memory */
} audit_scan;

static int audit_visit(void *ctx, uint64_t index, const char *line, size_t len)
{
    (void)index;
    audit_scan *s = ctx;
    st_audit_entry e;
    if (st_audit_entry_parse(line, len, &e, NULL) != ST_OK)
        return 0;
    if (e.outcome.len == 6 && !memcmp(e.outcome.p, "denied", 6) &&
        e.time.len >= 19 && strncmp(e.time.p, s->since, 19) >= 0) {
        char actor[64];
        snprintf(actor, sizeof(actor), "%.*s", (int)e.actor.len, e.actor.p);
        size_t i;
        for (i = 0; i < s->nd; i++)
            if (!strcmp(s->d[i].actor, actor))
                break;
        if (i == s->nd && s->nd < 64)
            snprintf(s->d[s->nd++].actor, sizeof(s->d[0].actor), "%s", actor);
        if (i < 64)
            s->d[i].n++;
    }
    if (e.category.len == 11 && !memcmp(e.category.p, "attestation", 11) &&
        e.outcome.len == 7 && !memcmp(e.outcome.p, "success", 7)) {
        /* the job: details.job (job runner, broker), else the resource */
        char res[64];
        st_err pe;
        json_t *o = st_json_parse(line, len, "audit entry", &pe);
        if (!o && pe.code == ST_E_IO)
            return s->nomem = 1;
        const char *job = json_string_value(
            json_object_get(json_object_get(o, "details"), "job"));
        if (job)
            snprintf(res, sizeof(res), "job:%s", job);
        else
            snprintf(res, sizeof(res), "%.*s",
                     (int)(e.resource.len < 63 ? e.resource.len : 63),
                     e.resource.p);
        json_decref(o);
        size_t i;
        for (i = 0; i < s->natt; i++)
            if (!strcmp(s->att_res[i], res))
                break;
        if (i == s->natt) {
            if (s->natt == s->capatt) {
                size_t cap = s->capatt ? s->capatt * 2 : 16;
                void *a = realloc(s->att_res, cap * 64);
                void *t = realloc(s->att_time, cap * 32);
                if (a)
                    s->att_res = a;
                if (t)
                    s->att_time = t;
                if (!a || !t)
                    return s->nomem = 1;
                s->capatt = cap;
            }
            snprintf(s->att_res[s->natt++], 64, "%s", res);
        }
        snprintf(s->att_time[i], 32, "%.*s", (int)(e.time.len < 19 ? 0 : 19),
                 e.time.p);
    }
    return 0;
}

static void audit_items(st_workspace *ws, const st_check_opts *o, list *l,
                        long long strictest_age)
{
    char dir[PATH_MAX];
    st_check_item *it = item(l, "audit-log",
                             "The audit log verifies and was checkpointed "
                             "recently");
    st_err e;
    if (st_workspace_subdir(ws, "audit", dir, sizeof(dir), &e) != ST_OK) {
        it->status = ST_CHECK_FAIL;
        ev(it, "%s", e.msg);
        return;
    }
    st_audit_report rep;
    st_code rc = st_audit_verify(dir, NULL, &rep, &e);
    if (rc == ST_E_NOTFOUND || (rc == ST_E_IO && !st_fs_exists(dir))) {
        it->status = ST_CHECK_WARN;
        ev(it, "no audit log yet");
    } else if (rc != ST_OK) {
        it->status = ST_CHECK_FAIL;
        ev(it, "%s", e.msg);
    } else {
        it->status = ST_CHECK_PASS;
        if (!st_audit_key_sealed(ws)) {
            worsen(it, ST_CHECK_WARN);
            ev(it, "the log key is not sealed under the keyring yet (the "
                   "next `sealtrain audit checkpoint` seals it)");
        }
        ev(it, "%llu entries and %llu signed checkpoints verified",
           (unsigned long long)rep.entries,
           (unsigned long long)rep.checkpoints);
        if (!rep.checkpoints) {
            worsen(it, ST_CHECK_WARN);
            ev(it, "never checkpointed: run `sealtrain audit checkpoint`");
        } else if (o->now - rep.last_checkpoint_time > o->checkpoint_max_age) {
            worsen(it, ST_CHECK_WARN);
            ev(it, "last checkpoint is %lld s old (limit %ld s)",
               (long long)(o->now - rep.last_checkpoint_time),
               o->checkpoint_max_age);
        } else {
            ev(it, "last checkpoint %lld s ago at size %llu",
               (long long)(o->now - rep.last_checkpoint_time),
               (unsigned long long)rep.last_checkpoint_size);
        }
    }

    audit_scan s;
    memset(&s, 0, sizeof(s));
    char since[ST_TIME_LEN];
    st_time_format(o->now - o->denial_window_seconds, since);
    memcpy(s.since, since, 19);
    st_err re;
    st_code read_rc = st_audit_read(dir, audit_visit, &s, &re);
    if (read_rc == ST_OK && s.nomem)
        read_rc = st_err_errno(&re, ST_E_IO, ENOMEM, "scanning the log");
    it = item(l, "repeated-denials",
              "No principal is being denied again and again");
    int hot = 0;
    /* an unreadable log proves nothing about denials: fail, with the
     * reason, rather than pass on an empty scan */
    if (read_rc != ST_OK)
        ev(it, "the audit log could not be read: %s", re.msg);
    for (size_t i = 0; i < s.nd; i++)
        if (s.d[i].n >= o->denial_threshold && hot++ < 6)
            ev(it, "%s was denied %d times since %s: a possible attack",
               s.d[i].actor, s.d[i].n, since);
    it->status = hot || read_rc != ST_OK ? ST_CHECK_FAIL : ST_CHECK_PASS;
    if (!hot && read_rc == ST_OK)
        ev(it, "no principal reached %d denials since %s", o->denial_threshold,
           since);

    it = item(l, "stale-attestation",
              "Running jobs were attested within the policies' limit");
    st_job_record *jobs = NULL;
    size_t nj = 0;
    if (st_job_list(ws, &jobs, &nj, &e) != ST_OK) {
        it->status = ST_CHECK_FAIL;
        ev(it, "cannot read the jobs: %s", e.msg);
    } else {
        int running = 0, stale = 0;
        for (size_t i = 0; i < nj; i++) {
            st_job_state st = jobs[i].state;
            if (st < ST_JOB_KEYED || st_job_state_terminal(st))
                continue;
            running++;
            char res[64];
            snprintf(res, sizeof(res), "job:%s", jobs[i].id);
            const char *when = NULL;
            for (size_t a = 0; a < s.natt; a++)
                if (!strcmp(s.att_res[a], res))
                    when = s.att_time[a];
            time_t t = 0;
            char w[ST_TIME_LEN];
            if (when) {
                snprintf(w, sizeof(w), "%.19sZ", when);
                /* an unreadable time counts as no attestation */
                if (st_time_parse(w, &t, NULL) != ST_OK)
                    t = 0;
            }
            if (!t) {
                if (stale++ < 6)
                    ev(it,
                       "job %s is %s with no attestation in the audit "
                       "log",
                       jobs[i].id, st_job_state_name(st));
            } else if (strictest_age >= 0 && o->now - t > strictest_age) {
                if (stale++ < 6)
                    ev(it, "job %s was attested %lld s ago (limit %lld s)",
                       jobs[i].id, (long long)(o->now - t), strictest_age);
            }
        }
        it->status = stale ? ST_CHECK_WARN : ST_CHECK_PASS;
        if (!stale)
            ev(it, "%d running jobs%s", running,
               strictest_age < 0 ? "; no policy limits evidence age" : "");
        for (size_t i = 0; i < nj; i++)
            st_job_record_free(&jobs[i]);
        free(jobs);
    }
    free(s.att_res);
    free(s.att_time);
}

static void admins(st_workspace *ws, const st_check_opts *o, list *l)
{
    st_check_item *it =
        item(l, "inactive-admins", "Admins have been active recently");
    st_principal *ps = NULL;
    size_t n = 0;
    st_err e;
    if (st_access_principal_list(ws, &ps, &n, &e) != ST_OK) {
        it->status = ST_CHECK_FAIL;
        ev(it, "cannot read the principals: %s", e.msg);
        return;
    }
    int stale = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(ps[i].roles & ST_ROLE_ADMIN) || ps[i].disabled)
            continue;
        count++;
        const char *last =
            ps[i].last_active[0] ? ps[i].last_active : ps[i].created;
        time_t t;
        if (st_time_parse(last, &t, NULL) == ST_OK &&
            o->now - t > o->admin_inactive_seconds && stale++ < 6)
            ev(it, "admin %s last active %s%s", ps[i].name, last,
               ps[i].last_active[0] ? "" : " (never; created then)");
    }
    it->status = stale ? ST_CHECK_WARN : ST_CHECK_PASS;
    if (!stale && count)
        ev(it, "%d admins, all active within %ld days", count,
           o->admin_inactive_seconds / 86400);
    else if (!stale)
        ev(it, "no admin yet (bootstrap mode: no principals)");
    for (size_t i = 0; i < n; i++)
        st_principal_free(&ps[i]);
    free(ps);
}

/* Offline collateral bundles: each still verifies (signature, signer
 * enabled and allowed), and none is stale or goes stale within
 * ST_COLLATERAL_WARN_SECONDS (the verifier would then refuse evidence
 * that relies on it). */
static void collateral(st_workspace *ws, const st_check_opts *o, list *l)
{
    st_check_item *it = item(l, "collateral-bundles",
                             "Offline collateral bundles verify and are "
                             "current for 7 days");
    st_collateral_entry *rows = NULL;
    size_t n = 0;
    st_err e;
    if (st_collateral_list(ws, &rows, &n, &e) != ST_OK) {
        it->status = ST_CHECK_FAIL;
        ev(it, "cannot read the collateral bundles: %s", e.msg);
        return;
    }
    it->status = ST_CHECK_PASS;
    if (!n)
        ev(it, "no collateral bundle imported");
    for (size_t i = 0; i < n; i++) {
        st_collateral_bundle *b = NULL;
        char when[ST_TIME_LEN] = "";
        if (rows[i].stale_at > 0)
            st_time_format((time_t)rows[i].stale_at, when);
        if (st_collateral_get(ws, rows[i].digest, NULL, &b, &e) != ST_OK) {
            worsen(it, ST_CHECK_FAIL);
            ev(it, "%s", e.msg);
        } else if (rows[i].stale_at > 0 && rows[i].stale_at <= o->now) {
            worsen(it, ST_CHECK_WARN);
            ev(it, "bundle sha256:%.16s is stale since %s: %s", rows[i].digest,
               when, rows[i].stale_doc);
        } else if (rows[i].stale_at > 0 &&
                   rows[i].stale_at <= o->now + ST_COLLATERAL_WARN_SECONDS) {
            worsen(it, ST_CHECK_WARN);
            ev(it, "bundle sha256:%.16s goes stale at %s: %s", rows[i].digest,
               when, rows[i].stale_doc);
        } else {
            ev(it, "bundle sha256:%.16s current until %s", rows[i].digest,
               when[0] ? when : "(no dated document)");
        }
        st_collateral_bundle_free(b);
    }
    free(rows);
}

st_code st_check_run(st_workspace *ws, st_keyring *kr, const st_check_opts *in,
                     st_check_item **items, size_t *n, st_err *err)
{
    (void)err;
    st_check_opts o = *in;
    if (!o.now)
        o.now = time(NULL);
    if (o.denial_threshold <= 0)
        o.denial_threshold = 5;
    if (o.denial_window_seconds <= 0)
        o.denial_window_seconds = 86400;
    if (o.checkpoint_max_age <= 0)
        o.checkpoint_max_age = 86400;
    if (o.admin_inactive_seconds <= 0)
        o.admin_inactive_seconds = 90L * 86400;
    list l = {0};
    long long strictest_age = -1;
    permissions(ws, &l);
    keys_and_data(ws, kr, &o, &l, &strictest_age);
    revoked_keys(ws, kr, o.now, &l);
    audit_items(ws, &o, &l, strictest_age);
    admins(ws, &o, &l);
    collateral(ws, &o, &l);
    *items = l.items;
    *n = l.n;
    return ST_OK;
}

st_check_level st_check_worst(const st_check_item *items, size_t n)
{
    st_check_level w = ST_CHECK_PASS;
    for (size_t i = 0; i < n; i++)
        if (items[i].status != ST_CHECK_NA && items[i].status > w)
            w = items[i].status;
    return w;
}

json_t *st_check_json(const st_check_item *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a,
                              json_pack("{s:s,s:s,s:s,s:s}", "id", items[i].id,
                                        "title", items[i].title, "status",
                                        st_check_level_name(items[i].status),
                                        "evidence", items[i].evidence));
    return json_pack("{s:s,s:o}", "result",
                     st_check_level_name(st_check_worst(items, n)), "items", a);
}

st_code st_check_html(const st_check_item *items, size_t n,
                      const char *workspace, time_t now, const char *path,
                      st_err *err)
{
    st_buf b;
    st_buf_init(&b);
    char when[ST_TIME_LEN];
    st_time_format(now, when);
    st_check_level worst = st_check_worst(items, n);
    st_code rc = st_buf_printf(
        &b, err,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>sealtrain security check</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;width:100%%}"
        "td,th{border:1px solid #ccc;padding:.4em;text-align:left;"
        "vertical-align:top}th{background:#eee}"
        ".pass{background:#d7f5d7}.warn{background:#fff1c2}"
        ".fail{background:#ffd0d0}.na{background:#eee;color:#666}"
        "code{font-size:.9em}</style></head><body>\n"
        "<h1>sealtrain security check</h1>\n<p>Workspace <code>");
    if (rc == ST_OK)
        rc = st_buf_append_html(&b, workspace, err);
    if (rc == ST_OK)
        rc = st_buf_printf(
            &b, err,
            "</code>, checked %s. Result: <strong class=\"%s\">%s"
            "</strong>.</p>\n<table><tr><th>Status</th><th>Check</th>"
            "<th>Evidence</th></tr>\n",
            when, worst == ST_CHECK_NA ? "na" : st_check_level_name(worst),
            st_check_level_name(worst));
    for (size_t i = 0; i < n && rc == ST_OK; i++) {
        const char *cls = items[i].status == ST_CHECK_NA
                              ? "na"
                              : st_check_level_name(items[i].status);
        rc = st_buf_printf(&b, err, "<tr class=\"%s\"><td>%s</td><td>", cls,
                           st_check_level_name(items[i].status));
        if (rc == ST_OK)
            rc = st_buf_append_html(&b, items[i].title, err);
        if (rc == ST_OK)
            rc = st_buf_printf(&b, err, " <code>(%s)</code></td><td>",
                               items[i].id);
        if (rc == ST_OK)
            rc = st_buf_append_html(&b, items[i].evidence, err);
        if (rc == ST_OK)
            rc = st_buf_printf(&b, err, "</td></tr>\n");
    }
    if (rc == ST_OK)
        rc = st_buf_printf(&b, err, "</table>\n</body></html>\n");
    if (rc == ST_OK)
        rc = st_fs_write_atomic(path, b.data, b.len, 0600, err);
    else
        st_err_prefix(err, "the HTML report");
    st_buf_free(&b);
    return rc;
}

st_code st_check_run_audited(st_workspace *ws, st_keyring *kr,
                             const st_check_opts *opts, const char *actor,
                             st_check_item **items, size_t *n, st_err *err)
{
    st_code rc = st_check_run(ws, kr, opts, items, n, err);
    if (rc != ST_OK)
        return rc;
    size_t fails = 0, warns = 0;
    for (size_t i = 0; i < *n; i++) {
        fails += (*items)[i].status == ST_CHECK_FAIL;
        warns += (*items)[i].status == ST_CHECK_WARN;
    }
    char reason[96];
    snprintf(reason, sizeof(reason), "%zu items: %zu fail, %zu warn", *n, fails,
             warns);
    st_audit_event ev = {
        "compliance", actor && *actor ? actor : "bootstrap", "check",
        "workspace",  fails ? "failure" : "success",         reason,
        NULL};
    rc = st_audit_append(ws, &ev, err);
    if (rc != ST_OK) {
        free(*items);
        *items = NULL;
        *n = 0;
    }
    return rc;
}

st_code st_check_from_json(const json_t *j, st_check_item **items, size_t *n,
                           st_err *err)
{
    static const char *const levels[] = {"pass", "warn", "fail", "n/a"};
    const json_t *arr = json_object_get(j, "items");
    *items = NULL;
    *n = 0;
    if (!json_is_array(arr))
        return st_err_set(err, ST_E_INPUT,
                          "check report: \"items\" must be an array");
    st_check_item *out = calloc(json_array_size(arr) + 1, sizeof(*out));
    if (!out)
        return st_err_set(err, ST_E_IO, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *title = json_string_value(json_object_get(v, "title"));
        const char *status = json_string_value(json_object_get(v, "status"));
        const char *ev = json_string_value(json_object_get(v, "evidence"));
        size_t l = 0;
        while (status && l < 4 && strcmp(levels[l], status))
            l++;
        if (!id || !title || !ev || l == 4) {
            free(out);
            return st_err_set(err, ST_E_INPUT,
                              "check report: items[%zu] lacks id, title, "
                              "evidence or a status (pass, warn, fail, n/a)",
                              i);
        }
        snprintf(out[i].id, sizeof(out[i].id), "%s", id);
        snprintf(out[i].title, sizeof(out[i].title), "%s", title);
        snprintf(out[i].evidence, sizeof(out[i].evidence), "%s", ev);
        out[i].status = (st_check_level)l;
    }
    *items = out;
    *n = json_array_size(arr);
    return ST_OK;
}
