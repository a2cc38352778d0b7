/*
 * remote_use.c: `sealtrain --server URL model evaluate|predict NAME[@V]
 * --data DATASET -i IDENTITY --attest-policy FILE ...` (docs/predict.md,
 * "Over --server").
 *
 * The server's operator must never hold the model's key or see the
 * predictions. So the requester, here, does what the local controller
 * does with the model key, after checking for itself what the gate
 * checked for the dataset's key:
 *
 *   1. the model version is pinned from the registry and its sealed file
 *      fetched and checked against the registered digest; its file key is
 *      recovered from the age header with the requester's own identity
 *      (secure memory, never sent in clear);
 *   2. a spec with "use": {"key": "requester", "nonce": <fresh>} is signed
 *      here and submitted; its digest is computed here, never taken from
 *      the server;
 *   3. the server's job runner starts the runtime, the gate releases the
 *      dataset's key to it, and the job's status carries the runtime's
 *      public keys, the gate's nonce and the runtime's evidence;
 *   4. the evidence is verified here with the one verifier
 *      (st_attest_verify), the requester's attestation policy and
 *      reference values, against report data recomputed here from the
 *      runtime's keys, the nonce and this spec's digest: a runtime key the
 *      operator substituted, or evidence for another spec, fails;
 *   5. only then is the model key wrapped to the runtime's X25519 key
 *      (st_broker_wrap_key: ephemeral X25519, HKDF-SHA256, AEAD bound to
 *      the job and the key's name) and posted; only the job's submitter
 *      may post it;
 *   6. evaluate prints the metrics; predict fetches the predictions,
 *      sealed by the runtime to the recipient this spec names (--to, given
 *      here, so that the server cannot substitute one), checks their
 *      digest against the job's result and writes them atomically;
 *      --provenance writes the use's statement, signed by the runtime
 *      (`model verify-use` checks it).
 *
 * Never: send the model key unwrapped, trust a digest, key or recipient
 * the server states without recomputing or naming it here.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <sealtrain/sealtrain.h>

#include "remote.h"

#define USE_WAIT_S 120 /* for the runtime's evidence, then the result */
#define POLL_US 300000

struct uopts {
    int json;
    const char *data, *identity, *out, *to, *tee, *sandbox, *policy,
        *platform_key, *ak, *provenance;
};

static int parse(int argc, char **argv, struct uopts *o, const char **ref)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"data", required_argument, NULL, 'd'},
        {"identity", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},
        {"to", required_argument, NULL, 't'},
        {"tee", required_argument, NULL, 'T'},
        {"sandbox", required_argument, NULL, 'S'},
        {"attest-policy", required_argument, NULL, 'P'},
        {"platform-key", required_argument, NULL, 'K'},
        {"ak", required_argument, NULL, 'A'},
        {"provenance", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    optind = 0;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "jd:i:o:t:", opts, NULL)) !=
           -1) {
        switch (c) {
        case 'j': o->json = 1; break;
        case 'd': o->data = optarg; break;
        case 'i': o->identity = optarg; break;
        case 'o': o->out = optarg; break;
        case 't': o->to = optarg; break;
        case 'T': o->tee = optarg; break;
        case 'S': o->sandbox = optarg; break;
        case 'P': o->policy = optarg; break;
        case 'K': o->platform_key = optarg; break;
        case 'A': o->ak = optarg; break;
        case 'p': o->provenance = optarg; break;
        default: return st_cli_usage("model", "unknown option");
        }
    }
    if (argc - 1 - optind != 1)
        return st_cli_usage("model", "%s takes one argument", argv[1]);
    *ref = argv[1 + optind];
    return 0;
}

/* NULL after saying why (where it is not JSON, or out of memory) */
static json_t *parse_reply(const st_remote_reply *r)
{
    return st_remote_json(r->data, NULL);
}

/* GET /v1/jobs/ID as JSON, or NULL after printing why. */
static json_t *job_get(st_cli *cli, const char *id, int *rc)
{
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    st_remote_req rq = {"GET", path, NULL, NULL, 0, NULL};
    st_remote_reply r = {0};
    *rc = st_remote_call(cli, &rq, &r);
    json_t *j = *rc ? NULL : parse_reply(&r);
    free(r.data);
    if (!*rc && !j)
        *rc = st_remote_fail(5, "server: job %s: no state to go on with", id);
    return j;
}

