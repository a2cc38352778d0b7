/*
 * runtime.c: the enclave runtime: what runs inside the sandbox.
 *
 *   1. ephemeral X25519 + Ed25519 keys (secure memory); HELLO
 *   2. NONCE -> evidence whose report data binds both public keys, the
 *      nonce and the job spec digest (st_broker_report_data); EVIDENCE.
 *      Repeated for each NONCE: the controller relays one per remote key
 *      broker (datasets of other owners, docs/jobs.md "Several owners")
 *   3. KEYS (or DENIED): each dataset's file key, wrapped to our X25519
 *      key. When the spec asks for checkpoints, the checkpoint key is
 *      derived here from those file keys, the job id and the spec digest
 *      (rt_checkpoint_key): no controller, broker or keyring ever holds
 *      it, and a resumed runtime that is released the same keys after a
 *      new attestation derives it again. A key the controller sends for
 *      checkpoints is ignored.
 *   4. decrypt each dataset into secure memory (all cores), checked
 *      against the plaintext digest of its signed manifest
 *   5. train with the engine; PROGRESS after every epoch, HEARTBEAT every
 *      second from a second thread (which also listens for CANCEL); when
 *      the signed spec asks for checkpoints (checkpoint_every N > 0), an
 *      encrypted checkpoint every N epochs and at the epoch boundary where
 *      a CANCEL stops it; otherwise none, ever
 *   6. seal the model: safetensors inside an age file to the allowed
 *      recipients; an in-toto provenance statement signed (DSSE) with the
 *      attested Ed25519 key; RESULT
 *   7. wipe everything and exit
 *
 * Only metrics, states and the final digests cross the socket; data,
 * weights and keys never do. This file must never hold a KEK (it cannot:
 * the broker keeps the keyring) and never write plaintext to a file: the
 * output directory receives only age files and encrypted checkpoints.
 */
#include "enclave/runtime.h"
#include "crypto/age_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/msg.h"
#include "crypto/dsse.h"
#include "crypto/primitives.h"
#include "sealtrain/age.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/model.h"
#include "sealtrain/secmem.h"
#include "sealtrain/version.h"
#include "train/gbdt.h"
#include "train/train.h"

