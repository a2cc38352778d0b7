/*
 * cmd_model.c: `sealtrain model`: list, show, verify, decrypt, share, rm,
 * export (docs/models.md).
 *
 * Every command but `verify FILE --provenance FILE` works on the registry
 * and checks the acting principal's right first (model.read,
 * model.decrypt, model.share, model.rm). `verify` prints the verdict with
 * its claim-by-claim trace like `attest verify`, and exits 4 when the
 * model fails it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void model_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain model COMMAND ...\n\n"
            "  list [--json]                      every registered model "
            "version\n"
            "  show NAME[@VERSION] [--json]       lineage: job, datasets "
            "with digests,\n"
            "                                     spec digest, attestation "
            "claims, metrics\n"
            "  verify NAME[@VERSION] [--policy FILE] [--json]\n"
            "  verify FILE --provenance FILE [--policy FILE] [--sim-key PEM] "
            "[--json]\n"
            "                                     file digest, provenance "
            "signature, key\n"
            "                                     bound in the evidence, "
            "evidence vs policy\n"
            "  decrypt NAME[@VERSION] -i IDENTITY -o OUT\n"
            "                                     the safetensors file "
            "(written atomically)\n"
            "  share NAME[@VERSION] --to age1... -i IDENTITY\n"
            "                                     a copy for one more "
            "recipient, if every\n"
            "                                     source dataset's policy "
            "allows it\n"
            "  rm NAME[@VERSION]                  crypto-shred the model "
            "and its copies\n"
            "  export NAME[@VERSION] -i IDENTITY --format onnx -o OUT\n"
            "                                     ONNX for the "
            "linear/logistic/MLP family\n"
            "  evaluate NAME[@VERSION] --data DATASET -i IDENTITY [--json]\n"
            "                                     metrics on an encrypted "
            "dataset, computed\n"
            "                                     in the attested runtime "
            "(the dataset's\n"
            "                                     policy must allow "
            "`evaluate`)\n"
            "  predict NAME[@VERSION] --data DATASET -i IDENTITY --out "
            "FILE.age [--to age1...]\n"
            "                                     predictions in the attested "
            "runtime, sealed\n"
            "                                     to you (or --to; the policy "
            "must allow\n"
            "                                     `predict` and the "
            "recipient)\n"
            "  predict NAME[@VERSION] --input FILE.csv -i IDENTITY --out "
            "FILE.csv\n"
            "                                     your own, non-secret rows "
            "scored here (no\n"
            "                                     enclave: the model is "
            "decrypted locally)\n"
            "  evaluate|predict ... --provenance FILE\n"
            "                                     also write the use's "
            "statement, signed by\n"
            "                                     the attested runtime\n"
            "  verify-use OUTPUT --provenance FILE [--policy FILE] "
            "[--sim-key PEM]\n"
            "                                     check that statement "
            "against the sealed\n"
            "                                     predictions or the "
            "evaluate --json output\n"
            "  evaluate|predict ... --data DATASET --server URL "
            "--attest-policy FILE\n"
            "      [--platform-key PEM] [--ak FILE] (predict: --to age1... "
            "--out FILE.age)\n"
            "                                     the server runs the job; "
            "this client verifies\n"
            "                                     the runtime's evidence "
            "with your policy and\n"
            "                                     only then wraps the model "
            "key to it\n\n"
            "Without @VERSION the latest version is meant. Exit status: 0 "
            "ok, 2 usage,\n3 bad input or unknown model, 4 denied "
            "(verification failed, no right,\npolicy), 5 system failure.\n");
}

struct opts {
    int json;
    const char *provenance, *policy, *sim_key, *identity, *out, *to, *format;
    const char *data, *input, *tee, *sandbox;
};

static int open_ws(st_cli *cli, st_workspace **ws, st_access_session *who,
                   st_err *err)
{
    if (st_workspace_open(cli->workspace, ws, err) != ST_OK)
        return -1;
    if (st_model_migrate(*ws, err) != ST_OK ||
        st_access_login(*ws, cli->as, cli->key, who, err) != ST_OK) {
        st_workspace_close(*ws);
        *ws = NULL;
        return -1;
    }
    return 0;
}

static const char *principal(const st_access_session *who)
{
    return who->bootstrap ? NULL : who->name;
}

static void print_json(json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("\n");
    json_decref(v);
}

static void print_show(const st_model_record *r)
{
    printf("model:          %s@%u\n", r->name, r->version);
    printf("owner:          %s\n", r->owner);
    printf("created:        %s\n", r->created);
    printf("classification: %s\n", r->classification);
    json_t *rj = st_model_record_json(r);
    if (r->retention_days >= 0)
        printf("retention:      %lld days (until %s)\n", r->retention_days,
               json_string_value(json_object_get(rj, "expires")));
    else
        printf("retention:      none\n");
    json_decref(rj);
    printf("file:           %s\n  sha256 %s, %llu bytes\n", r->path,
           r->file_sha256, (unsigned long long)r->file_size);
    printf("provenance:     %s\n", r->provenance_path);
    printf("lineage:\n  job:      %s\n  job spec: sha256:%s\n", r->job_id,
           r->spec_sha256);
    size_t i;
    json_t *d;
    json_array_foreach(r->datasets, i, d)
    {
        printf("  dataset:  %s sha256:%s (file sha256:%s, %s)\n",
               json_string_value(json_object_get(d, "name")),
               json_string_value(json_object_get(d, "sha256")),
               json_string_value(json_object_get(d, "file_sha256")),
               json_string_value(json_object_get(d, "classification")));
    }
    printf("attestation:\n");
    const char *keys[] = {"tee",   "measurement", "platform_id",    "tcb",
                          "debug", "insecure",    "evidence_sha256"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        json_t *v = json_object_get(r->claims, keys[k]);
        if (!v)
            continue;
        char *s = st_json_dumps(v, JSON_ENCODE_ANY);
        printf("  %-16s %s\n", keys[k], s ? s : "?");
        free(s);
    }
    json_t *fe = json_object_get(r->metrics, "final_evaluation");
    if (fe) {
        char *s = st_json_dumps(fe, JSON_COMPACT | JSON_SORT_KEYS);
        printf("metrics:        %s\n", s ? s : "?");
        free(s);
    }
    printf("recipients:\n");
    json_array_foreach(r->recipients, i, d)
        printf("  %s\n", json_string_value(d));
}

/* The SHA-256 (hex) a use's statement names for an output file: the
 * evaluation of a `model evaluate --json` output as compact JSON with
 * sorted keys, any other file (sealed predictions) as its bytes. */
