/*
 * cmd_audit.c: `sealtrain audit show|verify|checkpoint|prove|consistency|
 * check-proof|export|vkey|repair` over the workspace's audit log
 * (src/audit, include/sealtrain/audit.h).
 *
 * Reading and verifying never change the log; `checkpoint` adds a signed
 * checkpoint (and records that it did); `repair` only ever cuts a torn,
 * never-acknowledged last line and records the cut.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"
#include "remote.h"

static void audit_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain audit show [--category C] [--since T] "
            "[--actor NAME] [--outcome O] [--limit N] [--json]\n"
            "       sealtrain audit verify [--vkey VKEY] [--json]\n"
            "       sealtrain audit checkpoint\n"
            "       sealtrain audit prove --index N\n"
            "       sealtrain audit consistency --from SIZE\n"
            "       sealtrain audit check-proof FILE [--vkey VKEY] "
            "[--old CHECKPOINT]\n"
            "       sealtrain audit export --format jsonl|csv [--output "
            "FILE]\n"
            "       sealtrain audit vkey\n"
            "       sealtrain audit repair\n\n"
            "The log is a Merkle tree (RFC 9162) of JSON-lines entries with "
            "signed\ncheckpoints (C2SP tlog-checkpoint, signed-note). "
            "Categories: access,\noperation, security, attestation, "
            "key-release, enclave, compliance.\n"
            "--since takes RFC 3339 (2026-01-02T03:04:05Z) or an age: 30m, "
            "2h, 7d.\n`verify` recomputes the tree, checks every checkpoint "
            "and names the first\nchanged, removed, reordered or missing "
            "entry (exit 4). `prove` and\n`consistency` print proofs (JSON) "
            "against the latest checkpoint that\n`check-proof` (or any RFC "
            "9162 verifier) checks; `vkey` prints the log's\nsigned-note "
            "verifier key. `check-proof --old CHECKPOINT` compares a\n"
            "consistency proof's old size and root with a checkpoint you "
            "saved\nearlier (the output of `audit checkpoint`): without it "
            "a forked log\nwould pass, and the output says so.\n");
}

typedef struct ctx {
    st_cli *cli;
    st_workspace *ws;
    st_access_session s;
    char dir[4096];
    st_err err;
    int remote; /* --server: the server reads its log and checks access */
    int rexit;  /* a remote failure's exit status (already printed) */
} ctx;

/* Opens the workspace, authenticates and checks `action`. */
static int open_for(ctx *c, st_cli *cli, const char *action)
{
    memset(c, 0, sizeof(*c));
    c->cli = cli;
    (void)action;
    if (cli->server && cli->server[0]) {
        c->remote = 1;
        return 0;
    }
    int rc = st_cli_open(cli, &c->ws, &c->s);
    if (rc)
        return rc;
    if (st_access_check(c->ws, st_cli_principal(&c->s), action, "audit:log",
                        &c->err) ||
        st_workspace_subdir(c->ws, "audit", c->dir, sizeof(c->dir), &c->err)) {
        rc = st_cli_fail(&c->err);
        st_workspace_close(c->ws);
        return rc;
    }
    return 0;
}

static int done(ctx *c, int failed)
{
    int rc = failed ? (c->rexit ? c->rexit : st_cli_fail(&c->err)) : 0;
    st_workspace_close(c->ws);
    return rc;
}

/* One request to the server (--server); 0, or non-zero after printing the
 * error and keeping the exit status in c->rexit. */
static int remote_call(ctx *c, const char *method, const char *path,
                       st_remote_reply *out)
{
    st_remote_req rq = {method, path, NULL, NULL, 0, NULL};
    long status = 0;
    memset(out, 0, sizeof(*out));
    int rc = st_remote_request(c->cli, &rq, &status, out);
    if (rc == 0 && (status < 200 || status > 299))
        rc = st_remote_http_fail(status, out);
    if (rc) {
        free(out->data);
        out->data = NULL;
        c->rexit = rc;
        st_err_set(&c->err, ST_E_IO, "server request failed");
    }
    return rc;
}