/* Polls the job until `key` appears in its status (key: NULL: until it
 * ends). Returns the job's JSON, or NULL after printing why (a job that
 * ended otherwise: its reason). */
static json_t *job_wait(st_cli *cli, const char *id, const char *key, int *rc)
{
    for (int i = 0; i < USE_WAIT_S * 1000000 / POLL_US; i++) {
        json_t *j = job_get(cli, id, rc);
        if (!j)
            return NULL;
        const char *state = json_string_value(json_object_get(j, "state"));
        st_job_state s = ST_JOB_QUEUED;
        int known = state && st_job_state_parse(state, &s, NULL) == ST_OK;
        if (key && json_object_get(json_object_get(j, "status"), key))
            return j;
        if (known && st_job_state_terminal(s)) {
            if (!key && s == ST_JOB_SUCCEEDED)
                return j;
            const char *why = json_string_value(json_object_get(j, "reason"));
            *rc = st_remote_fail(s == ST_JOB_CANCELLED ? 5 : 4, "job %s %s: %s",
                                 id, state, why ? why : "");
            json_decref(j);
            return NULL;
        }
        json_decref(j);
        usleep(POLL_US);
    }
    *rc = st_remote_fail(5,
                         "job %s: nothing after %d s (is the server's job "
                         "runner on?)",
                         id, USE_WAIT_S);
    return NULL;
}

/* Step 1: the pinned version, its sealed file checked against the
 * registered digest, and its file key (secure memory). */
static int model_key(st_cli *cli, const char *ref, const struct uopts *o,
                     st_model_record *m, st_secret **fk)
{
    st_remote_reply rec = {0}, sealed = {0};
    int rc = st_remote_model_call(cli, ref, "", NULL, 0, &rec);
    json_t *j = rc ? NULL : parse_reply(&rec);
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *sha = json_string_value(
        json_object_get(json_object_get(j, "file"), "sha256"));
    json_int_t ver = json_integer_value(json_object_get(j, "version"));
    if (!rc &&
        (!name || !sha || strlen(sha) != 64 || ver < 1 || ver > UINT32_MAX))
        rc = st_remote_fail(5, "server: a model record without name, version "
                               "or digest");
    char pinned[ST_MODEL_NAME_MAX + 16];
    if (!rc) {
        snprintf(m->name, sizeof(m->name), "%s", name);
        m->version = (uint32_t)ver;
        snprintf(m->file_sha256, sizeof(m->file_sha256), "%s", sha);
        snprintf(pinned, sizeof(pinned), "%s@%u", m->name, m->version);
        rc = st_remote_model_call(cli, pinned, "/download", NULL, 0, &sealed);
    }
    json_decref(j);
    free(rec.data);
    st_err err;
    st_err_clear(&err);
    const char *tmp = getenv("TMPDIR");
    snprintf(m->path, sizeof(m->path), "%s/sealtrain-model.XXXXXX",
             tmp && *tmp ? tmp : P_tmpdir);
    int fd = rc ? -1 : mkstemp(m->path);
    if (!rc && fd < 0)
        rc = st_remote_fail(5, "a temporary file in %s: %s",
                            tmp && *tmp ? tmp : P_tmpdir, strerror(errno));
    st_age_identity *ids = NULL;
    size_t nids = 0;
    if (fd >= 0) {
        close(fd);
        int mfd = -1;
        /* the digest is checked where the bytes lie, by the same function
         * the controller uses */
        if (st_fs_write_atomic(m->path, sealed.data ? sealed.data : "",
                               sealed.len, 0600, &err) ||
            st_age_identities_load(o->identity, &ids, &nids, &err) ||
            st_model_file_key(m, ids, nids, &mfd, fk, &err))
            rc = st_cli_fail(&err);
        if (mfd >= 0)
            close(mfd);
        unlink(m->path);
    }
    st_age_identities_free(ids, nids);
    free(sealed.data);
    return rc;
}

