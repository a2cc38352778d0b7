/*
 * run.c: running a job: the controller, which is also the key broker.
 *
 *   queued -> attesting   checks the signed spec, each dataset's release
 *                         policy (principal, recipients), prepares the
 *                         job directory, spawns the sandboxed runtime
 *                         (before the keyring is opened: the runtime is a
 *                         fork and must not inherit keys), then opens the
 *                         keyring and answers HELLO with a fresh nonce
 *   attesting -> keyed    verifies the evidence against every dataset's
 *                         release policy and the job's own policy (one
 *                         verifier, st_attest_verify), refuses stale or
 *                         replayed nonces, unwraps each file key with its
 *                         KEK and wraps it to the runtime; every decision
 *                         is audited with the evidence digest and claims
 *   keyed -> loading -> training -> sealing   reported by the runtime
 *   sealing -> succeeded  the model file's digest matches the provenance
 *                         statement signed by the attested key; the model
 *                         and its provenance move to models/
 *
 * Failure detection: no message (heartbeats come every second) for 5 s,
 * the runtime's exit, the wall-time limit, a cancel request (catalog flag
 * or SIGINT/SIGTERM), each ends the job failed or cancelled with the
 * reason. Cleanup removes temporary files and the runtime's output
 * directory except the encrypted checkpoint (kept for `job resume` until
 * the job succeeds); logs are kept.
 *
 * This module never sees plaintext data: it holds file keys only between
 * unwrapping and wrapping them (secure memory), and reads nothing but
 * ciphertext and digests.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/gate_internal.h"
#include "broker/remote.h"
#include "crypto/dsse.h"
#include "crypto/primitives.h"
#include "enclave/runtime.h"
#include "enclave/sandbox.h"
#include "job/job_internal.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/broker.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/fs.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/keyring.h"
#include "sealtrain/log.h"
#include "sealtrain/model.h"
#include "sealtrain/secmem.h"
#include "train/extlib.h"
#include "train/gbdt.h"
#include "train/train.h"

#define HEARTBEAT_TIMEOUT_MS 5000
#define NONCE_MAX_AGE_S 60

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct ctl {
    st_workspace *ws;
    const st_job_run_opts *o;
    st_job_record rec;
    st_job_spec spec;
    char *payload; /* the signed spec */
    size_t payload_len;
    uint8_t spec_digest[32];
    st_dataset_record ds[ST_RUNTIME_MAX_DATASETS];
    size_t nds;
    char jobdir[4096], outdir[4200];
    st_runtime_args *args; /* in a locked page the fork inherits */
    size_t args_len;
    st_sandbox_child child;
    int spawned;
    pid_t agent_pid; /* tpm: the platform attestation agent */
    pid_t runtime_pid;
    int runtime_pidfd;  /* -1: none */
    int runtime_exited; /* seen through runtime_pidfd */
    st_broker_hello hello;
    uint8_t sim_pub[32];
    const char *runner; /* who runs it (NULL: no principals) */
    st_job_state state;
    int result_ok;
    int from_checkpoint; /* resume, or queued again by st_job_resume_later */
    json_t *pending;     /* status for the next transition (move_to) */
    /* a model and provenance whose registration's COMMIT failed: kept
     * until a later commit (the job's move to failed) settles that it did
     * not land (unregistered_remove) */
    char unsettled_model[4300], unsettled_prov[4300];
    /* a model-use job: the sealed model and its file key (unwrapped with
     * the requester's identity, handed to the gate) */
    int model_fd; /* -1: none */
    st_secret *model_key;
    /* where the sealed predictions go: the caller's path, or (the
     * requester wraps the model key: a job run for `sealtrain serve`)
     * the job's directory, whence GET /v1/jobs/ID/predictions serves
     * them */
    const char *predictions_out;
    char predictions_path[4400];
};

static void observe(struct ctl *c, const char *kind, json_t *data)
{
    if (c->o && c->o->observe)
        c->o->observe(c->o->ctx, kind, data);
    json_decref(data);
}

/* Status the controller produced since the last transition (sandbox
 * report, attestation, timings, result) is committed with
 * the next state change, in one transaction: one fsync per stage, and a
 * state never appears without the status that explains it. Progress and
 * heartbeats, which observers poll, go out at once (status_now). */
static ST_MUST_CHECK st_code move_to(struct ctl *c, st_job_state s,
                                     const char *reason, st_err *err)
{
    st_code rc =
        st_job_transition_status(c->ws, c->rec.id, s, reason, c->pending, err);
    json_decref(c->pending);
    c->pending = NULL;
    if (rc == ST_OK) {
        c->state = s;
        observe(c, "state",
                json_pack("{s:s,s:s}", "state", st_job_state_name(s), "reason",
                          reason ? reason : ""));
    }
    return rc;
}

static void status_set(struct ctl *c, const char *key, json_t *v)
{
    if (!c->pending)
        c->pending = json_object();
    json_object_set_new(c->pending, key, v);
}

/* Writes the pending status now (with `key` when not NULL). */
static void status_now(struct ctl *c, const char *key, json_t *v)
{
    if (key)
        status_set(c, key, v);
    /* the status document is for display; the job's state (move_to) is
     * what the catalog must hold, and that result is checked there */
    if (c->pending)
        st_discard(st_job_status_update(c->ws, c->rec.id, c->pending, NULL));
    json_decref(c->pending);
    c->pending = NULL;
}

/* The principal who runs (or resumed) the job; the submitter when nobody
 * is named (bootstrap, or a library caller). */
static const char *actor_of(const struct ctl *c)
{
    return c->o && c->o->runner && *c->o->runner ? c->o->runner
                                                 : c->rec.submitter;
}

static void audit(struct ctl *c, const char *category, const char *action,
                  const char *resource, const char *outcome, const char *reason,
                  json_t *details)
{
    st_audit_event ev = {category, actor_of(c), action, resource,
                         outcome,  reason,      details};
    st_err e;
    if (st_audit_append(c->ws, &ev, &e) != ST_OK)
        st_error("job.audit", "audit append failed: %s", e.msg);
    json_decref(details);
}

/* ---- before the runtime starts ---- */

static ST_MUST_CHECK st_code load_spec(struct ctl *c, st_err *err)
{
    /* the submitter's registered key must have signed the spec; in a
     * workspace without principals (bootstrap) any signature is only
     * checked for integrity against its own key id */
    st_principal p;
    uint8_t pub[32];
    int have_key = 0;
    memset(&p, 0, sizeof(p));
    if (st_access_principal_get(c->ws, c->rec.submitter, &p, NULL) == ST_OK &&
        p.signing_key) {
        st_code rc = st_ed25519_parse_public_pem(
            p.signing_key, strlen(p.signing_key), pub, err);
        st_principal_free(&p);
        if (rc != ST_OK)
            return rc;
        have_key = 1;
    }
    uint8_t *payload = NULL;
    size_t len = 0;
    st_code rc;
    if (have_key)
        rc = st_dsse_verify(c->rec.envelope, ST_DSSE_TYPE_JOBSPEC,
                            (const uint8_t(*)[32])pub, 1, &payload, &len, NULL,
                            err);
    else {
        int64_t n = 0;
        /* fail closed: an unreadable principal table must not look like
         * an open workspace */
        if (st_access_principal_count(c->ws, &n, err) != ST_OK)
            return st_err_prefix(err, "job %s: checking the submitter",
                                 c->rec.id);
        if (n > 0)
            return st_err_set(err, ST_E_DENIED,
                              "job %s: submitter \"%s\" is not a principal "
                              "with a signing key",
                              c->rec.id, c->rec.submitter);
        rc = st_dsse_payload(c->rec.envelope, &payload, &len, err);
    }
    if (rc != ST_OK)
        return st_err_prefix(err, "job %s: the signed spec", c->rec.id);
    c->payload = (char *)payload;
    c->payload_len = len;
    st_sha256(payload, len, c->spec_digest);
    char hex[65];
    st_hex_encode(c->spec_digest, 32, hex);
    if (strcmp(hex, c->rec.spec_digest) != 0)
        return st_err_set(err, ST_E_DENIED,
                          "job %s: the stored spec digest does not match "
                          "the signed spec",
                          c->rec.id);
    return st_job_spec_parse(c->payload, len, "signed job spec", &c->spec, err);
}

/* A dataset whose key another owner's broker releases: the broker URL
 * and TLS pin are trusted only from the manifest as its owner signed it
 * (the catalog row could have been edited). */
static ST_MUST_CHECK st_code remote_manifest_check(struct ctl *c, size_t i,
                                                   st_err *err)
{
    st_dataset_manifest m;
    st_code rc = st_dataset_manifest_verified(c->ws, c->ds[i].m.name, &m, err);
    if (rc != ST_OK)
        return rc;
    if (!m.broker_url[0])
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": the catalog names a key broker the "
                        "signed manifest does not",
                        c->ds[i].m.name);
    memcpy(c->ds[i].m.broker_url, m.broker_url, sizeof(m.broker_url));
    memcpy(c->ds[i].m.broker_spki_sha256, m.broker_spki_sha256, 32);
    st_dataset_manifest_free(&m);
    return rc;
}

/* Consent (the gate's check, as at submit and again at release), the
 * datasets and the recipients: everything that can refuse the job before
 * a runtime exists. A grant revoked or a principal disabled since submit
 * stops the job here. */
