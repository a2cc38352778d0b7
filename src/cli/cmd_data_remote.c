/*
 * cmd_data_remote.c: `sealtrain --server URL data import FILE ...`: the
 * data owner's machine validates, converts and encrypts the dataset,
 * signs its manifest and uploads the ciphertext in resumable chunks
 * (docs/api.md "Uploading a dataset"):
 *
 *   1. GET /v1/whoami (the owner is the certificate's principal) and GET
 *      /v1/uploads/recipient (the server's intake key);
 *   2. validate FILE (pass 1), then, when the age header is written, wrap
 *      the fresh file key to the intake key and POST /v1/uploads: the
 *      server answers with its sealtrain-kek stanza (the file key under
 *      the owner's KEK), which goes into the header; encrypt (pass 2);
 *   3. sign the manifest over the final bytes; keep file, manifest and
 *      upload id in the staging directory;
 *   4. PUT the chunks from the offset the server reports, then POST the
 *      manifest to commit. Run again after an interruption: a staged
 *      upload for the same name and server resumes where it stopped.
 *
 * Plaintext never leaves this process except encrypted; the file key is
 * sent only wrapped to the server's intake key. The signing seed is kept
 * in secure memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"
#include "remote.h"

#define DEFAULT_CHUNK (4u << 20)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain --server URL data import FILE --name NAME\n"
            "         --classification public|internal|confidential|"
            "restricted\n"
            "         [--label COL] [--format csv|libsvm|idx] "
            "[--retention-days N]\n"
            "         [--recipient age1...]... [--owner PRINCIPAL] "
            "[--signing-key PEM]\n"
            "         [--staging DIR] [--chunk-size BYTES] "
            "[--prepare-only]\n\n"
            "Encrypts FILE here (the server never sees plaintext), signs "
            "its manifest\nand uploads it in chunks (default 4 MiB, at most "
            "the server's --max-body).\nThe ciphertext, manifest and upload "
            "id are staged in --staging DIR\n(default $SEALTRAIN_STAGING, "
            "else ~/.cache/sealtrain/uploads) until the\nserver registered "
            "the dataset; running the same command again resumes an\n"
            "interrupted upload. --prepare-only stops before the first "
            "chunk (for\nuploading with curl, docs/api.md). The owner is "
            "the certificate's principal.\n");
}

/* ---- small helpers ---------------------------------------------------- */

/* A JSON request; *j is the parsed 2xx reply (or NULL: an empty one).
 * Returns 0, or the exit status after printing the error. */
static int call(st_cli *cli, const char *method, const char *path,
                const char *body, json_t **j, long *status_out)
{
    st_remote_reply r = {0};
    long status = 0;
    st_remote_req rq = {
        method, path, "application/json", body, body ? strlen(body) : 0, NULL};
    int rc = st_remote_request(cli, &rq, &status, &r);
    /* a rate limit (429): wait for the bucket to refill and ask again;
     * every request here is idempotent or refused before it acts */
    for (int tries = 0; !rc && status == 429 && tries < 10; tries++) {
        free(r.data);
        memset(&r, 0, sizeof(r));
        sleep(1);
        rc = st_remote_request(cli, &rq, &status, &r);
    }
    if (status_out)
        *status_out = status;
    if (!rc && (status < 200 || status > 299))
        rc = st_remote_http_fail(status, &r);
    if (!rc && j && !(*j = st_remote_json(r.data, NULL)))
        rc = st_remote_fail(5, "%s: no answer to go on with", path);
    free(r.data);
    return rc;
}

static const char *jstr(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "";
}

static int mkdirs(const char *path)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- the remote KEK wrap (called by the age writer) -------------------- */

typedef struct wrap_ctx {
    st_cli *cli;
    const char *name;
    const char *intake;
    char upload[ST_UPLOAD_ID_LEN + 1];
    char id[33];
    int status; /* exit status when the server refused (already printed) */
} wrap_ctx;

