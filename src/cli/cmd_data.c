/*
 * cmd_data.c: `sealtrain data`: import, list, show, verify, rewrap,
 * reencrypt and rm of encrypted datasets (docs/datasets.md).
 *
 * Uses only the public API. Secrets handled here: the owner's Ed25519
 * signing seed (read from a PEM file into secure memory, wiped at exit).
 * The progress bar goes to stderr, only when it is a terminal.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sealtrain/keyring.h>
#include <sealtrain/sealtrain.h>

#include "cli.h"

static void data_usage(FILE *out)
{
    fprintf(
        out,
        "usage: sealtrain data COMMAND ...\n\n"
        "  import FILE --name NAME --label COL --owner PRINCIPAL\n"
        "         --classification public|internal|confidential|restricted\n"
        "         [--task classification|regression] [--format "
        "csv|libsvm|idx]\n"
        "         [--retention-days N]\n"
        "         [--recipient age1...]... [--kek NAME] [--signing-key PEM]\n"
        "         [--broker URL (--broker-pin SHA256 | --broker-cert PEM)]\n"
        "      Validates FILE, converts it to float32 tensors, encrypts it "
        "(age v1:\n"
        "      a sealtrain-kek stanza under the owner's KEK, default "
        "owner.<owner>,\n"
        "      created if missing, plus one X25519 stanza per --recipient "
        "for the\n"
        "      owner's own recovery with `age -d`), signs its manifest "
        "(DSSE,\n"
        "      Ed25519: --signing-key, else the global --key) and registers "
        "it.\n"
        "      --label: CSV: a header name, else a 0-based column index; "
        "IDX: the\n"
        "      labels file (FILE is the images file); LIBSVM: omit it. CSV "
        "regression\n"
        "      may name several target columns: --label a,b.\n"
        "      --task: left out, import chooses from the labels and says "
        "which.\n"
        "      Nothing is written when validation fails.\n"
        "      --broker: the owner's `serve --broker` URL that alone releases "
        "the key\n"
        "      to jobs in other workspaces, pinned by the SHA-256 of its TLS\n"
        "      SubjectPublicKeyInfo (--broker-pin hex, or computed from "
        "--broker-cert,\n"
        "      e.g. <workspace>/keys/tls/server.crt); both go into the signed "
        "manifest.\n"
        "  import-encrypted FILE --manifest ENVELOPE\n"
        "                             another owner's encrypted dataset whose "
        "key\n"
        "                             its owner's key broker releases\n"
        "  list                       datasets in the catalog\n"
        "  show NAME [--identity FILE]\n"
        "                             manifest, signature status, key "
        "version;\n"
        "                             --identity (an age identity of a "
        "--recipient):\n"
        "                             the label mapping, decrypted from the "
        "dataset\n"
        "  verify [--deep] NAME       signature and encrypted-file digest; "
        "--deep also\n"
        "                             decrypts in locked memory and checks "
        "the plaintext\n"
        "  rewrap NAME|--all [--signing-key PEM]\n"
        "                             moves the KEK stanza to the KEK's "
        "current version\n"
        "                             (header only; the payload is "
        "untouched)\n"
        "  reencrypt NAME [--signing-key PEM]\n"
        "                             new file key, full re-encryption\n"
        "  set-broker NAME (--broker URL (--broker-pin SHA256 | "
        "--broker-cert PEM)\n"
        "                  | --none) [--signing-key PEM]\n"
        "                             names (or removes) the owner's key "
        "broker in the\n"
        "                             manifest: a new generation, re-signed\n"
        "  rm NAME                    crypto-shred: the wrapped key, then "
        "the file\n\n"
        "--json (import, list, show, verify, policy show) prints JSON; the "
        "others\nrefuse it. Exit status: 0 ok, 2 usage, 3 input, "
        "4 denied\n(integrity or signature), 5 system.\n");
}

/* ---- shared helpers -------------------------------------------------- */

/* The workspace, the acting principal (st_cli_open) and the access check
 * for `action` on dataset `name` (NULL: no resource). Returns 0, or the
 * exit status after printing the error. */