/* The log's entries one by one: the workspace's, or with --server the
 * server's exactly as stored (GET /v1/audit/log). */
static st_code read_log(ctx *c, st_audit_visit_fn fn, void *arg)
{
    if (!c->remote)
        return st_audit_read(c->dir, fn, arg, &c->err);
    st_remote_reply r;
    if (remote_call(c, "GET", "/v1/audit/log", &r))
        return c->err.code;
    uint64_t index = 0;
    for (char *p = r.data, *end = r.data + r.len; p && p < end; index++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* complete lines only, as st_audit_read */
        if (fn(arg, index, p, (size_t)(nl - p)))
            break;
        p = nl + 1;
    }
    free(r.data);
    return ST_OK;
}

/* ---- show / export ---- */

typedef struct filter {
    const char *category, *actor, *outcome;
    char since[20]; /* "YYYY-MM-DDTHH:MM:SS" or "" */
    int json, csv, raw;
    int nomem; /* the export buffer could not grow: stop, fail */
    FILE *out;
    json_t *all;
    st_buf *buf;
} filter;

static int parse_since(const char *s, char out[20])
{
    time_t t;
    size_t n = strlen(s);
    char *end;
    long v = strtol(s, &end, 10);
    if (n >= 2 && end == s + n - 1 && v >= 0) {
        long mult = s[n - 1] == 'm'   ? 60
                    : s[n - 1] == 'h' ? 3600
                    : s[n - 1] == 'd' ? 86400
                                      : 0;
        if (!mult)
            return -1;
        t = time(NULL) - (time_t)(v * mult);
    } else if (st_time_parse(s, &t, NULL) != ST_OK) {
        return -1;
    }
    char f[ST_TIME_LEN];
    st_time_format(t, f);
    memcpy(out, f, 19);
    out[19] = 0;
    return 0;
}

