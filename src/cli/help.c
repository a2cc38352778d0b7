/*
 * help.c: the one source of the per-command help text: `sealtrain GROUP
 * LEAF --help`, `sealtrain help [GROUP [LEAF]]`, and, generated from the
 * same table at build time, the man pages (sealtrain(1), sealtrain-GROUP(1))
 * and the bash and zsh completion scripts (`sealtrain help --man DIR`,
 * `sealtrain help --completion bash|zsh`; CMakeLists.txt runs them and
 * `make install` installs the results).
 *
 * A leaf's entry holds its synopsis, what it does, one example; the exit
 * statuses are the same for every command (docs/cli.md, st_code_exit_status)
 * and printed with each. This file prints text only: it never opens a
 * workspace or reads a key.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

typedef struct leaf {
    const char *group, *name; /* name NULL: the group itself is the command */
    const char *synopsis;     /* what follows "sealtrain GROUP NAME" */
    const char *what;
    const char *example;
} leaf;

static const leaf leaves[] = {
    {"version", NULL, "[--json]", "Prints sealtrain's version.",
     "sealtrain version --json"},
    {"init", NULL, "[--protect passphrase|tpm|file:PATH]",
     "Creates a workspace (catalog, keyring, audit log) at --workspace.",
     "sealtrain --workspace ws init --protect file:root.key"},
    {"doctor", NULL, "[--json]",
     "Checks this machine's security features (secure memory, sandbox, TPM).",
     "sealtrain doctor --json"},
    {"metrics", NULL, "",
     "Prints the workspace's Prometheus metrics. Needs audit.read.",
     "sealtrain --as aud --key aud.pem metrics"},
    {"check", NULL,
     "[--json] [--html FILE] [--denial-threshold N] [--denial-window HOURS] "
     "[--checkpoint-max-age HOURS] [--admin-inactive-days N]",
     "The security checklist: each item pass, warn, fail or n/a with its "
     "evidence; exit 4 when an item fails.",
     "sealtrain --as aud --key aud.pem check --html report.html"},
    {"cleanup", NULL, "[--dry-run] [--stale-after SECONDS] [--json]",
     "Crypto-shreds datasets past retention, fails stale jobs, removes old "
     "temporary files and model files that no model names.",
     "sealtrain --as admin --key admin.pem cleanup --dry-run"},
    {"serve", NULL,
     "[--listen HOST:PORT] [--broker] [--ready-file FILE] [--rate N] "
     "[--burst N] [--principal-rate N] [--principal-burst N] [--max-conns N] "
     "[--max-conns-per-ip N] [--max-body BYTES] [--max-headers BYTES] "
     "[--timeout S] [--drain S] [--workers N] [--jobs N] [--runner-as NAME "
     "--runner-key PEM] [--uploads] [--max-upload BYTES] "
     "[--max-upload-inflight BYTES] [--upload-ttl S]",
     "Serves the workspace's /v1 API over HTTPS (TLS 1.3 only) with client\n"
     "certificates from the workspace CA (`sealtrain principal cert`). "
     "Default\n--listen 127.0.0.1:8443. --broker serves only the "
     "attestation-gated key\nrelease. --workers N (4): key-release threads. "
     "--jobs N (1): queued jobs\nrun at a time as principal --runner-as. "
     "--uploads: client-encrypted\ndatasets at /v1/uploads. Connection caps "
     "apply at accept, before TLS;\n--timeout S (10) also bounds the TLS "
     "handshake. SIGTERM: stop accepting,\nfinish requests (--drain S). "
     "Logs at info: where it listens, the CA\nfingerprint, one line per "
     "request. See docs/api.md.",
     "sealtrain --as admin --key admin.pem serve --listen 127.0.0.1:8443"},

    {"age", "keygen", "[-o FILE]", "Writes a new age X25519 identity.",
     "sealtrain age keygen -o me.age"},
    {"age", "encrypt",
     "(-r RECIPIENT | -R FILE)... [-a] [-o OUT] [IN]  |  -p "
     "[--passphrase-file FILE] [-a] [-o OUT] [IN]",
     "Encrypts to age recipients or a passphrase (age v1).",
     "sealtrain age encrypt -r age1... -o data.age data.csv"},
    {"age", "decrypt",
     "(-i IDENTITY_FILE)... [--passphrase-file FILE] [-j THREADS] [-o OUT] "
     "[IN]",
     "Decrypts an age v1 file.",
     "sealtrain age decrypt -i me.age -o data.csv data.age"},
    {"age", "inspect", "FILE", "Shows an age file's header and stanzas.",
     "sealtrain age inspect data.age"},

    {"principal", "add",
     "NAME --role ROLE... --signing-key PEM [--recipient age1...]",
     "Registers a principal with its roles and keys (admin).",
     "sealtrain --as admin --key admin.pem principal add mo --role "
     "model-owner --signing-key mo.pub.pem"},
    {"principal", "list", "[--json]", "Lists the principals.",
     "sealtrain --as admin --key admin.pem principal list --json"},
    {"principal", "show", "NAME [--json]", "Shows one principal.",
     "sealtrain --as admin --key admin.pem principal show mo"},
    {"principal", "grant", "GRANTEE RESOURCE PERMISSION",
     "Grants a permission on a resource you own.",
     "sealtrain --as dana --key dana.pem principal grant mo dataset:digits "
     "use"},
    {"principal", "revoke", "GRANTEE RESOURCE PERMISSION", "Revokes a grant.",
     "sealtrain --as dana --key dana.pem principal revoke mo dataset:digits "
     "use"},
    {"principal", "disable", "NAME",
     "Disables a principal: its keys and certificates stop working (admin).",
     "sealtrain --as admin --key admin.pem principal disable eve"},
    {"principal", "enable", "NAME", "Enables a disabled principal (admin).",
     "sealtrain --as admin --key admin.pem principal enable eve"},
    {"principal", "matrix", "[--json]",
     "Prints the role x action permission table.",
     "sealtrain principal matrix --json"},
    {"principal", "cert", "NAME --out DIR [--days N]",
     "Issues NAME's client certificate for `serve` into DIR (created when "
     "missing), with DIR/ca.crt (admin).",
     "sealtrain --as admin --key admin.pem principal cert mo --out certs"},

    {"audit", "show",
     "[--category C] [--since T] [--actor NAME] [--outcome O] [--limit N] "
     "[--json]",
     "Shows audit entries; control characters are printed escaped.",
     "sealtrain --as aud --key aud.pem audit show --since 2h"},
    {"audit", "verify", "[--vkey VKEY] [--json]",
     "Recomputes the Merkle tree and checks every signed checkpoint (with "
     "--server: on a copy of the server's log, under --vkey).",
     "sealtrain --as aud --key aud.pem audit verify"},
    {"audit", "checkpoint", "[--json]",
     "Signs a checkpoint (C2SP tlog-checkpoint) of the log.",
     "sealtrain --as aud --key aud.pem audit checkpoint --json"},
    {"audit", "prove", "--index N",
     "Prints an inclusion proof of entry N against the latest checkpoint.",
     "sealtrain --as aud --key aud.pem audit prove --index 3 > proof.json"},
    {"audit", "consistency", "--from SIZE",
     "Prints a consistency proof from an older tree size.",
     "sealtrain --as aud --key aud.pem audit consistency --from 10"},
    {"audit", "check-proof", "FILE [--vkey VKEY]",
     "Checks a proof file; with --vkey no workspace is needed.",
     "sealtrain audit check-proof proof.json --vkey log.vkey"},
    {"audit", "export", "--format jsonl|csv [--output FILE]",
     "Exports the log; CSV cells that would run as spreadsheet formulas are "
     "neutralised.",
     "sealtrain --as aud --key aud.pem audit export --format csv --output "
     "audit.csv"},
    {"audit", "vkey", "", "Prints the log's verifier key.",
     "sealtrain --as aud --key aud.pem audit vkey > log.vkey"},
    {"audit", "repair", "",
     "Cuts a torn last entry after a crash (never an acknowledged one).",
     "sealtrain --as admin --key admin.pem audit repair"},

    {"attest", "evidence",
     "--tee sim|tpm|snp|tdx --report-data HEX -o FILE [--platform-key PEM] "
     "[--tcti TCTI] [--job SPEC] [--dataset FILE]... [--tsm-root DIR]",
     "Produces TEE evidence bound to 64 bytes of report data.",
     "sealtrain attest evidence --tee sim --report-data 00 -o ev.json"},
    {"attest", "verify",
     "--evidence BUNDLE [--ak PUBKEY] [--platform-key PEM] | --tee T ... "
     "[--report-data HEX | --nonce HEX] [--policy FILE] [--at RFC3339] "
     "[--json]",
     "Verifies evidence and prints the verdict with its claim-by-claim "
     "trace; exit 4 when it fails.",
     "sealtrain attest verify --evidence ev.json --policy policy.json"},
    {"attest", "measure", "[--job SPEC] [--dataset FILE]... [--json]",
     "Prints the measurements a job's evidence must carry.",
     "sealtrain attest measure --job job.json --json"},
    {"attest", "show", "FILE [--tee T] [--json]",
     "Decodes a piece of evidence.", "sealtrain attest show ev.json"},
    {"attest", "enroll", "--tee tpm [--tcti TCTI] [--replace]",
     "Enrolls this machine's TPM attestation key.",
     "sealtrain attest enroll --tee tpm"},
    {"attest", "collateral",
     "import BUNDLE | list [--json] | show DIGEST [--json] | rm DIGEST",
     "Offline AMD/Intel collateral that verify and the key broker use when "
     "evidence carries none; the importing admin signs it.",
     "sealtrain --as root --key root.pem attest collateral import "
     "bundle.json"},

    {"key", "create", "NAME [--rotation-days N]", "Creates a KEK owned by you.",
     "sealtrain --as dana --key dana.pem key create owner.dana"},
    {"key", "list", "[--json]", "Lists KEKs and their versions.",
     "sealtrain --as dana --key dana.pem key list"},
    {"key", "show", "NAME [--json]", "Shows one KEK.",
     "sealtrain --as dana --key dana.pem key show owner.dana"},
    {"key", "rotate", "NAME", "Adds a new active version of a KEK.",
     "sealtrain --as dana --key dana.pem key rotate owner.dana"},
    {"key", "retire", "NAME --version V",
     "Retires a KEK version (still decrypts, no new wraps).",
     "sealtrain --as dana --key dana.pem key retire owner.dana --version 1"},
    {"key", "revoke", "NAME --version V",
     "Revokes a KEK version: what it wraps is no longer decryptable.",
     "sealtrain --as dana --key dana.pem key revoke owner.dana --version 1"},

    {"identity", "new", "NAME --out DIR [--json]",
     "Creates NAME's age identity and Ed25519 signing key in DIR.",
     "sealtrain identity new dana --out keys"},

    {"data", "import",
     "FILE --name NAME --label COL --owner PRINCIPAL --classification C "
     "--recipient age1... [--format csv|libsvm|idx] [--retention-days N] "
     "[--json]",
     "Validates, encrypts and registers a dataset (CSV, LIBSVM or IDX, "
     "each also gzip-compressed); bad input is refused before anything is "
     "written.",
     "sealtrain --as dana --key dana.pem data import digits.csv --name "
     "digits --label label --owner dana --classification confidential "
     "--recipient age1..."},
    {"data", "import-encrypted", "FILE --manifest ENVELOPE",
     "Registers a dataset encrypted on the owner's machine.",
     "sealtrain --as dana --key dana.pem data import-encrypted digits.age "
     "--manifest digits.manifest.json"},
    {"data", "set-broker",
     "NAME (--broker URL (--broker-pin SHA256 | --broker-cert PEM) | --none) "
     "[--signing-key PEM]",
     "Names the key broker that releases NAME's key (--none: this "
     "workspace's).",
     "sealtrain --as dana --key dana.pem data set-broker digits --none"},
    {"data", "list", "[--json]", "Lists the datasets you may see.",
     "sealtrain --as dana --key dana.pem data list"},
    {"data", "show", "NAME [--identity FILE] [--json]",
     "Shows a dataset's manifest: schema, feature names, how the labels "
     "were numbered; with --identity (an age identity of one of import's "
     "--recipients) the label mapping, decrypted from the dataset.",
     "sealtrain --as dana --key dana.pem data show digits --json"},
    {"data", "verify", "[--deep] NAME [--json]",
     "Checks a dataset's signature, digests and header.",
     "sealtrain --as dana --key dana.pem data verify --deep digits"},
    {"data", "rewrap", "NAME | --all [--signing-key PEM]",
     "Rewraps file keys under the KEK's active version (header only).",
     "sealtrain --as dana --key dana.pem data rewrap digits"},
    {"data", "reencrypt", "NAME [--signing-key PEM]",
     "Re-encrypts a dataset under a new file key.",
     "sealtrain --as dana --key dana.pem data reencrypt digits"},
    {"data", "rm", "NAME", "Crypto-shreds and removes a dataset.",
     "sealtrain --as dana --key dana.pem data rm digits"},
    {"data", "policy set", "NAME FILE",
     "Sets a dataset's release policy, signed with its owner's --key (with "
     "--server: signed here, verified by the server under the owner's "
     "registered key).",
     "sealtrain --as dana --key dana.pem data policy set digits policy.json"},
    {"data", "policy show", "NAME [--json]",
     "Shows a dataset's release policy.",
     "sealtrain --as dana --key dana.pem data policy show digits"},

    {"job", "submit", "SPEC [--json]",
     "Signs a job spec and queues it, after checking what a run would: "
     "the datasets exist and the submitter may use them, their release "
     "policies allow the recipients, and the model fits their shape and "
     "classes (docs/jobs.md, \"Checked at submit\").",
     "sealtrain --as mo --key mo.pem job submit job.json"},
    {"job", "run", "SPEC|ID [--json]",
     "Runs a job in the foreground (a SPEC file is submitted first).",
     "sealtrain --as mo --key mo.pem job run job.json"},
    {"job", "list", "[--json]", "Lists jobs, newest first.",
     "sealtrain --as mo --key mo.pem job list"},
    {"job", "status", "ID [--json]",
     "A job's state, sandbox measures, attestation and resources.",
     "sealtrain --as mo --key mo.pem job status j0123456789abcde"},
    {"job", "logs", "ID [--follow]",
     "Prints a job's log (text; --follow until the job ends).",
     "sealtrain --as mo --key mo.pem job logs j0123456789abcde --follow"},
    {"job", "cancel", "ID [--json]", "Asks a job to stop.",
     "sealtrain --as mo --key mo.pem job cancel j0123456789abcde"},
    {"job", "resume", "ID [--json]",
     "Runs a stopped job again from its last checkpoint (with --server: "
     "queues it for the server's runner, which continues from the "
     "checkpoint).",
     "sealtrain --as mo --key mo.pem job resume j0123456789abcde"},
    {"job", "report", "ID [--html FILE] [--svg DIR]",
     "Writes a job's training report: one self-contained HTML page (curves, "
     "confusion matrix, feature importances, hyperparameters, digests, "
     "attestation) and/or its charts as .svg files. No weights, no rows.",
     "sealtrain --as mo --key mo.pem job report j0123456789abcde --html "
     "report.html"},

    {"model", "list", "[--json]", "Lists registered models.",
     "sealtrain --as mo --key mo.pem model list"},
    {"model", "show", "NAME[@VERSION] [--json]",
     "Shows a model version and its lineage.",
     "sealtrain --as mo --key mo.pem model show digits-mlp@1"},
    {"model", "verify",
     "NAME[@VERSION] [--policy FILE] [--json] | FILE --provenance FILE "
     "[--policy FILE] [--sim-key PEM] [--json]",
     "Verifies a model's provenance and the attestation behind it.",
     "sealtrain --as mo --key mo.pem model verify digits-mlp"},
    {"model", "decrypt", "NAME[@VERSION] -i IDENTITY -o OUT [--json]",
     "Decrypts a model with a recipient's identity.",
     "sealtrain --as mo --key mo.pem model decrypt digits-mlp -i mo.age -o "
     "model.safetensors"},
    {"model", "share", "NAME[@VERSION] --to age1... -i IDENTITY [--json]",
     "Re-encrypts a model to another approved recipient.",
     "sealtrain --as mo --key mo.pem model share digits-mlp --to age1... -i "
     "mo.age"},
    {"model", "rm", "NAME[@VERSION] [--json]",
     "Crypto-shreds and removes a model version.",
     "sealtrain --as mo --key mo.pem model rm digits-mlp@1"},
    {"model", "export",
     "NAME[@VERSION] -i IDENTITY --format onnx -o OUT [--json]",
     "Exports a model as ONNX.",
     "sealtrain --as mo --key mo.pem model export digits-mlp -i mo.age "
     "--format onnx -o model.onnx"},
    {"model", "evaluate",
     "NAME[@VERSION] --data DATASET -i IDENTITY [--tee sim|tpm] "
     "[--sandbox strict|relaxed] [--provenance FILE] [--json]",
     "Evaluates a model on an encrypted dataset inside the attested runtime "
     "(the dataset's policy must allow evaluate); prints and audits the "
     "metrics. With --server, this client verifies the runtime "
     "(--attest-policy) and wraps the model key to it.",
     "sealtrain --as mo --key mo.pem model evaluate digits-mlp --data "
     "digits-test -i mo.age"},
    {"model", "predict",
     "NAME[@VERSION] (--data DATASET --out FILE.age [--to age1...] | "
     "--input FILE.csv --out FILE.csv) -i IDENTITY [--tee sim|tpm] "
     "[--sandbox strict|relaxed] [--provenance FILE] [--json]",
     "Predicts on an encrypted dataset inside the attested runtime, sealed "
     "to you (the policy must allow predict); with --input, scores your own "
     "non-secret rows here, without an enclave.",
     "sealtrain --as mo --key mo.pem model predict digits-mlp --data "
     "digits-test -i mo.age --out predictions.age"},
    {"model", "verify-use",
     "OUTPUT --provenance FILE [--policy FILE] [--sim-key PEM] [--json]",
     "Verifies the signed statement of an evaluate or predict against its "
     "output (the sealed predictions, or the evaluate --json output) and "
     "the attestation behind it.",
     "sealtrain model verify-use predictions.age --provenance use.json "
     "--policy attest.json"},
};