static st_code use_output_digest(const char *path, char hex[65], st_err *err)
{
    unsigned char *b = NULL;
    size_t n = 0;
    st_code rc = st_fs_read_all(path, (size_t)1 << 32, &b, &n, err);
    if (rc != ST_OK)
        return rc;
    /* not JSON: a file of sealed predictions, hashed as its bytes; out of
     * memory is no digest at all */
    st_err pe;
    json_t *j = st_json_parse((const char *)b, n, path, &pe);
    json_t *ev = json_object_get(j, "evaluation");
    char *canon = ev ? st_json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if ((!j && pe.code == ST_E_IO) || (ev && !canon)) {
        json_decref(j);
        free(b);
        return st_err_errno(err, ST_E_IO, ENOMEM, "%s: its digest", path);
    }
    uint8_t d[32];
    if (canon)
        st_sha256(canon, strlen(canon), d);
    else
        st_sha256(b, n, d);
    st_hex_encode(d, 32, hex);
    free(canon);
    json_decref(j);
    free(b);
    return ST_OK;
}

st_code st_cli_take_provenance(json_t *result, const char *path, st_err *err)
{
    json_t *prov = json_object_get(result, "provenance");
    char *text = prov ? st_json_dumps(prov, JSON_INDENT(2)) : NULL;
    st_code rc = ST_OK;
    if (path && !text)
        rc = st_err_set(err, ST_E_INPUT, "the job's result has no provenance");
    else if (path)
        rc = st_fs_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    json_object_del(result, "provenance");
    return rc;
}

