/*
 * cmd_attest.c: `sealtrain attest`: produce evidence, verify evidence,
 * reference measurements, and show every parsed field.
 *
 *   attest evidence --tee sim|tpm|snp|tdx --report-data HEX -o FILE
 *   attest verify   --tee T (files) | --evidence BUNDLE  [--policy FILE]
 *                   [--report-data HEX | --nonce HEX] [--at RFC3339] [--json]
 *                   (an option the chosen evidence does not use is refused:
 *                   nothing on the command line is silently ignored)
 *   attest measure  [--job SPEC] [--dataset FILE ...]
 *   attest show     FILE [--tee T] [--json]
 *   attest ear-key  [--jwk]
 *   attest collateral import|list|show|rm (cmd_attest_collateral.c)
 *   (verify --ear FILE: the verdict as an EAR signed with the workspace's
 *   verifier key, draft-ietf-rats-ear; src/attest/ear.c)
 *
 * Exit status: 0 verdict passed, 4 verdict failed (the first failing
 * claim is printed), 3 malformed input (evidence, policy files), 2 usage
 * (unknown option or --tee, a bad --at, --nonce or --report-data value),
 * 5 system.
 *
 * The verifier never reads the clock: this command passes either --at or
 * the current time. The CLI uses only include/sealtrain/.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

#define MAX_FILE (16u << 20)
#define MAX_LIST 16

static void attest_usage(FILE *out)
{
    fprintf(
        out,
        "usage: sealtrain attest COMMAND ...\n\n"
        "  evidence --tee sim|tpm|snp|tdx --report-data HEX -o FILE\n"
        "           [--platform-key PEM] (sim) [--tcti TCTI] [--job SPEC]\n"
        "           [--dataset FILE ...] (tpm) [--tsm-root DIR] (snp, tdx)\n"
        "  verify --evidence BUNDLE [--ak PUBKEY] [--platform-key PEM]\n"
        "  verify --tee snp --report FILE [--cert VCEK_or_VLEK] "
        "[--chain ASK_ARK_PEM]\n"
        "  verify --tee tpm --quote TPMS_ATTEST --signature FILE --ak PUBKEY\n"
        "         [--pcrs FILE] [--log FILE]\n"
        "  verify --tee az-snp-vtpm --hcl-report FILE --cert VCEK --quote F "
        "--signature F\n"
        "         [--pcrs FILE] [--chain PEM]\n"
        "  verify --tee az-tdx-vtpm --hcl-report FILE --td-quote FILE "
        "--quote F\n"
        "         --signature F [--pcrs FILE] [TDX collateral: --tcb-info "
        "F\n"
        "         --qe-identity F --chain F [--crl F ...] | --collateral F]\n"
        "  verify --tee tdx|sgx --quote FILE --tcb-info FILE --qe-identity "
        "FILE\n"
        "         --chain TCB_SIGNING_PEM [--crl FILE ...]   (docs/dcap.md)\n"
        "  verify --tee tdx|sgx --quote FILE --collateral DCAP_QVL_JSON\n"
        "  verify --tee tdx|sgx --quote FILE   (no collateral: the quote, PCK\n"
        "         chain and QE report are checked; the collateral claim "
        "fails)\n"
        "    common: [--report-data HEX | --nonce HEX] [--policy FILE]\n"
        "            [--at RFC3339] [--data-dir DIR] [--json]\n"
        "            [--ear FILE]   the verdict as a signed EAR (JWT)\n"
        "  ear-key [--jwk]   the EAR verification key for relying parties\n"
        "  collateral import BUNDLE | list | show DIGEST | rm DIGEST\n"
        "           offline AMD/Intel collateral that verify uses when the\n"
        "           evidence carries none (signed by the importing admin)\n"
        "  measure [--job SPEC] [--dataset FILE ...] [--json]\n"
        "  show FILE [--tee T] [--json]\n"
        "  enroll --tee tpm [--tcti TCTI] [--replace]   pin this platform's\n"
        "         TPM attestation key in the workspace (what key release\n"
        "         trusts for tpm evidence)\n\n"
        "Exit status: 0 verdict passed, 4 verdict failed, 3 malformed "
        "input,\n2 usage (unknown option or TEE, bad --at/--nonce/"
        "--report-data).\n"
        "Evidence parts, the policy language and examples: "
        "docs/attestation.md\n");
}

static int fail(st_err *err)
{
    return st_cli_fail(err);
}

static ST_MUST_CHECK st_code add_file(st_evidence *ev, const char *part,
                                      const char *path, st_err *err)
{
    unsigned char *b;
    size_t n;
    st_code rc = st_fs_read_all(path, MAX_FILE, &b, &n, err);
    if (rc != ST_OK)
        return rc;
    rc = st_evidence_set(ev, part, b, n, err);
    free(b);
    return rc;
}

static ST_MUST_CHECK st_code parse_report_data(const char *hex, uint8_t out[64],
                                               st_err *err)
{
    if (strlen(hex) != 128 || st_hex_decode(hex, out, 64, err) != ST_OK)
        return st_err_set(err, ST_E_USAGE,
                          "--report-data: expected 128 hex digits (64 "
                          "bytes)");
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_nonce(const char *hex, uint8_t out[64],
                                         st_err *err)
{
    size_t n = strlen(hex);
    memset(out, 0, 64);
    if (n == 0 || n % 2 || n > 128 || st_hex_decode(hex, out, n / 2, err))
        return st_err_set(err, ST_E_USAGE,
                          "--nonce: expected 1-64 bytes of hex");
    return ST_OK;
}

/* --tee NAME: an unknown name is a usage error (exit 2), like an unknown
 * option; malformed input (exit 3) is for evidence and policy files. */