#define NLEAVES (sizeof(leaves) / sizeof(leaves[0]))

static const char exit_text[] =
    "  0  success (for verifiers: the verdict passed)\n"
    "  2  usage: unknown command or option, missing argument\n"
    "  3  input: a malformed or invalid file; an unknown or existing name\n"
    "  4  denied: authentication, integrity, attestation or policy "
    "failure, missing permission\n"
    "  5  system: I/O errors, memory, a missing device, an internal error\n"
    "  6  cancelled\n";

static void print_leaf(const leaf *l, FILE *out)
{
    fprintf(out, "usage: sealtrain %s%s%s %s\n\n%s\n\n", l->group,
            l->name ? " " : "", l->name ? l->name : "", l->synopsis, l->what);
    fprintf(out, "Global options (before the command): --workspace DIR, --as "
                 "NAME, --key FILE,\n--server URL, --log-level L, --log-json, "
                 "-q (see `sealtrain --help`).\n\n");
    fprintf(out, "Example:\n  %s\n\nExit status:\n%s", l->example, exit_text);
    fprintf(out, "\nMore: man sealtrain-%s, docs/cli.md.\n", l->group);
}

/* The leaf named by argv[1] (and argv[2] for "data policy set"). */
static const leaf *find_leaf(const char *group, int argc, char **argv)
{
    for (size_t i = 0; i < NLEAVES; i++) {
        const leaf *l = &leaves[i];
        if (strcmp(l->group, group) || !l->name || argc < 2)
            continue;
        const char *sp = strchr(l->name, ' ');
        if (!sp && !strcmp(l->name, argv[1]))
            return l;
        size_t n = sp ? (size_t)(sp - l->name) : 0;
        if (sp && argc >= 3 && strlen(argv[1]) == n &&
            !strncmp(l->name, argv[1], n) && !strcmp(sp + 1, argv[2]))
            return l;
    }
    return NULL;
}