static ST_MUST_CHECK st_code remote_wrap(void *ctx, const char *kek,
                                         uint32_t version,
                                         const uint8_t *secret, size_t len,
                                         const uint8_t *aad, size_t aadlen,
                                         st_buf *out, uint32_t *used,
                                         st_err *err)
{
    /* the server binds the same AAD (st_age_kek_aad of the KEK name) */
    (void)version, (void)aad, (void)aadlen;
    wrap_ctx *w = ctx;
    if (len != ST_AGE_FILE_KEY_LEN)
        return st_err_set(err, ST_E_INTERNAL, "file key of %zu bytes", len);
    st_age_recipient rcp;
    st_age_stanza s = {0};
    st_code rc = st_age_x25519_recipient(w->intake, &rcp, err);
    if (rc)
        return st_err_prefix(err, "the server's intake key");
    rc = rcp.wrap(rcp.ctx, secret, &s, err);
    st_age_recipient_clear(&rcp);
    if (rc)
        return rc;
    json_t *args = json_array();
    for (size_t i = 0; i < s.nargs; i++)
        json_array_append_new(args, json_string(s.args[i]));
    char *b64 = st_base64_encode(s.body, s.body_len, 1);
    st_age_stanza_clear(&s);
    json_t *req =
        json_pack("{s:s,s:s,s:{s:o,s:s}}", "name", w->name, "intake", w->intake,
                  "file_key", "args", args, "body", b64 ? b64 : "");
    free(b64);
    char *body = req ? st_json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body)
        return st_err_set(err, ST_E_IO, "out of memory");
    json_t *j = NULL;
    w->status = call(w->cli, "POST", "/v1/uploads", body, &j, NULL);
    free(body);
    if (w->status)
        return st_err_set(err, ST_E_DENIED, "the server refused the upload");
    uint8_t *stanza = NULL;
    size_t sl = 0;
    json_int_t v = json_integer_value(json_object_get(j, "kek_version"));
    const char *sb = jstr(j, "stanza");
    if (strcmp(jstr(j, "kek"), kek) || v <= 0 || v > UINT32_MAX ||
        strlen(jstr(j, "id")) != ST_UPLOAD_ID_LEN ||
        strlen(jstr(j, "dataset_id")) != 32 ||
        st_base64_decode(sb, strlen(sb), 1, &stanza, &sl, err)) {
        json_decref(j);
        return st_err_set(err, ST_E_INPUT,
                          "the server's upload answer is malformed (or names "
                          "another KEK than %s)",
                          kek);
    }
    snprintf(w->upload, sizeof(w->upload), "%s", jstr(j, "id"));
    snprintf(w->id, sizeof(w->id), "%s", jstr(j, "dataset_id"));
    json_decref(j);
    rc = st_buf_append(out, stanza, sl, err);
    free(stanza);
    *used = (uint32_t)v;
    return rc;
}

/* ---- progress -------------------------------------------------------- */

typedef struct bar {
    int on;
    const char *what;
    struct timespec start, last;
} bar;