static ST_MUST_CHECK st_code parse_tee_arg(const char *name, st_tee *out,
                                           st_err *err)
{
    st_code rc = st_tee_parse(name, out, err);
    if (rc == ST_E_INPUT) {
        err->code = ST_E_USAGE;
        st_err_prefix(err, "--tee");
        return ST_E_USAGE;
    }
    return rc;
}

/* A key file under the workspace's keys/ directory. */
static ST_MUST_CHECK st_code ws_key_path(st_cli *cli, const char *name,
                                         char *out, size_t cap, st_err *err)
{
    char dir[4096];
    st_workspace *ws = NULL;
    st_code rc =
        st_workspace_default_dir(cli->workspace, dir, sizeof(dir), err);
    if (rc == ST_OK)
        rc = st_workspace_open(dir, &ws, err);
    if (rc == ST_OK)
        rc = st_workspace_path(ws, "keys", name, out, cap, err);
    st_workspace_close(ws);
    return rc;
}

/* The workspace key file of the sim platform (keys/sim-platform.pem). */
static st_code sim_key_path(st_cli *cli, char *out, size_t cap, st_err *err)
{
    st_code rc = ws_key_path(cli, "sim-platform.pem", out, cap, err);
    if (rc != ST_OK)
        st_err_prefix(err, "sim platform key (use --platform-key or a "
                           "workspace)");
    return rc;
}

/* The workspace's EAR verifier key (keys/ear-verifier.pem, Ed25519,
 * created 0600 on first use): what relying parties pin to trust our EARs
 * (`attest ear-key`). The seed goes into secure memory the caller frees. */
static st_code ear_key(st_cli *cli, uint8_t **seed, uint8_t pub[32],
                       st_err *err)
{
    char path[4096];
    st_code rc = ws_key_path(cli, "ear-verifier.pem", path, sizeof(path), err);
    if (rc != ST_OK)
        return st_err_prefix(err, "EAR verifier key (needs a workspace)");
    if (!(*seed = st_secmem_alloc(32, err)))
        return err->code;
    rc = st_ear_key_load(path, 1, *seed, pub, err);
    if (rc != ST_OK) {
        st_secmem_free(*seed);
        *seed = NULL;
    }
    return rc;
}

/* Signs the verdict as an EAR into `path` (atomically, 0644: it is public
 * by design). */
static st_code write_ear(st_cli *cli, const st_verdict *v,
                         const st_evidence *ev, const st_attest_policy *policy,
                         const uint8_t *nonce, size_t nonce_len,
                         const char *path, st_err *err)
{
    uint8_t *seed = NULL, pub[32];
    char pid[80], *jwt = NULL;
    st_code rc = ear_key(cli, &seed, pub, err);
    if (rc != ST_OK)
        return rc;
    st_attest_policy_id(policy, pid);
    st_ear_inputs in = {.iat = (int64_t)time(NULL),
                        .nonce = nonce,
                        .nonce_len = nonce_len,
                        .policy_id = pid,
                        .ev = ev};
    rc = st_ear_encode(v, &in, seed, &jwt, err);
    st_secmem_free(seed);
    if (rc == ST_OK)
        rc = st_fs_write_atomic(path, jwt, strlen(jwt), 0644, err);
    if (rc != ST_OK)
        st_err_prefix(err, "--ear %s", path);
    free(jwt);
    return rc;
}

/* ---- measurements --------------------------------------------------- */

struct measure {
    st_measure_item items[2 + MAX_LIST];
    char names[2 + MAX_LIST][4096];
    size_t n;
};

static ST_MUST_CHECK st_code measure_collect(const char *job,
                                             const char **datasets, size_t nds,
                                             struct measure *m, st_err *err)
{
    memset(m, 0, sizeof(*m));
    st_code rc = st_attest_self_measurement(m->items[0].sha256, err);
    if (rc != ST_OK)
        return rc;
    m->items[0].type = "runtime";
    snprintf(m->names[0], sizeof(m->names[0]), "sealtrain %s", st_version());
    m->items[0].name = m->names[0];
    m->n = 1;
    if (job) {
        if ((rc = st_sha256_file(job, m->items[m->n].sha256, err)) != ST_OK)
            return rc;
        m->items[m->n].type = "job";
        snprintf(m->names[m->n], sizeof(m->names[0]), "%s", job);
        m->items[m->n].name = m->names[m->n];
        m->n++;
    }
    for (size_t i = 0; i < nds; i++) {
        if ((rc = st_sha256_file(datasets[i], m->items[m->n].sha256, err)) !=
            ST_OK)
            return rc;
        m->items[m->n].type = "dataset";
        snprintf(m->names[m->n], sizeof(m->names[0]), "%s", datasets[i]);
        m->items[m->n].name = m->names[m->n];
        m->n++;
    }
    return ST_OK;
}