int st_cli_json_refused(const char *group, int argc, char **argv)
{
    int asked = 0;
    for (int i = 1; i < argc; i++)
        asked |= !strcmp(argv[i], "--json");
    if (!asked)
        return -1;
    const leaf *l = find_leaf(group, argc, argv);
    for (size_t i = 0; !l && i < NLEAVES; i++)
        if (!leaves[i].name && !strcmp(leaves[i].group, group))
            l = &leaves[i]; /* a command without subcommands */
    if (!l || strstr(l->synopsis, "--json"))
        return -1;
    return st_cli_usage(group,
                        "--json does not apply to `sealtrain %s%s%s`: it "
                        "prints no JSON (usage: sealtrain %s%s%s %s)",
                        l->group, l->name ? " " : "", l->name ? l->name : "",
                        l->group, l->name ? " " : "", l->name ? l->name : "",
                        l->synopsis);
}

int st_cli_leaf_help(const char *group, int argc, char **argv)
{
    if (!st_cli_wants_help(argc, argv))
        return -1;
    const leaf *l = find_leaf(group, argc, argv);
    for (size_t i = 0; !l && i < NLEAVES; i++)
        if (!leaves[i].name && !strcmp(leaves[i].group, group))
            l = &leaves[i]; /* a command without subcommands */
    if (!l)
        return -1;
    print_leaf(l, stdout);
    return 0;
}