static ST_MUST_CHECK st_code check_policies(struct ctl *c, st_err *err)
{
    st_code rc = st_gate_consent(c->ws, c->rec.submitter, c->runner, &c->spec,
                                 NULL, err);
    if (rc != ST_OK)
        return rc;
    const char *names[2] = {c->spec.train_dataset, c->spec.valid_dataset};
    c->nds = c->spec.valid_dataset[0] ? 2 : 1;
    for (size_t i = 0; i < c->nds; i++) {
        if ((rc = st_dataset_get(c->ws, names[i], &c->ds[i], err)) != ST_OK)
            return rc;
        if (c->ds[i].m.broker_url[0] &&
            (rc = remote_manifest_check(c, i, err)) != ST_OK)
            return rc;
    }
    /* the runtime seals to every recipient of the signed spec, each one
     * allowed by every policy (checked by the consent above) */
    st_runtime_args *a = c->args;
    a->nrecipients = 0;
    for (size_t r = 0; r < c->spec.nrecipients; r++)
        snprintf(a->recipients[a->nrecipients++], ST_JOB_RECIPIENT_MAX, "%s",
                 c->spec.recipients[r]);
    return ST_OK;
}

/* A model-use job: the model version its signed spec names, checked
 * against the registry's digest, and its file key, which only the
 * requester's own identity recovers (a principal that is not one of the
 * model's recipients has none). The gate releases it to the runtime, or
 * not, with the datasets' keys. */
static ST_MUST_CHECK st_code open_model(struct ctl *c, st_err *err)
{
    if (c->spec.kind == ST_JOB_KIND_TRAIN)
        return ST_OK;
    for (size_t i = 0; i < c->nds; i++)
        if (c->ds[i].m.broker_url[0])
            return st_err_set(err, ST_E_USAGE,
                              "dataset \"%s\": its key is released by its "
                              "owner's broker; %s runs only on this "
                              "workspace's datasets",
                              c->ds[i].m.name, st_job_kind_name(c->spec.kind));
    int by_requester = c->spec.use_key_by_requester;
    if (!by_requester && (!c->o || !c->o->nidentities))
        return st_err_set(err, ST_E_USAGE,
                          "%s of %s@%u: the requester's age identity is "
                          "needed to open the model",
                          st_job_kind_name(c->spec.kind), c->spec.use_model,
                          c->spec.use_version);
    st_code rc = ST_OK;
    c->predictions_out = c->o ? c->o->predictions_out : NULL;
    if (c->spec.kind == ST_JOB_KIND_PREDICT && !c->predictions_out &&
        by_requester) {
        char dir[4096];
        rc = st_workspace_path(c->ws, "jobs", c->rec.id, dir, sizeof(dir), err);
        if (rc == ST_OK)
            rc = st_fs_join(c->predictions_path, sizeof(c->predictions_path),
                            dir, ST_JOB_PREDICTIONS_FILE, err);
        if (rc != ST_OK)
            return rc;
        c->predictions_out = c->predictions_path;
    }
    if (c->spec.kind == ST_JOB_KIND_PREDICT && !c->predictions_out)
        return st_err_set(err, ST_E_USAGE,
                          "predict: no output path for the predictions");
    st_model_record r;
    memset(&r, 0, sizeof(r));
    rc = st_model_migrate(c->ws, err);
    if (rc == ST_OK)
        rc = st_model_get(c->ws, c->spec.use_model, c->spec.use_version, &r,
                          err);
    /* the requester wraps the key itself: the file only, no key here */
    if (rc == ST_OK && by_requester)
        rc = st_model_file_open(&r, &c->model_fd, err);
    else if (rc == ST_OK)
        rc = st_model_file_key(&r, c->o->identities, c->o->nidentities,
                               &c->model_fd, &c->model_key, err);
    st_model_record_free(&r);
    return rc;
}

static ST_MUST_CHECK st_code prepare_dirs(struct ctl *c, st_err *err)
{
    st_code rc = st_workspace_path(c->ws, "jobs", c->rec.id, c->jobdir,
                                   sizeof(c->jobdir), err);
    if (rc == ST_OK)
        rc = st_fs_mkdir_private(c->jobdir, err);
    if (rc == ST_OK)
        rc = st_fs_join(c->outdir, sizeof(c->outdir), c->jobdir, "out", err);
    if (rc == ST_OK)
        rc = st_fs_mkdir_private(c->outdir, err);
    return rc;
}

/* The runtime's arguments live in an mlock'ed private page: the fork
 * inherits it (secure memory is not inherited, by design), and the
 * controller wipes and unmaps its copy right after the spawn. */
static ST_MUST_CHECK st_code alloc_args(struct ctl *c, st_err *err)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    c->args_len = (sizeof(st_runtime_args) + 32 + ps - 1) / ps * ps;
    void *p = mmap(NULL, c->args_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return st_err_errno(err, ST_E_IO, errno, "runtime arguments");
    madvise(p, c->args_len, MADV_DONTDUMP);
    if (mlock(p, c->args_len) != 0) {
        munmap(p, c->args_len);
        return st_err_errno(err, ST_E_IO, errno,
                            "locking the runtime's arguments");
    }
    c->args = p;
    c->args->outdir_fd = -1;
    c->args->agent_fd = -1;
    for (size_t i = 0; i < ST_RUNTIME_MAX_DATASETS; i++)
        c->args->ds[i].fd = -1;
    return ST_OK;
}

static void free_args(struct ctl *c)
{
    if (!c->args)
        return;
    for (size_t i = 0; i < ST_RUNTIME_MAX_DATASETS; i++)
        if (c->args->ds[i].fd >= 0)
            close(c->args->ds[i].fd);
    if (c->args->outdir_fd >= 0)
        close(c->args->outdir_fd);
    st_wipe(c->args, c->args_len);
    munlock(c->args, c->args_len);
    munmap(c->args, c->args_len);
    c->args = NULL;
}

/* The job's memory allowance bounds what it may lock beside its data: a
 * model too large for it fails as "secure arena exhausted". */
static uint64_t reserve_bound(const struct ctl *c, uint64_t need,
                              uint64_t fixed)
{
    if (c->spec.memory_bytes && need > c->spec.memory_bytes)
        need = c->spec.memory_bytes > fixed ? c->spec.memory_bytes : fixed;
    return need;
}

/* Secure memory the runtime needs beside the decrypted datasets: the
 * arena's whole range is locked (and counted against the limit) when it
 * is made, and a shared arena is also faulted in then (~0.8 ms per MiB
 * here), so it is sized to the model rather than to a fixed reserve. Per
 * parameter: weights, gradients, two optimiser moments and a best copy (20
 * bytes), a checkpoint or safetensors copy of the same (20), padding (rounded
 * up to 64). Per batch row: inputs, targets and three buffers per layer output
 * (rounded up to 8 floats each). Fixed: 16 MiB for the decryption workers (4
 * MiB), the keys, the age writer and the guard pages of every block. A spec the
 * engine cannot read keeps the old 96 MiB (the runtime reports the error
 * itself). A gbdt spec: st_gbdt_secure_bytes. At most the job's memory
 * allowance. */
static uint64_t runtime_reserve(const struct ctl *c)
{
    const uint64_t fixed = 16u << 20, fallback = 96u << 20;
    st_train_config cfg;
    st_gbdt_config gcfg;
    uint64_t need;
    if (c->spec.kind != ST_JOB_KIND_TRAIN) {
        /* a model use: the decrypted model and the predictor's copy of
         * it, then per row its outputs, its mapped label and (predict)
         * ~24 bytes of CSV per output */
        struct stat st;
        uint64_t model =
            fstat(c->model_fd, &st) == 0 ? (uint64_t)st.st_size : fallback;
        uint64_t outs =
            c->ds[0].m.classes ? c->ds[0].m.classes : c->ds[0].m.targets;
        need = fixed + 3 * model +
               c->ds[0].m.rows * (4 + 28 * (outs ? outs : 1) + 64);
        return reserve_bound(c, need, fixed);
    }
    if (st_gbdt_spec_is_gbdt(c->spec.model)) { /* docs/training.md */
        if (st_gbdt_config_from_json(c->spec.model, c->spec.training,
                                     c->spec.preprocessing, &gcfg,
                                     NULL) != ST_OK)
            return fallback;
        need = st_gbdt_secure_bytes(&gcfg, c->ds[0].m.rows, c->ds[0].m.cols,
                                    c->ds[0].m.classes,
                                    c->nds > 1 ? c->ds[1].m.rows : 0, fixed);
        return reserve_bound(c, need, fixed);
    }
    if (st_train_config_from_json(c->spec.model, c->spec.training, &cfg,
                                  NULL) != ST_OK)
        return fallback;
    uint64_t in = cfg.inputs ? cfg.inputs : c->ds[0].m.cols;
    uint64_t out = cfg.outputs
                       ? cfg.outputs
                       : (c->ds[0].m.classes > 16 ? c->ds[0].m.classes : 16);
    uint64_t params = 0, cells = in + 2;
    for (size_t l = 0; l <= cfg.nhidden; l++) {
        uint64_t o = l < cfg.nhidden ? cfg.hidden[l] : out;
        params += in * o + o;
        cells += o;
        in = o;
    }
    need = fixed + 64 * params + 8 * 4 * (uint64_t)cfg.batch_size * cells;
    return reserve_bound(c, need, fixed);
}