static const char *str_of(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Appends one field; nonzero when the buffer could not grow (the export
 * then fails rather than writing a truncated file). Audit entries carry
 * text that anyone can put there (an unknown name given to --as, a
 * resource named in a refused request). A spreadsheet opening the export
 * would run a cell that begins with = + - @ (or tab, CR) as a formula:
 * such a cell gets a leading ' and is quoted, which spreadsheets show as
 * text (OWASP's advice for CSV injection). */
static int csv_field(st_buf *b, const char *s, int last)
{
    int formula = strchr("=+-@\t\r", s[0]) != NULL && s[0];
    int quote = formula || strpbrk(s, ",\"\r\n") != NULL;
    st_code rc = ST_OK;
    if (quote) {
        rc = st_buf_append(b, formula ? "\"'" : "\"", formula ? 2 : 1, NULL);
        for (const char *p = s; *p && rc == ST_OK; p++) {
            if (*p == '"')
                rc = st_buf_append(b, "\"", 1, NULL);
            if (rc == ST_OK)
                rc = st_buf_append(b, p, 1, NULL);
        }
        if (rc == ST_OK)
            rc = st_buf_append(b, "\"", 1, NULL);
    } else {
        rc = st_buf_append(b, s, strlen(s), NULL);
    }
    if (rc == ST_OK)
        rc = st_buf_append(b, last ? "\r\n" : ",", last ? 2 : 1, NULL);
    return rc != ST_OK;
}

/* The raw line and its newline; nonzero when the buffer could not grow. */
static int raw_line(st_buf *b, const char *line, size_t len)
{
    return st_buf_append(b, line, len, NULL) != ST_OK ||
           st_buf_append(b, "\n", 1, NULL) != ST_OK;
}

static int show_one(void *vctx, uint64_t index, const char *line, size_t len)
{
    filter *f = vctx;
    st_err pe;
    json_t *o = st_json_parse(line, len, "audit entry", &pe);
    if (!o && pe.code == ST_E_IO)
        return f->nomem = 1; /* not malformed: it could not be looked at */
    if (!o) {
        if (f->raw) {
            if (raw_line(f->buf, line, len))
                return f->nomem = 1;
        } else {
            fprintf(stderr,
                    "sealtrain: audit entry %llu is malformed (run "
                    "`sealtrain audit verify`)\n",
                    (unsigned long long)index);
        }
        return 0;
    }
    const char *t = str_of(o, "time");
    if ((f->category && strcmp(str_of(o, "category"), f->category)) ||
        (f->actor && strcmp(str_of(o, "actor"), f->actor)) ||
        (f->outcome && strcmp(str_of(o, "outcome"), f->outcome)) ||
        (f->since[0] && strncmp(t, f->since, 19) < 0)) {
        json_decref(o);
        return 0;
    }
    if (f->raw) {
        /* the exact bytes: a third party can rehash them */
        if (raw_line(f->buf, line, len))
            f->nomem = 1;
    } else if (f->csv) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%llu", (unsigned long long)index);
        char *details = NULL;
        json_t *d = json_object_get(o, "details");
        if (d)
            details = st_json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
        if ((d && !details) || csv_field(f->buf, idx, 0) ||
            csv_field(f->buf, t, 0) ||
            csv_field(f->buf, str_of(o, "category"), 0) ||
            csv_field(f->buf, str_of(o, "actor"), 0) ||
            csv_field(f->buf, str_of(o, "action"), 0) ||
            csv_field(f->buf, str_of(o, "resource"), 0) ||
            csv_field(f->buf, str_of(o, "outcome"), 0) ||
            csv_field(f->buf, str_of(o, "reason"), 0) ||
            csv_field(f->buf, details ? details : "", 1))
            f->nomem = 1;
        free(details);
    } else if (f->json) {
        json_object_set_new(o, "index", json_integer((json_int_t)index));
        json_array_append(f->all, o);
    } else {
        static const char *const keys[] = {"time",   "category", "actor",
                                           "action", "resource", "outcome",
                                           "reason"};
        char *v[7];
        int oom = 0;
        for (size_t i = 0; i < 7; i++) {
            const char *sv = str_of(o, keys[i]);
            oom |= !(v[i] = st_cli_term_safe(sv, strlen(sv)));
        }
        if (oom)
            f->nomem = 1;
        else
            fprintf(f->out, "%6llu %.19sZ %-11s %-12s %-18s %-24s %-7s%s%s\n",
                    (unsigned long long)index, v[0], v[1], v[2], v[3], v[4],
                    v[5], *v[6] ? " " : "", v[6]);
        for (size_t i = 0; i < 7; i++)
            free(v[i]);
    }
    json_decref(o);
    return f->nomem;
}

static int cmd_show(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"category", required_argument, NULL, 'c'},
        {"since", required_argument, NULL, 's'},
        {"actor", required_argument, NULL, 'a'},
        {"outcome", required_argument, NULL, 'o'},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    filter f = {0};
    f.json = cli->json;
    f.out = stdout;
    long limit = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:s:a:o:n:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (!st_audit_category_valid(optarg))
                return st_cli_usage("audit", "unknown category \"%s\"", optarg);
            f.category = optarg;
            break;
        case 's':
            if (parse_since(optarg, f.since))
                return st_cli_usage("audit",
                                    "--since takes RFC 3339 UTC or an age "
                                    "like 30m, 2h, 7d");
            break;
        case 'a': f.actor = optarg; break;
        case 'o': f.outcome = optarg; break;
        case 'n':
            limit = strtol(optarg, NULL, 10);
            if (limit <= 0)
                return st_cli_usage("audit", "--limit takes a positive "
                                             "number");
            break;
        case 'j': f.json = 1; break;
        case 'h': audit_usage(stdout); return 0;
        default: return st_cli_usage("audit", "unknown option");
        }
    }
    if (optind != argc)
        return st_cli_usage("audit", "show takes no argument");
    ctx x;
    int rc = open_for(&x, cli, "audit.read");
    if (rc)
        return rc;
    /* collect as JSON first so --limit can keep the newest */
    filter g = f;
    g.json = 1;
    g.all = json_array();
    st_code r = read_log(&x, show_one, &g);
    if (r == ST_OK) {
        size_t n = json_array_size(g.all),
               from = limit && (size_t)limit < n ? n - (size_t)limit : 0;
        if (f.json) {
            json_t *sel = json_array();
            for (size_t i = from; i < n; i++)
                json_array_append(sel, json_array_get(g.all, i));
            char *txt = st_json_dumps(sel, JSON_INDENT(2) | JSON_SORT_KEYS);
            printf("%s\n", txt ? txt : "[]");
            free(txt);
            json_decref(sel);
        } else {
            for (size_t i = from; i < n; i++) {
                json_t *o = json_array_get(g.all, i);
                char *line = st_json_dumps(o, JSON_COMPACT);
                filter h = f;
                h.since[0] = 0;
                if (line)
                    show_one(&h,
                             (uint64_t)json_integer_value(
                                 json_object_get(o, "index")),
                             line, strlen(line));
                free(line);
            }
        }
    }
    json_decref(g.all);
    return done(&x, r != ST_OK);
}