/* ---- man pages ---- */

/* Roff-escapes text: a leading '.' or '\'' and every backslash and '-'. */
static void roff(FILE *f, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", f);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
    }
}

static void man_exit(FILE *f)
{
    fputs(".SH EXIT STATUS\n", f);
    const char *p = exit_text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        char line[256];
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
        fputs(".TP\n", f);
        fprintf(f, "%.1s\n", line + 2);
        roff(f, line + 5);
        fputs("\n", f);
        p = nl + 1;
    }
}

static int man_group(const char *dir, const char *group, const char *about)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/sealtrain-%s.1", dir, group);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, ".TH SEALTRAIN-%s 1 \"\" sealtrain \"sealtrain manual\"\n",
            group);
    fprintf(f, ".SH NAME\nsealtrain\\-%s \\- ", group);
    roff(f, about);
    fputs("\n.SH SYNOPSIS\n", f);
    for (size_t i = 0; i < NLEAVES; i++) {
        if (strcmp(leaves[i].group, group))
            continue;
        fprintf(f, ".B sealtrain %s%s%s\n", group, leaves[i].name ? " " : "",
                leaves[i].name ? leaves[i].name : "");
        roff(f, leaves[i].synopsis);
        fputs("\n.br\n", f);
    }
    fputs(".SH COMMANDS\n", f);
    for (size_t i = 0; i < NLEAVES; i++) {
        if (strcmp(leaves[i].group, group))
            continue;
        fprintf(f, ".SS sealtrain %s%s%s\n", group, leaves[i].name ? " " : "",
                leaves[i].name ? leaves[i].name : "");
        roff(f, leaves[i].what);
        fputs("\n.PP\nExample:\n.PP\n.RS\n", f);
        roff(f, leaves[i].example);
        fputs("\n.RE\n", f);
    }
    man_exit(f);
    fputs(".SH SEE ALSO\n.BR sealtrain (1)\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

static int write_man(const char *dir, const st_cli_group_info *groups,
                     size_t ngroups)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "sealtrain: help: creating %s: %s\n", dir,
                strerror(errno));
        return 5;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/sealtrain.1", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return 5;
    fputs(".TH SEALTRAIN 1 \"\" sealtrain \"sealtrain manual\"\n"
          ".SH NAME\nsealtrain \\- train models on data the operators never "
          "see\n.SH SYNOPSIS\n.B sealtrain\n[\\-\\-workspace DIR] [\\-\\-as "
          "NAME] [\\-\\-key FILE] [\\-\\-log\\-level L] [\\-\\-log\\-json] "
          "[\\-q] [\\-\\-server URL] COMMAND ...\n.SH COMMANDS\n",
          f);
    for (size_t g = 0; g < ngroups; g++) {
        fprintf(f, ".TP\n.B %s\n", groups[g].name);
        roff(f, groups[g].about);
        fprintf(f, " (see\n.BR sealtrain\\-%s (1))\n", groups[g].name);
    }
    man_exit(f);
    fputs(".SH SEE ALSO\n", f);
    for (size_t g = 0; g < ngroups; g++)
        fprintf(f, ".BR sealtrain\\-%s (1)%s\n", groups[g].name,
                g + 1 < ngroups ? "," : "");
    if (fclose(f) != 0)
        return 5;
    for (size_t g = 0; g < ngroups; g++)
        if (man_group(dir, groups[g].name, groups[g].about) != 0)
            return 5;
    return 0;
}

