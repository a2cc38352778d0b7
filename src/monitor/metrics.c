/*
 * metrics.c: the Prometheus exposition of `sealtrain metrics` (see
 * include/sealtrain/metrics.h; format: Prometheus "text-based format"
 * 0.0.4: HELP, TYPE, samples with escaped label values).
 *
 * Counts of events come from the audit log (the tamper-evident record, so
 * the figures cannot disagree with it): attestation results by TEE and
 * outcome (the TEE from the entry's details.tee, "unknown" if absent), key
 * releases by outcome, access denials by principal. States come from the
 * catalog (jobs, datasets, principals) through the owning modules' APIs,
 * and KEK ages from the keyring when the caller could open it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/clock.h"
#include "sealtrain/dataset.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/keyring.h"
#include "sealtrain/metrics.h"
#include "sealtrain/workspace.h"

st_code st_metrics_label(st_buf *out, const char *v, size_t len, st_err *err)
{
    st_code rc = ST_OK;
    for (size_t i = 0; i < len && rc == ST_OK; i++) {
        if (v[i] == '\\')
            rc = st_buf_append(out, "\\\\", 2, err);
        else if (v[i] == '"')
            rc = st_buf_append(out, "\\\"", 2, err);
        else if (v[i] == '\n')
            rc = st_buf_append(out, "\\n", 2, err);
        else
            rc = st_buf_append(out, &v[i], 1, err);
    }
    return rc;
}

/* The exposition being written: a failed append (out of memory) is
 * remembered, and the whole collection then fails rather than serve a
 * truncated page. */
typedef struct expo {
    st_buf *b;
    int failed;
} expo;

static void head(expo *o, const char *name, const char *type, const char *help)
{
    if (st_buf_printf(o->b, NULL, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                      name, type) != ST_OK)
        o->failed = 1;
}

/* name{k1="v1",k2="v2"} value */
static void sample(expo *o, const char *name, const char *k1, const char *v1,
                   const char *k2, const char *v2, double value)
{
    st_buf *b = o->b;
    st_code rc = st_buf_printf(b, NULL, "%s", name);
    if (k1 && rc == ST_OK) {
        rc = st_buf_printf(b, NULL, "{%s=\"", k1);
        if (rc == ST_OK)
            rc = st_metrics_label(b, v1, strlen(v1), NULL);
        if (k2 && rc == ST_OK) {
            rc = st_buf_printf(b, NULL, "\",%s=\"", k2);
            if (rc == ST_OK)
                rc = st_metrics_label(b, v2, strlen(v2), NULL);
        }
        if (rc == ST_OK)
            rc = st_buf_append(b, "\"}", 2, NULL);
    }
    if (rc == ST_OK)
        rc = st_buf_printf(b, NULL, " %.17g\n", value);
    if (rc != ST_OK)
        o->failed = 1;
}

/* ---- counting audit entries ---- */

typedef struct counter {
    char a[96], b[32];
    double n;
} counter;

typedef struct counters {
    counter *c;
    size_t n, cap;
} counters;

/* 0, or -1 when a new counter cannot be had (out of memory) */
static int bump(counters *cs, const char *a, const char *b)
{
    for (size_t i = 0; i < cs->n; i++)
        if (!strcmp(cs->c[i].a, a) && !strcmp(cs->c[i].b, b)) {
            cs->c[i].n++;
            return 0;
        }
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 16;
        counter *c = realloc(cs->c, cap * sizeof(*c));
        if (!c)
            return -1;
        cs->c = c;
        cs->cap = cap;
    }
    counter *c = &cs->c[cs->n++];
    snprintf(c->a, sizeof(c->a), "%s", a);
    snprintf(c->b, sizeof(c->b), "%s", b);
    c->n = 1;
    return 0;
}

typedef struct scan {
    counters attest, release, denials, categories;
    uint64_t entries;
    int oom; /* a count could not be kept: the exposition fails */
} scan;

static void scan_free(scan *s)
{
    free(s->attest.c);
    free(s->release.c);
    free(s->denials.c);
    free(s->categories.c);
}

static int eq(const st_audit_view *v, const char *s)
{
    return v->len == strlen(s) && memcmp(v->p, s, v->len) == 0;
}