static int open_checked(st_cli *cli, const char *action, const char *name,
                        st_workspace **ws, st_access_session *s)
{
    char res[128];
    snprintf(res, sizeof(res), "dataset:%s", name ? name : "");
    return st_cli_open_checked(cli, action, name ? res : NULL, ws, s);
}

/* Loads the signing seed from `path` (or the global --key). */
static st_secret *load_seed(st_cli *cli, const char *path, st_err *err)
{
    if (!path)
        path = cli->key;
    if (!path) {
        st_err_set(err, ST_E_USAGE,
                   "no signing key: give --signing-key PEM (the owner's "
                   "Ed25519 private key) or the global --key");
        return NULL;
    }
    st_secret *s = st_secret_new(32, err);
    if (s && st_ed25519_load_private_pem(path, st_secret_bytes(s), err)) {
        st_secret_free(s);
        return NULL;
    }
    return s;
}

struct progress {
    int on;
    struct timespec start, last;
};

static double since(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) +
           (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    if (!p->on || total == 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (done < total && since(&p->last, &now) < 0.2)
        return;
    p->last = now;
    double frac = (double)done / (double)total;
    double secs = since(&p->start, &now);
    int width = 30, fill = (int)(frac * width);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%%  %6.1f MB/s",
            done * 2 <= total ? "validating" : "encrypting", bar,
            (int)(frac * 100), secs > 0 ? (double)done / 1e6 / secs : 0.0);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void print_hex(const char *label, const uint8_t d[32])
{
    char h[65];
    st_hex_encode(d, 32, h);
    printf("%-16s %s\n", label, h);
}

/* The broker pin from --broker-pin HEX ("sha256:" optional) or
 * --broker-cert PEM; exactly one. Returns 0, or the exit status after
 * printing the error. */
static int broker_pin_arg(const char *cmd, const char *hex, const char *cert,
                          uint8_t pin[32])
{
    st_err err;
    st_err_clear(&err);
    if (!hex == !cert)
        return st_cli_usage(cmd, "--broker needs exactly one of --broker-pin "
                                 "and --broker-cert");
    if (cert)
        return st_broker_pin_from_cert(cert, pin, &err) ? st_cli_fail(&err) : 0;
    if (!strncmp(hex, "sha256:", 7))
        hex += 7;
    if (strlen(hex) != 64 || st_hex_decode(hex, pin, 32, &err) != ST_OK)
        return st_cli_usage(cmd, "--broker-pin must be 64 hex digits (SHA-256 "
                                 "of the broker's SubjectPublicKeyInfo)");
    return 0;
}

/* ---- import ---------------------------------------------------------- */

/* Import chose the task from the labels (scan.c, choose_task): say which,
 * and how to choose the other one. On stderr: stdout may be JSON. */
static void print_task_chosen(const st_dataset_manifest *m)
{
    if (m->regression && m->targets > 1)
        fprintf(stderr, "task: regression (%u label columns are targets)\n",
                m->targets);
    else if (m->regression)
        fprintf(stderr, "task: regression (the labels are numbers that are not "
                        "all whole or too many distinct to be classes); give "
                        "--task classification to treat them as classes\n");
    else
        fprintf(stderr,
                "task: classification (%u classes); give --task regression "
                "to predict %s labels as numbers\n",
                m->classes, m->labels_mapped ? "numeric" : "the");
}

static int cmd_import(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"label", required_argument, NULL, 'l'},
        {"task", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {"owner", required_argument, NULL, 'o'},
        {"classification", required_argument, NULL, 'c'},
        {"retention-days", required_argument, NULL, 'r'},
        {"recipient", required_argument, NULL, 'R'},
        {"kek", required_argument, NULL, 'k'},
        {"signing-key", required_argument, NULL, 's'},
        {"broker", required_argument, NULL, 'B'},
        {"broker-pin", required_argument, NULL, 'P'},
        {"broker-cert", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    st_dataset_import_opts o;
    const char *broker_pin = NULL, *broker_cert = NULL;
    uint8_t pin[32];
    memset(&o, 0, sizeof(o));
    o.retention_days = -1;
    const char *format = NULL, *seed_path = NULL;
    const char **rcpts = calloc((size_t)argc + 1, sizeof(char *));
    size_t nr = 0;
    int c, status = 0;
    if (!rcpts)
        return 5;
    while ((c = getopt_long(argc, argv, "n:l:t:f:o:c:r:R:k:s:B:P:C:h", opts,
                            NULL)) != -1) {
        switch (c) {
        case 'n': o.name = optarg; break;
        case 'l': o.input.label = optarg; break;
        case 't':
            if (st_data_task_parse(optarg, &o.input.task, NULL)) {
                free(rcpts);
                return st_cli_usage("data import",
                                    "--task must be classification, "
                                    "regression or auto");
            }
            break;
        case 'f': format = optarg; break;
        case 'o': o.owner = optarg; break;
        case 'c': o.classification = optarg; break;
        case 'r': {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || v < 1 ||
                v > 1000000) {
                free(rcpts);
                return st_cli_usage("data import",
                                    "--retention-days must be 1..1000000");
            }
            o.retention_days = v;
            break;
        }
        case 'R': rcpts[nr++] = optarg; break;
        case 'k': o.kek = optarg; break;
        case 's': seed_path = optarg; break;
        case 'B': o.broker_url = optarg; break;
        case 'P': broker_pin = optarg; break;
        case 'C': broker_cert = optarg; break;
        case 'h':
            data_usage(stdout);
            free(rcpts);
            return 0;
        default: free(rcpts); return st_cli_usage("data", "unknown option");
        }
    }
    if (optind + 1 != argc || !o.name || !o.owner || !o.classification) {
        free(rcpts);
        return st_cli_usage("data", "import needs FILE, --name, --owner and "
                                    "--classification");
    }
    o.input.path = argv[optind];
    o.recipients = rcpts;
    o.nrecipients = nr;
    st_err err;
    st_err_clear(&err);
    if (!o.broker_url && (broker_pin || broker_cert)) {
        free(rcpts);
        return st_cli_usage("data import", "--broker-pin and --broker-cert "
                                           "go with --broker");
    }
    if (o.broker_url) {
        int s = broker_pin_arg("data import", broker_pin, broker_cert, pin);
        if (s) {
            free(rcpts);
            return s;
        }
        o.broker_spki_sha256 = pin;
    }
    if (format ? st_data_format_parse(format, &o.input.format, &err)
               : st_data_format_guess(o.input.path, &o.input.format, &err)) {
        free(rcpts);
        return st_cli_fail(&err);
    }
    struct progress pr = {isatty(2) && !cli->quiet, {0, 0}, {0, 0}};
    clock_gettime(CLOCK_MONOTONIC, &pr.start);
    o.progress = progress_cb;
    o.pctx = &pr;
    st_workspace *ws = NULL;
    st_keyring *kr = NULL;
    st_secret *seed = load_seed(cli, seed_path, &err);
    st_dataset_manifest m;
    memset(&m, 0, sizeof(m));
    st_access_session sess;
    if (!seed) {
        status = st_cli_fail(&err);
        goto out;
    }
    if ((status = open_checked(cli, "data.import", NULL, &ws, &sess)))
        goto out;
    if (!sess.bootstrap && strcmp(sess.name, o.owner) != 0) {
        st_err_set(&err, ST_E_DENIED,
                   "%s cannot import as %s: datasets are imported by their "
                   "owner",
                   sess.name, o.owner);
        status = st_cli_fail(&err);
        goto out;
    }
    if (st_keyring_open(ws, &kr, &err)) {
        status = st_cli_fail(&err);
        goto out;
    }
    o.signing_seed = st_secret_cbytes(seed);
    if (st_dataset_import(ws, kr, &o, &m, &err)) {
        if (pr.on)
            fputc('\n', stderr);
        status = st_cli_fail(&err);
        goto out;
    }
    if (cli->json) {
        st_dataset_record rec;
        if (!st_dataset_get(ws, m.name, &rec, &err)) {
            printf("%s\n", rec.envelope);
            st_dataset_record_free(&rec);
        }
    } else if (!cli->quiet) {
        char shape[64];
        if (m.regression)
            snprintf(shape, sizeof(shape), "%u regression target%s", m.targets,
                     m.targets == 1 ? "" : "s");
        else
            snprintf(shape, sizeof(shape), "%u classes", m.classes);
        printf("imported dataset %s: %llu rows, %u features, %s, %s, "
               "KEK %s v%u\n",
               m.name, (unsigned long long)m.rows, m.cols, shape,
               m.classification, m.kek_name, m.kek_version);
    }
    if (!cli->quiet && o.input.task == ST_TASK_AUTO)
        print_task_chosen(&m);
out:
    st_dataset_manifest_free(&m);
    st_keyring_close(kr);
    st_workspace_close(ws);
    st_secret_free(seed);
    free(rcpts);
    return status;
}

/* ---- list / show ----------------------------------------------------- */

static const char *check_word(int v)
{
    return v < 0 ? "not checked" : v ? "ok" : "FAILED";
}

static int cmd_list(st_cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return st_cli_usage("data", "list takes no arguments");
    st_err err;
    st_err_clear(&err);
    st_workspace *ws = NULL;
    st_dataset_record *r = NULL;
    size_t n = 0;
    st_access_session sess;
    int status = open_checked(cli, "data.read", NULL, &ws, &sess);
    if (status)
        return status;
    if (st_dataset_list(ws, &r, &n, &err)) {
        st_workspace_close(ws);
        return st_cli_fail(&err);
    }
    if (cli->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                a, json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:I, s:I}",
                             "name", r[i].m.name, "owner", r[i].m.owner, "rows",
                             (json_int_t)r[i].m.rows, "features",
                             (json_int_t)r[i].m.cols, "classes",
                             (json_int_t)r[i].m.classes, "classification",
                             r[i].m.classification, "kek", r[i].m.kek_name,
                             "kek_version", (json_int_t)r[i].m.kek_version,
                             "generation", (json_int_t)r[i].m.generation));
        char *s = st_json_dumps(a, JSON_COMPACT);
        printf("%s\n", s ? s : "[]");
        free(s);
        json_decref(a);
    } else {
        printf("%-20s %-12s %10s %8s %7s %-12s %s\n", "NAME", "OWNER", "ROWS",
               "FEATURES", "CLASSES", "CLASS.", "KEK");
        for (size_t i = 0; i < n; i++)
            printf("%-20s %-12s %10llu %8u %7u %-12s %s v%u\n", r[i].m.name,
                   r[i].m.owner, (unsigned long long)r[i].m.rows, r[i].m.cols,
                   r[i].m.classes, r[i].m.classification, r[i].m.kek_name,
                   r[i].m.kek_version);
    }
    st_dataset_records_free(r, n);
    st_workspace_close(ws);
    return 0;
}

