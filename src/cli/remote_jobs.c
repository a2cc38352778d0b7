/*
 * remote_jobs.c: `sealtrain --server URL job|model ...`: the job and
 * model commands that need more than one GET (docs/api.md):
 *
 *   job submit SPEC            the spec is checked and DSSE-signed here
 *                              with --key, then POST /v1/jobs; the
 *                              server verifies the signature against
 *                              the principal's registered key
 *   job logs ID --follow       GET /v1/jobs/ID/logs?follow=1, printed as
 *                              it streams, until the job ends
 *   model download NAME[@V] -o FILE
 *                              the sealed model (age ciphertext), written
 *                              atomically; only its recipients open it
 *   model verify NAME[@V] [--policy FILE] [--json]
 *                              the server's verdict with its trace
 *   model show NAME[@V] [--json]
 *
 * The private key never leaves this process: only the signed envelope is
 * sent. Nothing here decrypts anything.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <sealtrain/sealtrain.h>

#include "remote.h"

#define MAX_POLICY_FILE (1u << 20)

struct ropts {
    int json, follow;
    const char *out, *policy, *identity, *format;
    int nargs;
    char **args;
};

static int parse(const char *group, int argc, char **argv, struct ropts *o)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"follow", no_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"policy", required_argument, NULL, 'p'},
        {"identity", required_argument, NULL, 'i'},
        {"format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    optind = 0;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "jfo:i:", opts, NULL)) != -1) {
        switch (c) {
        case 'j': o->json = 1; break;
        case 'f': o->follow = 1; break;
        case 'o': o->out = optarg; break;
        case 'p': o->policy = optarg; break;
        case 'i': o->identity = optarg; break;
        case 'F': o->format = optarg; break;
        default: return st_cli_usage(group, "unknown option");
        }
    }
    o->nargs = argc - 1 - optind;
    o->args = argv + 1 + optind;
    return 0;
}

static int one_arg(const char *group, const char *sub, const struct ropts *o)
{
    if (o->nargs != 1)
        return st_cli_usage(group, "%s takes one argument", sub);
    return 0;
}

static void print_pretty(const char *text)
{
    /* not JSON (or no memory to pretty-print it): as it came */
    json_t *j = st_json_parse(text, strlen(text), "the answer", NULL);
    char *s = j ? st_json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    printf("%s\n", s ? s : text);
    free(s);
    json_decref(j);
}

/* A request whose 2xx body lands in *r; non-zero exit status otherwise. */
int st_remote_call(st_cli *cli, const st_remote_req *rq, st_remote_reply *r)
{
    long status = 0;
    int rc = st_remote_request(cli, rq, &status, r);
    if (rc == 0 && (status < 200 || status > 299))
        rc = st_remote_http_fail(status, r);
    return rc;
}

/* ---- job submit ---- */

static int job_submit(st_cli *cli, const char *path)
{
    st_err err;
    st_err_clear(&err);
    if (!cli->key)
        return st_cli_usage("job", "submit: --key (or SEALTRAIN_KEY) is "
                                   "required: the spec is signed by its "
                                   "submitter");
    st_job_spec spec;
    if (st_job_spec_load(path, &spec, &err) != ST_OK)
        return st_cli_fail(&err);
    uint8_t *seed = st_secmem_alloc(32, &err);
    json_t *env = NULL;
    if (seed && st_ed25519_load_private_pem(cli->key, seed, &err) == ST_OK)
        env = st_job_spec_sign(&spec, seed, &err);
    st_secmem_free(seed);
    st_job_spec_free(&spec);
    char *body = env ? st_json_dumps(env, JSON_COMPACT) : NULL;
    json_decref(env);
    if (!body)
        return st_cli_fail(&err);
    st_remote_req rq = {"POST", "/v1/jobs",   "application/json",
                        body,   strlen(body), NULL};
    st_remote_reply r = {0};
    int rc = st_remote_call(cli, &rq, &r);
    free(body);
    if (rc == 0) {
        json_t *j = st_remote_json(r.data, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        if (id)
            printf("%s\n", id);
        else
            rc = st_remote_fail(5, "server: a submission reply without an id");
        json_decref(j);
    }
    free(r.data);
    return rc;
}

/* ---- job logs --follow ---- */

static int job_follow(st_cli *cli, const char *id)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/jobs/%s/logs?follow=1", id);
    st_remote_req rq = {"GET", path, NULL, NULL, 0, stdout};
    st_remote_reply r = {0};
    int rc = st_remote_call(cli, &rq, &r);
    free(r.data);
    if (rc)
        return rc;
    /* the stream also ends when the server shuts down: say so */
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    st_remote_req st = {"GET", path, NULL, NULL, 0, NULL};
    st_remote_reply s = {0};
    rc = st_remote_call(cli, &st, &s);
    if (rc != 0)
        rc = st_remote_fail(5,
                            "the log stream of job %s ended and the server "
                            "no longer answers (it is shutting down?)",
                            id);
    else {
        json_t *j = st_remote_json(s.data, NULL);
        const char *state = json_string_value(json_object_get(j, "state"));
        st_job_state js;
        if (!state || st_job_state_parse(state, &js, NULL) != ST_OK ||
            !st_job_state_terminal(js))
            rc = st_remote_fail(5,
                                "the log stream of job %s ended while the "
                                "job is %s (the server is shutting down?)",
                                id, state ? state : "unknown");
        json_decref(j);
    }
    free(s.data);
    return rc;
}