static int cmd_verify(st_cli *cli, const struct opts *o, const char *target,
                      int use)
{
    st_err err;
    st_err_clear(&err);
    st_workspace *ws = NULL;
    st_access_session who;
    st_model_record rec;
    memset(&rec, 0, sizeof(rec));
    int have_rec = 0;
    const char *model_path = target, *prov_path = o->provenance;
    st_code rc = ST_OK;
    char out_hex[65] = "";
    if (use && !o->provenance)
        return st_cli_usage("model", "verify-use needs --provenance FILE "
                                     "(what `evaluate`/`predict "
                                     "--provenance` wrote)");
    if (use && use_output_digest(target, out_hex, &err) != ST_OK)
        return st_cli_fail(&err);
    if (!o->provenance) {
        char name[ST_MODEL_NAME_MAX + 1];
        uint32_t ver;
        if (st_model_ref_parse(target, name, &ver, &err) != ST_OK)
            return st_cli_fail(&err);
        if (open_ws(cli, &ws, &who, &err) != 0)
            return st_cli_fail(&err);
        char res[ST_MODEL_NAME_MAX + 8];
        snprintf(res, sizeof(res), "model:%s", name);
        rc = st_access_check(ws, principal(&who), "model.read", res, &err);
        if (rc == ST_OK)
            rc = st_model_get(ws, name, ver, &rec, &err);
        if (rc != ST_OK) {
            st_workspace_close(ws);
            return st_cli_fail(&err);
        }
        have_rec = 1;
        model_path = rec.path;
        prov_path = rec.provenance_path;
    } else {
        /* a file: the workspace, when there is one, only lends its trust
         * anchors */
        if (st_workspace_open(cli->workspace, &ws, NULL) != ST_OK)
            ws = NULL;
    }
    st_model_refs refs;
    st_model_refs_load(ws, o->sim_key, &refs);
    unsigned char *ptext = NULL, *poltext = NULL;
    size_t plen = 0, pollen = 0;
    json_t *env = NULL;
    rc = st_fs_read_all(prov_path, 16u << 20, &ptext, &plen, &err);
    if (rc == ST_OK) {
        env = st_json_parse((const char *)ptext, plen, prov_path, &err);
        rc = env ? ST_OK : err.code;
    }
    if (rc == ST_OK && o->policy)
        rc = st_fs_read_all(o->policy, 1u << 20, &poltext, &pollen, &err);
    st_verdict v;
    st_verdict_init(&v);
    if (rc == ST_OK) {
        st_model_verify_opts vo = {(const char *)poltext, pollen, &refs.refs,
                                   have_rec ? ws : NULL, (int64_t)time(NULL)};
        rc = use ? st_model_verify_use(out_hex, env, &vo, &v, &err)
                 : st_model_verify(model_path, env, have_rec ? &rec : NULL, &vo,
                                   &v, &err);
    }
    int status;
    if (rc != ST_OK)
        status = st_cli_fail(&err);
    else {
        if (o->json || cli->json) {
            json_t *j = st_verdict_to_json(&v);
            json_object_set_new(j, use ? "output" : "model",
                                json_string(model_path));
            json_object_set_new(j, "provenance", json_string(prov_path));
            print_json(j);
        } else {
            st_buf b;
            st_buf_init(&b);
            if (st_verdict_render_text(&v, &b, &err) == ST_OK && b.len)
                fwrite(b.data, 1, b.len, stdout);
            st_buf_free(&b);
        }
        if (v.pass)
            status = 0;
        else {
            st_err_set(&err, ST_E_DENIED, "%s verification failed: %s",
                       use ? "use" : "model", v.reason);
            status = st_cli_fail(&err);
        }
    }
    st_verdict_free(&v);
    json_decref(env);
    free(ptext);
    free(poltext);
    st_model_refs_free(&refs);
    st_model_record_free(&rec);
    st_workspace_close(ws);
    return status;
}