static int cmd_export(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *format = NULL, *output = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 'o': output = optarg; break;
        case 'h': audit_usage(stdout); return 0;
        default: return st_cli_usage("audit", "unknown option");
        }
    }
    if (!format || (strcmp(format, "jsonl") && strcmp(format, "csv")))
        return st_cli_usage("audit", "export needs --format jsonl or csv");
    if (optind != argc)
        return st_cli_usage("audit", "export takes no argument");
    ctx x;
    int rc = open_for(&x, cli, "audit.read");
    if (rc)
        return rc;
    st_buf b;
    st_buf_init(&b);
    filter f = {0};
    f.buf = &b;
    if (!strcmp(format, "csv")) {
        f.csv = 1;
        f.nomem = st_buf_printf(&b, NULL,
                                "index,time,category,actor,action,resource,"
                                "outcome,reason,details\r\n") != ST_OK;
    } else {
        f.raw = 1;
    }
    st_code r = f.nomem ? ST_OK : read_log(&x, show_one, &f);
    if (r == ST_OK && f.nomem)
        r = st_err_errno(&x.err, ST_E_IO, ENOMEM, "export");
    if (r == ST_OK) {
        if (output)
            r = st_fs_write_atomic(output, b.data, b.len, 0600, &x.err);
        else if (b.len && fwrite(b.data, 1, b.len, stdout) != b.len)
            r = st_err_set(&x.err, ST_E_IO, "export: writing stdout failed");
    }
    st_buf_free(&b);
    return done(&x, r != ST_OK);
}

/* ---- verify ---- */

/* Removes the copy st_audit_copy_write made (its files and the two
 * directories). */