/* Feature names (CSV), several to a line; the label mapping itself (class
 * k's original label) is data and travels only inside the encrypted
 * tensor, so show says how the classes were numbered, and prints the
 * mapping only with --identity (label_mapping). */
static void print_names(const st_dataset_manifest *m)
{
    if (!m->regression)
        printf("%-16s %s\n", "label mapping",
               m->labels_mapped
                   ? "labels sorted (numerically when all are numbers) and "
                     "numbered 0..K-1; the label texts are inside the "
                     "encrypted tensor only"
                   : "the labels are the class indices 0..K-1");
    if (!m->feature_names)
        return;
    size_t col = 0;
    printf("%-16s", "features");
    for (uint32_t i = 0; i < m->cols; i++) {
        size_t n = strlen(m->feature_names[i]);
        if (col > 0 && col + n + 2 > 60) {
            printf(",\n%-16s", "");
            col = 0;
        } else if (i > 0) {
            fputs(", ", stdout);
            col += 2;
        }
        printf("%s%s", col == 0 ? " " : "", m->feature_names[i]);
        col += n + (col == 0);
    }
    fputc('\n', stdout);
}

/* The label mapping (class k's original label text), read from the
 * dataset itself with an age identity that opens it (import's
 * --recipient: the owner's recovery path, the same as `age -d`): the texts
 * travel only inside the encrypted tensor, so only whoever holds such an
 * identity sees them. The plaintext must be the one the manifest names.
 * *out: [{"class": k, "label": text}] (label_hex when the text is not
 * UTF-8). */