static int visit(void *ctx, uint64_t index, const char *line, size_t len)
{
    (void)index;
    scan *s = ctx;
    st_audit_entry e;
    s->entries++;
    if (st_audit_entry_parse(line, len, &e, NULL) != ST_OK)
        return 0; /* `audit verify` reports it; metrics count what parses */
    char cat[32], out[16];
    snprintf(cat, sizeof(cat), "%.*s", (int)e.category.len, e.category.p);
    snprintf(out, sizeof(out), "%.*s", (int)e.outcome.len, e.outcome.p);
    if (bump(&s->categories, cat, out) ||
        (eq(&e.category, "key-release") && bump(&s->release, out, "")))
        return s->oom = 1;
    if (eq(&e.category, "attestation") ||
        (eq(&e.category, "access") && eq(&e.outcome, "denied"))) {
        /* the few entries with labels from free text: decode properly (an
         * entry that parsed above is JSON: failing here is memory) */
        json_t *o = st_json_parse(line, len, "audit entry", NULL);
        if (!o)
            return s->oom = 1;
        /* the TEE: details.tee, or the verified claims' tee */
        json_t *d = json_object_get(o, "details");
        const char *tee = json_string_value(json_object_get(d, "tee"));
        if (!tee)
            tee = json_string_value(
                json_object_get(json_object_get(d, "claims"), "tee"));
        const char *actor = json_string_value(json_object_get(o, "actor"));
        int r = eq(&e.category, "attestation")
                    ? bump(&s->attest, tee ? tee : "unknown", out)
                    : bump(&s->denials, actor ? actor : "unknown", "");
        json_decref(o);
        if (r)
            return s->oom = 1;
    }
    return 0;
}

static void emit_counters(expo *b, const char *name, const char *help,
                          const counters *cs, const char *k1, const char *k2)
{
    head(b, name, "counter", help);
    for (size_t i = 0; i < cs->n; i++)
        sample(b, name, k1, cs->c[i].a, k2, k2 ? cs->c[i].b : NULL, cs->c[i].n);
}

/* ---- the exposition ---- */

static double json_find_number(const json_t *v, const char *key)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (!strcmp(k, key) && json_is_number(x))
                return json_number_value(x);
            double d = json_find_number(x, key);
            if (d >= 0)
                return d;
        }
    }
    return -1;
}

/* Each part of the exposition reads what it counts, or fails the whole
 * of it: a gauge of 0 or a missing one must mean "none", never "could
 * not be read" (out of memory, an I/O error). */