static int cmd_registered(st_cli *cli, const char *sub, const struct opts *o,
                          const char *ref)
{
    st_err err;
    st_err_clear(&err);
    char name[ST_MODEL_NAME_MAX + 1];
    uint32_t ver = 0;
    if (strcmp(sub, "list") && st_model_ref_parse(ref, name, &ver, &err))
        return st_cli_fail(&err);
    st_workspace *ws = NULL;
    st_access_session who;
    if (open_ws(cli, &ws, &who, &err) != 0)
        return st_cli_fail(&err);
    const char *actor =
        who.bootstrap ? (cli->as ? cli->as : "local") : who.name;
    st_code rc = ST_OK;
    char res[ST_MODEL_NAME_MAX + 8];
    snprintf(res, sizeof(res), "model:%s", strcmp(sub, "list") ? name : "");
    if (!strcmp(sub, "list")) {
        st_model_record *all = NULL;
        size_t n = 0;
        rc = st_access_check(ws, principal(&who), "model.read", NULL, &err);
        if (rc == ST_OK)
            rc = st_model_list(ws, &all, &n, &err);
        json_t *arr = json_array();
        if (rc == ST_OK && !o->json && n)
            printf("%-24s %-7s %-17s %-13s %-12s %s\n", "NAME", "VERSION",
                   "JOB", "CLASS", "ACCURACY", "CREATED");
        for (size_t i = 0; i < n; i++) {
            if (o->json)
                json_array_append_new(arr, st_model_record_json(&all[i]));
            else {
                json_t *acc = json_object_get(
                    json_object_get(all[i].metrics, "final_evaluation"),
                    "accuracy");
                char a[32] = "-";
                if (json_is_number(acc))
                    snprintf(a, sizeof(a), "%.4f", json_number_value(acc));
                printf("%-24s %-7u %-17s %-13s %-12s %s\n", all[i].name,
                       all[i].version, all[i].job_id, all[i].classification, a,
                       all[i].created);
            }
            st_model_record_free(&all[i]);
        }
        free(all);
        if (rc == ST_OK && o->json)
            print_json(json_incref(arr));
        json_decref(arr);
        st_workspace_close(ws);
        return rc == ST_OK ? 0 : st_cli_fail(&err);
    }
    static const struct {
        const char *sub, *action;
    } rights[] = {{"show", "model.read"},
                  {"decrypt", "model.decrypt"},
                  {"export", "model.decrypt"},
                  {"share", "model.share"},
                  {"rm", "model.rm"}};
    const char *action = NULL;
    for (size_t i = 0; i < sizeof(rights) / sizeof(rights[0]); i++)
        if (!strcmp(rights[i].sub, sub))
            action = rights[i].action;
    st_model_record rec;
    memset(&rec, 0, sizeof(rec));
    rc = st_access_check(ws, principal(&who), action, res, &err);
    if (rc == ST_OK)
        rc = st_model_get(ws, name, ver, &rec, &err);
    st_age_identity *ids = NULL;
    size_t nids = 0;
    if (rc == ST_OK && o->identity)
        rc = st_age_identities_load(o->identity, &ids, &nids, &err);
    if (rc != ST_OK) {
    } else if (!strcmp(sub, "show")) {
        if (o->json)
            print_json(st_model_record_json(&rec));
        else
            print_show(&rec);
    } else if (!strcmp(sub, "decrypt")) {
        rc = st_model_decrypt(ws, &rec, ids, nids, o->out, actor, &err);
        if (rc == ST_OK && o->json)
            print_json(json_pack("{s:s,s:i,s:s}", "name", rec.name, "version",
                                 (int)rec.version, "output", o->out));
        else if (rc == ST_OK && !cli->quiet)
            printf("decrypted %s@%u to %s\n", rec.name, rec.version, o->out);
    } else if (!strcmp(sub, "share")) {
        char path[4200];
        rc = st_model_share(ws, &rec, o->to, ids, nids, actor, path,
                            sizeof(path), &err);
        if (rc == ST_OK && o->json)
            print_json(json_pack("{s:s,s:i,s:s,s:s}", "name", rec.name,
                                 "version", (int)rec.version, "to", o->to,
                                 "output", path));
        else if (rc == ST_OK && !cli->quiet)
            printf("shared %s@%u with %s: %s\n", rec.name, rec.version, o->to,
                   path);
    } else if (!strcmp(sub, "rm")) {
        rc = st_model_rm(ws, &rec, actor, &err);
        if (rc == ST_OK && o->json)
            print_json(json_pack("{s:s,s:i,s:b}", "name", rec.name, "version",
                                 (int)rec.version, "removed", 1));
        else if (rc == ST_OK && !cli->quiet)
            printf("removed %s@%u (crypto-shredded)\n", rec.name, rec.version);
    } else if (!strcmp(sub, "export")) {
        void *plain = NULL, *onnx = NULL;
        size_t plen = 0, olen = 0;
        rc = st_model_open(&rec, ids, nids, &plain, &plen, &err);
        if (rc == ST_OK)
            rc =
                st_model_onnx_export(plain, plen, rec.name, &onnx, &olen, &err);
        st_secmem_free(plain);
        if (rc == ST_OK)
            rc = st_fs_write_atomic(o->out, onnx, olen, 0600, &err);
        st_secmem_free(onnx);
        json_t *d =
            json_pack("{s:s,s:s}", "format", "onnx", "sha256", rec.file_sha256);
        st_audit_event ev = {"operation",
                             actor,
                             "model.export",
                             res,
                             rc == ST_OK ? "success" : "failure",
                             rc == ST_OK ? NULL : err.msg,
                             d};
        st_err e2;
        if (st_audit_append(ws, &ev, &e2) != ST_OK && rc == ST_OK) {
            err = e2;
            rc = e2.code;
        }
        json_decref(d);
        if (rc == ST_OK && o->json)
            print_json(json_pack("{s:s,s:i,s:s,s:s}", "name", rec.name,
                                 "version", (int)rec.version, "format", "onnx",
                                 "output", o->out));
        else if (rc == ST_OK && !cli->quiet)
            printf("exported %s@%u as ONNX to %s\n", rec.name, rec.version,
                   o->out);
    }
    st_age_identities_free(ids, nids);
    st_model_record_free(&rec);
    st_workspace_close(ws);
    return rc == ST_OK ? 0 : st_cli_fail(&err);
}