int st_remote_job(st_cli *cli, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    struct ropts o;
    int rc;
    if (!strcmp(sub, "submit")) {
        if ((rc = parse("job", argc, argv, &o)) ||
            (rc = one_arg("job", sub, &o)))
            return rc;
        return job_submit(cli, o.args[0]);
    }
    if (!strcmp(sub, "logs")) {
        if ((rc = parse("job", argc, argv, &o)) ||
            (rc = one_arg("job", sub, &o)))
            return rc;
        if (!st_remote_valid_arg(o.args[0]))
            return st_cli_usage("job", "\"%s\" is not a job id", o.args[0]);
        if (o.follow)
            return job_follow(cli, o.args[0]);
        return -1; /* the plain log: cmd_remote.c */
    }
    return -1;
}

/* ---- model download / verify / show ---- */

/* "/v1/models/NAME<suffix>?version=V" for NAME[@V]. */
static int model_path(const char *ref, const char *suffix, char *out,
                      size_t cap)
{
    char name[ST_MODEL_NAME_MAX + 1];
    uint32_t ver = 0;
    st_err err;
    if (st_model_ref_parse(ref, name, &ver, &err) != ST_OK)
        return st_cli_fail(&err);
    if (ver)
        snprintf(out, cap, "/v1/models/%s%s?version=%u", name, suffix, ver);
    else
        snprintf(out, cap, "/v1/models/%s%s", name, suffix);
    return 0;
}

/* One request on model NAME[@V] (`suffix`: "", "/download", "/verify");
 * the 2xx body in *r (free r->data either way). */
int st_remote_model_call(st_cli *cli, const char *ref, const char *suffix,
                         const void *body, size_t len, st_remote_reply *r)
{
    char path[256];
    int rc = model_path(ref, suffix, path, sizeof(path));
    if (rc)
        return rc;
    st_remote_req rq = {
        body ? "POST" : "GET", path, "application/json", body, len, NULL};
    return st_remote_call(cli, &rq, r);
}

static int model_download(st_cli *cli, const struct ropts *o)
{
    if (!o->out)
        return st_cli_usage("model", "download needs -o FILE");
    st_remote_reply r = {0};
    int rc = st_remote_model_call(cli, o->args[0], "/download", NULL, 0, &r);
    st_err err;
    if (rc == 0 && st_fs_write_atomic(o->out, r.data ? r.data : "", r.len, 0600,
                                      &err) != ST_OK)
        rc = st_cli_fail(&err);
    if (rc == 0 && !cli->quiet)
        printf("%s: %zu bytes (age-encrypted; open with `age -d -i "
               "IDENTITY`)\n",
               o->out, r.len);
    free(r.data);
    return rc;
}

static int model_verify(st_cli *cli, const struct ropts *o)
{
    unsigned char *pol = NULL;
    size_t plen = 0;
    st_err err;
    if (o->policy &&
        st_fs_read_all(o->policy, MAX_POLICY_FILE, &pol, &plen, &err) != ST_OK)
        return st_cli_fail(&err);
    st_remote_reply r = {0};
    int rc = st_remote_model_call(cli, o->args[0], "/verify", pol, plen, &r);
    free(pol);
    if (rc == 0) {
        json_t *j = st_remote_json(r.data, NULL);
        json_t *pass = json_object_get(j, "pass");
        if (!json_is_boolean(pass)) {
            rc = st_remote_fail(5, "server: a verify reply without a verdict");
        } else {
            if (o->json || cli->json) {
                json_object_del(j, "text");
                char *s = st_json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
                printf("%s\n", s ? s : "");
                free(s);
            } else {
                const char *text =
                    json_string_value(json_object_get(j, "text"));
                fputs(text ? text : "", stdout);
            }
            if (!json_is_true(pass))
                rc = st_remote_fail(
                    4, "model verification failed: %s",
                    json_string_value(json_object_get(j, "reason")));
        }
        json_decref(j);
    }
    free(r.data);
    return rc;
}