static void remove_copy(const char *dir)
{
    char p[4400];
    snprintf(p, sizeof(p), "%s/checkpoints", dir);
    DIR *d = opendir(p);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof(p), "%s/checkpoints/%s", dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    snprintf(p, sizeof(p), "%s/log.jsonl", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/checkpoints", dir);
    rmdir(p);
    rmdir(dir);
}

/* `audit verify --server`: the server's log (exactly as stored) and
 * latest checkpoint, copied into a private temporary directory and
 * checked there by st_audit_verify, as locally: the server's word is not
 * needed, only its bytes. The verifier key is --vkey, else the server's
 * (said on stderr: compare it with one you hold). */
static st_code verify_remote(ctx *x, const char **vkey, char **own,
                             st_audit_report *rep)
{
    st_remote_reply lg, cp, vk = {0};
    if (!*vkey) {
        if (remote_call(x, "GET", "/v1/audit/vkey", &vk))
            return x->err.code;
        vk.data[strcspn(vk.data, "\r\n")] = 0;
        *own = vk.data;
        *vkey = vk.data;
        fprintf(stderr,
                "sealtrain: verifying under the server's own verifier key "
                "%s (give --vkey with one you hold)\n",
                *own);
    }
    if (remote_call(x, "GET", "/v1/audit/log", &lg))
        return x->err.code;
    if (remote_call(x, "GET", "/v1/audit/checkpoint", &cp)) {
        free(lg.data);
        return x->err.code;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/sealtrain-audit.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    st_code r = mkdtemp(dir) ? ST_OK
                             : st_err_errno(&x->err, ST_E_IO, errno,
                                            "a temporary directory in %s",
                                            tmp && *tmp ? tmp : "/tmp");
    if (r == ST_OK)
        r = st_audit_copy_write(dir, lg.data ? lg.data : "", lg.len, cp.data,
                                &x->err);
    if (r == ST_OK)
        r = st_audit_verify(dir, *vkey, rep, &x->err);
    if (dir[strlen(dir) - 1] != 'X')
        remove_copy(dir);
    free(lg.data);
    free(cp.data);
    return r;
}

static int cmd_verify(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"vkey", required_argument, NULL, 'k'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *vkey = NULL;
    int json = cli->json, c;
    while ((c = getopt_long(argc, argv, "k:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'k': vkey = optarg; break;
        case 'j': json = 1; break;
        case 'h': audit_usage(stdout); return 0;
        default: return st_cli_usage("audit", "unknown option");
        }
    }
    if (optind != argc)
        return st_cli_usage("audit", "verify takes no argument");
    ctx x;
    int rc = open_for(&x, cli, "audit.verify");
    if (rc)
        return rc;
    st_audit_report rep;
    char *own = NULL;
    st_code r = x.remote ? verify_remote(&x, &vkey, &own, &rep)
                         : st_audit_verify(x.dir, vkey, &rep, &x.err);
    if (r != ST_OK && r != ST_E_DENIED) {
        free(own);
        return done(&x, 1);
    }
    char *root = st_base64_encode(rep.root, 32, 1);
    if (json) {
        json_t *probs = json_array();
        for (size_t i = 0; i < rep.nproblems && i < 16; i++)
            json_array_append_new(probs,
                                  json_pack("{s:I,s:s,s:s}", "index",
                                            (json_int_t)rep.problems[i].index,
                                            "kind", rep.problems[i].kind,
                                            "message", rep.problems[i].msg));
        json_t *o = json_pack(
            "{s:b,s:I,s:I,s:I,s:s,s:I,s:o}", "ok", r == ST_OK, "entries",
            (json_int_t)rep.entries, "checkpoints", (json_int_t)rep.checkpoints,
            "last_checkpoint_size", (json_int_t)rep.last_checkpoint_size,
            "root_hash", root ? root : "", "problems",
            (json_int_t)rep.nproblems, "problem_list", probs);
        char *txt = st_json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(o);
    } else if (r == ST_OK) {
        printf("audit log verified: %llu entries, %llu signed checkpoints "
               "(latest at size %llu), root %s\n",
               (unsigned long long)rep.entries,
               (unsigned long long)rep.checkpoints,
               (unsigned long long)rep.last_checkpoint_size, root);
    } else {
        for (size_t i = 0; i < rep.nproblems && i < 16; i++)
            printf("%-10s %s\n", rep.problems[i].kind, rep.problems[i].msg);
        if (rep.nproblems > 16)
            printf("... and %zu more problems\n", rep.nproblems - 16);
    }
    free(root);
    free(own);
    return done(&x, r != ST_OK);
}

/* ---- checkpoint, proofs ---- */

/* The checkpoint note as JSON: its three body lines (C2SP tlog-checkpoint:
 * origin, tree size, base64 root hash) and the whole signed note. */
static void print_note_json(const char *note)
{
    char origin[256] = "", root[128] = "";
    unsigned long long size = 0;
    sscanf(note, "%255[^\n]\n%llu\n%127[^\n]", origin, &size, root);
    json_t *v =
        json_pack("{s:s,s:I,s:s,s:s}", "origin", origin, "tree_size",
                  (json_int_t)size, "root_hash", root, "checkpoint", note);
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("\n");
    json_decref(v);
}

static int cmd_checkpoint(st_cli *cli, int argc, char **argv)
{
    int json = cli->json;
    if (argc == 2 && !strcmp(argv[1], "--json"))
        json = 1;
    else if (argc != 1)
        return st_cli_usage("audit", "checkpoint takes no argument (but "
                                     "--json)");
    ctx x;
    int rc = open_for(&x, cli, "audit.checkpoint");
    if (rc)
        return rc;
    /* the log key is kept sealed under the keyring (the server's, remotely:
     * POST /v1/audit/checkpoint does the same, the caller as actor) */
    st_keyring *kr = NULL;
    char *note = NULL;
    st_remote_reply rr;
    st_code r = ST_OK;
    if (x.remote) {
        if (remote_call(&x, "POST", "/v1/audit/checkpoint", &rr))
            return done(&x, 1);
        note = rr.data;
    } else if ((r = st_keyring_open(x.ws, &kr, &x.err)) == ST_OK) {
        st_audit_sealer kek = st_keyring_audit_sealer(kr);
        r = st_audit_checkpoint_sealed(
            x.ws, &kek, st_cli_principal(&x.s) ? x.s.name : "bootstrap", &note,
            &x.err);
    }
    st_keyring_close(kr);
    if (r == ST_OK && json)
        print_note_json(note);
    else if (r == ST_OK)
        fputs(note, stdout);
    free(note);
    return done(&x, r != ST_OK);
}

static int cmd_prove(st_cli *cli, int argc, char **argv, int consistency)
{
    static const struct option opts[] = {
        {"index", required_argument, NULL, 'i'},
        {"from", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    long long n = -1;
    int c;
    while ((c = getopt_long(argc, argv, "i:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
        case 'f': {
            char *end;
            n = strtoll(optarg, &end, 10);
            if (*end || n < 0 || (c == 'i') == consistency)
                return st_cli_usage("audit", "%s takes %s", argv[0],
                                    consistency ? "--from SIZE" : "--index N");
            break;
        }
        case 'h': audit_usage(stdout); return 0;
        default: return st_cli_usage("audit", "unknown option");
        }
    }
    if (n < 0 || optind != argc)
        return st_cli_usage("audit", "%s needs %s", argv[0],
                            consistency ? "--from SIZE" : "--index N");
    ctx x;
    int rc = open_for(&x, cli, "audit.read");
    if (rc)
        return rc;
    char *doc = NULL;
    st_code r = ST_OK;
    if (x.remote) {
        /* the same documents, made by the server's library */
        char path[96];
        st_remote_reply rr;
        snprintf(path, sizeof(path), "/v1/audit/%s?%s=%lld",
                 consistency ? "consistency" : "inclusion",
                 consistency ? "from" : "index", n);
        if (remote_call(&x, "GET", path, &rr))
            return done(&x, 1);
        doc = rr.data;
    } else {
        r = consistency
                ? st_audit_prove_consistency(x.dir, (uint64_t)n, &doc, &x.err)
                : st_audit_prove_inclusion(x.dir, (uint64_t)n, &doc, &x.err);
    }
    if (r == ST_OK)
        printf("%s\n", doc);
    free(doc);
    return done(&x, r != ST_OK);
}

static int cmd_check_proof(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"vkey", required_argument, NULL, 'k'},
                                         {"old", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *vkey = NULL, *old_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': vkey = optarg; break;
        case 'o': old_path = optarg; break;
        case 'h': audit_usage(stdout); return 0;
        default: return st_cli_usage("audit", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return st_cli_usage("audit", "check-proof takes one FILE");
    st_err err;
    st_err_clear(&err);
    unsigned char *text;
    size_t len;
    if (st_fs_read_all(argv[optind], 1 << 20, &text, &len, &err))
        return st_cli_fail(&err);
    /* the checkpoint the auditor saved earlier (a signed note) */
    unsigned char *old_raw = NULL;
    char *old = NULL;
    size_t old_len = 0;
    if (old_path) {
        if (st_fs_read_all(old_path, 1 << 16, &old_raw, &old_len, &err)) {
            free(text);
            st_err_prefix(&err, "--old");
            return st_cli_fail(&err);
        }
        old = strndup((const char *)old_raw, old_len);
        free(old_raw);
        if (!old || strlen(old) != old_len) {
            free(text);
            free(old);
            st_err_set(&err, ST_E_INPUT,
                       "--old %s: not a checkpoint (a NUL byte, or out of "
                       "memory)",
                       old_path);
            return st_cli_fail(&err);
        }
    }
    char *own = NULL;
    ctx x;
    memset(&x, 0, sizeof(x));
    if (!vkey && cli->server && cli->server[0]) {
        free(text);
        free(old);
        return st_cli_usage("audit", "check-proof with --server needs --vkey "
                                     "VKEY: a proof checked under the key the "
                                     "server names proves nothing about it");
    }
    if (!vkey) {
        /* no key given: the workspace's own log key */
        int rc = open_for(&x, cli, "audit.verify");
        if (rc) {
            free(text);
            free(old);
            return rc;
        }
        if (st_audit_verifier_key(x.dir, &own, &err)) {
            free(text);
            free(old);
            st_workspace_close(x.ws);
            return st_cli_fail(&err);
        }
        vkey = own;
    }
    char what[1024];
    st_code r = st_audit_proof_check((const char *)text, len, vkey, old, what,
                                     sizeof(what), &err);
    free(text);
    free(old);
    free(own);
    st_workspace_close(x.ws);
    if (r)
        return st_cli_fail(&err);
    printf("proof verified: %s\n", what);
    return 0;
}

static int cmd_vkey(st_cli *cli, int argc)
{
    if (argc != 1)
        return st_cli_usage("audit", "vkey takes no argument");
    ctx x;
    int rc = open_for(&x, cli, "audit.verify");
    if (rc)
        return rc;
    st_audit_log *log;
    char *vkey = NULL;
    st_remote_reply rr;
    if (x.remote) {
        if (remote_call(&x, "GET", "/v1/audit/vkey", &rr))
            return done(&x, 1);
        printf("%s\n", rr.data);
        free(rr.data);
        return done(&x, 0);
    }
    /* opening creates the key on a log that was never written to */
    st_code r = st_audit_log_open(x.dir, &log, &x.err);
    if (r == ST_OK) {
        st_audit_log_close(log);
        r = st_audit_verifier_key(x.dir, &vkey, &x.err);
    }
    if (r == ST_OK)
        printf("%s\n", vkey);
    free(vkey);
    return done(&x, r != ST_OK);
}

static int cmd_repair(st_cli *cli, int argc)
{
    if (argc != 1)
        return st_cli_usage("audit", "repair takes no argument");
    if (cli->server && cli->server[0])
        return st_cli_usage("audit", "repair works on the workspace's own "
                                     "files: run it where the log is");
    ctx x;
    int rc = open_for(&x, cli, "audit.repair");
    if (rc)
        return rc;
    st_audit_log *log;
    size_t cut = 0;
    st_code r = st_audit_log_open(x.dir, &log, &x.err);
    if (r == ST_OK) {
        r = st_audit_log_repair(log, &cut, &x.err);
        st_audit_log_close(log);
    }
    if (r == ST_OK && !cli->quiet) {
        if (cut)
            printf("cut %zu bytes of an incomplete last entry (never "
                   "acknowledged); the cut is recorded in the log\n",
                   cut);
        else
            printf("the audit log has no torn entry: nothing to repair\n");
    }
    return done(&x, r != ST_OK);
}

int st_cli_audit(st_cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        audit_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    argc--;
    argv++;
    optind = 0; /* glibc: full re-initialisation of getopt */
    if (!strcmp(sub, "show"))
        return cmd_show(cli, argc, argv);
    if (!strcmp(sub, "export"))
        return cmd_export(cli, argc, argv);
    if (!strcmp(sub, "verify"))
        return cmd_verify(cli, argc, argv);
    if (!strcmp(sub, "prove"))
        return cmd_prove(cli, argc, argv, 0);
    if (!strcmp(sub, "consistency"))
        return cmd_prove(cli, argc, argv, 1);
    if (!strcmp(sub, "check-proof"))
        return cmd_check_proof(cli, argc, argv);
    if (st_cli_wants_help(argc, argv)) {
        audit_usage(stdout);
        return 0;
    }
    if (!strcmp(sub, "checkpoint"))
        return cmd_checkpoint(cli, argc, argv);
    if (!strcmp(sub, "vkey"))
        return cmd_vkey(cli, argc);
    if (!strcmp(sub, "repair"))
        return cmd_repair(cli, argc);
    return st_cli_usage("audit", "unknown subcommand \"%s\"", sub);
}