/* ---- evaluate and predict ---- */

void st_cli_print_evaluation(const json_t *ev)
{
    static const char *const keys[] = {
        "accuracy", "macro_f1", "roc_auc", "loss", "mse", "mae", "r2"};
    printf("evaluated on:   %s (%lld rows)\n",
           json_string_value(json_object_get(ev, "evaluated_on")),
           json_integer_value(json_object_get(ev, "rows")));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(ev, keys[i]);
        if (json_is_number(v))
            printf("%-15s %.6f\n", keys[i], json_number_value(v));
    }
    json_t *cm = json_object_get(ev, "confusion");
    json_t *names = json_object_get(ev, "classes");
    if (!json_array_size(cm))
        return;
    printf("confusion (row = true class, column = predicted):\n%12s", "");
    size_t i, j;
    json_t *row, *n;
    json_array_foreach(names, j, n) printf(" %8.8s", json_string_value(n));
    printf("\n");
    json_array_foreach(cm, i, row)
    {
        printf("%12.12s", json_string_value(json_array_get(names, i))
                              ? json_string_value(json_array_get(names, i))
                              : "?");
        json_array_foreach(row, j, n) printf(" %8lld", json_integer_value(n));
        printf("\n");
    }
}

/* --input: the model owner's own rows, scored in this process. */
static int cmd_score_local(st_cli *cli, const struct opts *o, const char *ref)
{
    st_err err;
    st_err_clear(&err);
    st_workspace *ws = NULL;
    st_access_session who;
    char name[ST_MODEL_NAME_MAX + 1];
    uint32_t ver = 0;
    if (st_model_ref_parse(ref, name, &ver, &err) != ST_OK)
        return st_cli_fail(&err);
    if (open_ws(cli, &ws, &who, &err) != 0)
        return st_cli_fail(&err);
    const char *actor =
        who.bootstrap ? (cli->as ? cli->as : "local") : who.name;
    char res[ST_MODEL_NAME_MAX + 8];
    snprintf(res, sizeof(res), "model:%s", name);
    st_model_record rec;
    memset(&rec, 0, sizeof(rec));
    st_age_identity *ids = NULL;
    size_t nids = 0, rows = 0;
    st_code rc =
        st_access_check(ws, principal(&who), "model.decrypt", res, &err);
    if (rc == ST_OK)
        rc = st_model_get(ws, name, ver, &rec, &err);
    if (rc == ST_OK)
        rc = st_age_identities_load(o->identity, &ids, &nids, &err);
    if (rc == ST_OK)
        rc = st_model_score_csv(ws, &rec, ids, nids, o->input, o->out, actor,
                                &rows, &err);
    if (rc == ST_OK && o->json)
        print_json(json_pack("{s:s,s:i,s:s,s:I}", "name", rec.name, "version",
                             (int)rec.version, "output", o->out, "rows",
                             (json_int_t)rows));
    else if (rc == ST_OK && !cli->quiet)
        printf("scored %zu rows of %s with %s@%u locally: %s\n", rows, o->input,
               rec.name, rec.version, o->out);
    st_age_identities_free(ids, nids);
    st_model_record_free(&rec);
    st_workspace_close(ws);
    return rc == ST_OK ? 0 : st_cli_fail(&err);
}