/* Step 2: the signed spec, submitted; its digest computed here. */
static int submit(st_cli *cli, const char *sub, const struct uopts *o,
                  const st_model_record *m, char id[ST_JOB_ID_LEN + 1],
                  uint8_t digest[32])
{
    st_err err;
    st_err_clear(&err);
    uint8_t nonce[32], pub[32];
    char nhex[65];
    uint8_t *seed = st_secmem_alloc(32, &err);
    st_job_use u = {.kind = strcmp(sub, "predict") ? ST_JOB_KIND_EVALUATE
                                                   : ST_JOB_KIND_PREDICT,
                    .model = m->name,
                    .dataset = o->data,
                    .recipient = o->to,
                    .tee = o->tee,
                    .sandbox = o->sandbox};
    char *text = NULL, *env_text = NULL;
    json_t *env = NULL;
    st_job_spec spec, opened;
    memset(&spec, 0, sizeof(spec));
    memset(&opened, 0, sizeof(opened));
    st_code rc = seed ? st_random(nonce, 32, &err) : err.code;
    if (rc == ST_OK) {
        st_hex_encode(nonce, 32, nhex);
        rc = st_job_use_spec(&u, m->version, nhex, &text, &err);
    }
    if (rc == ST_OK)
        rc = st_job_spec_parse(text, strlen(text), "model use", &spec, &err);
    if (rc == ST_OK)
        rc = st_ed25519_load_private_pem(cli->key, seed, &err);
    if (rc == ST_OK)
        rc = st_ed25519_public(seed, pub, &err);
    if (rc == ST_OK && !(env = st_job_spec_sign(&spec, seed, &err)))
        rc = err.code ? err.code : ST_E_IO;
    if (rc == ST_OK && !(env_text = st_json_dumps(env, JSON_COMPACT)))
        rc = st_err_set(&err, ST_E_IO, "out of memory");
    /* the digest the runtime's evidence must be bound to: the signed
     * payload's, opened as the server opens it */
    if (rc == ST_OK)
        rc = st_job_envelope_open(env_text, strlen(env_text), "signed spec",
                                  pub, &opened, digest, NULL, &err);
    st_secmem_free(seed);
    st_job_spec_free(&spec);
    st_job_spec_free(&opened);
    json_decref(env);
    free(text);
    if (rc != ST_OK) {
        free(env_text);
        return st_cli_fail(&err);
    }
    st_remote_req rq = {"POST",   "/v1/jobs",       "application/json",
                        env_text, strlen(env_text), NULL};
    st_remote_reply r = {0};
    int xrc = st_remote_call(cli, &rq, &r);
    free(env_text);
    json_t *j = xrc ? NULL : parse_reply(&r);
    free(r.data);
    const char *got = json_string_value(json_object_get(j, "id"));
    if (!xrc &&
        (!got || !st_remote_valid_arg(got) || strlen(got) > ST_JOB_ID_LEN))
        xrc = st_remote_fail(5, "server: a submission reply without an id");
    if (!xrc)
        snprintf(id, ST_JOB_ID_LEN + 1, "%s", got);
    json_decref(j);
    return xrc;
}

static int hex32(const json_t *req, const char *key, uint8_t out[32])
{
    const char *s = json_string_value(json_object_get(req, key));
    return s && strlen(s) == 64 && st_hex_decode(s, out, 32, NULL) == ST_OK;
}