/* ---- completion ---- */

/* Every distinct "--option" word of a group's synopses (or of one leaf's),
 * space-separated. */
static void options_of(const char *group, const char *name, char *out,
                       size_t cap)
{
    out[0] = 0;
    for (size_t i = 0; i < NLEAVES; i++) {
        const leaf *l = &leaves[i];
        if (strcmp(l->group, group) ||
            (name && (!l->name || strcmp(l->name, name))))
            continue;
        for (const char *p = l->synopsis; (p = strstr(p, "--"));) {
            size_t n = 2;
            while (p[n] && (p[n] == '-' || (p[n] >= 'a' && p[n] <= 'z')))
                n++;
            char w[64];
            snprintf(w, sizeof(w), " %.*s ", (int)n, p);
            char pad[4100];
            snprintf(pad, sizeof(pad), " %s ", out);
            if (n > 2 && !strstr(pad, w) && strlen(out) + n + 2 < cap) {
                if (out[0])
                    strcat(out, " ");
                strncat(out, p, n);
            }
            p += n;
        }
    }
    if (strlen(out) + 8 < cap)
        strcat(out, out[0] ? " --help" : "--help");
}

/* The leaf words of a group (first words only: "policy" for data). */
static void leaves_of(const char *group, char *out, size_t cap)
{
    out[0] = 0;
    for (size_t i = 0; i < NLEAVES; i++) {
        const leaf *l = &leaves[i];
        if (strcmp(l->group, group) || !l->name)
            continue;
        char w[64];
        snprintf(w, sizeof(w), "%.*s", (int)strcspn(l->name, " "), l->name);
        char pad[4100], ww[70];
        snprintf(pad, sizeof(pad), " %s ", out);
        snprintf(ww, sizeof(ww), " %s ", w);
        if (!strstr(pad, ww) && strlen(out) + strlen(w) + 2 < cap) {
            if (out[0])
                strcat(out, " ");
            strcat(out, w);
        }
    }
}