static int cmd_use(st_cli *cli, const char *sub, const struct opts *o,
                   const char *ref)
{
    int predict = !strcmp(sub, "predict");
    if (!o->identity)
        return st_cli_usage("model",
                            "%s needs -i IDENTITY (it must open the "
                            "sealed model)",
                            sub);
    if (predict && o->input) {
        if (o->data || o->to || o->tee || o->sandbox || !o->out)
            return st_cli_usage("model", "predict --input FILE.csv takes -i "
                                         "IDENTITY and --out FILE.csv only");
        return cmd_score_local(cli, o, ref);
    }
    if (!o->data)
        return st_cli_usage("model",
                            "%s needs --data DATASET (or, for "
                            "predict, --input FILE.csv)",
                            sub);
    if (predict && !o->out)
        return st_cli_usage("model", "predict needs --out FILE.age");
    if (!predict && (o->out || o->to || o->input))
        return st_cli_usage("model", "evaluate has no --out, --to or "
                                     "--input: its metrics are the result");
    if (!cli->key)
        return st_cli_usage("model",
                            "%s needs --key (or SEALTRAIN_KEY): "
                            "the request is a job spec you sign",
                            sub);
    st_err err;
    st_err_clear(&err);
    char name[ST_MODEL_NAME_MAX + 1];
    uint32_t ver = 0;
    if (st_model_ref_parse(ref, name, &ver, &err) != ST_OK)
        return st_cli_fail(&err);
    st_workspace *ws = NULL;
    st_access_session who;
    if (open_ws(cli, &ws, &who, &err) != 0)
        return st_cli_fail(&err);
    const char *actor =
        who.bootstrap ? (cli->as ? cli->as : "local") : who.name;
    char res[ST_MODEL_NAME_MAX + 8];
    snprintf(res, sizeof(res), "model:%s", name);
    st_age_identity *ids = NULL;
    size_t nids = 0;
    uint8_t *seed = st_secmem_alloc(32, &err);
    char to[ST_JOB_RECIPIENT_MAX] = "";
    /* audited here when refused; the gate asks the same again */
    st_code rc =
        seed ? st_access_check(ws, principal(&who), "model.decrypt", res, &err)
             : err.code;
    if (rc == ST_OK && predict && o->to)
        snprintf(to, sizeof(to), "%s", o->to);
    else if (rc == ST_OK && predict) {
        /* sealed to the requester: the principal's registered recipient */
        st_principal p;
        memset(&p, 0, sizeof(p));
        if (!who.bootstrap &&
            st_access_principal_get(ws, who.name, &p, NULL) == ST_OK &&
            p.recipient)
            snprintf(to, sizeof(to), "%s", p.recipient);
        st_principal_free(&p);
        if (!to[0])
            rc = st_err_set(&err, ST_E_USAGE,
                            "predict: %s has no registered age recipient; "
                            "give --to age1...",
                            actor);
    }
    if (rc == ST_OK)
        rc = st_age_identities_load(o->identity, &ids, &nids, &err);
    if (rc == ST_OK)
        rc = st_ed25519_load_private_pem(cli->key, seed, &err);
    char id[ST_JOB_ID_LEN + 1] = "";
    json_t *result = NULL;
    if (rc == ST_OK) {
        st_job_use u = {.kind = predict ? ST_JOB_KIND_PREDICT
                                        : ST_JOB_KIND_EVALUATE,
                        .model = name,
                        .version = ver,
                        .dataset = o->data,
                        .recipient = to,
                        .output = o->out,
                        .tee = o->tee,
                        .sandbox = o->sandbox,
                        .submitter = actor,
                        .seed = seed,
                        .runner = principal(&who),
                        .identities = ids,
                        .nidentities = nids};
        rc = st_job_use_model(ws, &u, id, &result, &err);
    }
    if (rc != ST_OK && id[0])
        st_err_prefix(&err, "job %s", id);
    if (rc == ST_OK)
        rc = st_cli_take_provenance(result, o->provenance, &err);
    json_t *ev = json_object_get(result, "evaluation");
    json_t *pr = json_object_get(result, "predictions");
    if (rc == ST_OK && o->json) {
        json_object_set_new(result, "job", json_string(id));
        print_json(json_incref(result));
    } else if (rc == ST_OK && !cli->quiet && ev) {
        printf("job:            %s\n", id);
        st_cli_print_evaluation(ev);
        printf("metrics sha256: %s (audited)\n",
               json_string_value(json_object_get(result, "metrics_sha256")));
    } else if (rc == ST_OK && !cli->quiet && pr)
        printf("job %s: %lld predictions sealed to %s: %s\n", id,
               json_integer_value(json_object_get(pr, "rows")), to, o->out);
    json_decref(result);
    st_secmem_free(seed);
    st_age_identities_free(ids, nids);
    st_workspace_close(ws);
    return rc == ST_OK ? 0 : st_cli_fail(&err);
}