static int cmd_measure(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"job", required_argument, NULL, 'j'},
        {"dataset", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *job = NULL, *ds[MAX_LIST];
    size_t nds = 0;
    int json = cli->json, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': job = optarg; break;
        case 'd':
            if (nds == MAX_LIST)
                return st_cli_usage("attest", "at most %d --dataset", MAX_LIST);
            ds[nds++] = optarg;
            break;
        case 'J': json = 1; break;
        case 'h':
            printf("usage: sealtrain attest measure [--job SPEC] [--dataset "
                   "FILE ...] [--json]\n\nPrints the reference measurements "
                   "of this build for a policy:\nthe SHA-256 of the running "
                   "sealtrain binary (the \"measurement\" of\nsim and tpm "
                   "evidence), of the job spec and datasets, and the value\n"
                   "the TPM application PCR %d holds after they are "
                   "extended.\n",
                   ST_TPM_APP_PCR);
            return 0;
        default: return st_cli_usage("attest", "unknown option");
        }
    }
    st_err err;
    st_err_clear(&err);
    struct measure m;
    if (measure_collect(job, ds, nds, &m, &err) != ST_OK)
        return fail(&err);
    uint8_t pcr[32] = {0}, buf[64];
    json_t *items = json_array();
    for (size_t i = 0; i < m.n; i++) {
        memcpy(buf, pcr, 32);
        memcpy(buf + 32, m.items[i].sha256, 32);
        st_sha256(buf, 64, pcr);
        char hex[65];
        st_hex_encode(m.items[i].sha256, 32, hex);
        json_array_append_new(items, json_pack("{s:s, s:s, s:s}", "type",
                                               m.items[i].type, "name",
                                               m.items[i].name, "sha256", hex));
    }
    char rt[65], ph[65];
    st_hex_encode(m.items[0].sha256, 32, rt);
    st_hex_encode(pcr, 32, ph);
    if (json) {
        json_t *o =
            json_pack("{s:s, s:o, s:{s:i, s:s}}", "measurement", rt, "items",
                      items, "tpm", "pcr", ST_TPM_APP_PCR, "sha256", ph);
        char *s = st_json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return 0;
    }
    printf("measurement (sha256 of this sealtrain binary): %s\n", rt);
    for (size_t i = 1; i < m.n; i++) {
        char hex[65];
        st_hex_encode(m.items[i].sha256, 32, hex);
        printf("%s %s: %s\n", m.items[i].type, m.items[i].name, hex);
    }
    printf("tpm sha256 PCR %d after replay: %s\n", ST_TPM_APP_PCR, ph);
    json_decref(items);
    return 0;
}

/* ---- evidence ------------------------------------------------------- */

static int cmd_evidence(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"tee", required_argument, NULL, 't'},
        {"report-data", required_argument, NULL, 'r'},
        {"output", required_argument, NULL, 'o'},
        {"platform-key", required_argument, NULL, 'k'},
        {"tcti", required_argument, NULL, 'T'},
        {"job", required_argument, NULL, 'j'},
        {"dataset", required_argument, NULL, 'd'},
        {"tsm-root", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *tee_s = NULL, *rd_s = NULL, *out = NULL, *key = NULL,
               *tcti = NULL, *job = NULL, *tsm = NULL, *ds[MAX_LIST];
    size_t nds = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': tee_s = optarg; break;
        case 'r': rd_s = optarg; break;
        case 'o': out = optarg; break;
        case 'k': key = optarg; break;
        case 'T': tcti = optarg; break;
        case 'j': job = optarg; break;
        case 'd':
            if (nds == MAX_LIST)
                return st_cli_usage("attest", "at most %d --dataset", MAX_LIST);
            ds[nds++] = optarg;
            break;
        case 's': tsm = optarg; break;
        case 'h': attest_usage(stdout); return 0;
        default: return st_cli_usage("attest", "unknown option");
        }
    }
    if (!tee_s || !rd_s || !out)
        return st_cli_usage("attest",
                            "evidence needs --tee, --report-data and -o");
    st_err err;
    st_err_clear(&err);
    st_tee tee;
    uint8_t rd[64];
    if (parse_tee_arg(tee_s, &tee, &err) || parse_report_data(rd_s, rd, &err))
        return fail(&err);
    st_evidence *ev = NULL;
    st_code rc = ST_OK;
    if (tee == ST_TEE_SIM) {
        char path[4096];
        uint8_t *seed = st_secmem_alloc(32, &err), pub[32], meas[32];
        if (!seed)
            return fail(&err);
        if (!key && (rc = sim_key_path(cli, path, sizeof(path), &err)) == 0)
            key = path;
        if (rc == ST_OK)
            rc = st_attest_sim_key(key, 1, seed, pub, &err);
        if (rc == ST_OK)
            rc = st_attest_self_measurement(meas, &err);
        if (rc == ST_OK)
            rc = st_attest_sim_evidence(seed, rd, meas, (int64_t)time(NULL),
                                        &ev, &err);
        st_secmem_free(seed);
    } else if (tee == ST_TEE_TPM) {
        struct measure m;
        rc = measure_collect(job, ds, nds, &m, &err);
        if (rc == ST_OK)
            rc = st_attest_tpm_evidence(tcti, rd, m.items, m.n, &ev, &err);
    } else if (tee == ST_TEE_SNP || tee == ST_TEE_TDX) {
        rc = st_attest_tsm_evidence(tee, tsm, rd, &ev, &err);
    } else {
        return st_cli_usage("attest", "evidence: --tee must be sim, tpm, snp "
                                      "or tdx");
    }
    if (rc == ST_OK) {
        st_evidence_set_created(ev, (int64_t)time(NULL));
        rc = st_evidence_save(ev, out, &err);
    }
    st_evidence_free(ev);
    if (rc != ST_OK)
        return fail(&err);
    if (!cli->quiet)
        fprintf(stderr, "wrote %s evidence to %s\n", tee_s, out);
    return 0;
}