/* A pidfd on the runtime process itself (the sandbox's intermediate is
 * the controller's child, the runtime its only child): it tells when the
 * runtime is gone while the intermediate may still be tearing down the
 * locked arena. Checked against `children` after opening, so that it is
 * the runtime's and not a reused pid's. -1 when unavailable. */
static int open_runtime_pidfd(pid_t pid, const char *children)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    char buf[64] = "";
    FILE *f = fd >= 0 ? fopen(children, "r") : NULL;
    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = 0;
        fclose(f);
    }
    if (fd >= 0 && atoi(buf) != (int)pid) {
        close(fd);
        fd = -1;
    }
    return fd;
#else
    (void)pid;
    (void)children;
    return -1;
#endif
}

/* 1 once the runtime process has exited (waits up to `ms`). */
static int runtime_gone(struct ctl *c, int ms)
{
    if (c->runtime_pidfd < 0)
        return 0;
    struct pollfd p = {c->runtime_pidfd, POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return n > 0;
}

/* SHA-256 of a dataset's signed manifest payload: what the statement of
 * a model use names (docs/predict.md). */
static ST_MUST_CHECK st_code manifest_digest(const st_dataset_record *d,
                                             uint8_t out[32], st_err *err)
{
    if (!d->envelope)
        return st_err_set(err, ST_E_INPUT, "dataset \"%s\": no signed manifest",
                          d->m.name);
    json_t *j = st_json_parse(d->envelope, strlen(d->envelope),
                              "dataset manifest", err);
    if (!j)
        return err->code;
    uint8_t *p = NULL;
    size_t n = 0;
    st_code rc = st_dsse_payload(j, &p, &n, err);
    json_decref(j);
    if (rc == ST_OK)
        st_sha256(p, n, out);
    free(p);
    return rc;
}

static ST_MUST_CHECK st_code spawn_runtime(struct ctl *c, st_err *err)
{
    st_runtime_args *a = c->args;
    snprintf(a->job_id, sizeof(a->job_id), "%s", c->rec.id);
    a->spec = c->payload;
    a->spec_len = c->payload_len;
    a->tee = c->spec.tee;
    a->resume = c->from_checkpoint;
    st_code rc = st_attest_self_measurement(a->measurement, err);
    if (rc != ST_OK)
        return rc;
    int inputs[ST_RUNTIME_MAX_DATASETS + 1];
    uint64_t plain_total = 0;
    for (size_t i = 0; i < c->nds; i++) {
        st_runtime_dataset *d = &a->ds[i];
        snprintf(d->name, sizeof(d->name), "%s", c->ds[i].m.name);
        memcpy(d->plain_sha256, c->ds[i].m.plain_sha256, 32);
        if (c->spec.kind != ST_JOB_KIND_TRAIN &&
            (rc = manifest_digest(&c->ds[i], d->manifest_sha256, err)) != ST_OK)
            return rc;
        d->fd = open(c->ds[i].path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (d->fd < 0)
            return st_err_errno(err, ST_E_IO, errno, "opening %s",
                                c->ds[i].path);
        inputs[i] = d->fd;
        plain_total += c->ds[i].m.plain_size;
    }
    a->ndatasets = c->nds;
    size_t ninputs = c->nds;
    a->model_fd = c->model_fd;
    if (c->model_fd >= 0)
        inputs[ninputs++] = c->model_fd;
    a->outdir_fd = open(c->outdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (a->outdir_fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "opening %s", c->outdir);
    if (a->tee == ST_TEE_SIM) {
        char keypath[4200];
        unsigned char *seed = (unsigned char *)(a + 1);
        if ((rc = st_workspace_path(c->ws, "keys", "sim-platform.pem", keypath,
                                    sizeof(keypath), err)) ||
            (rc = st_attest_sim_key(keypath, 1, seed, c->sim_pub, err)))
            return rc;
        a->sim_seed = seed;
    }
    int agent_end = -1;
    if (a->tee == ST_TEE_TPM) {
        /* the platform measures what it starts, then quotes on request */
        st_agent_args aa;
        memset(&aa, 0, sizeof(aa));
        aa.tcti = getenv("SEALTRAIN_TPM_TCTI");
        aa.items[aa.nitems++] = (st_measure_item){"runtime", "sealtrain", {0}};
        memcpy(aa.items[0].sha256, a->measurement, 32);
        aa.items[aa.nitems] = (st_measure_item){"job", c->rec.id, {0}};
        memcpy(aa.items[aa.nitems++].sha256, c->spec_digest, 32);
        for (size_t i = 0; i < c->nds; i++) {
            aa.items[aa.nitems] =
                (st_measure_item){"dataset", c->ds[i].m.name, {0}};
            memcpy(aa.items[aa.nitems++].sha256, c->ds[i].m.file_sha256, 32);
        }
        int ap[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ap) != 0)
            return st_err_errno(err, ST_E_IO, errno, "agent socketpair");
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            close(ap[0]);
            close(ap[1]);
            return st_err_errno(err, ST_E_IO, errno, "starting the agent");
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(ap[1]);
            _exit(st_agent_main(&aa, ap[0]));
        }
        close(ap[0]);
        c->agent_pid = pid;
        agent_end = ap[1];
        a->agent_fd = agent_end;
    }
    /* the libraries the runtime's engine needs, loaded here: inside the
     * sandbox their files can no longer be read (train/extlib.h). A
     * model use may be of either kind of model, which only the runtime
     * sees once it has the model's key. Loaded here as they were at this
     * process's start when they were linked, OpenMP's and OpenBLAS's
     * default thread counts are the ones they always were. */
    int use = c->spec.kind != ST_JOB_KIND_TRAIN;
    int gbdt = !use && st_gbdt_spec_is_gbdt(c->spec.model);
    if ((use || gbdt) && (rc = st_xgb_load(err)) != ST_OK)
        return rc;
    if (!gbdt && (rc = st_blas_load(err)) != ST_OK)
        return rc;
    st_sandbox_config cfg = {
        .level = c->spec.sandbox,
        .keep_fds = agent_end >= 0 ? &agent_end : NULL,
        .nkeep = agent_end >= 0 ? 1 : 0,
        .input_fds = inputs,
        .ninputs = ninputs,
        .output_dir = c->outdir,
        .output_dirfd = a->outdir_fd,
        .cpus = c->spec.cpus,
        .memory_bytes = c->spec.memory_bytes,
        .cpu_seconds = 0,
        .memlock_secret = c->spec.memory_secret,
        /* secure memory: the decrypted datasets plus room for the
         * engine's state and decryption buffers. The arena is locked as a
         * whole when it is made, so it is sized to the need, not to the
         * memory limit */
        .memlock_bytes = plain_total + runtime_reserve(c),
    };
    rc = st_sandbox_spawn(&cfg, st_runtime_main, a, &c->child, err);
    /* the controller keeps no copy of the platform key, and no end of the
     * runtime's line to the agent */
    st_wipe(a + 1, 32);
    if (agent_end >= 0)
        close(agent_end);
    a->agent_fd = -1;
    if (rc != ST_OK) {
        status_set(c, "sandbox",
                   st_sandbox_report_json(&c->child.report, cfg.level));
        return rc;
    }
    c->spawned = 1;
    status_set(c, "sandbox",
               st_sandbox_report_json(&c->child.report, cfg.level));
    observe(c, "sandbox", st_sandbox_report_json(&c->child.report, cfg.level));
    /* the runtime itself is the sandbox process's only child */
    char path[64], buf[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)c->child.pid,
             (int)c->child.pid);
    for (int tries = 0; tries < 50 && !buf[0]; tries++) {
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(buf, sizeof(buf), f))
                buf[0] = 0;
            fclose(f);
        }
        if (!buf[0])
            usleep(2000);
    }
    c->runtime_pid = buf[0] ? (pid_t)atoi(buf) : c->child.pid;
    if (buf[0])
        c->runtime_pidfd = open_runtime_pidfd(c->runtime_pid, path);
    /* at once, with the sandbox report: `job status` and `job cancel`
     * tell an orphaned job by its controller's pid */
    status_set(c, "runtime_pid", json_integer(c->runtime_pid));
    status_now(c, "controller_pid", json_integer(getpid()));
    return ST_OK;
}

/* ---- remote key brokers (datasets of other owners) ---- */

/* The controller's client certificates per broker URL: SEALTRAIN_BROKERS,
 * else <workspace>/brokers.json (docs/jobs.md "Several owners"). */
static ST_MUST_CHECK st_code broker_endpoint(struct ctl *c, const char *url,
                                             st_broker_endpoint *ep,
                                             st_err *err)
{
    char path[4200];
    const char *env = getenv("SEALTRAIN_BROKERS");
    if (env && *env)
        snprintf(path, sizeof(path), "%s", env);
    else if (st_fs_join(path, sizeof(path), st_workspace_dir(c->ws),
                        "brokers.json", err) != ST_OK)
        return err->code;
    if (!st_fs_exists(path))
        return st_err_set(err, ST_E_USAGE,
                          "key broker %s: no client certificate configured "
                          "(%s does not exist)",
                          url, path);
    return st_broker_endpoint_load(path, url, ep, err);
}