static ST_MUST_CHECK st_code label_mapping(const st_dataset_record *r,
                                           const char *identity, json_t **out,
                                           st_err *err)
{
    *out = NULL;
    st_age_identity *ids = NULL;
    size_t nids = 0;
    st_code rc = st_age_identities_load(identity, &ids, &nids, err);
    if (rc)
        return rc;
    st_age_decrypt_opts o = {0};
    o.identities = ids;
    o.nidentities = nids;
    o.name = r->path;
    void *plain = NULL;
    size_t len = 0;
    st_age_result res;
    rc = st_age_decrypt_secmem(r->path, &o, &plain, &len, &res, err);
    st_age_identities_free(ids, nids);
    uint8_t sha[32];
    if (rc == ST_OK) {
        st_sha256(plain, len, sha);
        if (memcmp(sha, r->m.plain_sha256, 32) != 0)
            rc = st_err_set(err, ST_E_INPUT,
                            "%s: the decrypted tensor is not the one the "
                            "signed manifest names (its SHA-256 differs)",
                            r->path);
    }
    st_tensor_view v;
    if (rc == ST_OK)
        rc = st_tensor_parse(plain, len, &v, err);
    json_t *a = rc == ST_OK ? json_array() : NULL;
    for (uint32_t k = 0; a && rc == ST_OK && k < v.classes; k++) {
        const char *name;
        size_t n;
        rc = st_tensor_class_name(&v, k, &name, &n, err);
        if (rc)
            break;
        json_t *text = json_stringn(name, n);
        json_t *e = json_pack("{s:I}", "class", (json_int_t)k);
        if (text)
            json_object_set_new(e, "label", text);
        else {
            char hex[2 * ST_DATA_MAX_LABEL + 1];
            st_hex_encode((const uint8_t *)name, n, hex);
            json_object_set_new(e, "label_hex", json_string(hex));
        }
        json_array_append_new(a, e);
    }
    st_secmem_free(plain);
    if (rc) {
        json_decref(a);
        return st_err_prefix(err, "the label mapping (--identity %s)",
                             identity);
    }
    *out = a;
    return ST_OK;
}