/* ---- verify --------------------------------------------------------- */

struct vopts {
    const char *tee, *evidence, *report, *cert, *chain, *at, *rd, *nonce,
        *policy, *quote, *sig, *ak, *pcrs, *log, *hcl, *tcb_info, *qe_id,
        *platform_key, *data_dir, *collateral, *td_quote, *ear;
    const char *crl[MAX_LIST];
    size_t ncrl;
    int json;
};

struct file_part {
    const char *part, *path;
    int required;
};

/* tdx, sgx (src/attest/dcap*.c, docs/dcap.md): the quote and its
 * collateral, either Intel PCS TCB Info + QE Identity + the TCB signing
 * chain (--chain: the PCK chain travels inside the quote; all three or
 * none), or one dcap-qvl collateral JSON (--collateral); CRLs come as
 * crl.N below. Without collateral the verifier still checks the quote,
 * PCK chain and QE report, and the collateral claim fails. */
static size_t dcap_parts(const struct vopts *o, const char *qpart,
                         const char *qpath, struct file_part *files)
{
    int pcs = o->tcb_info || o->qe_id || o->chain;
    size_t n = 0;
    files[n++] = (struct file_part){qpart, qpath, 1};
    files[n++] = (struct file_part){"tcb_info", o->tcb_info, pcs};
    files[n++] = (struct file_part){"qe_identity", o->qe_id, pcs};
    files[n++] = (struct file_part){"tcb_chain", o->chain, pcs};
    files[n++] = (struct file_part){"collateral", o->collateral, 0};
    return n;
}

/* Which evidence uses each file option: every option given must be used
 * by the evidence it is given with, so nothing on the command line is
 * silently ignored (a --cert next to a TDX quote, a --chain next to a
 * bundle). TEE bits as in st_tee; BUNDLE for --evidence. */
#define TEE_BIT(t) (1u << (t))
#define BUNDLE (1u << 31)
static st_code check_unused(const struct vopts *o, st_tee tee, st_err *err)
{
    const unsigned azt = TEE_BIT(ST_TEE_AZ_TDX_VTPM),
                   dcap = TEE_BIT(ST_TEE_TDX) | TEE_BIT(ST_TEE_SGX) | azt,
                   az = TEE_BIT(ST_TEE_AZ_SNP_VTPM);
    const struct {
        const char *name;
        int given;
        unsigned used_by;
    } opt[] = {
        {"--report", !!o->report, TEE_BIT(ST_TEE_SNP)},
        {"--cert", !!o->cert, TEE_BIT(ST_TEE_SNP) | az},
        {"--chain", !!o->chain, TEE_BIT(ST_TEE_SNP) | az | dcap},
        {"--quote", !!o->quote, TEE_BIT(ST_TEE_TPM) | az | dcap},
        {"--signature", !!o->sig, TEE_BIT(ST_TEE_TPM) | az | azt},
        {"--pcrs", !!o->pcrs, TEE_BIT(ST_TEE_TPM) | az | azt},
        {"--log", !!o->log, TEE_BIT(ST_TEE_TPM)},
        {"--hcl-report", !!o->hcl, az | azt},
        {"--td-quote", !!o->td_quote, azt},
        {"--tcb-info", !!o->tcb_info, dcap},
        {"--qe-identity", !!o->qe_id, dcap},
        {"--crl", o->ncrl > 0, dcap},
        {"--collateral", !!o->collateral, dcap},
        /* a pinned key for the bundle's TEE is checked after loading */
        {"--ak", !!o->ak, TEE_BIT(ST_TEE_TPM) | BUNDLE},
        {"--platform-key", !!o->platform_key, BUNDLE},
    };
    unsigned bit = o->evidence ? BUNDLE : TEE_BIT(tee);
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
        if (opt[i].given && !(opt[i].used_by & bit))
            return st_err_set(err, ST_E_USAGE,
                              "verify: %s is not used with %s%s; refusing "
                              "rather than ignoring it",
                              opt[i].name,
                              o->evidence ? "--evidence" : "--tee ",
                              o->evidence ? "" : st_tee_name(tee));
    }
    if (o->collateral && (o->tcb_info || o->qe_id || o->chain))
        return st_err_set(err, ST_E_USAGE,
                          "verify: --collateral replaces --tcb-info, "
                          "--qe-identity and --chain; give one or the other");
    return ST_OK;
}
#undef BUNDLE
#undef TEE_BIT