/* Passes the broker's nonce to the runtime and returns the EVIDENCE it
 * answers with (malloc'ed payload in *m). */
static ST_MUST_CHECK st_code runtime_evidence(struct ctl *c,
                                              const uint8_t nonce[32],
                                              st_broker_msg *m, st_err *err)
{
    st_code rc = st_broker_send(c->child.sock, ST_MSG_NONCE, nonce, 32, err);
    if (rc == ST_OK && (rc = st_broker_recv(c->child.sock, 30000, m, err)))
        return st_err_prefix(err, "waiting for the runtime's evidence");
    if (rc == ST_OK && m->type != ST_MSG_EVIDENCE) {
        json_t *j = NULL;
        if (st_broker_json_parse(m, &j, NULL) != ST_OK)
            j = NULL; /* no message: the frame type still tells */
        const char *msg = json_string_value(json_object_get(j, "message"));
        rc = st_err_set(err, ST_E_DENIED,
                        "the runtime produced no evidence (%s): %s",
                        st_broker_type_name(m->type), msg ? msg : "?");
        json_decref(j);
        st_broker_msg_free(m);
    }
    return rc;
}

/* One remote release: HELLO (the runtime's, as it sent it) -> NONCE ->
 * the runtime's EVIDENCE -> KEYS. Only the entry named for this dataset
 * is taken from the broker's KEYS: a broker cannot supply the checkpoint
 * key or another owner's dataset key. */
static ST_MUST_CHECK st_code release_one_remote(struct ctl *c,
                                                st_broker_remote *b, size_t i,
                                                st_broker_keys *keys,
                                                char ev_hex[65], st_err *err)
{
    const char *name = c->ds[i].m.name;
    uint8_t nonce[32];
    st_broker_msg m = {0, NULL, 0};
    /* the signed spec goes along: the owner's broker checks its signer
     * and its recipients against the owner's policy */
    char *env = st_json_dumps(c->rec.envelope, JSON_COMPACT);
    st_code rc =
        env ? st_broker_remote_hello(b, name, c->rec.id, c->spec_digest, env,
                                     strlen(env), &c->hello, nonce, err)
            : st_err_set(err, ST_E_INTERNAL, "serialising the signed spec");
    free(env);
    if (rc == ST_OK)
        rc = runtime_evidence(c, nonce, &m, err);
    if (rc == ST_OK) {
        uint8_t d[32];
        st_sha256(m.data, m.len, d);
        st_hex_encode(d, 32, ev_hex);
    }
    st_broker_keys *got = rc == ST_OK ? calloc(1, sizeof(*got)) : NULL;
    if (rc == ST_OK && !got)
        rc = st_err_set(err, ST_E_IO, "out of memory");
    if (rc == ST_OK)
        rc = st_broker_remote_evidence(b, name, nonce, m.data, m.len, got, err);
    st_broker_msg_free(&m);
    if (rc == ST_OK) {
        char want[ST_BROKER_KEY_NAME_MAX + 1];
        snprintf(want, sizeof(want), "dataset:%s", name);
        const st_broker_key *k = st_broker_keys_find(got, want);
        if (!k)
            rc = st_err_set(err, ST_E_DENIED,
                            "key broker %s (dataset \"%s\") released no key "
                            "named %s",
                            c->ds[i].m.broker_url, name, want);
        else if (keys->n >= ST_BROKER_MAX_KEYS)
            rc = st_err_set(err, ST_E_INTERNAL, "too many keys");
        else
            keys->k[keys->n++] = *k;
    }
    if (got)
        st_wipe(got, sizeof(*got));
    free(got);
    return rc;
}

static ST_MUST_CHECK st_code release_remote(struct ctl *c, st_broker_keys *keys,
                                            st_err *err)
{
    int done[ST_RUNTIME_MAX_DATASETS] = {0};
    json_t *report = json_array();
    st_code rc = ST_OK;
    /* grouped by broker: one TLS context (and connection) per owner */
    for (size_t i = 0; rc == ST_OK && i < c->nds; i++) {
        if (!c->ds[i].m.broker_url[0] || done[i])
            continue;
        const char *url = c->ds[i].m.broker_url;
        st_broker_endpoint ep;
        st_broker_remote *b = NULL;
        rc = broker_endpoint(c, url, &ep, err);
        if (rc == ST_OK)
            rc = st_broker_remote_open(&ep, c->ds[i].m.broker_spki_sha256, &b,
                                       err);
        for (size_t j = i; j < c->nds; j++) {
            if (done[j] || strcmp(c->ds[j].m.broker_url, url) ||
                memcmp(c->ds[j].m.broker_spki_sha256,
                       c->ds[i].m.broker_spki_sha256, 32))
                continue;
            done[j] = 1;
            char resource[128], ev_hex[65] = "";
            snprintf(resource, sizeof(resource), "dataset:%s", c->ds[j].m.name);
            if (rc == ST_OK)
                rc = release_one_remote(c, b, j, keys, ev_hex, err);
            else if (!strstr(err->msg, url))
                /* a configuration error: say which broker */
                st_err_prefix(err, "key broker %s (dataset \"%s\")", url,
                              c->ds[j].m.name);
            const char *outcome = rc == ST_OK         ? "success"
                                  : rc == ST_E_DENIED ? "denied"
                                                      : "failure";
            audit(c, "key-release", "key.release", resource, outcome,
                  rc == ST_OK ? "released by the owner's key broker" : err->msg,
                  json_pack("{s:s,s:s,s:s}", "job", c->rec.id, "broker", url,
                            "evidence_sha256", ev_hex));
            json_array_append_new(report,
                                  json_pack("{s:s,s:s,s:s,s:s,s:s*}", "dataset",
                                            c->ds[j].m.name, "broker", url,
                                            "outcome", outcome, "reason",
                                            rc == ST_OK ? "" : err->msg, "ears",
                                            st_broker_remote_ear(b)));
            if (rc != ST_OK)
                break;
        }
        st_broker_remote_close(b);
    }
    if (json_array_size(report))
        status_set(c, "key_brokers", json_incref(report));
    json_decref(report);
    return rc;
}

/* ---- attestation and key release ---- */

/* How long a requester has to verify the runtime's evidence and wrap the
 * model's key (the runtime waits 90 s for its keys). */
#define MODEL_KEY_WAIT_S 60

/* The key a requester wrapped, from the job's status; 1 when it is
 * there (parsed into *k), 0 when not yet, -1 on error. */
static int requester_key_taken(struct ctl *c, st_broker_key *k, int *cancel,
                               st_err *err)
{
    st_job_record r;
    if (st_job_get(c->ws, c->rec.id, &r, err) != ST_OK)
        return -1;
    *cancel = r.cancel_requested;
    const json_t *j = json_object_get(r.status, "model_key");
    char *text = j ? st_json_dumps(j, JSON_COMPACT) : NULL;
    int got = 0;
    if (j)
        got = text && st_job_model_key_parse(text, strlen(text),
                                             "the requester's model key", k,
                                             err) == ST_OK
                  ? 1
                  : -1;
    free(text);
    st_job_record_free(&r);
    return got;
}

/* A model-use job whose signed spec says the requester wraps the model's
 * key (a client of `sealtrain serve`, docs/predict.md). The runtime's
 * public keys, the gate's nonce and the runtime's evidence go into the
 * job's status ("model_key_request"); the requester verifies them with
 * its own verifier and policy, wraps the key it recovers with its own
 * identity to the runtime's X25519 key (bound to the job and the key's
 * name), and POST /v1/jobs/ID/model-key, which only the job's submitter
 * may call, stores it as "model_key". It joins the datasets' keys here:
 * this process (the operator's) cannot open it. */
static ST_MUST_CHECK st_code requester_key(struct ctl *c,
                                           const uint8_t nonce[32],
                                           const st_broker_msg *evidence,
                                           st_broker_keys *keys, st_err *err)
{
    char name[ST_BROKER_KEY_NAME_MAX + 1], x[65], ed[65], nh[65], sd[65];
    snprintf(name, sizeof(name), "model:%s@%u", c->spec.use_model,
             c->spec.use_version);
    st_hex_encode(c->hello.x25519, 32, x);
    st_hex_encode(c->hello.ed25519, 32, ed);
    st_hex_encode(nonce, 32, nh);
    st_hex_encode(c->spec_digest, 32, sd);
    json_t *ev = st_json_parse((const char *)evidence->data, evidence->len,
                               "the runtime's evidence", err);
    if (!ev)
        return err->code;
    status_now(c, "model_key_request",
               json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "job", c->rec.id,
                         "key", name, "spec_sha256", sd, "x25519", x, "ed25519",
                         ed, "nonce", nh, "evidence", ev));
    st_job_log(c->ws, c->rec.id,
               "waiting for the requester to wrap the key of %s to the "
               "attested runtime",
               name);
    double until = now_s() + MODEL_KEY_WAIT_S;
    st_broker_key k;
    int got = 0, cancel = 0;
    while (!(got = requester_key_taken(c, &k, &cancel, err))) {
        if (cancel)
            return st_err_set(err, ST_E_CANCELLED, "cancelled on request");
        if (interrupted)
            return st_err_set(err, ST_E_CANCELLED,
                              "interrupted while waiting for the model key");
        if (now_s() > until)
            return st_err_set(err, ST_E_DENIED,
                              "the requester wrapped no key for %s within "
                              "%d s",
                              name, MODEL_KEY_WAIT_S);
        usleep(200000);
    }
    if (got < 0)
        return err->code;
    /* a key for another model does not open this one: refused here
     * already, the runtime would refuse it too */
    if (strcmp(k.name, name))
        return st_err_set(err, ST_E_DENIED,
                          "the requester's key is named %s, not %s", k.name,
                          name);
    if (keys->n >= ST_BROKER_MAX_KEYS)
        return st_err_set(err, ST_E_INTERNAL, "too many keys");
    keys->k[keys->n++] = k;
    st_job_log(c->ws, c->rec.id, "the requester's key of %s arrived", name);
    return ST_OK;
}