static void completion_bash(const st_cli_group_info *groups, size_t ngroups)
{
    char buf[4096];
    printf("# bash completion for sealtrain (generated by `sealtrain help "
           "--completion bash`)\n_sealtrain() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} i group= sub=\n"
           "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
           "        case ${COMP_WORDS[i]} in\n"
           "        --workspace | --as | --key | --log-level | --server) "
           "((i++)) ;;\n"
           "        -*) ;;\n"
           "        *) if [ -z \"$group\" ]; then group=${COMP_WORDS[i]}; "
           "elif [ -z \"$sub\" ]; then sub=${COMP_WORDS[i]}; fi ;;\n"
           "        esac\n    done\n"
           "    local words\n    if [ -z \"$group\" ]; then\n"
           "        case $cur in\n"
           "        -*) words=\"--workspace --as --key --log-level --log-json "
           "--quiet --server --help --version\" ;;\n"
           "        *) words=\"");
    for (size_t g = 0; g < ngroups; g++)
        printf("%s%s", g ? " " : "", groups[g].name);
    printf("\" ;;\n        esac\n    else\n        case $group in\n");
    for (size_t g = 0; g < ngroups; g++) {
        leaves_of(groups[g].name, buf, sizeof(buf));
        printf("        %s)\n", groups[g].name);
        if (buf[0])
            printf("            if [ -z \"$sub\" ] && [[ $cur != -* ]]; then "
                   "words=\"%s\"\n            else\n                case "
                   "$sub in\n",
                   buf);
        for (size_t i = 0; buf[0] && i < NLEAVES; i++) {
            const leaf *l = &leaves[i];
            if (strcmp(l->group, groups[g].name) || !l->name ||
                strchr(l->name, ' '))
                continue;
            char opts[4096];
            options_of(l->group, l->name, opts, sizeof(opts));
            printf("                %s) words=\"%s\" ;;\n", l->name, opts);
        }
        char all[4096];
        options_of(groups[g].name, NULL, all, sizeof(all));
        if (buf[0])
            printf("                *) words=\"%s\" ;;\n                esac\n"
                   "            fi ;;\n",
                   all);
        else
            printf("            words=\"%s\" ;;\n", all);
    }
    printf("        esac\n    fi\n"
           "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\n"
           "complete -o default -F _sealtrain sealtrain\n");
}