/* Evidence from the per-TEE file options. */
static ST_MUST_CHECK st_code build_evidence(const struct vopts *o, st_tee tee,
                                            st_evidence **out, st_err *err)
{
    st_evidence *ev = st_evidence_new(tee, err);
    if (!ev)
        return ST_E_IO;
    st_code rc = ST_OK;
    struct file_part files[12];
    size_t n = 0;
#define FILE_PART(p, v, req)                                                   \
    files[n++] = (struct file_part)                                            \
    {                                                                          \
        p, v, req                                                              \
    }
    switch (tee) {
    case ST_TEE_SNP:
        FILE_PART("report", o->report, 1);
        FILE_PART("cert", o->cert, 0);
        FILE_PART("chain", o->chain, 0);
        break;
    case ST_TEE_TPM:
        FILE_PART("quote", o->quote, 1);
        FILE_PART("signature", o->sig, 1);
        FILE_PART("pcrs", o->pcrs, 0);
        FILE_PART("log", o->log, 0);
        break;
    case ST_TEE_AZ_SNP_VTPM:
        FILE_PART("hcl_report", o->hcl, 1);
        /* without --cert: from an offline collateral bundle */
        FILE_PART("vcek", o->cert, 0);
        FILE_PART("quote", o->quote, 1);
        FILE_PART("signature", o->sig, 1);
        FILE_PART("pcrs", o->pcrs, 0);
        FILE_PART("chain", o->chain, 0);
        break;
    case ST_TEE_TDX:
    case ST_TEE_SGX: n = dcap_parts(o, "quote", o->quote, files); break;
    case ST_TEE_AZ_TDX_VTPM:
        /* the TPM quote is "quote" as for az-snp-vtpm; the TD quote and
         * its collateral as for tdx */
        n = dcap_parts(o, "td_quote", o->td_quote, files);
        FILE_PART("hcl_report", o->hcl, 1);
        FILE_PART("quote", o->quote, 1);
        FILE_PART("signature", o->sig, 1);
        FILE_PART("pcrs", o->pcrs, 0);
        break;
    default:
        rc = st_err_set(err, ST_E_USAGE,
                        "verify --tee %s: use --evidence BUNDLE",
                        st_tee_name(tee));
    }
#undef FILE_PART
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        if (!files[i].path) {
            if (files[i].required)
                rc = st_err_set(err, ST_E_USAGE,
                                "verify --tee %s: missing the file for part "
                                "\"%s\"",
                                st_tee_name(tee), files[i].part);
            continue;
        }
        rc = add_file(ev, files[i].part, files[i].path, err);
    }
    for (size_t i = 0; rc == ST_OK && i < o->ncrl; i++) {
        char name[16];
        snprintf(name, sizeof(name), "crl.%zu", i);
        rc = add_file(ev, name, o->crl[i], err);
    }
    if (rc != ST_OK) {
        st_evidence_free(ev);
        return rc;
    }
    *out = ev;
    return ST_OK;
}

static int print_verdict(const st_verdict *v, int json)
{
    st_err err;
    st_err_clear(&err);
    if (json) {
        json_t *j = st_verdict_to_json(v);
        char *s = j ? st_json_dumps(j, JSON_INDENT(2)) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        st_buf b;
        st_buf_init(&b);
        if (st_verdict_render_text(v, &b, &err) == ST_OK && b.len)
            fwrite(b.data, 1, b.len, stdout);
        st_buf_free(&b);
    }
    if (v->pass)
        return 0;
    st_err_set(&err, ST_E_DENIED, "attestation failed: %s", v->reason);
    return st_cli_fail(&err);
}

/* 1 when the evidence carries collateral of its own, or needs none. */
static int has_collateral(const st_evidence *ev)
{
    static const char *const parts[] = {"vcek",      "vlek",        "cert",
                                        "tcb_info",  "qe_identity", "tcb_chain",
                                        "collateral"};
    st_tee tee = st_evidence_tee(ev);
    if (tee != ST_TEE_SNP && tee != ST_TEE_AZ_SNP_VTPM && tee != ST_TEE_TDX &&
        tee != ST_TEE_SGX && tee != ST_TEE_AZ_TDX_VTPM)
        return 1;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (st_evidence_get(ev, parts[i], NULL))
            return 1;
    return 0;
}

/* The workspace's offline collateral bundles, verified (none when there
 * is no workspace). */
static st_code load_bundles(st_cli *cli, st_collateral_bundle ***out, size_t *n,
                            st_err *err)
{
    char dir[4096];
    st_workspace *ws = NULL;
    st_code rc =
        st_workspace_default_dir(cli->workspace, dir, sizeof(dir), err);
    if (rc == ST_OK && (rc = st_workspace_open(dir, &ws, err)) == ST_E_NOTFOUND)
        return ST_OK;
    if (rc == ST_OK)
        rc = st_collateral_load_all(ws, out, n, err);
    st_workspace_close(ws);
    return rc;
}