/* HELLO -> NONCE -> EVIDENCE over the runtime's socketpair, decided by
 * the gate (src/broker/gate.c): this workspace's datasets are released
 * there, other owners' by their brokers (release_remote). */
static ST_MUST_CHECK st_code release_keys(struct ctl *c, st_keyring *kr,
                                          st_err *err)
{
    st_broker_msg m;
    st_code rc = st_broker_recv(c->child.sock, 10000, &m, err);
    if (rc != ST_OK)
        return st_err_prefix(err, "waiting for the runtime's HELLO");
    rc = st_broker_hello_parse(&m, &c->hello, err);
    st_broker_msg_free(&m);
    if (rc != ST_OK)
        return rc;
    st_gate_ask ask;
    memset(&ask, 0, sizeof(ask));
    ask.principal = c->runner ? c->runner : c->rec.submitter;
    ask.submitter = c->rec.submitter;
    ask.job_id = c->rec.id;
    ask.spec_digest = c->spec_digest;
    ask.hello = c->hello;
    for (size_t i = 0; i < c->nds; i++)
        if (!c->ds[i].m.broker_url[0])
            ask.datasets[ask.ndatasets++] = c->ds[i].m.name;
    char *env = st_json_dumps(c->rec.envelope, JSON_COMPACT);
    if (!env)
        return st_err_set(err, ST_E_IO, "serialising the signed spec");
    ask.envelope = env;
    ask.envelope_len = strlen(env);
    st_gate_opts go = {NULL, 1, 1, c->model_key,
                       c->spec.kind != ST_JOB_KIND_TRAIN &&
                           c->spec.use_key_by_requester};
    st_gate *g = NULL;
    st_gate_result res;
    memset(&res, 0, sizeof(res));
    st_broker_keys *keys = calloc(1, sizeof(*keys));
    uint8_t nonce[32];
    rc = keys ? st_gate_open(c->ws, kr, &go, &g, err)
              : st_err_set(err, ST_E_IO, "out of memory");
    if (rc == ST_OK && ask.ndatasets) {
        rc = st_gate_hello(g, &ask, nonce, err);
        if (rc == ST_OK)
            rc = runtime_evidence(c, nonce, &m, err);
        if (rc == ST_OK) {
            rc = st_gate_release(g, ask.principal, nonce, NULL, m.data, m.len,
                                 keys, &res, err);
            if (rc == ST_OK && c->spec.kind != ST_JOB_KIND_TRAIN &&
                !c->model_key)
                rc = requester_key(c, nonce, &m, keys, err);
            st_broker_msg_free(&m);
            status_set(c, "attestation",
                       json_pack("{s:s,s:s,s:b,s:s,s:O*,s:O*}", "tee",
                                 st_tee_name(res.tee), "evidence_sha256",
                                 res.evidence_sha256, "pass", res.pass,
                                 "reason", res.pass ? "pass" : res.reason,
                                 "verdicts", res.verdicts, "ears", res.ears));
            observe(c, "attestation",
                    json_pack("{s:s,s:b,s:s}", "tee", st_tee_name(res.tee),
                              "pass", res.pass, "reason",
                              res.pass ? "pass" : res.reason));
            if (rc == ST_E_DENIED && res.attestation_failed)
                st_err_set(err, ST_E_DENIED, "attestation rejected: %s",
                           res.reason);
        }
    }
    st_gate_close(g);
    free(env);
    /* datasets of other owners: one exchange with each owner's broker */
    if (rc == ST_OK)
        rc = release_remote(c, keys, err);
    if (rc == ST_OK) {
        st_buf b;
        st_buf_init(&b);
        rc = st_broker_keys_encode(keys, &b, err);
        if (rc == ST_OK)
            rc = st_broker_send(c->child.sock, ST_MSG_KEYS, b.data, b.len, err);
        st_buf_free(&b);
    } else {
        json_t *d = json_pack("{s:s}", "reason", err->msg);
        /* the denial stands whether or not the runtime hears why */
        st_discard(st_broker_send_json(c->child.sock, ST_MSG_DENIED, d, NULL));
        json_decref(d);
    }
    if (keys)
        st_wipe(keys, sizeof(*keys));
    free(keys);
    st_gate_result_clear(&res);
    return rc;
}

/* ---- monitoring ---- */

/* The one audit entry of a model use: the model version, the dataset,
 * the requester and the digest of what left (the metrics' canonical
 * JSON, or the sealed predictions). */
static void audit_use(struct ctl *c, const char *outcome, const char *reason,
                      json_t *extra)
{
    char res[ST_JOB_NAME_MAX + 24], action[32];
    snprintf(res, sizeof(res), "model:%s@%u", c->spec.use_model,
             c->spec.use_version);
    snprintf(action, sizeof(action), "model.%s",
             st_job_kind_name(c->spec.kind));
    json_t *d = json_pack("{s:s,s:s,s:i,s:s,s:s}", "job", c->rec.id, "model",
                          c->spec.use_model, "version",
                          (int)c->spec.use_version, "dataset",
                          c->spec.train_dataset, "requester", c->rec.submitter);
    if (d && extra)
        json_object_update(d, extra);
    json_decref(extra);
    audit(c, "operation", action, res, outcome, reason, d);
}

/* The predictions file, checked against the digest the runtime sent,
 * copied to the requester's path (temporary file, fsync, rename). */
static ST_MUST_CHECK st_code take_predictions(struct ctl *c, const char *want,
                                              st_err *err)
{
    char path[4400];
    st_code rc = st_sandbox_reclaim(c->outdir, err);
    if (rc == ST_OK)
        rc = st_fs_join(path, sizeof(path), c->outdir,
                        ST_RUNTIME_PREDICTIONS_FILE, err);
    unsigned char *bytes = NULL;
    size_t len = 0;
    if (rc == ST_OK)
        rc = st_fs_read_all(path, (size_t)1 << 40, &bytes, &len, err);
    if (rc != ST_OK)
        return rc;
    uint8_t d[32];
    char hex[65];
    st_sha256(bytes, len, d);
    st_hex_encode(d, 32, hex);
    if (!want || strcmp(hex, want))
        rc = st_err_set(err, ST_E_DENIED,
                        "the predictions file's digest %s is not the one the "
                        "runtime reported",
                        hex);
    if (rc == ST_OK)
        rc = st_fs_write_atomic(c->predictions_out, bytes, len, 0600, err);
    free(bytes);
    st_discard(st_fs_shred(path, NULL));
    return rc;
}

/* A statement the runtime signed (its RESULT "provenance"): signed by
 * the key the evidence attested, its subject `want` (the hex SHA-256 the
 * controller computed or checked of what left) and, when `type` is not
 * NULL, of that predicate type. `what` names it in errors. */
static ST_MUST_CHECK st_code check_statement(struct ctl *c, const json_t *prov,
                                             const char *want, const char *type,
                                             const char *what, st_err *err)
{
    uint8_t *payload = NULL;
    size_t plen = 0;
    st_code rc = prov ? st_dsse_verify(prov, ST_DSSE_TYPE_INTOTO,
                                       (const uint8_t(*)[32])c->hello.ed25519,
                                       1, &payload, &plen, NULL, err)
                      : st_err_set(err, ST_E_DENIED,
                                   "the runtime's result has no provenance");
    if (rc != ST_OK)
        return st_err_prefix(err, "%s", what);
    json_t *stmt = st_json_parse((const char *)payload, plen, what, err);
    free(payload);
    if (!stmt)
        return err->code;
    const char *subject = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(stmt, "subject"), 0),
                        "digest"),
        "sha256"));
    const char *ptype =
        json_string_value(json_object_get(stmt, "predicateType"));
    if (!subject || !want || strcmp(subject, want) ||
        (type && (!ptype || strcmp(ptype, type))))
        rc = st_err_set(err, ST_E_DENIED, "%s is not about what left (%s)",
                        what, want ? want : "?");
    json_decref(stmt);
    return rc;
}

/* RESULT of a model-use job: the metrics (evaluate) or the sealed
 * predictions (predict), audited once. */