int st_cli_model(st_cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        model_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    static const struct option lopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"provenance", required_argument, NULL, 'p'},
        {"policy", required_argument, NULL, 'P'},
        {"sim-key", required_argument, NULL, 'k'},
        {"identity", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"to", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {"data", required_argument, NULL, 'd'},
        {"input", required_argument, NULL, 'I'},
        {"out", required_argument, NULL, 'o'},
        {"tee", required_argument, NULL, 'T'},
        {"sandbox", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct opts o;
    memset(&o, 0, sizeof(o));
    o.json = cli->json;
    int c;
    optind = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "jp:P:k:i:o:t:f:d:h", lopts,
                            NULL)) != -1) {
        switch (c) {
        case 'j': o.json = 1; break;
        case 'p': o.provenance = optarg; break;
        case 'P': o.policy = optarg; break;
        case 'k': o.sim_key = optarg; break;
        case 'i': o.identity = optarg; break;
        case 'o': o.out = optarg; break;
        case 't': o.to = optarg; break;
        case 'f': o.format = optarg; break;
        case 'd': o.data = optarg; break;
        case 'I': o.input = optarg; break;
        case 'T': o.tee = optarg; break;
        case 'S': o.sandbox = optarg; break;
        case 'h': model_usage(stdout); return 0;
        default: return st_cli_usage("model", "unknown option");
        }
    }
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    static const char *const subs[] = {
        "list", "show",   "verify",   "decrypt", "share",
        "rm",   "export", "evaluate", "predict", "verify-use"};
    int known = 0;
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        known |= !strcmp(sub, subs[i]);
    if (!known)
        return st_cli_usage("model", "unknown command \"%s\"", sub);
    int need = strcmp(sub, "list") ? 1 : 0;
    if (nargs != need)
        return st_cli_usage("model", "%s takes %s", sub,
                            need ? "one argument" : "no argument");
    int verify = !strcmp(sub, "verify") || !strcmp(sub, "verify-use");
    int use = !strcmp(sub, "evaluate") || !strcmp(sub, "predict");
    if (((o.provenance && !use) || o.policy || o.sim_key) && !verify)
        return st_cli_usage("model",
                            "--policy and --sim-key are for `model verify` "
                            "and `verify-use`; --provenance for them, "
                            "`evaluate` and `predict`");
    if (use && o.provenance && o.input)
        return st_cli_usage("model", "predict --input writes no provenance "
                                     "(no enclave)");
    if (verify)
        return cmd_verify(cli, &o, args[0], !strcmp(sub, "verify-use"));
    if (!use && (o.data || o.input || o.tee || o.sandbox))
        return st_cli_usage("model",
                            "--data, --input, --tee and --sandbox are for "
                            "`model evaluate` and `model predict`");
    if (use)
        return cmd_use(cli, sub, &o, args[0]);
    int needs_id = !strcmp(sub, "decrypt") || !strcmp(sub, "share") ||
                   !strcmp(sub, "export");
    if (needs_id && !o.identity)
        return st_cli_usage("model", "%s needs -i IDENTITY", sub);
    if ((!strcmp(sub, "decrypt") || !strcmp(sub, "export")) && !o.out)
        return st_cli_usage("model", "%s needs -o OUT", sub);
    if (!strcmp(sub, "share") && !o.to)
        return st_cli_usage("model", "share needs --to age1...");
    if (!strcmp(sub, "export") && (!o.format || strcmp(o.format, "onnx")))
        return st_cli_usage("model", "export needs --format onnx (the only "
                                     "format)");
    return cmd_registered(cli, sub, &o, nargs ? args[0] : NULL);
}