static int cmd_verify(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"tee", required_argument, NULL, 't'},
        {"evidence", required_argument, NULL, 'e'},
        {"report", required_argument, NULL, 'R'},
        {"cert", required_argument, NULL, 'c'},
        {"chain", required_argument, NULL, 'C'},
        {"at", required_argument, NULL, 'a'},
        {"report-data", required_argument, NULL, 'r'},
        {"nonce", required_argument, NULL, 'n'},
        {"policy", required_argument, NULL, 'p'},
        {"quote", required_argument, NULL, 'q'},
        {"signature", required_argument, NULL, 's'},
        {"ak", required_argument, NULL, 'k'},
        {"pcrs", required_argument, NULL, 'P'},
        {"log", required_argument, NULL, 'l'},
        {"hcl-report", required_argument, NULL, 'H'},
        {"td-quote", required_argument, NULL, 'T'},
        {"ear", required_argument, NULL, 'E'},
        {"tcb-info", required_argument, NULL, 'I'},
        {"qe-identity", required_argument, NULL, 'Q'},
        {"crl", required_argument, NULL, 'L'},
        {"collateral", required_argument, NULL, 'X'},
        {"platform-key", required_argument, NULL, 'K'},
        {"data-dir", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct vopts o = {.json = cli->json};
    int c, li = -1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        /* a value option given twice would silently replace the first
         * (a second --cert, a second --policy): refuse it */
        const char **slot = NULL;
        switch (c) {
        case 't': slot = &o.tee; break;
        case 'e': slot = &o.evidence; break;
        case 'R': slot = &o.report; break;
        case 'c': slot = &o.cert; break;
        case 'C': slot = &o.chain; break;
        case 'a': slot = &o.at; break;
        case 'r': slot = &o.rd; break;
        case 'n': slot = &o.nonce; break;
        case 'p': slot = &o.policy; break;
        case 'q': slot = &o.quote; break;
        case 's': slot = &o.sig; break;
        case 'k': slot = &o.ak; break;
        case 'P': slot = &o.pcrs; break;
        case 'l': slot = &o.log; break;
        case 'H': slot = &o.hcl; break;
        case 'T': slot = &o.td_quote; break;
        case 'E': slot = &o.ear; break;
        case 'I': slot = &o.tcb_info; break;
        case 'Q': slot = &o.qe_id; break;
        case 'X': slot = &o.collateral; break;
        case 'K': slot = &o.platform_key; break;
        case 'D': slot = &o.data_dir; break;
        case 'L':
            if (o.ncrl == MAX_LIST)
                return st_cli_usage("attest", "at most %d --crl", MAX_LIST);
            o.crl[o.ncrl++] = optarg;
            break;
        case 'J': o.json = 1; break;
        case 'h': attest_usage(stdout); return 0;
        default: return st_cli_usage("attest", "unknown option");
        }
        if (slot && *slot)
            return st_cli_usage("attest",
                                "verify: --%s given twice (it takes one "
                                "file or value)",
                                li >= 0 ? opts[li].name : "option");
        if (slot)
            *slot = optarg;
        li = -1;
    }
    if (optind < argc)
        return st_cli_usage("attest", "unexpected argument \"%s\"",
                            argv[optind]);
    if (!o.evidence == !o.tee)
        return st_cli_usage("attest",
                            "verify needs either --evidence or --tee");
    if (o.rd && o.nonce)
        return st_cli_usage("attest", "--report-data and --nonce exclude "
                                      "each other");
    st_err err;
    st_err_clear(&err);
    st_evidence *ev = NULL;
    st_attest_policy *policy = NULL;
    uint8_t rd[64], *rdp = NULL, pub[32];
    unsigned char *ak = NULL;
    size_t ak_len = 0;
    st_attest_refs refs = {
        .data_dir = o.data_dir ? o.data_dir : getenv("SEALTRAIN_DATA_DIR")};
    time_t now = time(NULL);
    st_code rc = ST_OK;
    st_tee tee = ST_TEE_NONE;
    if (o.at && st_time_parse_rfc3339(o.at, &now, &err) != ST_OK) {
        rc = err.code = ST_E_USAGE;
        st_err_prefix(&err, "--at");
    }
    if (rc == ST_OK && o.tee)
        rc = parse_tee_arg(o.tee, &tee, &err);
    if (rc == ST_OK)
        rc = check_unused(&o, tee, &err);
    if (rc == ST_OK && o.evidence)
        rc = st_evidence_load(o.evidence, &ev, &err);
    else if (rc == ST_OK)
        rc = build_evidence(&o, tee, &ev, &err);
    if (rc == ST_OK && o.evidence && o.ak && st_evidence_tee(ev) != ST_TEE_TPM)
        rc = st_err_set(&err, ST_E_USAGE,
                        "verify: --ak pins a TPM attestation key; %s holds "
                        "%s evidence",
                        o.evidence, st_tee_name(st_evidence_tee(ev)));
    if (rc == ST_OK && o.platform_key && st_evidence_tee(ev) != ST_TEE_SIM)
        rc = st_err_set(&err, ST_E_USAGE,
                        "verify: --platform-key pins the sim platform; %s "
                        "holds %s evidence",
                        o.evidence, st_tee_name(st_evidence_tee(ev)));
    if (rc == ST_OK && o.rd && (rc = parse_report_data(o.rd, rd, &err)) == 0) {
        rdp = rd;
        /* a TPM quote binds SHA-256(report data): give the verifier the
         * bytes to hash */
        if (st_evidence_tee(ev) == ST_TEE_TPM &&
            !st_evidence_get(ev, "report_data", NULL))
            rc = st_evidence_set(ev, "report_data", rd, 64, &err);
    }
    if (rc == ST_OK && o.nonce && (rc = parse_nonce(o.nonce, rd, &err)) == 0)
        rdp = rd;
    if (rc == ST_OK && o.policy)
        rc = st_attest_policy_load(o.policy, &policy, &err);
    if (rc == ST_OK && o.ak) {
        if ((rc = st_fs_read_all(o.ak, 1 << 16, &ak, &ak_len, &err)) == 0) {
            refs.tpm_ak = ak;
            refs.tpm_ak_len = ak_len;
        }
    }
    if (rc == ST_OK && st_evidence_tee(ev) == ST_TEE_SIM) {
        char path[4096];
        uint8_t *seed = st_secmem_alloc(32, &err);
        const char *key = o.platform_key;
        if (!seed)
            rc = ST_E_IO;
        if (rc == ST_OK && !key &&
            (rc = sim_key_path(cli, path, sizeof(path), &err)) == 0)
            key = path;
        /* a public key PEM pins the platform; a private one (the
         * workspace's) gives its public half */
        if (rc == ST_OK && st_ed25519_load_public_pem(key, pub, NULL) != ST_OK)
            rc = st_attest_sim_key(key, 0, seed, pub, &err);
        st_secmem_free(seed);
        if (rc == ST_OK)
            refs.sim_platform_key = pub;
    }
    st_collateral_bundle **bundles = NULL;
    if (rc == ST_OK && !has_collateral(ev))
        rc = load_bundles(cli, &bundles, &refs.nbundles, &err);
    refs.bundles = (const st_collateral_bundle *const *)bundles;
    st_verdict v;
    st_verdict_init(&v);
    if (rc == ST_OK)
        rc = st_attest_verify(ev, rdp, &refs, policy, (int64_t)now, &v, &err);
    st_collateral_free_all(bundles, refs.nbundles);
    /* the EAR is written for a failing verdict too: a relying party is
     * told "contraindicated", not left without an answer */
    if (rc == ST_OK && o.ear) {
        size_t nl = o.nonce ? strlen(o.nonce) / 2 : o.rd ? 64 : 0;
        rc = write_ear(cli, &v, ev, policy, rdp, nl, o.ear, &err);
    }
    int status = rc == ST_OK ? print_verdict(&v, o.json) : fail(&err);
    st_verdict_free(&v);
    st_attest_policy_free(policy);
    st_evidence_free(ev);
    free(ak);
    return status;
}