static ST_MUST_CHECK st_code handle_use_result(struct ctl *c, const json_t *res,
                                               st_err *err)
{
    json_t *ev = json_object_get(res, "evaluation");
    json_t *pr = json_object_get(res, "predictions");
    st_code rc = ST_OK;
    json_t *extra = NULL, *result = NULL;
    if (c->spec.kind == ST_JOB_KIND_EVALUATE) {
        /* the digest of the figures as printed with --json: compact, keys
         * sorted (metrics are reals, which canonical JSON refuses) */
        char *canon = json_is_object(ev)
                          ? st_json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS)
                          : NULL;
        if (!canon)
            rc = st_err_set(err, ST_E_INPUT,
                            "the runtime's result has no evaluation");
        char hex[65] = "";
        if (rc == ST_OK) {
            uint8_t d[32];
            st_sha256(canon, strlen(canon), d);
            st_hex_encode(d, 32, hex);
            rc = check_statement(c, json_object_get(res, "provenance"), hex,
                                 ST_MODEL_USE_PREDICATE, "the use's provenance",
                                 err);
        }
        if (rc == ST_OK) {
            extra = json_pack("{s:s}", "metrics_sha256", hex);
            result = json_pack("{s:O,s:s,s:O}", "evaluation", ev,
                               "metrics_sha256", hex, "provenance",
                               json_object_get(res, "provenance"));
        }
        free(canon);
    } else {
        const char *want = json_string_value(json_object_get(pr, "sha256"));
        rc = check_statement(c, json_object_get(res, "provenance"), want,
                             ST_MODEL_USE_PREDICATE, "the use's provenance",
                             err);
        if (rc == ST_OK)
            rc = take_predictions(c, want, err);
        if (rc == ST_OK) {
            json_int_t rows = json_integer_value(json_object_get(pr, "rows"));
            extra = json_pack("{s:s,s:I,s:s}", "predictions_sha256", want,
                              "rows", rows, "output", c->predictions_out);
            result =
                json_pack("{s:{s:s,s:s,s:I},s:O}", "predictions", "path",
                          c->predictions_out, "sha256", want, "rows", rows,
                          "provenance", json_object_get(res, "provenance"));
        }
    }
    if (rc != ST_OK) {
        audit_use(c, "failure", err->msg, NULL);
        return rc;
    }
    audit_use(c, "success", NULL, extra);
    status_set(c, "result", json_incref(result));
    observe(c, "result", result);
    c->result_ok = 1;
    /* what the job was for is done: it succeeded, its result committed
     * with the state (as a training job's registration does); the
     * runtime's exit changes nothing of it */
    return move_to(c, ST_JOB_SUCCEEDED, NULL, err);
}

/* A model that no row names leaves no file (when this process cannot
 * know, the registration's COMMIT having failed, `cleanup`'s model-files
 * removes them once the job is at rest). */
static void unregistered_remove(const char *model, const char *prov)
{
    /* a disk that fails writes cannot overwrite it: its name still goes
     * (the content is sealed to the model's recipients) */
    if (model[0] && st_fs_shred(model, NULL) != ST_OK && unlink(model) != 0 &&
        errno != ENOENT)
        st_warn("job.model", "%s: an unregistered model file was left behind",
                model);
    if (prov[0] && unlink(prov) != 0 && errno != ENOENT)
        st_warn("job.model", "%s: an unregistered provenance was left behind",
                prov);
}

static ST_MUST_CHECK st_code handle_result(struct ctl *c, const json_t *res,
                                           st_err *err)
{
    if (c->spec.kind != ST_JOB_KIND_TRAIN)
        return handle_use_result(c, res, err);
    const json_t *prov = json_object_get(res, "provenance");
    const char *want = json_string_value(
        json_object_get(json_object_get(res, "model"), "sha256"));
    /* the provenance must be signed by the key the evidence attested */
    st_code rc = check_statement(c, prov, want, NULL, "provenance", err);
    if (rc != ST_OK)
        return rc;
    char model[4200], mine[4300], modeldir[4096];
    if ((rc = st_sandbox_reclaim(c->outdir, err)) ||
        (rc = st_fs_join(model, sizeof(model), c->outdir, ST_RUNTIME_MODEL_FILE,
                         err)))
        return rc;
    uint8_t d[32];
    char hex[65];
    if ((rc = st_sha256_file(model, d, err)))
        return rc;
    st_hex_encode(d, 32, hex);
    if (strcmp(hex, want) != 0)
        return st_err_set(err, ST_E_DENIED,
                          "the model file's digest %s is not the attested "
                          "%s",
                          hex, want);
    char name[128];
    st_job_model_file_name(&c->spec, c->rec.id, name, sizeof(name));
    if ((rc = st_workspace_subdir(c->ws, "models", modeldir, sizeof(modeldir),
                                  err)) ||
        (rc = st_fs_join(mine, sizeof(mine), modeldir, name, err)))
        return rc;
    if (rename(model, mine) != 0)
        return st_err_errno(err, ST_E_IO, errno, "moving the model to %s",
                            mine);
    /* from here a failure removes the model and its provenance (no row
     * names them), unless registering may have committed */
    int unknown = 0;
    char provpath[4300] = "";
    snprintf(name, sizeof(name), "%s-%s.provenance.json", c->spec.model_name,
             c->rec.id);
    if ((rc = st_fs_join(provpath, sizeof(provpath), modeldir, name, err))) {
        provpath[0] = 0;
        goto unregistered;
    }
    char *ptext = st_json_dumps(prov, JSON_INDENT(2));
    if (!ptext) {
        rc = st_err_errno(err, ST_E_IO, ENOMEM, "the provenance document");
        goto unregistered;
    }
    /* both renames into models/ (the model's above, the provenance's
     * here) are made durable by one directory fsync, before the registry
     * acknowledges the model */
    st_atomic_file *pf = st_atomic_open(provpath, 0600, err);
    rc = pf ? st_atomic_write(pf, ptext, strlen(ptext), err) : err->code;
    if (pf && rc != ST_OK)
        st_atomic_abort(pf);
    else if (pf)
        rc = st_atomic_commit_defer_dirsync(pf, err);
    if (rc == ST_OK)
        rc = st_fs_fsync_dir(modeldir, err);
    free(ptext);
    /* the registry gives the model its version and lineage (src/model) */
    st_model_record mr = {.version = 0};
    snprintf(mr.name, sizeof(mr.name), "%s", c->spec.model_name);
    snprintf(mr.job_id, sizeof(mr.job_id), "%s", c->rec.id);
    snprintf(mr.path, sizeof(mr.path), "%s", mine);
    snprintf(mr.provenance_path, sizeof(mr.provenance_path), "%s", provpath);
    /* the registration, the job's move to succeeded (with this status)
     * and the model.seal entry: one transaction */
    status_set(c, "result",
               json_pack("{s:s,s:s,s:s,s:O}", "model_path", mine,
                         "model_sha256", hex, "provenance_path", provpath,
                         "metrics", json_object_get(res, "metrics")));
    char resource[160];
    snprintf(resource, sizeof(resource), "model:%s", c->spec.model_name);
    json_t *seal_details =
        json_pack("{s:s,s:s}", "job", c->rec.id, "sha256", hex);
    st_audit_event seal = {"enclave", actor_of(c), "model.seal", resource,
                           "success", NULL,        seal_details};
    if (rc == ST_OK && (!seal_details || !c->pending))
        rc = st_err_errno(err, ST_E_IO, ENOMEM, "the job's result");
    if (rc == ST_OK)
        rc = st_job_register_model(c->ws, &mr, c->pending, &seal, &mr.version,
                                   &unknown, err);
    json_decref(seal_details);
    json_decref(c->pending);
    c->pending = NULL;
    if (rc != ST_OK)
        goto unregistered;
    c->state = ST_JOB_SUCCEEDED;
    observe(c, "state",
            json_pack("{s:s,s:s}", "state", "succeeded", "reason", ""));
    observe(c, "result",
            json_pack("{s:s,s:s,s:O}", "model_path", mine, "provenance_path",
                      provpath, "metrics", json_object_get(res, "metrics")));
    c->result_ok = 1;
    return ST_OK;
unregistered:
    if (!unknown)
        unregistered_remove(mine, provpath);
    else {
        /* the next open may still find the registration in SQLite's
         * WAL, until another commit of this connection supersedes it */
        snprintf(c->unsettled_model, sizeof(c->unsettled_model), "%s", mine);
        snprintf(c->unsettled_prov, sizeof(c->unsettled_prov), "%s", provpath);
    }
    return rc;
}

/* One PROGRESS of the runtime: its state, the job's progress in the
 * status, and the log's line for an epoch (and for early stopping, the
 * decryption, a checkpoint). */
static void progress(struct ctl *c, json_t *j)
{
    const char *s = json_string_value(json_object_get(j, "state"));
    st_job_state want;
    if (s && st_job_state_parse(s, &want, NULL) == ST_OK && want != c->state &&
        want > c->state && want < ST_JOB_SUCCEEDED)
        /* the runtime's own progress: a failed write shows as the
         * next required transition failing */
        st_discard(move_to(c, want, NULL, NULL));
    if (json_object_get(j, "epoch")) {
        status_now(c, "progress", json_incref(j));
        /* a regression has R^2 where a classification has accuracy */
        const json_t *acc = json_object_get(j, "accuracy");
        const json_t *r2 = json_object_get(j, "r2");
        char fig[48] = "";
        if (acc || r2)
            snprintf(fig, sizeof(fig), " %s %.4f", acc ? "accuracy" : "r2",
                     json_number_value(acc ? acc : r2));
        st_job_log(c->ws, c->rec.id, "epoch %lld/%lld loss %.4f%s",
                   json_integer_value(json_object_get(j, "epoch")),
                   json_integer_value(json_object_get(j, "epochs")),
                   json_number_value(json_object_get(j, "loss")), fig);
        if (json_is_true(json_object_get(j, "stopped")))
            st_job_log(c->ws, c->rec.id,
                       "early stopping ended the run after epoch "
                       "%lld; kept the weights of epoch %lld",
                       json_integer_value(json_object_get(j, "epoch")),
                       json_integer_value(json_object_get(j, "kept_epoch")));
        observe(c, "progress", json_incref(j));
    } else if (json_object_get(j, "decrypt_seconds")) {
        double sec = json_number_value(json_object_get(j, "decrypt_seconds"));
        status_set(c, "decrypt_seconds", json_real(sec));
        st_job_log(c->ws, c->rec.id, "datasets decrypted and checked in %.3f s",
                   sec);
    } else if (json_object_get(j, "checkpoint"))
        st_job_log(c->ws, c->rec.id, "checkpoint after epoch %lld",
                   json_integer_value(json_object_get(j, "checkpoint")));
}