static void completion_zsh(const st_cli_group_info *groups, size_t ngroups)
{
    char buf[4096];
    printf("#compdef sealtrain\n# zsh completion for sealtrain (generated by "
           "`sealtrain help --completion zsh`)\n_sealtrain() {\n"
           "    local -a groups subs opts\n    groups=(\n");
    for (size_t g = 0; g < ngroups; g++) {
        printf("        '%s:", groups[g].name);
        for (const char *p = groups[g].about; *p; p++)
            printf(*p == '\'' ? "'\\''" : "%c", *p);
        printf("'\n");
    }
    printf("    )\n    if (( CURRENT == 2 )); then\n"
           "        _describe 'command' groups\n        return\n    fi\n"
           "    case ${words[2]} in\n");
    for (size_t g = 0; g < ngroups; g++) {
        leaves_of(groups[g].name, buf, sizeof(buf));
        char all[4096];
        options_of(groups[g].name, NULL, all, sizeof(all));
        printf("    %s)\n        subs=(%s)\n        opts=(%s)\n"
               "        if (( CURRENT == 3 )) && (( ${#subs} )); then\n"
               "            compadd -a subs\n        else\n"
               "            compadd -a opts\n            _files\n        fi "
               ";;\n",
               groups[g].name, buf, all);
    }
    printf("    esac\n}\nif [ \"$funcstack[1]\" = _sealtrain ]; then\n"
           "    _sealtrain \"$@\"\nelse\n    compdef _sealtrain sealtrain\n"
           "fi\n");
}