static st_code jobs_metrics(st_workspace *ws, expo *b, st_err *err)
{
    st_job_record *jobs = NULL;
    size_t n = 0;
    double by_state[ST_JOB_CANCELLED + 1] = {0};
    st_code rc = st_job_list(ws, &jobs, &n, err);
    if (rc != ST_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((unsigned)jobs[i].state <= ST_JOB_CANCELLED)
            by_state[jobs[i].state]++;
    head(b, "sealtrain_jobs", "gauge", "Jobs in the catalog by state.");
    for (int s = 0; s <= ST_JOB_CANCELLED; s++)
        sample(b, "sealtrain_jobs", "state", st_job_state_name((st_job_state)s),
               NULL, NULL, by_state[s]);
    head(b, "sealtrain_job_throughput_samples_per_second", "gauge",
         "Training throughput of running jobs (last reported epoch).");
    for (size_t i = 0; i < n; i++) {
        if (st_job_state_terminal(jobs[i].state))
            continue;
        double t = json_find_number(jobs[i].status, "samples_per_second");
        if (t >= 0)
            sample(b, "sealtrain_job_throughput_samples_per_second", "job",
                   jobs[i].id, NULL, NULL, t);
    }
    for (size_t i = 0; i < n; i++)
        st_job_record_free(&jobs[i]);
    free(jobs);
    return ST_OK;
}

static st_code key_metrics(st_keyring *kr, time_t now, expo *b, st_err *err)
{
    head(b, "sealtrain_keyring_open", "gauge",
         "1 if the keyring could be opened for these metrics (KEK metrics "
         "follow only then).");
    sample(b, "sealtrain_keyring_open", NULL, NULL, NULL, NULL, kr ? 1 : 0);
    st_kek_info *infos = NULL;
    size_t n = 0;
    if (!kr)
        return ST_OK;
    st_code rc = st_kek_list(kr, now, &infos, &n, err);
    if (rc != ST_OK)
        return rc;
    head(b, "sealtrain_kek_age_seconds", "gauge",
         "Seconds since each KEK's current version was created.");
    for (size_t i = 0; i < n; i++) {
        time_t t;
        if (st_time_parse(infos[i].rotated, &t, NULL) == ST_OK)
            sample(b, "sealtrain_kek_age_seconds", "key", infos[i].name, NULL,
                   NULL, (double)(now - t));
    }
    head(b, "sealtrain_kek_rotation_overdue", "gauge",
         "1 if the KEK is past its rotation period.");
    for (size_t i = 0; i < n; i++)
        sample(b, "sealtrain_kek_rotation_overdue", "key", infos[i].name, NULL,
               NULL, infos[i].overdue);
    head(b, "sealtrain_kek_versions", "gauge", "KEK versions by state.");
    for (size_t i = 0; i < n; i++) {
        double c[3] = {0};
        for (size_t v = 0; v < infos[i].nversions; v++)
            if ((unsigned)infos[i].versions[v].state < 3)
                c[infos[i].versions[v].state]++;
        for (int s = 0; s < 3; s++)
            sample(b, "sealtrain_kek_versions", "key", infos[i].name, "state",
                   st_kek_state_name((st_kek_state)s), c[s]);
    }
    st_kek_info_free(infos, n);
    return ST_OK;
}

st_code st_metrics_collect(st_workspace *ws, st_keyring *kr, time_t now,
                           st_buf *out, st_err *err)
{
    expo o = {out, 0};
    expo *b = &o;
    char dir[4096], path[4200];
    if (st_workspace_subdir(ws, "audit", dir, sizeof(dir), err) != ST_OK)
        return err ? err->code : ST_E_IO;
    scan s;
    memset(&s, 0, sizeof(s));
    if (st_audit_read(dir, visit, &s, err) != ST_OK) {
        scan_free(&s);
        return err ? err->code : ST_E_IO;
    }
    if (s.oom) {
        scan_free(&s);
        return st_err_set(err, ST_E_IO,
                          "metrics: out of memory counting the audit log");
    }

    st_code rc = jobs_metrics(ws, b, err);
    if (rc != ST_OK)
        goto out;
    emit_counters(b, "sealtrain_attestation_results_total",
                  "Attestation verdicts recorded in the audit log, by TEE "
                  "and outcome.",
                  &s.attest, "tee", "outcome");
    emit_counters(b, "sealtrain_key_releases_total",
                  "Key release decisions recorded in the audit log, by "
                  "outcome (denied: refused).",
                  &s.release, "outcome", NULL);
    emit_counters(b, "sealtrain_access_denials_total",
                  "Access denials recorded in the audit log, by principal.",
                  &s.denials, "principal", NULL);
    emit_counters(b, "sealtrain_audit_events_total",
                  "Audit log entries by category and outcome.", &s.categories,
                  "category", "outcome");

    head(b, "sealtrain_audit_entries", "gauge",
         "Entries in the audit log (tree size).");
    sample(b, "sealtrain_audit_entries", NULL, NULL, NULL, NULL,
           (double)s.entries);
    struct stat st;
    snprintf(path, sizeof(path), "%s/log.jsonl", dir);
    head(b, "sealtrain_audit_log_bytes", "gauge", "Size of the audit log.");
    sample(b, "sealtrain_audit_log_bytes", NULL, NULL, NULL, NULL,
           stat(path, &st) == 0 ? (double)st.st_size : 0);
    char *note = NULL;
    uint64_t cpsize = 0;
    st_audit_checkpoint_body cp;
    memset(&cp, 0, sizeof(cp));
    if (st_audit_latest_checkpoint(dir, &note, &cpsize, NULL) == ST_OK &&
        note) {
        char *blank = strstr(note, "\n\n");
        /* an unreadable checkpoint shows as none (no age sample) */
        if (blank && st_audit_checkpoint_parse(note, (size_t)(blank - note) + 1,
                                               &cp, NULL) != ST_OK)
            memset(&cp, 0, sizeof(cp));
    }
    free(note);
    head(b, "sealtrain_audit_checkpoint_size", "gauge",
         "Tree size of the latest signed checkpoint (0: none).");
    sample(b, "sealtrain_audit_checkpoint_size", NULL, NULL, NULL, NULL,
           (double)cpsize);
    if (cp.time) {
        head(b, "sealtrain_audit_last_checkpoint_age_seconds", "gauge",
             "Seconds since the latest signed checkpoint.");
        sample(b, "sealtrain_audit_last_checkpoint_age_seconds", NULL, NULL,
               NULL, NULL, (double)(now - cp.time));
    }

    if ((rc = key_metrics(kr, now, b, err)) != ST_OK)
        goto out;

    st_principal *ps = NULL;
    size_t np = 0;
    if ((rc = st_access_principal_list(ws, &ps, &np, err)) != ST_OK)
        goto out;
    head(b, "sealtrain_principals", "gauge", "Enabled principals by role.");
    for (unsigned r = 0; r < ST_ROLE_COUNT; r++) {
        double c = 0;
        for (size_t i = 0; i < np; i++)
            c += !ps[i].disabled && (ps[i].roles & (1u << r));
        sample(b, "sealtrain_principals", "role", st_access_role_name(r), NULL,
               NULL, c);
    }
    for (size_t i = 0; i < np; i++)
        st_principal_free(&ps[i]);
    free(ps);
    st_dataset_record *ds = NULL;
    size_t nd = 0;
    if ((rc = st_dataset_list(ws, &ds, &nd, err)) != ST_OK)
        goto out;
    head(b, "sealtrain_datasets", "gauge",
         "Encrypted datasets in the catalog.");
    sample(b, "sealtrain_datasets", NULL, NULL, NULL, NULL, (double)nd);
    st_dataset_records_free(ds, nd);
out:
    scan_free(&s);
    if (rc == ST_OK && o.failed)
        rc = st_err_errno(err, ST_E_IO, ENOMEM, "metrics exposition");
    return rc;
}