/* ---- show ----------------------------------------------------------- */

/* A bundle, or a raw SNP report, TPMS_ATTEST, HCL report or DCAP quote. */
static ST_MUST_CHECK st_code load_any(const char *path, const char *tee_s,
                                      st_evidence **out, st_err *err)
{
    unsigned char *b;
    size_t n;
    st_code rc = st_fs_read_all(path, MAX_FILE, &b, &n, err);
    if (rc != ST_OK)
        return rc;
    st_tee tee = ST_TEE_NONE;
    const char *part = NULL;
    if (tee_s && (rc = st_tee_parse(tee_s, &tee, err)) != ST_OK)
        goto out;
    if (!tee_s && n > 0 && b[0] == '{') {
        rc = st_evidence_from_json((const char *)b, n, path, out, err);
        goto out;
    }
    if (!tee) {
        if (n >= 4 && memcmp(b, "HCLA", 4) == 0)
            /* the runtime data header's report type (0x4C8): 4 is TDX */
            tee = n >= 0x4CC && b[0x4C8] == 4 ? ST_TEE_AZ_TDX_VTPM
                                              : ST_TEE_AZ_SNP_VTPM;
        else if (n >= 4 && b[0] == 0xff && b[1] == 'T' && b[2] == 'C' &&
                 b[3] == 'G')
            tee = ST_TEE_TPM;
        else if (n == 1184)
            tee = ST_TEE_SNP;
        else if (n >= 2 && (b[0] == 4 || b[0] == 5) && b[1] == 0)
            tee = ST_TEE_TDX;
        else if (n >= 2 && b[0] == 3 && b[1] == 0)
            tee = ST_TEE_SGX;
        else {
            rc = st_err_set(err, ST_E_INPUT,
                            "%s: not an evidence bundle, SNP report, "
                            "TPMS_ATTEST, HCL report or DCAP quote (use "
                            "--tee)",
                            path);
            goto out;
        }
    }
    part = tee == ST_TEE_SNP ? "report"
           : tee == ST_TEE_AZ_SNP_VTPM || tee == ST_TEE_AZ_TDX_VTPM
               ? "hcl_report"
               : "quote";
    if (!(*out = st_evidence_new(tee, err))) {
        rc = ST_E_IO;
        goto out;
    }
    rc = st_evidence_set(*out, part, b, n, err);
out:
    free(b);
    return rc;
}

static void print_json_tree(const json_t *v, int depth, const char *key)
{
    if (json_is_object(v)) {
        if (key)
            printf("%*s%s:\n", 2 * depth, "", key);
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            print_json_tree(x, key ? depth + 1 : depth, k);
        }
        return;
    }
    char *s = st_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *t = s ? s : "?";
    if (json_is_string(v))
        t = json_string_value(v);
    printf("%*s%s: %s\n", 2 * depth, "", key ? key : "", t);
    free(s);
}