static int cancel_requested(struct ctl *c)
{
    st_job_record r;
    int yes = 0;
    if (st_job_get(c->ws, c->rec.id, &r, NULL) == ST_OK) {
        yes = r.cancel_requested;
        st_job_record_free(&r);
    }
    return yes;
}

/* Sends CANCEL and gives the runtime 3 s to stop at an epoch boundary
 * (keeping its last checkpoint), then kills it. Until it stops, its
 * PROGRESS is still logged: the epoch it finishes and the checkpoint it
 * writes there are the ones a resume continues after, so that a resumed
 * job's log holds every epoch. */
static void stop_runtime(struct ctl *c)
{
    /* if the runtime cannot hear CANCEL it is killed below all the same */
    st_discard(st_broker_send(c->child.sock, ST_MSG_CANCEL, NULL, 0, NULL));
    double until = now_s() + 3.0;
    for (double left; (left = until - now_s()) > 0;) {
        struct pollfd pfd = {c->child.sock, POLLIN, 0};
        int n = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        st_broker_msg m;
        if (n <= 0 || st_broker_recv(c->child.sock, 500, &m, NULL) != ST_OK)
            break; /* quiet or closed: the runtime is ending */
        json_t *j = NULL;
        if (m.type == ST_MSG_PROGRESS &&
            st_broker_json_parse(&m, &j, NULL) == ST_OK)
            progress(c, j);
        json_decref(j);
        st_broker_msg_free(&m);
    }
    double left = until - now_s();
    if (!st_sandbox_wait_for(&c->child, left > 0.1 ? (int)(left * 1000) : 100,
                             NULL))
        st_sandbox_kill(&c->child);
}

static void proc_usage(struct ctl *c, json_t *into)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)c->runtime_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    long long kb;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
            json_object_set_new(into, "rss_kib", json_integer(kb));
        if (sscanf(line, "VmHWM: %lld kB", &kb) == 1)
            json_object_set_new(into, "peak_rss_kib", json_integer(kb));
        if (sscanf(line, "Threads: %lld", &kb) == 1)
            json_object_set_new(into, "threads", json_integer(kb));
    }
    fclose(f);
}

/* A data owner who revokes the KEK version a dataset was released under
 * stops the jobs using it: checked every second while the job runs. */