int st_cli_help(const st_cli_group_info *groups, size_t ngroups, int argc,
                char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--man"))
        return write_man(argv[2], groups, ngroups);
    if (argc == 3 && !strcmp(argv[1], "--completion")) {
        if (!strcmp(argv[2], "bash"))
            completion_bash(groups, ngroups);
        else if (!strcmp(argv[2], "zsh"))
            completion_zsh(groups, ngroups);
        else
            return st_cli_usage("help", "--completion takes bash or zsh");
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (size_t i = 0; i < NLEAVES; i++)
            printf("%s%s%s\n", leaves[i].group, leaves[i].name ? " " : "",
                   leaves[i].name ? leaves[i].name : "");
        return 0;
    }
    if (argc >= 2 && argv[1][0] != '-') {
        for (size_t i = 0; i < NLEAVES; i++) {
            const leaf *l = &leaves[i];
            if (strcmp(l->group, argv[1]))
                continue;
            if (argc == 2 && !l->name) {
                print_leaf(l, stdout);
                return 0;
            }
            if (argc >= 3 && l->name) {
                const leaf *m = find_leaf(argv[1], argc - 1, argv + 1);
                if (m) {
                    print_leaf(m, stdout);
                    return 0;
                }
                break;
            }
        }
        if (argc == 2) {
            for (size_t i = 0; i < NLEAVES; i++)
                if (!strcmp(leaves[i].group, argv[1]) && leaves[i].name)
                    printf("sealtrain %s %s %s\n", argv[1], leaves[i].name,
                           leaves[i].synopsis);
            return 0;
        }
        return st_cli_usage("help", "no command \"%s %s\"", argv[1],
                            argc > 2 ? argv[2] : "");
    }
    if (argc == 1 ||
        (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))) {
        printf("usage: sealtrain help [GROUP [COMMAND]]\n"
               "       sealtrain help --list | --man DIR | --completion "
               "bash|zsh\n\nPrints a command's help; --list names every "
               "command; --man writes the man\npages into DIR and "
               "--completion the shell completion script (the build\n"
               "does both).\n");
        return 0;
    }
    return st_cli_usage("help", "unknown option \"%s\"", argv[1]);
}