/* `model decrypt|export NAME[@V] -i IDENTITY -o OUT --server`: the
 * server checks model.decrypt and audits the release; the sealed file is
 * checked against the registered digest and opened here, with the
 * caller's identity, by the functions the local command uses. */
static int model_decrypt(st_cli *cli, const struct ropts *o, int export)
{
    if (!o->identity || !o->out)
        return st_cli_usage("model", "%s needs -i IDENTITY and -o OUT",
                            export ? "export" : "decrypt");
    if (export && (!o->format || strcmp(o->format, "onnx")))
        return st_cli_usage("model", "export needs --format onnx (the only "
                                     "export format)");
    st_remote_reply rec = {0}, sealed = {0};
    int rc = st_remote_model_call(cli, o->args[0], "", NULL, 0, &rec);
    char path[256];
    if (rc == 0)
        rc = model_path(o->args[0], "/decrypt", path, sizeof(path) - 16);
    if (rc == 0 && export)
        strcat(path, strchr(path, '?') ? "&purpose=export" : "?purpose=export");
    st_remote_req rq = {"POST", path, NULL, NULL, 0, NULL};
    if (rc == 0)
        rc = st_remote_call(cli, &rq, &sealed);
    json_t *j = rc == 0 ? st_remote_json(rec.data, NULL) : NULL;
    st_model_record m;
    memset(&m, 0, sizeof(m));
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *sha = json_string_value(
        json_object_get(json_object_get(j, "file"), "sha256"));
    if (rc == 0 && (!name || !sha || strlen(sha) != 64))
        rc = st_remote_fail(5, "server: a model record without name or digest");
    st_err err;
    st_err_clear(&err);
    st_age_identity *ids = NULL;
    size_t nids = 0;
    void *plain = NULL, *onnx = NULL;
    size_t plen = 0, olen = 0;
    const char *tmp = getenv("TMPDIR");
    char *tpath = m.path; /* the sealed bytes, checked where they lie */
    snprintf(tpath, sizeof(m.path), "%s/sealtrain-model.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    int fd = rc == 0 ? mkstemp(tpath) : -1;
    if (rc == 0 && fd < 0)
        rc = st_remote_fail(5, "a temporary file in %s: %s",
                            tmp && *tmp ? tmp : "/tmp", strerror(errno));
    if (fd >= 0) {
        close(fd);
        snprintf(m.name, sizeof(m.name), "%s", name);
        m.version = (uint32_t)json_integer_value(json_object_get(j, "version"));
        snprintf(m.file_sha256, sizeof(m.file_sha256), "%s", sha);
        if (st_fs_write_atomic(tpath, sealed.data ? sealed.data : "",
                               sealed.len, 0600, &err) ||
            st_age_identities_load(o->identity, &ids, &nids, &err) ||
            st_model_open(&m, ids, nids, &plain, &plen, &err) ||
            (export &&
             st_model_onnx_export(plain, plen, m.name, &onnx, &olen, &err)) ||
            st_fs_write_atomic(o->out, export ? onnx : plain,
                               export ? olen : plen, 0600, &err))
            rc = st_cli_fail(&err);
        unlink(tpath);
    }
    if (rc == 0 && !cli->quiet)
        printf(export ? "exported %s@%u as ONNX to %s\n"
                      : "decrypted %s@%u to %s\n",
               m.name, m.version, o->out);
    st_secmem_free(plain);
    st_secmem_free(onnx);
    st_age_identities_free(ids, nids);
    json_decref(j);
    free(rec.data);
    free(sealed.data);
    return rc;
}

static int model_show(st_cli *cli, const struct ropts *o)
{
    st_remote_reply r = {0};
    int rc = st_remote_model_call(cli, o->args[0], "", NULL, 0, &r);
    if (rc == 0)
        print_pretty(r.data ? r.data : "");
    free(r.data);
    return rc;
}

int st_remote_model(st_cli *cli, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(sub, "evaluate") || !strcmp(sub, "predict"))
        return st_remote_model_use(cli, argc, argv);
    if (strcmp(sub, "download") && strcmp(sub, "verify") &&
        strcmp(sub, "show") && strcmp(sub, "decrypt") && strcmp(sub, "export"))
        return -1;
    struct ropts o;
    int rc;
    if ((rc = parse("model", argc, argv, &o)) ||
        (rc = one_arg("model", sub, &o)))
        return rc;
    if (!strcmp(sub, "download"))
        return model_download(cli, &o);
    if (!strcmp(sub, "verify"))
        return model_verify(cli, &o);
    if (!strcmp(sub, "decrypt") || !strcmp(sub, "export"))
        return model_decrypt(cli, &o, !strcmp(sub, "export"));
    return model_show(cli, &o);
}