static ST_MUST_CHECK st_code check_revocation(struct ctl *c, st_keyring *kr,
                                              st_err *err)
{
    for (size_t i = 0; i < c->nds; i++) {
        st_kek_info *info = NULL;
        if (c->ds[i].m.broker_url[0])
            continue; /* the KEK is its owner's, not in this keyring */
        if (st_kek_show(kr, c->ds[i].m.kek_name, time(NULL), &info, NULL) !=
            ST_OK)
            continue;
        int revoked = 0;
        for (size_t v = 0; v < info->nversions; v++)
            if (info->versions[v].version == c->ds[i].m.kek_version &&
                info->versions[v].state == ST_KEK_REVOKED)
                revoked = 1;
        st_kek_info_free(info, 1);
        if (revoked)
            return st_err_set(err, ST_E_DENIED,
                              "key revoked during the job: KEK %s version %u "
                              "of dataset \"%s\"",
                              c->ds[i].m.kek_name, c->ds[i].m.kek_version,
                              c->ds[i].m.name);
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code monitor(struct ctl *c, st_keyring *kr, st_err *err)
{
    double start = now_s(), last_msg = now_s(), last_poll = 0;
    for (;;) {
        /* once its model is registered the job has succeeded: a cancel
         * or signal that comes while the runtime exits changes nothing (it
         * made a job "cancelled" with a registered model, which a resume
         * then trained and registered again) */
        if (interrupted && !c->result_ok) {
            /* SIGTERM is how `sealtrain serve` stops its jobs when it shuts
             * down: when the spec asks for checkpoints the runtime writes
             * one at the epoch boundary, and the reason says the job is to
             * be resumed, not abandoned; without them the job just ends */
            stop_runtime(c);
            const char *sig = interrupted == SIGTERM ? "SIGTERM" : "SIGINT";
            if (!c->spec.checkpoint_every)
                return st_err_set(err, ST_E_CANCELLED,
                                  "interrupted by %s: the spec asks for no "
                                  "checkpoints, so the job ends here",
                                  sig);
            return st_err_set(err, ST_E_CANCELLED,
                              "interrupted by %s: stopped at a checkpoint, "
                              "resumable (`sealtrain job resume %s`)",
                              sig, c->rec.id);
        }
        if (!c->result_ok && now_s() - last_poll > 1.0 && cancel_requested(c)) {
            stop_runtime(c);
            return st_err_set(err, ST_E_CANCELLED, "cancelled on request");
        }
        if (!c->result_ok && now_s() - last_poll > 1.0) {
            last_poll = now_s();
            if (check_revocation(c, kr, err) != ST_OK) {
                stop_runtime(c);
                return err->code;
            }
        }
        if (now_s() - start > (double)c->spec.time_limit_s) {
            st_sandbox_kill(&c->child);
            return st_err_set(err, ST_E_IO, "time limit of %llu s exceeded",
                              (unsigned long long)c->spec.time_limit_s);
        }
        if (now_s() - last_msg > HEARTBEAT_TIMEOUT_MS / 1000.0) {
            st_sandbox_kill(&c->child);
            return st_err_set(err, ST_E_IO,
                              "the runtime stopped responding: no heartbeat "
                              "for %d s",
                              HEARTBEAT_TIMEOUT_MS / 1000);
        }
        struct pollfd pfd = {c->child.sock, POLLIN, 0};
        int n = poll(&pfd, 1, 250);
        if (n < 0 && errno != EINTR)
            return st_err_errno(err, ST_E_IO, errno, "waiting for the runtime");
        if (n <= 0)
            continue;
        st_broker_msg m;
        st_code rc = st_broker_recv(c->child.sock, 2000, &m, err);
        if (rc != ST_OK) {
            /* closed: the runtime ended; its exit says how. After a
             * result, the runtime's own exit is enough: the intermediate's
             * teardown of the arena is reaped after the job has ended */
            if (c->result_ok && runtime_gone(c, 1000)) {
                c->runtime_exited = 1;
                return ST_OK;
            }
            int status = 0;
            if (!st_sandbox_wait_for(&c->child, 1000, &status)) {
                st_sandbox_kill(&c->child);
                st_sandbox_wait(&c->child, 1, &status);
            }
            if (c->result_ok)
                return ST_OK;
            char desc[200];
            st_sandbox_describe_status(status, desc, sizeof(desc));
            return st_err_set(err, ST_E_IO,
                              "the runtime ended without a "
                              "result: %s",
                              desc);
        }
        last_msg = now_s();
        json_t *j = NULL;
        if (m.type != ST_MSG_CANCEL &&
            st_broker_json_parse(&m, &j, err) != ST_OK) {
            st_broker_msg_free(&m);
            st_sandbox_kill(&c->child);
            return st_err_prefix(err, "the runtime sent a malformed %s",
                                 st_broker_type_name(m.type));
        }
        int type = m.type;
        st_broker_msg_free(&m);
        if (type == ST_MSG_HEARTBEAT) {
            json_t *hb = json_deep_copy(j);
            json_object_set_new(hb, "heartbeat", json_true());
            proc_usage(c, hb);
            status_set(c, "resources", json_incref(hb));
            status_now(c, "heartbeat", json_true());
            observe(c, "heartbeat", hb);
        } else if (type == ST_MSG_PROGRESS) {
            progress(c, j);
        } else if (type == ST_MSG_RESULT) {
            rc = handle_result(c, j, err);
            json_decref(j);
            if (rc != ST_OK) {
                st_sandbox_kill(&c->child);
                return rc;
            }
            continue;
        } else if (type == ST_MSG_ERROR) {
            const char *code = json_string_value(json_object_get(j, "code"));
            const char *msg = json_string_value(json_object_get(j, "message"));
            st_code ec = ST_E_IO;
            if (code && !strcmp(code, "denied"))
                ec = ST_E_DENIED;
            else if (code && !strcmp(code, "cancelled"))
                ec = ST_E_CANCELLED;
            else if (code && !strcmp(code, "input"))
                ec = ST_E_INPUT;
            rc = st_err_set(err, ec, "%s", msg ? msg : "runtime failure");
            json_decref(j);
            int status;
            if (!st_sandbox_wait_for(&c->child, 2000, &status))
                st_sandbox_kill(&c->child);
            return rc;
        }
        json_decref(j);
    }
}

/* ---- cleanup ---- */

/* Kills and reaps the sandbox's intermediate (which takes the runtime
 * with it). */
static void reap_sandbox(struct ctl *c)
{
    if (c->spawned) {
        st_sandbox_kill(&c->child);
        st_sandbox_wait(&c->child, 1, NULL);
        c->spawned = 0;
    }
    if (c->runtime_pidfd >= 0)
        close(c->runtime_pidfd);
    c->runtime_pidfd = -1;
}

/* 1 if the job's encrypted checkpoint is on disk (kept by cleanup). */
static int has_checkpoint(const struct ctl *c)
{
    char p[4400];
    return c->outdir[0] &&
           st_fs_join(p, sizeof(p), c->outdir, ST_RUNTIME_CHECKPOINT_FILE,
                      NULL) == ST_OK &&
           st_fs_exists(p);
}

static void cleanup(struct ctl *c, int keep_checkpoint)
{
    /* the runtime gone, its output directory can be cleaned while the
     * intermediate still frees the arena (reaped after the state change);
     * otherwise the whole sandbox goes first */
    if (!c->runtime_exited)
        reap_sandbox(c);
    if (c->agent_pid > 0) {
        kill(c->agent_pid, SIGKILL);
        waitpid(c->agent_pid, NULL, 0);
        c->agent_pid = 0;
    }
    free_args(c);
    if (!c->outdir[0] || !st_fs_exists(c->outdir))
        return;
    /* if ownership cannot be taken back, the shreds below say so */
    st_discard(st_sandbox_reclaim(c->outdir, NULL));
    /* temporaries and anything but the encrypted checkpoint go */
    static const char *const files[] = {
        "." ST_RUNTIME_MODEL_FILE ".tmp",       ST_RUNTIME_MODEL_FILE,
        "." ST_RUNTIME_CHECKPOINT_FILE ".tmp",  ST_RUNTIME_CHECKPOINT_FILE,
        "." ST_RUNTIME_PREDICTIONS_FILE ".tmp", ST_RUNTIME_PREDICTIONS_FILE};
    char p[4400];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (keep_checkpoint && !strcmp(files[i], ST_RUNTIME_CHECKPOINT_FILE))
            continue;
        st_err e;
        if (st_fs_join(p, sizeof(p), c->outdir, files[i], NULL) == ST_OK &&
            st_fs_exists(p) && st_fs_shred(p, &e) != ST_OK)
            st_warn("job.cleanup", "%s", e.msg);
    }
    if (!keep_checkpoint) {
        rmdir(c->outdir);
        rmdir(c->jobdir);
    }
}

st_code st_job_run(st_workspace *ws, const char *id, const st_job_run_opts *o,
                   st_err *err)
{
    struct ctl *c = calloc(1, sizeof(*c));
    if (!c)
        return st_err_set(err, ST_E_IO, "out of memory");
    c->ws = ws;
    c->o = o;
    c->runtime_pid = -1;
    c->runtime_pidfd = -1;
    c->model_fd = -1;
    c->child.pid = -1;
    c->child.sock = -1;
    c->runner = o ? o->runner : NULL;
    st_keyring *kr = NULL;
    st_code rc = st_job_get(ws, id, &c->rec, err);
    if (rc != ST_OK) {
        free(c);
        return rc;
    }
    c->state = c->rec.state;
    int resume = o && o->resume;
    /* a job queued again by a resume over the API continues from its
     * checkpoint whoever runs it (st_job_resume_later) */
    c->from_checkpoint =
        resume ||
        json_is_true(json_object_get(c->rec.status, "resume_from_checkpoint"));
    if (resume && c->state != ST_JOB_FAILED && c->state != ST_JOB_CANCELLED) {
        st_err_set(err, ST_E_USAGE,
                   "job %s is %s: only a failed or cancelled job resumes", id,
                   st_job_state_name(c->state));
        st_job_record_free(&c->rec);
        free(c);
        return ST_E_USAGE;
    }
    if (!resume && c->state != ST_JOB_QUEUED) {
        st_err_set(err, ST_E_USAGE,
                   "job %s is %s: only a queued job runs (`job resume` "
                   "continues a failed one)",
                   id, st_job_state_name(c->state));
        st_job_record_free(&c->rec);
        free(c);
        return ST_E_USAGE;
    }
    /* a resumed job is a new run of the same signed spec, through the
     * state machine (src/job/job_db.c); both name who runs it */
    const char *runner = o ? o->runner : NULL;
    rc = resume ? st_job_resume(ws, runner, id, err)
                : st_job_start(ws, runner, id, err);
    if (rc != ST_OK) {
        st_job_record_free(&c->rec);
        free(c);
        return rc;
    }
    c->state = ST_JOB_QUEUED;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    double t0 = now_s();
    /* set while a failure would be the operator's (directories, the
     * sandbox, the keyring), not the job's: the job then goes back to
     * queued instead of failed, as no key was released */
    int operator_side = 0;
    /* the controller is named with the first state that is not queued:
     * `job cancel` ends a job whose controller is gone by it */
    status_set(c, "controller_pid", json_integer(getpid()));
    if ((rc = move_to(c, ST_JOB_ATTESTING, NULL, err)) == ST_OK &&
        (rc = load_spec(c, err)) == ST_OK &&
        (rc = alloc_args(c, err)) == ST_OK &&
        (rc = check_policies(c, err)) == ST_OK &&
        (rc = open_model(c, err)) == ST_OK) {
        operator_side = 1;
        if ((rc = prepare_dirs(c, err)) == ST_OK)
            rc = spawn_runtime(c, err);
    }
    double t1 = now_s();
    /* only now, with the runtime forked, does the broker touch keys */
    if (rc == ST_OK)
        rc = st_keyring_open(ws, &kr, err);
    if (rc == ST_OK)
        operator_side = 0;
    double t2 = now_s();
    if (rc == ST_OK)
        rc = release_keys(c, kr, err);
    if (rc == ST_OK)
        status_set(c, "timings",
                   json_pack("{s:f,s:f,s:f}", "checks_and_spawn_ms",
                             1000 * (t1 - t0), "keyring_open_ms",
                             1000 * (t2 - t1), "attest_and_release_ms",
                             1000 * (now_s() - t2)));
    if (rc == ST_OK && c->from_checkpoint && !resume)
        status_set(c, "resume_from_checkpoint", json_false());
    if (rc == ST_OK)
        rc = move_to(c, ST_JOB_KEYED, NULL, err);
    if (rc == ST_OK)
        rc = monitor(c, kr, err);
    st_keyring_close(kr);
    if (rc == ST_OK && !c->result_ok)
        rc = st_err_set(err, ST_E_IO, "the runtime ended without a result");
    int keep = rc != ST_OK;
    cleanup(c, keep);
    if (c->state == ST_JOB_SUCCEEDED) {
        /* its model registered, the job succeeded (one transaction): what
         * went wrong while the runtime exited changes nothing of that */
        if (rc != ST_OK)
            st_warn("job.run", "job %s succeeded; afterwards: %s", id,
                    err->msg);
        rc = ST_OK;
    } else if (rc == ST_OK)
        rc = st_err_set(err, ST_E_IO, "the job's model was not registered");
    else if (operator_side) {
        st_err saved = *err;
        char why[sizeof(saved.msg) + 96];
        snprintf(why, sizeof(why),
                 "not started: %s (the job stays queued: `job run %s` once "
                 "fixed)",
                 saved.msg, id);
        /* the failure itself is what the caller reports */
        st_err qe;
        if (move_to(c, ST_JOB_QUEUED, why, &qe) != ST_OK)
            st_warn("job.run", "job %s stays %s: %s", id,
                    st_job_state_name(c->state), qe.msg);
        *err = saved;
    } else {
        st_err saved = *err;
        /* "resumable" only when there is a checkpoint to resume from */
        if (rc == ST_E_CANCELLED && strstr(saved.msg, "resumable") &&
            !has_checkpoint(c))
            snprintf(saved.msg, sizeof(saved.msg),
                     "interrupted before its first checkpoint: no "
                     "checkpoint to resume from (`job resume %s` starts it "
                     "over)",
                     id);
        /* the failure itself is what the caller reports; a job this leaves
         * non-terminal is found by `cleanup` (stale-jobs) */
        st_code moved =
            move_to(c, rc == ST_E_CANCELLED ? ST_JOB_CANCELLED : ST_JOB_FAILED,
                    saved.msg, NULL);
        /* that commit, made on the catalog in which the job is not
         * succeeded, supersedes a registration whose COMMIT failed (SQLite
         * writes it over the WAL frames the failed one left): the model
         * is not registered now, nor after any recovery */
        if (moved == ST_OK)
            unregistered_remove(c->unsettled_model, c->unsettled_prov);
        *err = saved;
    }
    reap_sandbox(c);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    for (size_t i = 0; i < c->nds; i++)
        st_dataset_record_free(&c->ds[i]);
    json_decref(c->pending);
    st_secret_free(c->model_key);
    if (c->model_fd >= 0)
        close(c->model_fd);
    st_job_spec_free(&c->spec);
    free(c->payload);
    st_job_record_free(&c->rec);
    free(c);
    return rc;
}