/* Step 4: the runtime's evidence, verified here. 0 when it passes. */
static int verify_runtime(const struct uopts *o, const char *id,
                          const char *keyname, const uint8_t digest[32],
                          const json_t *req, uint8_t x25519[32])
{
    uint8_t ed[32], nonce[32], rd[64], pk[32];
    char sd[65];
    st_hex_encode(digest, 32, sd);
    const char *rjob = json_string_value(json_object_get(req, "job"));
    const char *rkey = json_string_value(json_object_get(req, "key"));
    const char *rsd = json_string_value(json_object_get(req, "spec_sha256"));
    if (!rjob || strcmp(rjob, id) || !rkey || strcmp(rkey, keyname) || !rsd ||
        strcmp(rsd, sd) || !hex32(req, "x25519", x25519) ||
        !hex32(req, "ed25519", ed) || !hex32(req, "nonce", nonce))
        return st_remote_fail(4,
                              "job %s: the server's key request is not for "
                              "this job, this spec (sha256:%s) and %s",
                              id, sd, keyname);
    st_err err;
    st_err_clear(&err);
    char *evtext =
        st_json_dumps(json_object_get(req, "evidence"), JSON_COMPACT);
    st_evidence *ev = NULL;
    st_attest_policy *policy = NULL;
    unsigned char *ak = NULL;
    size_t ak_len = 0;
    st_attest_refs refs = {.data_dir = getenv("SEALTRAIN_DATA_DIR")};
    st_code rc =
        evtext
            ? st_evidence_from_json(evtext, strlen(evtext),
                                    "the runtime's evidence", &ev, &err)
            : st_err_set(&err, ST_E_INPUT, "the key request holds no evidence");
    free(evtext);
    if (rc == ST_OK)
        rc = st_attest_policy_load(o->policy, &policy, &err);
    if (rc == ST_OK && o->platform_key &&
        (rc = st_ed25519_load_public_pem(o->platform_key, pk, &err)) == ST_OK)
        refs.sim_platform_key = pk;
    if (rc == ST_OK && o->ak &&
        (rc = st_fs_read_all(o->ak, 1 << 16, &ak, &ak_len, &err)) == ST_OK) {
        refs.tpm_ak = ak;
        refs.tpm_ak_len = ak_len;
    }
    /* recomputed here: the operator cannot swap the runtime's key */
    st_broker_report_data(x25519, ed, nonce, digest, rd);
    st_verdict v;
    st_verdict_init(&v);
    if (rc == ST_OK)
        rc = st_attest_verify(ev, rd, &refs, policy, (int64_t)time(NULL), &v,
                              &err);
    int status = 0;
    if (rc != ST_OK)
        status = st_cli_fail(&err);
    else if (!v.pass)
        status = st_remote_fail(4,
                                "job %s: the runtime's evidence fails your "
                                "attestation policy: %s; the model key was "
                                "not sent",
                                id, v.reason);
    st_verdict_free(&v);
    st_attest_policy_free(policy);
    st_evidence_free(ev);
    free(ak);
    return status;
}

/* Step 5: the model key wrapped to the runtime, posted. */
static int send_key(st_cli *cli, const char *id, const char *keyname,
                    const uint8_t x25519[32], const st_secret *fk)
{
    st_err err;
    st_err_clear(&err);
    st_broker_key k;
    if (st_broker_wrap_key(x25519, id, keyname, st_secret_cbytes(fk),
                           st_secret_len(fk), &k, &err) != ST_OK)
        return st_cli_fail(&err);
    json_t *j = st_job_model_key_json(&k);
    char *body = j ? st_json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body)
        return st_remote_fail(5, "out of memory");
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s/model-key", id);
    st_remote_req rq = {"POST", path,         "application/json",
                        body,   strlen(body), NULL};
    st_remote_reply r = {0};
    int rc = st_remote_call(cli, &rq, &r);
    free(body);
    free(r.data);
    return rc;
}

static void cancel(st_cli *cli, const char *id)
{
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", id);
    st_remote_req rq = {"POST", path, NULL, "", 0, NULL};
    st_remote_reply r = {0};
    st_remote_request(cli, &rq, &(long){0}, &r);
    free(r.data);
}

/* Step 6, predict: the sealed predictions, checked against the result. */
static int fetch_predictions(st_cli *cli, const char *id, const json_t *pr,
                             const char *out)
{
    const char *want = json_string_value(json_object_get(pr, "sha256"));
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s/predictions", id);
    st_remote_req rq = {"GET", path, NULL, NULL, 0, NULL};
    st_remote_reply r = {0};
    int rc = st_remote_call(cli, &rq, &r);
    uint8_t d[32];
    char hex[65];
    st_sha256(r.data ? r.data : "", r.len, d);
    st_hex_encode(d, 32, hex);
    st_err err;
    if (!rc && (!want || strcmp(want, hex)))
        rc = st_remote_fail(4,
                            "job %s: the predictions' digest %s is not the "
                            "one the runtime reported",
                            id, hex);
    if (!rc && st_fs_write_atomic(out, r.data ? r.data : "", r.len, 0600,
                                  &err) != ST_OK)
        rc = st_cli_fail(&err);
    free(r.data);
    return rc;
}