static void print_mapping(const json_t *a)
{
    size_t k;
    const json_t *e;
    json_array_foreach(a, k, e)
    {
        const json_t *t = json_object_get(e, "label");
        const char *s = t ? json_string_value(t)
                          : json_string_value(json_object_get(e, "label_hex"));
        char *safe = st_cli_term_safe(s, t ? json_string_length(t) : strlen(s));
        printf("%-16s %s%s%s -> %zu\n", k ? "" : "label -> class",
               t ? "\"" : "hex ", safe ? safe : "?", t ? "\"" : "", k);
        free(safe);
    }
}

static int cmd_show(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"identity", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *identity = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': identity = optarg; break;
        case 'h': data_usage(stdout); return 0;
        default: return st_cli_usage("data", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return st_cli_usage("data", "show takes one dataset name");
    const char *dsname = argv[optind];
    st_err err, verr;
    st_err_clear(&err);
    st_err_clear(&verr);
    st_workspace *ws = NULL;
    st_dataset_record r;
    st_access_session sess;
    int status = open_checked(cli, "data.read", dsname, &ws, &sess);
    if (status)
        return status;
    if (st_dataset_get(ws, dsname, &r, &err)) {
        st_workspace_close(ws);
        return st_cli_fail(&err);
    }
    json_t *mapping = NULL;
    if (identity && !r.m.regression &&
        label_mapping(&r, identity, &mapping, &err) != ST_OK) {
        st_dataset_record_free(&r);
        st_workspace_close(ws);
        return st_cli_fail(&err);
    }
    st_dataset_check chk;
    st_code vrc = st_dataset_verify(ws, NULL, dsname, 0, &chk, &verr);
    const st_dataset_manifest *m = &r.m;
    if (cli->json) {
        /* the stored envelope (it parsed when the row was read), the
         * checks, the mapping: all of it, or an error (never a partial
         * document printed as if it were the record) */
        json_t *env = st_json_parse(r.envelope, strlen(r.envelope),
                                    "manifest envelope", &err);
        json_t *o = env ? json_pack("{s:s, s:o, s:{s:s, s:s, s:s, s:s}, s:s}",
                                    "name", m->name, "envelope", env, "verify",
                                    "signature", check_word(chk.signature),
                                    "file_digest", check_word(chk.file_digest),
                                    "header", check_word(chk.header), "error",
                                    vrc ? verr.msg : "", "path", r.path)
                        : NULL;
        char *s = NULL;
        if (o && (!mapping || json_object_set(o, "labels", mapping) == 0))
            s = st_json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        if (!s) {
            if (env)
                st_err_set(&err, ST_E_IO, "data show: out of memory");
            json_decref(mapping);
            st_dataset_record_free(&r);
            st_workspace_close(ws);
            return st_cli_fail(&err);
        }
        printf("%s\n", s);
        free(s);
    } else {
        printf("%-16s %s\n", "name", m->name);
        printf("%-16s %s\n", "id", m->id);
        printf("%-16s %lld\n", "generation", m->generation);
        printf("%-16s %s\n", "owner", m->owner);
        printf("%-16s %s\n", "classification", m->classification);
        if (m->retention_days > 0)
            printf("%-16s %lld days\n", "retention", m->retention_days);
        else
            printf("%-16s none\n", "retention");
        printf("%-16s %s\n", "created", m->created);
        printf("%-16s %s\n", "updated", m->updated);
        printf("%-16s %s (%s)\n", "source", m->source_file, m->source_format);
        if (m->regression)
            printf("%-16s %llu rows x %u features, regression, %u "
                   "target%s\n",
                   "schema", (unsigned long long)m->rows, m->cols, m->targets,
                   m->targets == 1 ? "" : "s");
        else
            printf("%-16s %llu rows x %u features, classification, %u "
                   "classes%s\n",
                   "schema", (unsigned long long)m->rows, m->cols, m->classes,
                   m->labels_mapped ? " (labels mapped)" : "");
        if (m->label_name && !(m->regression && m->targets > 1))
            printf("%-16s %s\n", "label column", m->label_name);
        for (uint32_t i = 0; m->target_names && i < m->targets; i++)
            printf("%-16s %s\n", "target", m->target_names[i]);
        print_names(m);
        if (mapping)
            print_mapping(mapping);
        print_hex("plaintext sha256", m->plain_sha256);
        print_hex("file sha256", m->file_sha256);
        printf("%-16s %llu bytes\n", "file size",
               (unsigned long long)m->file_size);
        printf("%-16s %s version %u\n", "KEK", m->kek_name, m->kek_version);
        for (size_t i = 0; i < m->nrecipients; i++)
            printf("%-16s %s\n", "recipient", m->recipients[i]);
        printf("%-16s %s\n", "signed by", r.signer_keyid);
        printf("%-16s %s\n", "signature", check_word(chk.signature));
        printf("%-16s %s\n", "file digest", check_word(chk.file_digest));
        printf("%-16s %s\n", "header", check_word(chk.header));
        if (vrc)
            printf("%-16s %s\n", "problem", verr.msg);
        printf("%-16s %s\n", "path", r.path);
    }
    json_decref(mapping);
    st_dataset_record_free(&r);
    st_workspace_close(ws);
    return vrc ? st_code_exit_status(vrc) : 0;
}

/* ---- verify / rewrap / reencrypt / rm --------------------------------- */

static int cmd_verify(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"deep", no_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int deep = 0, c;
    while ((c = getopt_long(argc, argv, "dh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': deep = 1; break;
        case 'h': data_usage(stdout); return 0;
        default: return st_cli_usage("data", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return st_cli_usage("data", "verify takes one dataset name");
    const char *name = argv[optind];
    st_err err;
    st_err_clear(&err);
    st_workspace *ws = NULL;
    st_keyring *kr = NULL;
    st_dataset_check chk;
    int status = 0;
    st_access_session sess;
    if ((status = open_checked(cli, "data.read", name, &ws, &sess)))
        goto out;
    if (deep && st_keyring_open(ws, &kr, &err)) {
        status = st_cli_fail(&err);
        goto out;
    }
    st_code rc = st_dataset_verify(ws, kr, name, deep, &chk, &err);
    if (!cli->quiet && !cli->json) {
        printf("signature   %s\nfile digest %s\nheader      %s\n",
               check_word(chk.signature), check_word(chk.file_digest),
               check_word(chk.header));
        if (deep)
            printf("decryption  %s\nplaintext   %s\nschema      %s\n",
                   check_word(chk.decrypt), check_word(chk.plaintext),
                   check_word(chk.schema));
    }
    if (cli->json) {
        json_t *o = json_pack(
            "{s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", name, "ok",
            rc == ST_OK, "signature", check_word(chk.signature), "file_digest",
            check_word(chk.file_digest), "header", check_word(chk.header),
            "decryption", check_word(chk.decrypt), "plaintext",
            check_word(chk.plaintext), "schema", check_word(chk.schema),
            "error", rc ? err.msg : "");
        char *s = st_json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    }
    if (rc)
        status = st_cli_fail(&err);
    else if (!cli->quiet && !cli->json)
        printf("dataset %s verified%s\n", name, deep ? " (deep)" : "");
out:
    st_keyring_close(kr);
    st_workspace_close(ws);
    return status;
}

static int cmd_rewrap(st_cli *cli, int argc, char **argv, int reencrypt)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"signing-key", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int all = 0, c;
    const char *seed_path = NULL;
    while ((c = getopt_long(argc, argv, "as:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': all = 1; break;
        case 's': seed_path = optarg; break;
        case 'h': data_usage(stdout); return 0;
        default: return st_cli_usage("data", "unknown option");
        }
    }
    if (reencrypt && all)
        return st_cli_usage("data", "reencrypt takes one dataset name");
    if (all ? optind != argc : optind + 1 != argc)
        return st_cli_usage("data", "%s takes one dataset name or --all",
                            reencrypt ? "reencrypt" : "rewrap");
    st_err err;
    st_err_clear(&err);
    st_workspace *ws = NULL;
    st_keyring *kr = NULL;
    st_dataset_record *recs = NULL;
    size_t n = 0;
    int status = 0;
    st_secret *seed = load_seed(cli, seed_path, &err);
    st_access_session sess;
    if (!seed) {
        status = st_cli_fail(&err);
        goto out;
    }
    if ((status = open_checked(cli, "data.rewrap", all ? NULL : argv[optind],
                               &ws, &sess)))
        goto out;
    if (st_keyring_open(ws, &kr, &err)) {
        status = st_cli_fail(&err);
        goto out;
    }
    if (reencrypt) {
        if (st_dataset_reencrypt(ws, kr, argv[optind], st_secret_cbytes(seed),
                                 st_cli_principal(&sess), &err))
            status = st_cli_fail(&err);
        else if (!cli->quiet)
            printf("re-encrypted dataset %s with a new file key\n",
                   argv[optind]);
        goto out;
    }
    if (all) {
        if (st_dataset_list(ws, &recs, &n, &err)) {
            status = st_cli_fail(&err);
            goto out;
        }
    }
    for (size_t i = 0; i < (all ? n : 1); i++) {
        const char *name = all ? recs[i].m.name : argv[optind];
        int changed = 0;
        st_err_clear(&err);
        if (st_dataset_rewrap(ws, kr, name, st_secret_cbytes(seed),
                              st_cli_principal(&sess), &changed, &err)) {
            int s = st_cli_fail(&err);
            if (!status)
                status = s;
        } else if (!cli->quiet) {
            printf("%s: %s\n", name,
                   changed ? "rewrapped to the current KEK version"
                           : "already at the current KEK version");
        }
    }
out:
    st_dataset_records_free(recs, n);
    st_keyring_close(kr);
    st_workspace_close(ws);
    st_secret_free(seed);
    return status;
}

static int cmd_set_broker(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"broker", required_argument, NULL, 'B'},
        {"broker-pin", required_argument, NULL, 'P'},
        {"broker-cert", required_argument, NULL, 'C'},
        {"none", no_argument, NULL, 'n'},
        {"signing-key", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *url = NULL, *hex = NULL, *cert = NULL, *seed_path = NULL;
    int none = 0, c;
    while ((c = getopt_long(argc, argv, "B:P:C:ns:h", opts, NULL)) != -1) {
        switch (c) {
        case 'B': url = optarg; break;
        case 'P': hex = optarg; break;
        case 'C': cert = optarg; break;
        case 'n': none = 1; break;
        case 's': seed_path = optarg; break;
        case 'h': data_usage(stdout); return 0;
        default: return st_cli_usage("data", "unknown option");
        }
    }
    if (optind + 1 != argc || !url == !none || (none && (hex || cert)))
        return st_cli_usage("data", "set-broker takes one dataset name and "
                                    "--broker URL (with its pin) or --none");
    uint8_t pin[32];
    int status = url ? broker_pin_arg("data set-broker", hex, cert, pin) : 0;
    if (status)
        return status;
    st_err err;
    st_err_clear(&err);
    st_workspace *ws = NULL;
    st_secret *seed = load_seed(cli, seed_path, &err);
    st_access_session sess;
    if (!seed)
        return st_cli_fail(&err);
    if (!(status =
              open_checked(cli, "data.rewrap", argv[optind], &ws, &sess))) {
        if (st_dataset_set_broker(ws, argv[optind], url, url ? pin : NULL,
                                  st_secret_cbytes(seed),
                                  st_cli_principal(&sess), &err))
            status = st_cli_fail(&err);
        else if (!cli->quiet)
            printf("dataset %s: %s%s (manifest re-signed)\n", argv[optind],
                   url ? "its key is released by " : "no remote broker",
                   url ? url : "");
    }
    st_workspace_close(ws);
    st_secret_free(seed);
    return status;
}

static int cmd_rm(st_cli *cli, int argc, char **argv)
{
    if (argc != 2)
        return st_cli_usage("data", "rm takes one dataset name");
    st_err err;
    st_err_clear(&err);
    st_workspace *ws = NULL;
    st_access_session sess;
    int status = open_checked(cli, "data.rm", argv[1], &ws, &sess);
    if (status)
        return status;
    if (st_dataset_rm(ws, argv[1], st_cli_principal(&sess), &err)) {
        st_workspace_close(ws);
        return st_cli_fail(&err);
    }
    if (!cli->quiet)
        printf("removed dataset %s (its wrapped file key is destroyed)\n",
               argv[1]);
    st_workspace_close(ws);
    return 0;
}

int st_cli_data(st_cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    argc--;
    argv++;
    /* --json is accepted by every data command, anywhere after it */
    int k = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            cli->json = 1;
        else
            argv[k++] = argv[i];
    }
    argc = k;
    argv[argc] = NULL;
    optind = 0;
    if (!strcmp(sub, "import"))
        return cmd_import(cli, argc, argv);
    if (!strcmp(sub, "policy")) /* release policies: cmd_data_policy.c */
        return st_cli_data_policy(cli, argc, argv);
    if (!strcmp(sub, "import-encrypted")) /* cmd_data_adopt.c */
        return st_cli_data_import_encrypted(cli, argc, argv);
    if (st_cli_wants_help(argc, argv)) {
        data_usage(stdout);
        return 0;
    }
    if (!strcmp(sub, "list"))
        return cmd_list(cli, argc, argv);
    if (!strcmp(sub, "show"))
        return cmd_show(cli, argc, argv);
    if (!strcmp(sub, "verify"))
        return cmd_verify(cli, argc, argv);
    if (!strcmp(sub, "rewrap"))
        return cmd_rewrap(cli, argc, argv, 0);
    if (!strcmp(sub, "reencrypt"))
        return cmd_rewrap(cli, argc, argv, 1);
    if (!strcmp(sub, "rm"))
        return cmd_rm(cli, argc, argv);
    if (!strcmp(sub, "set-broker"))
        return cmd_set_broker(cli, argc, argv);
    return st_cli_usage("data", "unknown command \"%s\"", sub);
}