static void bar_draw(void *ctx, uint64_t done, uint64_t total)
{
    bar *b = ctx;
    if (!b->on || !total)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(now.tv_sec - b->last.tv_sec) +
                (double)(now.tv_nsec - b->last.tv_nsec) / 1e9;
    if (done < total && dt < 0.2)
        return;
    b->last = now;
    double secs = (double)(now.tv_sec - b->start.tv_sec) +
                  (double)(now.tv_nsec - b->start.tv_nsec) / 1e9;
    int pct = (int)((double)done * 100.0 / (double)total);
    char fill[31];
    for (int i = 0; i < 30; i++)
        fill[i] = i < pct * 30 / 100 ? '#' : '-';
    fill[30] = 0;
    const char *what = b->what             ? b->what
                       : done * 2 <= total ? "validating"
                                           : "encrypting";
    fprintf(stderr, "\r%s [%s] %3d%%  %6.1f MB/s", what, fill, pct,
            secs > 0 ? (double)done / 1e6 / secs : 0.0);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

/* ---- staging ---------------------------------------------------------- */

typedef struct stage {
    char dir[4096];
    char file[4200], manifest[4200], state[4200];
} stage;

static int stage_paths(const char *opt, const char *name, stage *st)
{
    const char *env = getenv("SEALTRAIN_STAGING");
    const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (opt)
        snprintf(st->dir, sizeof(st->dir), "%s", opt);
    else if (env && *env)
        snprintf(st->dir, sizeof(st->dir), "%s", env);
    else if (cache && *cache)
        snprintf(st->dir, sizeof(st->dir), "%s/sealtrain/uploads", cache);
    else if (home && *home)
        snprintf(st->dir, sizeof(st->dir), "%s/.cache/sealtrain/uploads", home);
    else
        return st_cli_usage("data import", "no staging directory: give "
                                           "--staging DIR");
    if (mkdirs(st->dir) != 0)
        return st_remote_fail(5, "cannot create the staging directory %s: %s",
                              st->dir, strerror(errno));
    st_err err;
    if (st_fs_check_private(st->dir, &err))
        return st_cli_fail(&err);
    snprintf(st->file, sizeof(st->file), "%s/%s.age", st->dir, name);
    snprintf(st->manifest, sizeof(st->manifest), "%s/%s.manifest.json", st->dir,
             name);
    snprintf(st->state, sizeof(st->state), "%s/%s.upload.json", st->dir, name);
    return 0;
}

static void stage_clear(const stage *st)
{
    unlink(st->file);
    unlink(st->manifest);
    unlink(st->state);
}

/* ---- encrypt and open the upload ------------------------------------- */

typedef struct import_args {
    st_dataset_encrypt_opts eo;
    const char *seed_path, *staging;
    size_t chunk;
    int prepare_only;
} import_args;

static int prepare(st_cli *cli, import_args *a, const stage *st)
{
    json_t *who = NULL, *rcp = NULL;
    st_err err;
    st_err_clear(&err);
    int rc = call(cli, "GET", "/v1/whoami", NULL, &who, NULL);
    if (rc)
        return rc;
    char owner[ST_DATASET_NAME_MAX + 1], kek[80];
    snprintf(owner, sizeof(owner), "%s", jstr(who, "principal"));
    json_decref(who);
    if (a->eo.owner && strcmp(a->eo.owner, owner))
        return st_remote_fail(
            4,
            "%s cannot import as %s: datasets are imported by their "
            "owner",
            owner, a->eo.owner);
    a->eo.owner = owner;
    snprintf(kek, sizeof(kek), "owner.%s", owner);
    for (char *c = kek; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    st_secret *seed = st_secret_new(32, &err);
    const char *sp = a->seed_path ? a->seed_path : cli->key;
    if (!seed || st_ed25519_load_private_pem(sp, st_secret_bytes(seed), &err)) {
        st_secret_free(seed);
        return st_cli_fail(&err);
    }
    if ((rc = call(cli, "GET", "/v1/uploads/recipient", NULL, &rcp, NULL))) {
        st_secret_free(seed);
        return rc;
    }
    wrap_ctx w = {cli, a->eo.name, jstr(rcp, "recipient"), "", "", 0};
    bar pb = {isatty(2) && !cli->quiet, NULL, {0, 0}, {0, 0}};
    clock_gettime(CLOCK_MONOTONIC, &pb.start);
    a->eo.kek = kek;
    a->eo.wrap = remote_wrap;
    a->eo.wrap_ctx = &w;
    a->eo.id = w.id;
    a->eo.out_path = st->file;
    a->eo.progress = bar_draw;
    a->eo.pctx = &pb;
    st_dataset_manifest m;
    char *env = NULL;
    if (st_dataset_encrypt(&a->eo, &m, &err) ||
        st_dataset_manifest_sign(&m, st_secret_cbytes(seed), &env, &err)) {
        if (pb.on)
            fputc('\n', stderr);
        rc = w.status ? w.status : st_cli_fail(&err);
        unlink(st->file);
        st_dataset_manifest_free(&m);
        goto out;
    }
    json_t *state = json_pack("{s:s,s:s,s:s,s:I}", "server", cli->server,
                              "upload", w.upload, "name", a->eo.name, "size",
                              (json_int_t)m.file_size);
    char *text = state ? st_json_dumps(state, JSON_COMPACT) : NULL;
    json_decref(state);
    if (!text ||
        st_fs_write_atomic(st->manifest, env, strlen(env), 0600, &err) ||
        st_fs_write_atomic(st->state, text, strlen(text), 0600, &err))
        rc = text ? st_cli_fail(&err) : st_remote_fail(5, "out of memory");
    free(text);
    if (!rc && !cli->quiet)
        fprintf(stderr,
                "encrypted %s: %llu rows, %u features, %u classes, %llu "
                "bytes; upload %s\n",
                m.name, (unsigned long long)m.rows, m.cols, m.classes,
                (unsigned long long)m.file_size, w.upload);
    st_dataset_manifest_free(&m);
out:
    free(env);
    json_decref(rcp);
    st_secret_free(seed);
    return rc;
}

/* ---- chunks and commit ---------------------------------------------- */

static int send_chunks(st_cli *cli, const char *upload, const stage *st,
                       uint64_t size, size_t chunk)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/uploads/%s", upload);
    json_t *j = NULL;
    long status = 0;
    int rc = call(cli, "GET", path, NULL, &j, &status);
    if (rc && status == 404) {
        stage_clear(st);
        return st_remote_fail(
            3,
            "the server no longer holds upload %s (expired or "
            "abandoned); the staged files were removed: run the "
            "import again",
            upload);
    }
    if (rc)
        return rc;
    uint64_t got = (uint64_t)json_integer_value(json_object_get(j, "received"));
    json_int_t max = json_integer_value(json_object_get(j, "max_chunk"));
    json_decref(j);
    /* the server buffers a whole request body up to its --max-body */
    if (max > 0 && (uint64_t)max < chunk)
        chunk = (size_t)max;
    if (got > size)
        return st_remote_fail(
            5, "the server holds %llu bytes of a %llu-byte upload",
            (unsigned long long)got, (unsigned long long)size);
    if (got > 0 && !cli->quiet)
        fprintf(stderr, "resuming upload %s at byte %llu of %llu\n", upload,
                (unsigned long long)got, (unsigned long long)size);
    int fd = open(st->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_remote_fail(5, "open %s: %s", st->file, strerror(errno));
    char *buf = malloc(chunk);
    bar pb = {isatty(2) && !cli->quiet, "uploading", {0, 0}, {0, 0}};
    clock_gettime(CLOCK_MONOTONIC, &pb.start);
    rc = buf ? 0 : st_remote_fail(5, "out of memory");
    int retries = 0;
    while (!rc && got < size) {
        size_t n = size - got < chunk ? (size_t)(size - got) : chunk;
        ssize_t r = pread(fd, buf, n, (off_t)got);
        if (r != (ssize_t)n) {
            rc = st_remote_fail(5, "read %s: %s", st->file,
                                r < 0 ? strerror(errno) : "the file shrank");
            break;
        }
        char range[96];
        snprintf(range, sizeof(range), "bytes %llu-%llu/%llu",
                 (unsigned long long)got, (unsigned long long)(got + n - 1),
                 (unsigned long long)size);
        st_remote_reply rep = {0};
        st_remote_req rq = {"PUT", path, "application/octet-stream",
                            buf,   n,    NULL};
        rc = st_remote_request_range(cli, &rq, range, &status, &rep);
        /* a reply that is not JSON is judged by its status below; one
         * that could not be parsed for memory ends the upload */
        st_err pe;
        st_err_clear(&pe);
        json_t *a = rc ? NULL
                       : st_json_parse(rep.data ? rep.data : "",
                                       rep.data ? strlen(rep.data) : 0,
                                       "the server's answer", &pe);
        json_t *rv = json_object_get(a, "received");
        if (!rc && !a && pe.code == ST_E_IO) {
            rc = st_remote_fail(5, "%s", pe.msg);
        } else if (!rc && (status == 200 || status == 409) &&
                   json_is_integer(rv)) {
            got = (uint64_t)json_integer_value(rv); /* 409: go on from there */
            retries = 0;
        } else if (!rc && status == 429 && ++retries <= 10) {
            sleep(1); /* a rate limit: wait for tokens, send it again */
        } else if (!rc) {
            rc = st_remote_http_fail(status, &rep);
        }
        json_decref(a);
        free(rep.data);
        bar_draw(&pb, got, size);
    }
    free(buf);
    close(fd);
    return rc;
}

static int commit(st_cli *cli, const char *upload, const stage *st)
{
    unsigned char *env = NULL;
    size_t len = 0;
    st_err err;
    if (st_fs_read_all(st->manifest, 1u << 20, &env, &len, &err))
        return st_cli_fail(&err);
    char path[128];
    snprintf(path, sizeof(path), "/v1/uploads/%s/commit", upload);
    json_t *j = NULL;
    long status = 0;
    int rc = call(cli, "POST", path, (const char *)env, &j, &status);
    free(env);
    if (rc && status >= 400 && status < 500) {
        /* every byte arrived and the server refused them: final */
        char del[128];
        snprintf(del, sizeof(del), "/v1/uploads/%s", upload);
        call(cli, "DELETE", del, NULL, NULL, NULL);
        stage_clear(st);
        fprintf(stderr,
                "sealtrain: upload %s abandoned and its staged files "
                "removed\n",
                upload);
    }
    if (rc)
        return rc;
    stage_clear(st);
    if (cli->json) {
        char *s = st_json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "{}");
        free(s);
    } else if (!cli->quiet) {
        printf("imported dataset %s: %lld rows, %lld features, %lld classes, "
               "%s, KEK %s v%lld (uploaded %lld bytes)\n",
               jstr(j, "name"),
               (long long)json_integer_value(json_object_get(j, "rows")),
               (long long)json_integer_value(json_object_get(j, "cols")),
               (long long)json_integer_value(json_object_get(j, "classes")),
               jstr(j, "classification"), jstr(j, "kek"),
               (long long)json_integer_value(json_object_get(j, "kek_version")),
               (long long)json_integer_value(json_object_get(j, "file_size")));
    }
    json_decref(j);
    return 0;
}

/* The staged upload for this name, when one was left for this server. */
static int staged(st_cli *cli, const stage *st, char upload[33], uint64_t *size)
{
    if (!st_fs_exists(st->state))
        return 0;
    st_err err;
    json_t *j = st_json_load_file(st->state, 4096, &err);
    const char *srv = jstr(j, "server"), *id = jstr(j, "upload");
    json_int_t sz = json_integer_value(json_object_get(j, "size"));
    int rc = 1;
    if (!j || strlen(id) != ST_UPLOAD_ID_LEN || sz <= 0 ||
        !st_fs_exists(st->file) || !st_fs_exists(st->manifest))
        rc = st_remote_fail(
            3, "%s: a damaged staged upload (remove it to start over)",
            st->state);
    else if (strcmp(srv, cli->server))
        rc = st_remote_fail(
            2,
            "%s: a staged upload of this name for %s (finish it there "
            "or remove it)",
            st->state, srv);
    else {
        snprintf(upload, 33, "%s", id);
        *size = (uint64_t)sz;
    }
    json_decref(j);
    return rc == 1 ? 1 : -rc;
}

int st_remote_data_import(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"label", required_argument, NULL, 'l'},
        {"format", required_argument, NULL, 'f'},
        {"owner", required_argument, NULL, 'o'},
        {"classification", required_argument, NULL, 'c'},
        {"retention-days", required_argument, NULL, 'r'},
        {"recipient", required_argument, NULL, 'R'},
        {"signing-key", required_argument, NULL, 's'},
        {"staging", required_argument, NULL, 'S'},
        {"chunk-size", required_argument, NULL, 'C'},
        {"prepare-only", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    import_args a;
    memset(&a, 0, sizeof(a));
    a.eo.retention_days = -1;
    a.chunk = DEFAULT_CHUNK;
    const char *format = NULL;
    const char **rcpts = calloc((size_t)argc + 1, sizeof(char *));
    size_t nr = 0;
    int c, rc = 0;
    char *end;
    if (!rcpts)
        return 5;
    optind = 0;
    while ((c = getopt_long(argc, argv, "n:l:f:o:c:r:R:s:S:C:Ph", opts,
                            NULL)) != -1) {
        switch (c) {
        case 'n': a.eo.name = optarg; break;
        case 'l': a.eo.input.label = optarg; break;
        case 'f': format = optarg; break;
        case 'o': a.eo.owner = optarg; break;
        case 'c': a.eo.classification = optarg; break;
        case 'r':
            a.eo.retention_days = strtoll(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end ||
                a.eo.retention_days < 1 || a.eo.retention_days > 1000000)
                rc = st_cli_usage("data import",
                                  "--retention-days must be 1..1000000");
            break;
        case 'R': rcpts[nr++] = optarg; break;
        case 's': a.seed_path = optarg; break;
        case 'S': a.staging = optarg; break;
        case 'C': {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || v < 1024 ||
                v > (1ull << 30))
                rc = st_cli_usage("data import",
                                  "--chunk-size must be 1024..1073741824");
            a.chunk = (size_t)v;
            break;
        }
        case 'P': a.prepare_only = 1; break;
        case 'h': usage(stdout); goto done;
        default: rc = st_cli_usage("data import", "unknown option");
        }
        if (rc)
            goto done;
    }
    if (optind + 1 != argc || !a.eo.name || !a.eo.classification) {
        rc = st_cli_usage("data import",
                          "a remote import needs FILE, --name and "
                          "--classification");
        goto done;
    }
    st_err err;
    st_err_clear(&err);
    if (st_dataset_check_name("dataset name", a.eo.name, &err)) {
        rc = st_cli_fail(&err);
        goto done;
    }
    a.eo.input.path = argv[optind];
    a.eo.recipients = rcpts;
    a.eo.nrecipients = nr;
    if (format
            ? st_data_format_parse(format, &a.eo.input.format, &err)
            : st_data_format_guess(a.eo.input.path, &a.eo.input.format, &err)) {
        rc = st_cli_fail(&err);
        goto done;
    }
    stage st;
    char upload[33] = "";
    uint64_t size = 0;
    if ((rc = stage_paths(a.staging, a.eo.name, &st)))
        goto done;
    int have = staged(cli, &st, upload, &size);
    if (have < 0) {
        rc = -have;
        goto done;
    }
    if (!have) {
        if ((rc = prepare(cli, &a, &st)) ||
            staged(cli, &st, upload, &size) != 1) {
            rc = rc ? rc : 5;
            goto done;
        }
    }
    if (a.prepare_only) {
        printf("%s\n", upload);
        goto done;
    }
    if (!(rc = send_chunks(cli, upload, &st, size, a.chunk)))
        rc = commit(cli, upload, &st);
done:
    free(rcpts);
    return rc;
}