int st_remote_model_use(st_cli *cli, int argc, char **argv)
{
    const char *sub = argv[1];
    int predict = !strcmp(sub, "predict");
    struct uopts o;
    const char *ref = NULL;
    int rc = parse(argc, argv, &o, &ref);
    if (rc)
        return rc;
    if (!o.data || !o.identity || !o.policy)
        return st_cli_usage("model",
                            "%s --server needs --data DATASET, -i IDENTITY "
                            "(it opens the model here) and --attest-policy "
                            "FILE (the runtime's evidence is verified here)",
                            sub);
    if (predict && (!o.out || !o.to))
        return st_cli_usage("model", "predict --server needs --out FILE.age "
                                     "and --to age1... (named here, so that "
                                     "the server cannot substitute one)");
    if (!predict && (o.out || o.to))
        return st_cli_usage("model", "evaluate has no --out or --to: its "
                                     "metrics are the result");
    if (!cli->key)
        return st_cli_usage("model",
                            "%s needs --key (or SEALTRAIN_KEY): the "
                            "request is a job spec you sign",
                            sub);
    st_model_record m;
    memset(&m, 0, sizeof(m));
    st_secret *fk = NULL;
    char id[ST_JOB_ID_LEN + 1] = "", keyname[ST_MODEL_NAME_MAX + 24];
    uint8_t digest[32], x25519[32];
    json_t *job = NULL;
    if ((rc = model_key(cli, ref, &o, &m, &fk)) == 0)
        rc = submit(cli, sub, &o, &m, id, digest);
    snprintf(keyname, sizeof(keyname), "model:%s@%u", m.name, m.version);
    if (rc == 0)
        job = job_wait(cli, id, "model_key_request", &rc);
    if (rc == 0) {
        rc = verify_runtime(&o, id, keyname, digest,
                            json_object_get(json_object_get(job, "status"),
                                            "model_key_request"),
                            x25519);
        if (rc)
            cancel(cli, id);
    }
    json_decref(job);
    job = NULL;
    if (rc == 0)
        rc = send_key(cli, id, keyname, x25519, fk);
    st_secret_free(fk);
    if (rc == 0)
        job = job_wait(cli, id, NULL, &rc);
    json_t *res = json_object_get(json_object_get(job, "status"), "result");
    json_t *ev = json_object_get(res, "evaluation");
    json_t *pr = json_object_get(res, "predictions");
    if (rc == 0 && !(predict ? pr : ev))
        rc = st_remote_fail(5, "job %s succeeded without a result", id);
    if (rc == 0 && predict)
        rc = fetch_predictions(cli, id, pr, o.out);
    st_err err;
    st_err_clear(&err);
    if (rc == 0 && st_cli_take_provenance(res, o.provenance, &err) != ST_OK)
        rc = st_cli_fail(&err);
    if (rc == 0 && (o.json || cli->json)) {
        json_t *out = predict
                          ? json_pack("{s:s,s:{s:s,s:O,s:O}}", "job", id,
                                      "predictions", "path", o.out, "sha256",
                                      json_object_get(pr, "sha256"), "rows",
                                      json_object_get(pr, "rows"))
                          : json_pack("{s:s,s:O,s:O}", "job", id, "evaluation",
                                      ev, "metrics_sha256",
                                      json_object_get(res, "metrics_sha256"));
        char *s =
            out ? st_json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(out);
    } else if (rc == 0 && !cli->quiet && !predict) {
        printf("job:            %s\n", id);
        st_cli_print_evaluation(ev);
        printf("metrics sha256: %s (audited)\n",
               json_string_value(json_object_get(res, "metrics_sha256")));
    } else if (rc == 0 && !cli->quiet)
        printf("job %s: %lld predictions sealed to %s: %s\n", id,
               json_integer_value(json_object_get(pr, "rows")), o.to, o.out);
    json_decref(job);
    return rc;
}