static int cmd_show(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"tee", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'J'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *tee = NULL;
    int json = cli->json, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': tee = optarg; break;
        case 'J': json = 1; break;
        case 'h':
            printf("usage: sealtrain attest show FILE [--tee T] [--json]\n\n"
                   "Prints every parsed field of an evidence bundle or a raw "
                   "SNP report,\nTPMS_ATTEST, Azure HCL report or DCAP "
                   "quote. Nothing is verified.\n");
            return 0;
        default: return st_cli_usage("attest", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return st_cli_usage("attest", "show needs exactly one FILE");
    st_err err;
    st_err_clear(&err);
    st_evidence *ev = NULL;
    json_t *o = NULL;
    if (load_any(argv[optind], tee, &ev, &err) != ST_OK ||
        st_attest_show(ev, &o, &err) != ST_OK) {
        st_evidence_free(ev);
        return fail(&err);
    }
    if (json) {
        char *s = st_json_dumps(o, JSON_INDENT(2));
        printf("%s\n", s ? s : "{}");
        free(s);
    } else {
        print_json_tree(o, 0, NULL);
    }
    json_decref(o);
    st_evidence_free(ev);
    return 0;
}

/* enroll: pins the platform's TPM attestation key (a primary under the
 * endorsement hierarchy: the same key on every run) in keys/tpm-ak, which
 * the key broker then requires of tpm evidence. Replacing a pinned key is
 * deliberate (--replace): it changes what the broker trusts. */
static int cmd_enroll(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"tee", required_argument, NULL, 't'},
                                         {"tcti", required_argument, NULL, 'T'},
                                         {"replace", no_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *tee_s = NULL, *tcti = NULL;
    int replace = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': tee_s = optarg; break;
        case 'T': tcti = optarg; break;
        case 'r': replace = 1; break;
        case 'h': attest_usage(stdout); return 0;
        default: return st_cli_usage("attest", "unknown option");
        }
    }
    if (!tee_s || strcmp(tee_s, "tpm") != 0)
        return st_cli_usage("attest", "enroll needs --tee tpm (the only "
                                      "backend whose key is enrolled)");
    st_workspace *ws;
    st_access_session session;
    int rc = st_cli_open(cli, &ws, &session);
    if (rc)
        return rc;
    st_err err;
    st_err_clear(&err);
    char path[4096], hex[65];
    uint8_t rd[64] = {0}, digest[32];
    st_evidence *ev = NULL;
    const uint8_t *ak = NULL;
    size_t aklen = 0;
    st_code sc = st_access_check(ws, st_cli_principal(&session), "key.create",
                                 "platform:tpm", &err);
    if (sc == ST_OK)
        sc = st_workspace_path(ws, "keys", "tpm-ak", path, sizeof(path), &err);
    if (sc == ST_OK && !replace && st_fs_exists(path))
        sc = st_err_set(&err, ST_E_EXISTS,
                        "attest enroll: a TPM attestation key is already "
                        "pinned (%s); --replace changes what key release "
                        "trusts",
                        path);
    if (sc == ST_OK)
        sc = st_attest_tpm_evidence(tcti, rd, NULL, 0, &ev, &err);
    if (sc == ST_OK && !(ak = st_evidence_get(ev, "ak", &aklen)))
        sc = st_err_set(&err, ST_E_INTERNAL,
                        "attest enroll: the tpm evidence has no \"ak\" part");
    if (sc == ST_OK)
        sc = st_fs_write_atomic(path, ak, aklen, 0600, &err);
    if (sc == ST_OK) {
        st_sha256(ak, aklen, digest);
        st_hex_encode(digest, 32, hex);
    }
    st_audit_event e = {.category = "security",
                        .actor = session.bootstrap ? "system" : session.name,
                        .action = "attest.enroll",
                        .resource = "platform:tpm",
                        .outcome = sc == ST_OK ? "success" : "failure",
                        .reason = sc == ST_OK ? NULL : err.msg};
    json_t *d = sc == ST_OK ? json_pack("{s:s}", "ak_sha256", hex) : NULL;
    e.details = d;
    st_err aerr;
    if (st_audit_append(ws, &e, &aerr) != ST_OK && sc == ST_OK) {
        err = aerr;
        sc = aerr.code;
    }
    json_decref(d);
    st_evidence_free(ev);
    st_workspace_close(ws);
    if (sc != ST_OK)
        return fail(&err);
    printf("pinned the TPM attestation key sha256:%s in %s\n", hex, path);
    return 0;
}

/* ear-key: the public half of the EAR verifier key, for relying parties
 * to pin (PEM, or a JWK with its RFC 7638 kid). */
static int cmd_ear_key(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"jwk", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int jwk = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': jwk = 1; break;
        case 'h':
            printf("usage: sealtrain attest ear-key [--jwk]\n\nPrints the "
                   "public key that signs this workspace's EAR attestation "
                   "results\n(`attest verify --ear`), as PEM or as a JWK "
                   "(RFC 8037, with its RFC 7638 kid).\nThe key is created "
                   "on first use (keys/ear-verifier.pem, mode 0600).\n");
            return 0;
        default: return st_cli_usage("attest", "unknown option");
        }
    }
    if (optind < argc)
        return st_cli_usage("attest", "unexpected argument \"%s\"",
                            argv[optind]);
    st_err err;
    st_err_clear(&err);
    uint8_t *seed = NULL, pub[32];
    if (ear_key(cli, &seed, pub, &err) != ST_OK)
        return fail(&err);
    st_secmem_free(seed);
    char *s =
        jwk ? st_ear_key_jwk(pub, &err) : st_ed25519_public_pem(pub, &err);
    if (!s)
        return fail(&err);
    printf("%s%s", s, jwk ? "\n" : "");
    free(s);
    return 0;
}

int st_cli_attest(st_cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        attest_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    argc--;
    argv++;
    optind = 0;
    if (!strcmp(sub, "evidence"))
        return cmd_evidence(cli, argc, argv);
    if (!strcmp(sub, "verify"))
        return cmd_verify(cli, argc, argv);
    if (!strcmp(sub, "measure"))
        return cmd_measure(cli, argc, argv);
    if (!strcmp(sub, "show"))
        return cmd_show(cli, argc, argv);
    if (!strcmp(sub, "enroll"))
        return cmd_enroll(cli, argc, argv);
    if (!strcmp(sub, "ear-key"))
        return cmd_ear_key(cli, argc, argv);
    if (!strcmp(sub, "collateral"))
        return st_cli_attest_collateral(cli, argc, argv);
    return st_cli_usage("attest", "unknown command \"%s\"", sub);
}