struct rt {
    const st_runtime_args *a;
    int sock;
    pthread_mutex_t send_lock; /* the heartbeat thread sends too */
    atomic_int cancel;         /* CANCEL received */
    atomic_int stop;           /* heartbeat thread: finish */
    atomic_int state;          /* the job state we are in (for heartbeats) */
    unsigned char *keys;       /* secure: x25519 priv [0,32), ed seed [32,64) */
    uint8_t x_pub[32], ed_pub[32];
    st_secret *job_key; /* checkpoint key (rt_checkpoint_key), or NULL */
    double started;
    unsigned epochs;
    st_trainer *trainer;
    st_gbdt *gbdt; /* instead of trainer for "type": "gbdt" */
    st_train_metrics last;
    int have_last;
    json_t *history;         /* per-epoch figures for the report (no rows) */
    json_t *last_confusion;  /* of the last epoch's evaluation, or NULL */
    st_job_spec spec;        /* the signed payload, parsed once */
    uint8_t spec_digest[32]; /* SHA-256 of it: what evidence binds */
    char *evidence;          /* the bundle we sent, for the provenance */
    size_t evidence_len;
    uint8_t nonce[32];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static ST_MUST_CHECK st_code rt_send(struct rt *r, int type, const void *p,
                                     size_t n, st_err *err)
{
    pthread_mutex_lock(&r->send_lock);
    st_code rc = st_broker_send(r->sock, type, p, n, err);
    pthread_mutex_unlock(&r->send_lock);
    return rc;
}

static ST_MUST_CHECK st_code rt_send_json(struct rt *r, int type, json_t *v,
                                          st_err *err)
{
    pthread_mutex_lock(&r->send_lock);
    st_code rc = st_broker_send_json(r->sock, type, v, err);
    pthread_mutex_unlock(&r->send_lock);
    json_decref(v);
    return rc;
}

/* ERROR {"code","message"}: the failure the broker records as the job's
 * reason. The message never carries data. */
static int rt_fail(struct rt *r, const st_err *e)
{
    json_t *v = json_pack("{s:s,s:s}", "code", st_code_name(e->code), "message",
                          e->msg[0] ? e->msg : "failed");
    /* the exit status below carries the outcome even when the channel is
     * gone; the message only adds the reason */
    st_discard(rt_send_json(r, ST_MSG_ERROR, v, NULL));
    if (e->code == ST_E_CANCELLED)
        return ST_RUNTIME_EXIT_CANCEL;
    return e->code == ST_E_DENIED ? ST_RUNTIME_EXIT_DENIED
                                  : ST_RUNTIME_EXIT_FAILED;
}

static void rt_state(struct rt *r, st_job_state s)
{
    atomic_store(&r->state, (int)s);
    json_t *v = json_pack("{s:s}", "state", st_job_state_name(s));
    /* progress is advisory: a broken channel fails the next required
     * exchange (keys, result) */
    st_discard(rt_send_json(r, ST_MSG_PROGRESS, v, NULL));
}

/* ---- heartbeats and cancellation ---- */

/* The heartbeat thread sleeps in ppoll until the next heartbeat is due, a
 * message arrives or the main thread wakes it with HB_WAKE (blocked
 * outside ppoll, so a wake sent before the thread sleeps is not lost):
 * the end of the job does not wait for a polling slice to run out. */
#define HB_WAKE SIGUSR1

static void on_hb_wake(int sig)
{
    (void)sig;
}

static void *heartbeat_main(void *p)
{
    struct rt *r = p;
    double last = 0;
    sigset_t during;
    pthread_sigmask(SIG_SETMASK, NULL, &during);
    sigdelset(&during, HB_WAKE);
    while (!atomic_load(&r->stop)) {
        double due = last + 1.0 - now_s();
        if (due < 0)
            due = 0;
        struct timespec ts = {(time_t)due,
                              (long)((due - (double)(time_t)due) * 1e9)};
        struct pollfd pfd = {r->sock, POLLIN, 0};
        int n = ppoll(&pfd, 1, &ts, &during);
        if (n > 0) {
            st_broker_msg m;
            if (st_broker_recv(r->sock, 1000, &m, NULL) != ST_OK) {
                /* the broker is gone: nobody to train for */
                atomic_store(&r->cancel, 1);
                return NULL;
            }
            if (m.type == ST_MSG_CANCEL)
                atomic_store(&r->cancel, 1);
            st_broker_msg_free(&m);
        }
        if (now_s() - last < 1.0)
            continue;
        last = now_s();
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        json_t *v = json_pack(
            "{s:s,s:f,s:f,s:I}", "state",
            st_job_state_name((st_job_state)atomic_load(&r->state)),
            "cpu_seconds",
            (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
            "elapsed_seconds", now_s() - r->started, "max_rss_kib",
            (json_int_t)ru.ru_maxrss);
        /* advisory: a lost heartbeat is what the broker's timeout is for */
        st_discard(rt_send_json(r, ST_MSG_HEARTBEAT, v, NULL));
    }
    return NULL;
}

/* ---- attestation and key release ---- */

/* Evidence for one nonce: report data binding our keys, the nonce and
 * the spec digest; EVIDENCE to the broker. The first bundle (the local
 * broker's) is kept for the provenance. */
static ST_MUST_CHECK st_code rt_evidence(struct rt *r, const uint8_t nonce[32],
                                         st_err *err)
{
    uint8_t rd[ST_REPORT_DATA_LEN];
    st_broker_report_data(r->x_pub, r->ed_pub, nonce, r->spec_digest, rd);
    char *bundle = NULL;
    size_t len = 0;
    st_code rc;
    if (r->a->tee == ST_TEE_SIM) {
        if (!r->a->sim_seed)
            return st_err_set(err, ST_E_USAGE, "sim evidence: no platform key");
        st_evidence *ev = NULL;
        rc = st_attest_sim_evidence(r->a->sim_seed, rd, r->a->measurement,
                                    (int64_t)time(NULL), &ev, err);
        if (rc == ST_OK && !(bundle = st_evidence_to_json(ev, &len, err)))
            rc = err ? err->code : ST_E_INTERNAL;
        st_evidence_free(ev);
    } else if (r->a->tee == ST_TEE_TPM && r->a->agent_fd >= 0) {
        /* the platform's agent quotes; we forward its bundle as is */
        st_broker_msg q = {0, NULL, 0};
        rc = st_broker_send(r->a->agent_fd, ST_MSG_EVIDENCE, rd, sizeof(rd),
                            err);
        if (rc == ST_OK)
            rc = st_broker_recv(r->a->agent_fd, 30000, &q, err);
        if (rc == ST_OK && q.type == ST_MSG_EVIDENCE) {
            bundle = (char *)q.data; /* taken over */
            len = q.len;
            q.data = NULL;
        } else if (rc == ST_OK) {
            json_t *j = NULL;
            /* an unreadable body is still the agent's failure: "?" */
            if (st_broker_json_parse(&q, &j, NULL) != ST_OK)
                j = NULL;
            const char *why = json_string_value(json_object_get(j, "message"));
            rc = st_err_set(err, ST_E_IO, "TPM quote: %s", why ? why : "?");
            json_decref(j);
        }
        st_broker_msg_free(&q);
        if (rc != ST_OK)
            return st_err_prefix(err, "tpm evidence");
    } else
        rc = st_err_set(err, ST_E_USAGE,
                        "the %s backend cannot produce evidence from inside "
                        "this sandbox",
                        st_tee_name(r->a->tee));
    if (rc == ST_OK)
        rc = rt_send(r, ST_MSG_EVIDENCE, bundle, len, err);
    if (rc == ST_OK && !r->evidence) {
        r->evidence = bundle;
        r->evidence_len = len;
        memcpy(r->nonce, nonce, 32);
    } else
        free(bundle);
    return rc;
}

/* HELLO, then one EVIDENCE per NONCE until a final KEYS or DENIED: the
 * controller relays one nonce from each remote key broker (a job over
 * several owners' datasets) after its own; KEYS carries every key. */
static ST_MUST_CHECK st_code rt_attest(struct rt *r, st_broker_keys *keys,
                                       st_err *err)
{
    st_code rc;
    if ((rc = st_random(r->keys, 64, err)) ||
        (rc = st_x25519_public(r->keys, r->x_pub, err)) ||
        (rc = st_ed25519_public(r->keys + 32, r->ed_pub, err)))
        return rc;
    st_broker_hello h;
    memcpy(h.x25519, r->x_pub, 32);
    memcpy(h.ed25519, r->ed_pub, 32);
    uint8_t hello[65];
    st_discard(st_broker_hello_encode(&h, hello)); /* a fixed-size copy */
    if ((rc = rt_send(r, ST_MSG_HELLO, hello, sizeof(hello), err)))
        return rc;
    /* bounded: the local broker's nonce, at most one remote nonce per
     * dataset, then the final frame */
    for (size_t round = 0; round < ST_RUNTIME_MAX_DATASETS + 2; round++) {
        st_broker_msg m;
        uint8_t nonce[32];
        /* a remote broker answers within its timeouts (connect + total) */
        if ((rc = st_broker_recv(r->sock, 90000, &m, err)))
            break;
        if (m.type == ST_MSG_NONCE) {
            rc = st_broker_nonce_parse(&m, nonce, err);
            st_broker_msg_free(&m);
            if (rc == ST_OK)
                rc = rt_evidence(r, nonce, err);
            if (rc != ST_OK)
                break;
            continue;
        }
        if (m.type == ST_MSG_DENIED) {
            json_t *d = NULL;
            /* an unreadable DENIED body is still a denial */
            if (st_broker_json_parse(&m, &d, NULL) != ST_OK)
                d = NULL;
            const char *why = json_string_value(json_object_get(d, "reason"));
            rc = st_err_set(err, ST_E_DENIED, "key release denied: %s",
                            why ? why : "no reason given");
            json_decref(d);
        } else
            rc = st_broker_keys_parse(&m, keys, err);
        st_broker_msg_free(&m);
        goto done;
    }
    if (rc == ST_OK)
        rc = st_err_set(err, ST_E_INPUT, "the broker sent too many nonces");
done:
    /* no more quotes: the agent ends when its line closes */
    if (r->a->agent_fd >= 0)
        close(r->a->agent_fd);
    return rc;
}

/* ---- data ---- */

/* The role of ds[i], as the spec's "datasets" names them. */
static const char *const rt_roles[ST_RUNTIME_MAX_DATASETS] = {"train",
                                                              "validation"};

struct loaded {
    void *plain;
    size_t len;
    st_tensor_view view;
};

/* The file key released for dataset i, into secure memory. */
static ST_MUST_CHECK st_code rt_file_key(struct rt *r,
                                         const st_broker_keys *keys, size_t i,
                                         st_secret **fk, st_err *err)
{
    char name[ST_BROKER_KEY_NAME_MAX + 1];
    snprintf(name, sizeof(name), "dataset:%s", r->a->ds[i].name);
    const st_broker_key *k = st_broker_keys_find(keys, name);
    if (!k)
        return st_err_set(err, ST_E_DENIED, "no key released for %s", name);
    return st_broker_unwrap_key(r->keys, r->a->job_id, k, fk, err);
}

static ST_MUST_CHECK st_code rt_load(struct rt *r, const st_secret *fk,
                                     size_t i, struct loaded *out, st_err *err)
{
    const st_runtime_dataset *d = &r->a->ds[i];
    /* the file is open already: the runtime can open no path */
    st_code rc = st_dataset_decrypt_fd(d->fd, d->name, fk, d->plain_sha256,
                                       &out->plain, &out->len, &out->view, err);
    if (rc != ST_OK)
        return st_err_prefix(err, "dataset \"%s\"", d->name);
    return ST_OK;
}

static void to_train_data(const st_tensor_view *v, st_train_data *t)
{
    memset(t, 0, sizeof(*t));
    t->x = v->features;
    t->y = v->labels;
    t->rows = (size_t)v->rows;
    t->features = v->cols;
    t->targets = v->targets; /* 1 for classes; regression: its targets */
    t->classes = v->classes;
}

/* ---- checkpoints ---- */

static void put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The checkpoint key: HKDF-SHA256 with
 *   IKM  = for each dataset in the spec's order (train, validation):
 *          u32be len(name) || name || u32be len(key) || file key
 *   salt = the signed spec's SHA-256
 *   info = "sealtrain-checkpoint-key-v1" 0 job id
 * Only a runtime that was released every dataset key of this job, after
 * attesting, can compute it; a keyring that lacks one owner's KEK (a
 * dataset released by a remote broker) cannot. The input lives in
 * secure memory and is wiped at once. */
static ST_MUST_CHECK st_code rt_checkpoint_key(struct rt *r,
                                               st_secret *const *fks,
                                               st_err *err)
{
    size_t len = 0;
    for (size_t i = 0; i < r->a->ndatasets; i++)
        len += 8 + strlen(r->a->ds[i].name) + st_secret_len(fks[i]);
    st_secret *ikm = st_secret_new(len, err);
    if (!ikm)
        return st_err_prefix(err, "checkpoint key");
    uint8_t *p = st_secret_bytes(ikm);
    for (size_t i = 0; i < r->a->ndatasets; i++) {
        size_t nl = strlen(r->a->ds[i].name), kl = st_secret_len(fks[i]);
        put_u32be(p, (uint32_t)nl);
        memcpy(p + 4, r->a->ds[i].name, nl);
        put_u32be(p + 4 + nl, (uint32_t)kl);
        memcpy(p + 8 + nl, st_secret_cbytes(fks[i]), kl);
        p += 8 + nl + kl;
    }
    char info[64];
    int il = snprintf(info, sizeof(info), "sealtrain-checkpoint-key-v1%c%s", 0,
                      r->a->job_id);
    st_code rc = ST_OK;
    r->job_key = st_secret_new(ST_AEAD_KEY_LEN, err);
    if (!r->job_key)
        rc = st_err_prefix(err, "checkpoint key");
    if (rc == ST_OK)
        rc = st_hkdf_sha256(st_secret_cbytes(ikm), len, r->spec_digest, 32,
                            info, (size_t)il, st_secret_bytes(r->job_key),
                            ST_AEAD_KEY_LEN, err);
    st_secret_free(ikm);
    return rc;
}

/* "sealtrain-checkpoint-vN" 0 job id 0 spec digest, N the format's
 * version (2 or 3): a checkpoint opens only for this job, this signed
 * spec and the format it was written in. Always leaves *aad initialised
 * (for st_buf_free). A failure must stop the caller: a short AAD would
 * make a sound checkpoint look tampered with. */
static ST_MUST_CHECK st_code checkpoint_aad(const struct rt *r, int version,
                                            st_buf *aad, st_err *err)
{
    st_buf_init(aad);
    char label[24];
    snprintf(label, sizeof(label), "sealtrain-checkpoint-v%d", version);
    st_code rc = st_buf_append(aad, label, 24, err);
    if (rc == ST_OK)
        rc = st_buf_append(aad, r->a->job_id, strlen(r->a->job_id) + 1, err);
    return rc == ST_OK ? st_buf_append(aad, r->spec_digest, 32, err) : rc;
}

/* Writes `name` in the output directory atomically: a hidden temporary,
 * fsync, rename. */
static ST_MUST_CHECK st_code out_write(struct rt *r, const char *name,
                                       const void *data, size_t len,
                                       st_err *err)
{
    char tmp[128];
    snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
    int fd =
        openat(r->a->outdir_fd, tmp,
               O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "creating %s", name);
    st_code rc = st_fs_write_fd(fd, data, len, name, err);
    if (rc == ST_OK && fsync(fd) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "fsync %s", name);
    close(fd);
    if (rc == ST_OK &&
        renameat(r->a->outdir_fd, tmp, r->a->outdir_fd, name) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "renaming %s", name);
    if (rc != ST_OK)
        unlinkat(r->a->outdir_fd, tmp, 0);
    return rc;
}

/* The checkpoint's plaintext: u32le state length, the trainer's state,
 * the history so far (compact JSON, not secret but sealed with the state
 * so that the history a resumed job reports is the runtime's own). */
static ST_MUST_CHECK st_code checkpoint_plain(struct rt *r, st_secret **out,
                                              st_err *err)
{
    st_secret *state = NULL;
    st_code rc = st_trainer_checkpoint(r->trainer, &state, err);
    if (rc != ST_OK)
        return rc;
    char *hist = r->history ? st_json_dumps(r->history, JSON_COMPACT) : NULL;
    size_t sn = st_secret_len(state), hn = hist ? strlen(hist) : 0;
    if (r->history && !hist)
        rc = st_err_set(err, ST_E_IO, "checkpoint: out of memory");
    else if (sn > UINT32_MAX)
        rc = st_err_set(err, ST_E_INTERNAL, "checkpoint: state too large");
    *out = rc == ST_OK ? st_secret_new(4 + sn + hn, err) : NULL;
    if (rc == ST_OK && !*out)
        rc = err->code;
    if (rc == ST_OK) {
        uint8_t *p = st_secret_bytes(*out);
        uint32_t n32 = (uint32_t)sn;
        for (int i = 0; i < 4; i++)
            p[i] = (uint8_t)(n32 >> (8 * i));
        memcpy(p + 4, st_secret_bytes(state), sn);
        if (hn)
            memcpy(p + 4 + sn, hist, hn);
    }
    free(hist);
    st_secret_free(state);
    return rc;
}

static ST_MUST_CHECK st_code rt_checkpoint(struct rt *r, st_err *err)
{
    st_secret *plain = NULL;
    st_code rc = checkpoint_plain(r, &plain, err);
    if (rc != ST_OK)
        return rc;
    size_t n = st_secret_len(plain);
    size_t total = 8 + ST_AEAD_NONCE_LEN + n + ST_AEAD_TAG_LEN;
    uint8_t *out = malloc(total); /* ciphertext: ordinary memory */
    st_buf aad;
    rc = checkpoint_aad(r, 3, &aad, err);
    if (rc == ST_OK && !out)
        rc = st_err_set(err, ST_E_IO, "out of memory");
    if (rc == ST_OK) {
        memcpy(out, ST_CHECKPOINT_MAGIC, 8);
        rc = st_random(out + 8, ST_AEAD_NONCE_LEN, err);
    }
    if (rc == ST_OK)
        rc = st_aead_seal(st_secret_bytes(r->job_key), out + 8, aad.data,
                          aad.len, st_secret_bytes(plain), n,
                          out + 8 + ST_AEAD_NONCE_LEN, err);
    if (rc == ST_OK)
        rc = out_write(r, ST_RUNTIME_CHECKPOINT_FILE, out, total, err);
    st_secret_free(plain);
    st_buf_free(&aad);
    free(out);
    return rc;
}

/* A version 3 checkpoint's plaintext, split: the trainer's state and the
 * history before it, which becomes the history this run continues. */
static ST_MUST_CHECK st_code checkpoint_split(struct rt *r, const uint8_t *p,
                                              size_t n, size_t *state_len,
                                              st_err *err)
{
    uint32_t sn = n >= 4 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                               (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
                         : 0;
    if (n < 4 || sn > n - 4)
        return st_err_set(err, ST_E_INPUT,
                          "checkpoint: the state's length is %u of %zu bytes",
                          (unsigned)sn, n);
    *state_len = sn;
    size_t hn = n - 4 - sn;
    if (!hn)
        return ST_OK;
    json_t *h =
        st_json_parse((const char *)p + 4 + sn, hn, "checkpoint history", err);
    if (!h)
        return err->code;
    if (!json_is_array(h)) {
        json_decref(h);
        return st_err_set(err, ST_E_INPUT,
                          "checkpoint: the history is not a JSON array");
    }
    json_decref(r->history);
    r->history = h;
    return ST_OK;
}

/* The trainer of a resumed job: the signed spec's configuration `cfg`,
 * with the state of the checkpoint, which must have been written for
 * exactly that configuration. */
static ST_MUST_CHECK st_code rt_restore(struct rt *r,
                                        const st_train_config *cfg, st_err *err)
{
    if (!r->spec.checkpoint_every)
        return st_err_set(err, ST_E_USAGE,
                          "the signed spec asks for no checkpoints "
                          "(checkpoint_every 0): there is nothing to resume");
    int fd = openat(r->a->outdir_fd, ST_RUNTIME_CHECKPOINT_FILE,
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return st_err_errno(err, ST_E_NOTFOUND, errno,
                            "no checkpoint to resume from");
    struct stat st;
    st_code rc = ST_OK;
    uint8_t *in = NULL;
    if (fstat(fd, &st) != 0 || st.st_size < 8 + 12 + 16 + 1 ||
        st.st_size > (off_t)(1ull << 32))
        rc = st_err_set(err, ST_E_INPUT, "checkpoint: bad size");
    size_t len = rc == ST_OK ? (size_t)st.st_size : 0;
    if (rc == ST_OK && !(in = malloc(len)))
        rc = st_err_set(err, ST_E_IO, "out of memory");
    if (rc == ST_OK && pread(fd, in, len, 0) != (ssize_t)len)
        rc = st_err_errno(err, ST_E_IO, errno, "reading the checkpoint");
    close(fd);
    int version = rc != ST_OK                                  ? 0
                  : memcmp(in, ST_CHECKPOINT_MAGIC, 8) == 0    ? 3
                  : memcmp(in, ST_CHECKPOINT_MAGIC_V2, 8) == 0 ? 2
                                                               : 0;
    if (rc == ST_OK && memcmp(in, ST_CHECKPOINT_MAGIC_V1, 8) == 0)
        rc = st_err_set(err, ST_E_INPUT,
                        "checkpoint: written by an earlier version under a "
                        "key the controller held; it cannot be resumed");
    else if (rc == ST_OK && !version)
        rc = st_err_set(err, ST_E_INPUT,
                        "checkpoint: not a sealtrain "
                        "checkpoint");
    size_t n = len - 8 - ST_AEAD_NONCE_LEN - ST_AEAD_TAG_LEN;
    uint8_t *plain = rc == ST_OK ? st_secmem_alloc(n, err) : NULL;
    if (rc == ST_OK && !plain)
        rc = err ? err->code : ST_E_IO;
    st_buf aad;
    st_code arc = checkpoint_aad(r, version ? version : 3, &aad,
                                 rc == ST_OK ? err : NULL);
    if (rc == ST_OK)
        rc = arc;
    if (rc == ST_OK &&
        st_aead_open(st_secret_bytes(r->job_key), in + 8, aad.data, aad.len,
                     in + 8 + ST_AEAD_NONCE_LEN, len - 8 - ST_AEAD_NONCE_LEN,
                     plain, err) != ST_OK)
        rc = st_err_set(err, ST_E_DENIED,
                        "checkpoint does not authenticate under this job's "
                        "key (another job, another spec, other dataset keys, "
                        "or changed)");
    size_t state_len = n; /* version 2: the state alone */
    if (rc == ST_OK && version == 3)
        rc = checkpoint_split(r, plain, n, &state_len, err);
    if (rc == ST_OK)
        rc = st_trainer_resume(cfg, version == 3 ? plain + 4 : plain, state_len,
                               &r->trainer, err);
    st_secmem_free(plain);
    st_buf_free(&aad);
    free(in);
    return rc;
}

/* ---- training ---- */

static void put_number(json_t *v, const char *key, double x)
{
    /* NaN is not JSON: a metric that does not apply is left out */
    if (isfinite(x))
        json_object_set_new(v, key, json_real(x));
}

/* The confusion matrix (rows = true class), or NULL. Aggregate counts
 * only. */
static json_t *confusion_json(const st_train_metrics *m)
{
    if (!m->confusion || !m->classes)
        return NULL;
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < m->classes; i++) {
        json_t *row = json_array();
        for (size_t j = 0; row && j < m->classes; j++)
            json_array_append_new(
                row,
                json_integer((json_int_t)m->confusion[i * m->classes + j]));
        json_array_append_new(rows, row);
    }
    return rows;
}

/* The evaluation figures of m, into v. */
static json_t *put_evaluation(json_t *v, const st_train_metrics *m)
{
    put_number(v, "loss", m->loss);
    put_number(v, "accuracy", m->accuracy);
    put_number(v, "macro_f1", m->macro_f1);
    put_number(v, "mse", m->mse);
    put_number(v, "mae", m->mae);
    put_number(v, "r2", m->r2);
    return v;
}

static json_t *metrics_json(const st_train_metrics *m)
{
    json_t *v = json_pack("{s:i,s:i,s:b}", "epoch", m->epoch, "epochs",
                          m->epochs, "validation", m->has_validation);
    put_number(v, "learning_rate", m->learning_rate);
    put_number(v, "train_loss", m->train_loss);
    put_number(v, "train_accuracy", m->train_accuracy);
    put_evaluation(v, m);
    put_number(v, "samples_per_second", m->samples_per_second);
    put_number(v, "seconds", m->seconds);
    if (m->best_epoch > 0)
        json_object_set_new(v, "best_epoch", json_integer(m->best_epoch));
    if (m->stopped)
        json_object_set_new(v, "stopped", json_true());
    return v;
}

/* History for reports: at most ~250 entries (every k-th epoch of a long
 * run, and always the last), each the epoch's figures without the
 * confusion matrix: enough points for a curve, and the RESULT message
 * that carries them stays well inside its 256 KiB bound. */
static void history_add(struct rt *r, const st_train_metrics *m)
{
    unsigned every = m->epochs > 250 ? (m->epochs + 249) / 250 : 1;
    if (m->epoch % every != 0 && m->epoch != m->epochs && !m->stopped)
        return;
    if (!r->history)
        r->history = json_array();
    json_t *v = json_pack("{s:i}", "epoch", m->epoch);
    put_number(v, "learning_rate", m->learning_rate);
    put_number(v, "train_loss", m->train_loss);
    put_number(v, "train_accuracy", m->train_accuracy);
    put_number(v, "loss", m->loss);
    put_number(v, "accuracy", m->accuracy);
    put_number(v, "macro_f1", m->macro_f1);
    put_number(v, "mse", m->mse);
    put_number(v, "mae", m->mae);
    put_number(v, "r2", m->r2);
    json_array_append_new(r->history, v);
}

/* The evaluation block only (st_trainer_evaluate leaves the epoch's
 * training figures unset). */
static json_t *evaluation_json(const st_train_metrics *m, const char *on)
{
    json_t *v = put_evaluation(json_pack("{s:s}", "evaluated_on", on), m);
    json_t *cm = confusion_json(m);
    if (cm) /* the final figures only: progress events stay small */
        json_object_set_new(v, "confusion", cm);
    return v;
}

struct cb_ctx {
    struct rt *r;
    st_code ckpt_rc;
    st_err ckpt_err;
};

static int on_epoch(const st_train_metrics *m, void *user)
{
    struct cb_ctx *c = user;
    struct rt *r = c->r;
    r->last = *m;
    r->last.confusion = NULL; /* the trainer's buffer: copied instead */
    r->have_last = 1;
    history_add(r, m);
    json_decref(r->last_confusion);
    r->last_confusion = confusion_json(m);
    json_t *v = metrics_json(m);
    json_object_set_new(v, "state", json_string("training"));
    if (m->stopped) /* which weights the model will hold, for the log */
        json_object_set_new(
            v, "kept_epoch",
            json_integer(
                (!r->trainer || st_trainer_config(r->trainer)->restore_best) &&
                        m->best_epoch
                    ? m->best_epoch
                    : m->epoch));
    st_discard(rt_send_json(r, ST_MSG_PROGRESS, v, NULL)); /* advisory */
    unsigned every = r->spec.checkpoint_every;
    /* checkpoints only when the signed spec asks for them; then a cancel
     * (the user's, or a server shutting down) also checkpoints at this
     * epoch boundary, so that `job resume` continues from here. Without
     * them a cancel just ends the job: the weights never leave memory */
    int cancel = atomic_load(&r->cancel);
    if (every && (m->epoch % every == 0 || cancel) && m->epoch < m->epochs &&
        !m->stopped) {
        c->ckpt_rc = rt_checkpoint(r, &c->ckpt_err);
        if (c->ckpt_rc != ST_OK)
            return 1;
        json_t *p =
            json_pack("{s:s,s:i}", "state", "training", "checkpoint", m->epoch);
        st_discard(rt_send_json(r, ST_MSG_PROGRESS, p, NULL)); /* advisory */
    }
    return atomic_load(&r->cancel) ? 1 : 0;
}

/* ---- sealing and provenance ---- */

struct seal_out {
    uint8_t sha256[32];
    uint64_t size;
};

/* The training tensor's class names (the original labels) or target
 * names, as a JSON array, so that the model's users see labels and not
 * indices. They are data (job_canary): only the sealed model holds them,
 * never the job's metrics. NULL when a name is not UTF-8 (JSON cannot
 * carry it; the indices still are the classes). */
static json_t *label_names(const st_tensor_view *v)
{
    uint32_t n = v->classes ? v->classes : v->targets;
    json_t *a = json_array();
    for (uint32_t k = 0; a && k < n; k++) {
        const char *name;
        size_t len;
        json_t *s = st_tensor_class_name(v, k, &name, &len, NULL) == ST_OK
                        ? json_stringn(name, len)
                        : NULL;
        if (!s || json_array_append_new(a, s)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* `len` bytes sealed to the job's recipients as `file` in the output
 * directory (temporary name, fsync, rename); so gets the digest and size
 * of exactly the bytes written. */
static ST_MUST_CHECK st_code rt_seal_bytes(struct rt *r, const char *file,
                                           const void *bytes, size_t len,
                                           struct seal_out *so, st_err *err)
{
    st_code rc = ST_OK;
    st_age_recipient rc_list[ST_JOB_MAX_RECIPIENTS];
    size_t n = 0;
    for (; rc == ST_OK && n < r->a->nrecipients; n++)
        if ((rc = st_age_x25519_recipient(r->a->recipients[n], &rc_list[n],
                                          err)))
            break;
    char tmp[96];
    snprintf(tmp, sizeof(tmp), ".%s.tmp", file);
    int fd = -1;
    if (rc == ST_OK) {
        fd = openat(r->a->outdir_fd, tmp,
                    O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            rc = st_err_errno(err, ST_E_IO, errno, "creating %s", file);
    }
    st_age_writer *w = NULL;
    if (rc == ST_OK)
        rc = st_age_writer_new_fd(fd, rc_list, n, ST_AGE_ARMOR_NO, &w, err);
    if (rc == ST_OK)
        rc = st_age_writer_write(w, bytes, len, err);
    if (rc == ST_OK)
        rc = st_age_writer_finish(w, err);
    else
        st_age_writer_abort(w);
    for (size_t i = 0; i < n; i++)
        st_age_recipient_clear(&rc_list[i]);
    if (rc == ST_OK && fsync(fd) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "fsync of %s", file);
    if (rc == ST_OK) {
        /* digest of exactly the bytes written: the provenance subject */
        st_sha256_ctx c;
        st_sha256_init(&c);
        uint8_t buf[65536];
        off_t off = 0;
        ssize_t got;
        while ((got = pread(fd, buf, sizeof(buf), off)) > 0) {
            st_sha256_update(&c, buf, (size_t)got);
            off += got;
        }
        st_sha256_final(&c, so->sha256);
        so->size = (uint64_t)off;
        if (got < 0)
            rc = st_err_errno(err, ST_E_IO, errno, "reading %s back", file);
    }
    if (fd >= 0)
        close(fd);
    if (rc == ST_OK &&
        renameat(r->a->outdir_fd, tmp, r->a->outdir_fd, file) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "renaming %s", file);
    if (rc != ST_OK)
        unlinkat(r->a->outdir_fd, tmp, 0);
    return rc;
}

static ST_MUST_CHECK st_code rt_seal(struct rt *r, const st_tensor_view *train,
                                     struct seal_out *so, st_err *err)
{
    json_t *meta = json_pack("{s:s,s:s}", "sealtrain.job", r->a->job_id,
                             "sealtrain.engine", st_version());
    json_t *list = label_names(train);
    char *names = list ? st_json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    if (meta && names)
        json_object_set_new(meta,
                            train->classes ? "sealtrain.class_names"
                                           : "sealtrain.target_names",
                            json_string(names));
    free(names);
    st_secret *st = NULL;
    st_code rc = r->gbdt
                     ? st_gbdt_save_safetensors(r->gbdt, meta, &st, err)
                     : st_trainer_save_safetensors(r->trainer, meta, &st, err);
    json_decref(meta);
    if (rc != ST_OK)
        return rc;
    rc = rt_seal_bytes(r, ST_RUNTIME_MODEL_FILE, st_secret_bytes(st),
                       st_secret_len(st), so, err);
    st_secret_free(st);
    return rc;
}

static char *hex32(const uint8_t d[32], char out[65])
{
    st_hex_encode(d, 32, out);
    return out;
}

/* What every statement of this runtime's predicate carries besides its
 * own: the job, the signed spec itself and its digest, the runtime (TEE,
 * measurement, both public keys) and, so that anyone can check that the
 * key signing the statement is the one the TEE attested (docs/models.md),
 * the evidence and the broker's nonce. */
static ST_MUST_CHECK int rt_predicate_common(struct rt *r, json_t *pred)
{
    char spec_hex[65], meas_hex[65], xhex[65], edhex[65], nhex[65];
    json_t *common = json_pack(
        "{s:s,s:{s:s,s:s%},s:{s:s,s:{s:s},s:s,s:s},s:s}", "job_id",
        r->a->job_id, "job_spec", "sha256", hex32(r->spec_digest, spec_hex),
        "payload", r->a->spec, r->a->spec_len, "runtime", "tee",
        st_tee_name(r->a->tee), "measurement", "sha256",
        hex32(r->a->measurement, meas_hex), "x25519", hex32(r->x_pub, xhex),
        "ed25519", hex32(r->ed_pub, edhex), "engine_version", st_version());
    if (!pred || !common || json_object_update(pred, common)) {
        json_decref(common);
        return 0;
    }
    json_decref(common);
    if (!r->evidence)
        return 1;
    /* the evidence this runtime produced: if it does not parse back (out
     * of memory), the statement would go without its attestation */
    json_t *evj = st_json_parse(r->evidence, r->evidence_len, "evidence", NULL);
    json_t *att = evj ? json_pack("{s:s,s:o}", "nonce", hex32(r->nonce, nhex),
                                  "evidence", evj)
                      : NULL;
    return att && json_object_set_new(pred, "attestation", att) == 0;
}

/* An in-toto Statement v1 about one subject, with `pred` (taken) as its
 * predicate of `type`, DSSE-signed with the attested Ed25519 key. */
static json_t *rt_statement(struct rt *r, const char *subject,
                            const uint8_t digest[32], const char *type,
                            json_t *pred, st_err *err)
{
    char h[65];
    json_t *stmt =
        rt_predicate_common(r, pred)
            ? json_pack("{s:s,s:[{s:s,s:{s:s}}],s:s,s:O}", "_type",
                        "https://in-toto.io/Statement/v1", "subject", "name",
                        subject, "digest", "sha256", hex32(digest, h),
                        "predicateType", type, "predicate", pred)
            : NULL;
    json_decref(pred);
    if (!stmt) {
        st_err_set(err, ST_E_INTERNAL, "building the provenance statement");
        return NULL;
    }
    char *text = st_json_dumps(stmt, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(stmt);
    json_t *env = text
                      ? st_dsse_sign(ST_DSSE_TYPE_INTOTO, (const uint8_t *)text,
                                     strlen(text), r->keys + 32, err)
                      : NULL;
    free(text);
    return env;
}

/* in-toto Statement v1: subject = the sealed model file; predicate = what
 * went in (datasets with their roles, the signed spec itself and its
 * digest, evidence) and what came out (metrics). The spec travels with
 * the statement so that a verifier can compare its datasets with the
 * statement's without the workspace. */
static json_t *rt_provenance(struct rt *r, const struct seal_out *so,
                             json_t *metrics, st_err *err)
{
    char h[65];
    json_t *datasets = json_array();
    for (size_t i = 0; i < r->a->ndatasets; i++)
        json_array_append_new(
            datasets, json_pack("{s:s,s:s,s:{s:s}}", "name", r->a->ds[i].name,
                                "role", rt_roles[i], "digest", "sha256",
                                hex32(r->a->ds[i].plain_sha256, h)));
    json_t *recips = json_array();
    for (size_t i = 0; i < r->a->nrecipients; i++)
        json_array_append_new(recips, json_string(r->a->recipients[i]));
    /* the file's name where the registry keeps it, not a scratch name */
    char model_name[ST_JOB_NAME_MAX + 64];
    st_job_model_file_name(&r->spec, r->a->job_id, model_name,
                           sizeof(model_name));
    return rt_statement(r, model_name, so->sha256, ST_MODEL_PREDICATE,
                        json_pack("{s:o,s:o,s:O}", "datasets", datasets,
                                  "recipients", recips, "metrics", metrics),
                        err);
}

/* ---- gradient-boosted trees ---- */

/* Trains the gbdt model of the signed spec into r->gbdt and builds the
 * result metrics as for the engine's models: the last round's figures,
 * the per-round history, the final evaluation (validation dataset, else
 * the held-out split, else the training rows, said so) and the feature
 * importances (gain). Aggregates only. */
static ST_MUST_CHECK st_code rt_train_gbdt(struct rt *r,
                                           const st_train_data *train,
                                           const st_train_data *valid,
                                           json_t **final, st_err *err)
{
    st_gbdt_config cfg;
    st_code rc = st_gbdt_config_from_json(r->spec.model, r->spec.training,
                                          r->spec.preprocessing, &cfg, err);
    if (rc != ST_OK)
        return rc;
    rt_state(r, ST_JOB_TRAINING);
    struct cb_ctx c = {r, ST_OK, {0}};
    rc = st_gbdt_fit(&cfg, train, valid, on_epoch, &c, &r->gbdt, err);
    if (rc == ST_E_CANCELLED || (rc == ST_OK && atomic_load(&r->cancel)))
        return st_err_set(err, ST_E_CANCELLED, "cancelled on request");
    if (rc != ST_OK)
        return rc;
    *final = metrics_json(&r->last);
    if (r->history)
        json_object_set(*final, "history", r->history);
    json_object_set_new(*final, "rounds",
                        json_integer(st_gbdt_rounds(r->gbdt)));
    const char *on = valid ? "validation dataset"
                     : cfg.validation_split > 0
                         ? "held-out validation split"
                         : "training dataset (no held-out data)";
    json_object_set_new(*final, "final_evaluation",
                        evaluation_json(st_gbdt_final(r->gbdt), on));
    json_t *imp = rc == ST_OK ? st_gbdt_importance(r->gbdt, err) : NULL;
    if (rc == ST_OK && !imp)
        rc = err->code ? err->code : ST_E_INTERNAL;
    if (imp)
        json_object_set_new(*final, "feature_importance", imp);
    return rc;
}

/* ---- using a registered model (evaluate, predict) ---- */

/* The released model key stands for any stanza: the header MAC then
 * proves it right or wrong. */
static st_code rt_model_unwrap(void *ctx, const st_age_stanza *s,
                               uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                               st_err *err)
{
    (void)s;
    (void)err;
    memcpy(file_key, st_secret_cbytes(ctx), ST_AGE_FILE_KEY_LEN);
    return ST_OK;
}

/* SHA-256 of the sealed model as handed over (for the use's statement),
 * the descriptor back at its start. */
static ST_MUST_CHECK st_code rt_model_digest(struct rt *r, uint8_t out[32],
                                             st_err *err)
{
    st_sha256_ctx c;
    st_sha256_init(&c);
    uint8_t buf[65536];
    ssize_t got;
    while ((got = read(r->a->model_fd, buf, sizeof(buf))) > 0)
        st_sha256_update(&c, buf, (size_t)got);
    st_sha256_final(&c, out);
    if (got < 0 || lseek(r->a->model_fd, 0, SEEK_SET) != 0)
        return st_err_errno(err, ST_E_IO, errno, "reading the model");
    return ST_OK;
}

/* The signed statement of a model use: subject = what left (the sealed
 * predictions, or the evaluation as compact JSON with sorted keys, whose
 * SHA-256 is the audited metrics_sha256); predicate = the mode, the model
 * version and its sealed file's digest, the dataset (its signed
 * manifest's and its plaintext's digests), the predictions' recipients,
 * and what every statement of this runtime carries. */
static json_t *rt_use_provenance(struct rt *r, const char *subject,
                                 const uint8_t digest[32],
                                 const uint8_t model_sha[32], st_err *err)
{
    char mh[65], dh[65], ph[65];
    const st_runtime_dataset *d = &r->a->ds[0];
    json_t *recips = json_array();
    for (size_t i = 0;
         r->spec.kind == ST_JOB_KIND_PREDICT && i < r->a->nrecipients; i++)
        json_array_append_new(recips, json_string(r->a->recipients[i]));
    return rt_statement(
        r, subject, digest, ST_MODEL_USE_PREDICATE,
        json_pack("{s:s,s:{s:s,s:i,s:{s:s}},s:{s:s,s:{s:s},s:{s:s}},s:o}",
                  "mode", st_job_kind_name(r->spec.kind), "model", "name",
                  r->spec.use_model, "version", (int)r->spec.use_version,
                  "digest", "sha256", hex32(model_sha, mh), "dataset", "name",
                  d->name, "manifest", "sha256", hex32(d->manifest_sha256, dh),
                  "digest", "sha256", hex32(d->plain_sha256, ph), "recipients",
                  recips),
        err);
}

static ST_MUST_CHECK st_code rt_model_load(struct rt *r, const st_secret *mk,
                                           st_predictor **p, st_err *err)
{
    st_age_identity id = {rt_model_unwrap, NULL, (void *)mk};
    st_age_decrypt_opts o = {&id, 1, ST_AGE_ARMOR_NO, 1, "the model"};
    void *plain = NULL;
    size_t len = 0;
    st_age_result res = {0};
    st_code rc = st_age_decrypt_secmem_fd(r->a->model_fd, "the model", &o,
                                          &plain, &len, &res, err);
    if (rc == ST_OK)
        rc = st_predictor_load(plain, len, p, err);
    st_secmem_free(plain);
    if (rc != ST_OK)
        return st_err_prefix(err, "model %s@%u", r->spec.use_model,
                             r->spec.use_version);
    return ST_OK;
}

/* The data's class indices as the model's, by name (a test set imported
 * on its own may list its classes in another order, or fewer of them).
 * *y in secure memory. */
static ST_MUST_CHECK st_code rt_map_labels(const st_predictor *p,
                                           const st_tensor_view *v, float **y,
                                           st_err *err)
{
    size_t k = st_predictor_classes(p);
    *y = NULL;
    if (!v->classes)
        return st_err_set(err, ST_E_INPUT,
                          "the dataset has values, not classes: the model "
                          "classifies into %zu classes",
                          k);
    uint32_t map[ST_TRAIN_MAX_CLASSES];
    if (v->classes > ST_TRAIN_MAX_CLASSES)
        return st_err_set(err, ST_E_INPUT, "the dataset has %u classes",
                          v->classes);
    for (uint32_t c = 0; c < v->classes; c++) {
        const char *name;
        size_t len;
        st_code rc = st_tensor_class_name(v, c, &name, &len, err);
        if (rc != ST_OK)
            return rc;
        size_t j = 0;
        if (!st_predictor_label(p, 0)) /* a model without names */
            j = c < k ? c : k;
        else
            while (j < k && (strlen(st_predictor_label(p, j)) != len ||
                             memcmp(st_predictor_label(p, j), name, len)))
                j++;
        if (j == k)
            return st_err_set(err, ST_E_INPUT,
                              "the dataset's class \"%.*s\" is not one of "
                              "the model's %zu classes",
                              (int)(len > 64 ? 64 : len), name, k);
        map[c] = (uint32_t)j;
    }
    float *out = st_secmem_alloc(v->rows * sizeof(float), err);
    if (!out)
        return err ? err->code : ST_E_IO;
    for (uint64_t i = 0; i < v->rows; i++)
        out[i] = (float)map[(uint32_t)v->labels[i]];
    *y = out;
    return ST_OK;
}

/* Evaluate: the figures only leave (RESULT "evaluation"). Predict: the
 * outputs, with the original labels, as CSV sealed to the spec's
 * recipients (RESULT "predictions": file, digest, rows). */
static ST_MUST_CHECK st_code rt_use(struct rt *r, const st_secret *mk,
                                    const st_tensor_view *v, st_err *err)
{
    st_predictor *p = NULL;
    uint8_t model_sha[32], out_sha[32];
    st_code rc = rt_model_digest(r, model_sha, err);
    if (rc == ST_OK)
        rc = rt_model_load(r, mk, &p, err);
    if (rc != ST_OK)
        return rc;
    st_train_data d;
    to_train_data(v, &d);
    float *y = NULL;
    json_t *res = NULL;
    if (d.features != st_predictor_features(p))
        rc = st_err_set(err, ST_E_INPUT,
                        "dataset \"%s\" has %zu features, model %s@%u takes "
                        "%zu",
                        r->a->ds[0].name, d.features, r->spec.use_model,
                        r->spec.use_version, st_predictor_features(p));
    if (rc == ST_OK && r->spec.kind == ST_JOB_KIND_EVALUATE) {
        if (st_predictor_classes(p) &&
            (rc = rt_map_labels(p, v, &y, err)) == ST_OK) {
            d.y = y;
            d.classes = st_predictor_classes(p);
        }
        st_train_metrics m;
        double auc = NAN;
        rt_state(r, ST_JOB_TRAINING);
        if (rc == ST_OK)
            rc = st_predictor_evaluate(p, &d, &m, &auc, err);
        if (rc == ST_OK) {
            char on[ST_JOB_NAME_MAX + 16];
            snprintf(on, sizeof(on), "dataset %s", r->a->ds[0].name);
            json_t *ev = evaluation_json(&m, on);
            put_number(ev, "roc_auc", auc);
            json_object_set_new(ev, "rows", json_integer((json_int_t)d.rows));
            json_t *names = json_array();
            for (size_t j = 0; j < st_predictor_classes(p); j++)
                json_array_append_new(
                    names, st_predictor_label(p, j)
                               ? json_string(st_predictor_label(p, j))
                               : json_sprintf("%zu", j));
            if (st_predictor_classes(p))
                json_object_set_new(ev, "classes", names);
            else
                json_decref(names);
            /* the figures' digest as the controller audits it */
            char *canon = st_json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
            if (canon)
                st_sha256(canon, strlen(canon), out_sha);
            free(canon);
            res = canon ? json_pack("{s:o}", "evaluation", ev) : NULL;
            if (!canon)
                json_decref(ev);
        }
    } else if (rc == ST_OK) {
        size_t no = st_predictor_outputs(p);
        float *out = st_secmem_alloc(d.rows * no * sizeof(float) + 1, err);
        char *csv = NULL;
        size_t len = 0;
        struct seal_out so;
        rt_state(r, ST_JOB_TRAINING);
        rc = out ? st_predictor_predict(p, d.x, d.rows, out, err) : err->code;
        if (rc == ST_OK)
            rc = st_predictor_csv(p, out, d.rows, &csv, &len, err);
        st_secmem_free(out);
        if (rc == ST_OK) {
            rt_state(r, ST_JOB_SEALING);
            rc = rt_seal_bytes(r, ST_RUNTIME_PREDICTIONS_FILE, csv, len, &so,
                               err);
        }
        st_secmem_free(csv);
        char h[65];
        if (rc == ST_OK) {
            memcpy(out_sha, so.sha256, 32);
            res = json_pack("{s:{s:s,s:s,s:I,s:I}}", "predictions", "file",
                            ST_RUNTIME_PREDICTIONS_FILE, "sha256",
                            hex32(so.sha256, h), "size", (json_int_t)so.size,
                            "rows", (json_int_t)d.rows);
        }
    }
    if (rc == ST_OK && res) {
        char subject[ST_JOB_ID_LEN + 32];
        snprintf(subject, sizeof(subject), "%s.%s", r->a->job_id,
                 r->spec.kind == ST_JOB_KIND_PREDICT ? "predictions.age"
                                                     : "evaluation.json");
        json_t *prov = rt_use_provenance(r, subject, out_sha, model_sha, err);
        if (!prov)
            rc = err->code ? err->code : ST_E_INTERNAL;
        else
            json_object_set_new(res, "provenance", prov);
    }
    st_secmem_free(y);
    st_predictor_free(p);
    if (rc == ST_OK)
        rc = res ? rt_send_json(r, ST_MSG_RESULT, res, err)
                 : st_err_set(err, ST_E_IO, "out of memory");
    else
        json_decref(res);
    return rc;
}

/* ---- main ---- */

/* The datasets the controller handed over are exactly the signed spec's,
 * each in its role: [0] datasets.train, [1] datasets.validation when the
 * spec names one. Checked before any key is asked for. The name is what
 * the owner's broker releases a key for ("dataset:NAME", under the
 * owner's policy for this signed spec), and that file key authenticates
 * one payload, whose plaintext digest the runtime checks and the
 * provenance records. */
static ST_MUST_CHECK st_code rt_check_datasets(const struct rt *r, st_err *err)
{
    const char *want[ST_RUNTIME_MAX_DATASETS] = {r->spec.train_dataset,
                                                 r->spec.valid_dataset};
    size_t n = want[1][0] ? 2 : 1;
    for (size_t i = 0; i < r->a->ndatasets && i < ST_RUNTIME_MAX_DATASETS; i++)
        if (i >= n || strcmp(r->a->ds[i].name, want[i]) != 0)
            return st_err_set(
                err, ST_E_DENIED,
                "dataset \"%s\" was handed over as the %s dataset; the signed "
                "spec names %s%s%s",
                r->a->ds[i].name, rt_roles[i], i < n ? "\"" : "no ",
                i < n ? want[i] : rt_roles[i], i < n ? "\"" : " dataset");
    if (r->a->ndatasets != n)
        return st_err_set(err, ST_E_DENIED,
                          "the signed spec names %zu dataset(s), %zu were "
                          "handed over (no %s dataset)",
                          n, r->a->ndatasets, rt_roles[r->a->ndatasets]);
    return ST_OK;
}

static ST_MUST_CHECK st_code rt_run(struct rt *r, st_err *err)
{
    st_broker_keys *keys = calloc(1, sizeof(*keys));
    struct loaded data[ST_RUNTIME_MAX_DATASETS];
    memset(data, 0, sizeof(data));
    st_code rc = keys ? ST_OK : st_err_set(err, ST_E_IO, "out of memory");
    if (rc == ST_OK)
        rc = rt_attest(r, keys, err);
    /* the file keys; from them, when the spec asks for checkpoints, the
     * checkpoint key (any key the controller sent for it is ignored) */
    st_secret *fks[ST_RUNTIME_MAX_DATASETS] = {NULL};
    for (size_t i = 0; rc == ST_OK && i < r->a->ndatasets; i++)
        rc = rt_file_key(r, keys, i, &fks[i], err);
    if (rc == ST_OK && r->spec.checkpoint_every)
        rc = rt_checkpoint_key(r, fks, err);
    /* a model-use job: the model's key, released with the datasets' */
    int use = r->spec.kind != ST_JOB_KIND_TRAIN;
    st_secret *mk = NULL;
    if (rc == ST_OK && use) {
        char name[ST_BROKER_KEY_NAME_MAX + 1];
        snprintf(name, sizeof(name), "model:%s@%u", r->spec.use_model,
                 r->spec.use_version);
        const st_broker_key *k = st_broker_keys_find(keys, name);
        rc = k ? st_broker_unwrap_key(r->keys, r->a->job_id, k, &mk, err)
               : st_err_set(err, ST_E_DENIED, "no key released for %s", name);
    }
    if (keys)
        st_wipe(keys, sizeof(*keys));
    pthread_t hb;
    int hb_started = 0;
    if (rc == ST_OK) {
        r->started = now_s();
        /* the thread starts with HB_WAKE blocked (see heartbeat_main) */
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_hb_wake;
        sigaction(HB_WAKE, &sa, NULL);
        sigset_t wake, old;
        sigemptyset(&wake);
        sigaddset(&wake, HB_WAKE);
        pthread_sigmask(SIG_BLOCK, &wake, &old);
        hb_started = pthread_create(&hb, NULL, heartbeat_main, r) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!hb_started)
            rc = st_err_set(err, ST_E_IO, "cannot start the heartbeat");
    }
    if (rc == ST_OK)
        rt_state(r, ST_JOB_LOADING);
    double t_load = now_s();
    for (size_t i = 0; rc == ST_OK && i < r->a->ndatasets; i++)
        rc = rt_load(r, fks[i], i, &data[i], err);
    for (size_t i = 0; i < ST_RUNTIME_MAX_DATASETS; i++)
        st_secret_free(fks[i]);
    if (rc == ST_OK) {
        json_t *v = json_pack("{s:s,s:f}", "state", "loading",
                              "decrypt_seconds", now_s() - t_load);
        st_discard(rt_send_json(r, ST_MSG_PROGRESS, v, NULL)); /* advisory */
    }
    free(keys);

    if (rc == ST_OK && use)
        rc = rt_use(r, mk, &data[0].view, err);
    st_secret_free(mk);
    st_train_config cfg;
    st_train_data train, valid;
    json_t *final = NULL;
    int gbdt = !use && st_gbdt_spec_is_gbdt(r->spec.model);
    int mlp = !use && !gbdt;
    if (rc == ST_OK && gbdt) {
        to_train_data(&data[0].view, &train);
        if (r->a->ndatasets > 1)
            to_train_data(&data[1].view, &valid);
        rc = rt_train_gbdt(r, &train, r->a->ndatasets > 1 ? &valid : NULL,
                           &final, err);
    } else if (rc == ST_OK && mlp)
        rc = st_train_config_from_json(r->spec.model, r->spec.training, &cfg,
                                       err);
    if (rc == ST_OK && mlp) /* fitted by the trainer on the training rows */
        rc = st_train_config_preprocessing(r->spec.preprocessing, &cfg, err);
    if (rc == ST_OK && mlp) {
        to_train_data(&data[0].view, &train);
        if (r->a->ndatasets > 1)
            to_train_data(&data[1].view, &valid);
        rc = st_train_config_resolve(&cfg, &train, err);
    }
    if (rc == ST_OK && mlp)
        rc = r->a->resume ? rt_restore(r, &cfg, err)
                          : st_trainer_new(&cfg, &r->trainer, err);
    if (rc == ST_OK && mlp) {
        rt_state(r, ST_JOB_TRAINING);
        struct cb_ctx c = {r, ST_OK, {0}};
        rc = st_trainer_fit(r->trainer, &train,
                            r->a->ndatasets > 1 ? &valid : NULL, on_epoch, &c,
                            err);
        if (c.ckpt_rc != ST_OK) {
            *err = c.ckpt_err;
            rc = st_err_prefix(err, "writing a checkpoint");
        } else if (rc == ST_E_CANCELLED || atomic_load(&r->cancel))
            rc = st_err_set(err, ST_E_CANCELLED, "cancelled on request");
    }
    if (rc == ST_OK && mlp) {
        /* the final evaluation: the validation dataset when there is one;
         * else the held-out split the last epoch was measured on; else
         * the training data itself (said so) */
        final = metrics_json(&r->last);
        if (r->history)
            json_object_set(final, "history", r->history);
        st_train_metrics fm;
        if (r->a->ndatasets > 1) {
            rc = st_trainer_evaluate(r->trainer, &valid, &fm, err);
            if (rc == ST_OK)
                json_object_set_new(final, "final_evaluation",
                                    evaluation_json(&fm, "validation dataset"));
        } else if (r->last.has_validation) {
            json_t *ev = evaluation_json(&r->last, "held-out validation split");
            if (r->last_confusion)
                json_object_set(ev, "confusion", r->last_confusion);
            json_object_set_new(final, "final_evaluation", ev);
        } else {
            rc = st_trainer_evaluate(r->trainer, &train, &fm, err);
            if (rc == ST_OK)
                json_object_set_new(
                    final, "final_evaluation",
                    evaluation_json(&fm, "training dataset (no held-out "
                                         "data)"));
        }
    }
    struct seal_out so;
    json_t *prov = NULL;
    if (rc == ST_OK && !use) {
        rt_state(r, ST_JOB_SEALING);
        rc = rt_seal(r, &data[0].view, &so, err);
    }
    if (rc == ST_OK && !use) {
        prov = rt_provenance(r, &so, final, err);
        rc = prov ? ST_OK : (err->code ? err->code : ST_E_INTERNAL);
    }
    /* wipe: weights and data go before anything else is said */
    st_trainer_free(r->trainer);
    r->trainer = NULL;
    st_gbdt_free(r->gbdt);
    r->gbdt = NULL;
    for (size_t i = 0; i < ST_RUNTIME_MAX_DATASETS; i++)
        st_secmem_free(data[i].plain);
    if (rc == ST_OK && !use) {
        char h[65];
        json_t *res = json_pack(
            "{s:{s:s,s:s,s:I},s:o,s:O}", "model", "file", ST_RUNTIME_MODEL_FILE,
            "sha256", hex32(so.sha256, h), "size", (json_int_t)so.size,
            "provenance", prov, "metrics", final);
        rc = rt_send_json(r, ST_MSG_RESULT, res, err);
    }
    json_decref(final);
    atomic_store(&r->stop, 1);
    if (hb_started) {
        pthread_kill(hb, HB_WAKE);
        pthread_join(hb, NULL);
    }
    return rc;
}

int st_runtime_main(void *arg, int sock)
{
    struct rt r;
    memset(&r, 0, sizeof(r));
    r.a = arg;
    r.sock = sock;
    pthread_mutex_init(&r.send_lock, NULL);
    atomic_store(&r.state, (int)ST_JOB_ATTESTING);
    st_err err;
    st_err_clear(&err);
    /* the signed spec, parsed and hashed once; the recipients and the
     * datasets checked against it before any key is asked for */
    st_code rc =
        st_job_spec_parse(r.a->spec, r.a->spec_len, "job spec", &r.spec, &err);
    if (rc == ST_OK) {
        st_sha256(r.a->spec, r.a->spec_len, r.spec_digest);
        rc = st_job_spec_check_recipients(&r.spec, r.a->recipients,
                                          r.a->nrecipients, &err);
    }
    if (rc == ST_OK)
        rc = rt_check_datasets(&r, &err);
    if (rc == ST_OK)
        r.keys = st_secmem_alloc(64, &err);
    if (rc == ST_OK)
        rc = r.keys ? rt_run(&r, &err) : err.code;
    st_job_spec_free(&r.spec);
    st_secret_free(r.job_key);
    st_secmem_free(r.keys);
    free(r.evidence);
    json_decref(r.history);
    json_decref(r.last_confusion);
    if (rc == ST_OK)
        return 0;
    return rt_fail(&r, &err);
}
