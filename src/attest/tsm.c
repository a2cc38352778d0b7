/*
 * tsm.c: the request path of the snp and tdx evidence backends, and the
 * self measurement.
 *
 * SNP, through configfs-tsm (Linux Documentation/ABI/testing/configfs-tsm):
 * mkdir an entry under the report directory, write the 64 bytes of report
 * data to "inblob", check "provider" is "sev_guest", read "generation",
 * "outblob" (the 1184-byte ATTESTATION_REPORT) and "auxblob" (the host's
 * certificate table, GHCB spec 4.1.8.1, when it supplies one), read
 * "generation" again (a change means another writer raced us), rmdir.
 * Without configfs-tsm, through /dev/sev-guest: SNP_GET_EXT_REPORT (the
 * report and the certificate table), falling back to SNP_GET_REPORT when
 * the host has no certificates (linux/sev-guest.h).
 * TDX: the same configfs-tsm request with provider "tdx_guest"
 * (tdx_backend.c wraps it for the dcap module).
 *
 * The entry-level function takes the entry directory so that unit tests
 * drive it against a plain directory holding recorded responses.
 *
 * Never: parse or trust the response here (the verifier does); leave an
 * entry behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sev-guest.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/dcap.h"
#include "attest_internal.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "snp.h"

#define TSM_ROOT "/sys/kernel/config/tsm/report"
#define MAX_AUX (64u << 10)

static ST_MUST_CHECK st_code attr_read(const char *entry, const char *name,
                                       char *out, size_t cap, st_err *err)
{
    char path[4096];
    unsigned char *b;
    size_t n;
    snprintf(path, sizeof(path), "%s/%s", entry, name);
    if (st_fs_read_all(path, cap - 1, &b, &n, err) != ST_OK)
        return st_err_prefix(err, "configfs-tsm");
    /* attributes end with a newline */
    while (n && (b[n - 1] == '\n' || b[n - 1] == ' '))
        n--;
    memcpy(out, b, n);
    out[n] = 0;
    free(b);
    return ST_OK;
}

void st_tsm_blobs_free(st_tsm_blobs *b)
{
    free(b->out);
    free(b->aux);
    memset(b, 0, sizeof(*b));
}

st_code st_tsm_entry_request(const char *entry, const char *provider,
                             const uint8_t report_data[64], size_t max_out,
                             int want_aux, st_tsm_blobs *b, st_err *err)
{
    char path[4096], got[64], gen1[32], gen2[32];
    memset(b, 0, sizeof(*b));
    snprintf(path, sizeof(path), "%s/inblob", entry);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "configfs-tsm: opening %s",
                            path);
    st_code rc = st_fs_write_fd(fd, report_data, 64, path, err);
    if (close(fd) != 0 && rc == ST_OK)
        rc =
            st_err_errno(err, ST_E_IO, errno, "configfs-tsm: writing %s", path);
    if (rc == ST_OK)
        rc = attr_read(entry, "provider", got, sizeof(got), err);
    if (rc == ST_OK && strcmp(got, provider) != 0)
        rc = st_err_set(err, ST_E_IO,
                        "configfs-tsm: provider is \"%s\", not %s (not the "
                        "kind of confidential guest asked for?)",
                        got, provider);
    if (rc == ST_OK)
        rc = attr_read(entry, "generation", gen1, sizeof(gen1), err);
    if (rc == ST_OK) {
        snprintf(path, sizeof(path), "%s/outblob", entry);
        if ((rc = st_fs_read_all(path, max_out, &b->out, &b->outlen, err)) !=
            ST_OK)
            st_err_prefix(err, "configfs-tsm");
        else if (b->outlen == 0)
            rc = st_err_set(err, ST_E_IO, "configfs-tsm: empty outblob");
    }
    if (rc == ST_OK && want_aux) {
        snprintf(path, sizeof(path), "%s/auxblob", entry);
        /* optional: hosts without one leave auxblob empty (or the kernel
         * predates it) */
        if (st_fs_exists(path) &&
            (rc = st_fs_read_all(path, MAX_AUX, &b->aux, &b->auxlen, err)) !=
                ST_OK)
            st_err_prefix(err, "configfs-tsm");
    }
    if (rc == ST_OK)
        rc = attr_read(entry, "generation", gen2, sizeof(gen2), err);
    if (rc == ST_OK && strcmp(gen1, gen2) != 0)
        rc = st_err_set(err, ST_E_IO,
                        "configfs-tsm: generation changed from %s to %s "
                        "while reading (concurrent writer)",
                        gen1, gen2);
    if (rc != ST_OK)
        st_tsm_blobs_free(b);
    return rc;
}

st_code st_tsm_request(const char *root, const char *provider,
                       const uint8_t report_data[64], size_t max_out,
                       int want_aux, st_tsm_blobs *b, st_err *err)
{
    char entry[4096], tag[17];
    uint8_t rnd[8];
    struct stat st;
    memset(b, 0, sizeof(*b));
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return st_err_errno(err, ST_E_IO, errno,
                            "configfs-tsm report directory %s is not "
                            "available (not a confidential guest, or "
                            "configfs not mounted)",
                            root);
    if (st_random(rnd, sizeof(rnd), err) != ST_OK)
        return ST_E_IO;
    st_hex_encode(rnd, sizeof(rnd), tag);
    snprintf(entry, sizeof(entry), "%s/sealtrain-%ld-%s", root, (long)getpid(),
             tag);
    if (mkdir(entry, 0700) != 0)
        return st_err_errno(err, ST_E_IO, errno,
                            "configfs-tsm: creating report entry %s", entry);
    st_code rc = st_tsm_entry_request(entry, provider, report_data, max_out,
                                      want_aux, b, err);
    /* configfs entries hold no files of ours: rmdir removes them */
    if (rmdir(entry) != 0 && rc == ST_OK) {
        rc = st_err_errno(err, ST_E_IO, errno,
                          "configfs-tsm: removing report entry %s", entry);
        st_tsm_blobs_free(b);
    }
    return rc;
}

static ST_MUST_CHECK st_code snp_from_blobs(st_tsm_blobs *b, st_evidence *ev,
                                            st_err *err)
{
    st_code rc = ST_OK;
    if (b->outlen != ST_SNP_REPORT_LEN)
        rc = st_err_set(err, ST_E_IO,
                        "configfs-tsm: outblob is %zu bytes, not an SNP "
                        "report (%d)",
                        b->outlen, ST_SNP_REPORT_LEN);
    if (rc == ST_OK)
        rc = st_evidence_set(ev, "report", b->out, b->outlen, err);
    if (rc == ST_OK && b->auxlen > 0)
        rc = st_snp_cert_table_parse(b->aux, b->auxlen, ev, err);
    st_tsm_blobs_free(b);
    return rc;
}

st_code st_snp_tsm_entry_report(const char *entry,
                                const uint8_t report_data[64], st_evidence *ev,
                                st_err *err)
{
    st_tsm_blobs b;
    if (st_tsm_entry_request(entry, "sev_guest", report_data, 4096, 1, &b,
                             err) != ST_OK)
        return err ? err->code : ST_E_IO;
    return snp_from_blobs(&b, ev, err);
}

static ST_MUST_CHECK st_code snp_tsm(const char *root, const uint8_t rd[64],
                                     st_evidence *ev, st_err *err)
{
    st_tsm_blobs b;
    if (st_tsm_request(root, "sev_guest", rd, 4096, 1, &b, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    return snp_from_blobs(&b, ev, err);
}

/* /dev/sev-guest: the response message is status u32, report_size u32,
 * 24 reserved bytes, then the report (SNP ABI Table 25 MSG_REPORT_RSP). */
static ST_MUST_CHECK st_code snp_ioctl(const uint8_t rd[64], st_evidence *ev,
                                       st_err *err)
{
    int fd = open("/dev/sev-guest", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno,
                            "snp: neither configfs-tsm (%s) nor "
                            "/dev/sev-guest is available (not an SEV-SNP "
                            "guest?)",
                            TSM_ROOT);
    struct snp_report_resp resp;
    struct snp_ext_report_req ereq;
    struct snp_guest_request_ioctl io;
    size_t certs_len = 16 * 4096;
    uint8_t *certs = aligned_alloc(4096, certs_len);
    st_code rc = ST_OK;
    if (!certs) {
        close(fd);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    memset(certs, 0, certs_len);
    memset(&resp, 0, sizeof(resp));
    memset(&ereq, 0, sizeof(ereq));
    memset(&io, 0, sizeof(io));
    memcpy(ereq.data.user_data, rd, 64);
    ereq.certs_address = (uint64_t)(uintptr_t)certs;
    ereq.certs_len = (uint32_t)certs_len;
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&ereq;
    io.resp_data = (uint64_t)(uintptr_t)&resp;
    int have_certs = 1;
    if (ioctl(fd, SNP_GET_EXT_REPORT, &io) != 0) {
        /* hosts without a certificate table answer the plain request */
        have_certs = 0;
        memset(&io, 0, sizeof(io));
        io.msg_version = 1;
        io.req_data = (uint64_t)(uintptr_t)&ereq.data;
        io.resp_data = (uint64_t)(uintptr_t)&resp;
        if (ioctl(fd, SNP_GET_REPORT, &io) != 0)
            rc = st_err_errno(err, ST_E_IO, errno,
                              "snp: SNP_GET_REPORT (firmware error 0x%llx)",
                              (unsigned long long)io.exitinfo2);
    }
    close(fd);
    st_reader r;
    st_reader_init(&r, resp.data, sizeof(resp.data));
    uint32_t status = st_read_u32le(&r), size = st_read_u32le(&r);
    st_read_skip(&r, 24);
    const uint8_t *rep = st_read_view(&r, ST_SNP_REPORT_LEN);
    if (rc == ST_OK && (status != 0 || size != ST_SNP_REPORT_LEN || !rep))
        rc = st_err_set(err, ST_E_IO,
                        "snp: report response status 0x%x, size %u", status,
                        size);
    if (rc == ST_OK)
        rc = st_evidence_set(ev, "report", rep, ST_SNP_REPORT_LEN, err);
    if (rc == ST_OK && have_certs)
        rc = st_snp_cert_table_parse(certs, certs_len, ev, err);
    free(certs);
    return rc;
}

st_code st_attest_tsm_evidence(st_tee tee, const char *tsm_root,
                               const uint8_t report_data[ST_REPORT_DATA_LEN],
                               st_evidence **out, st_err *err)
{
    *out = NULL;
    const char *root = tsm_root ? tsm_root : TSM_ROOT;
    st_evidence *ev = st_evidence_new(tee, err);
    if (!ev)
        return ST_E_IO;
    st_code rc;
    if (tee == ST_TEE_TDX) {
        uint8_t *q = NULL;
        size_t n = 0;
        rc = st_tdx_quote_request(root, report_data, &q, &n, err);
        if (rc == ST_OK)
            rc = st_evidence_set(ev, "quote", q, n, err);
        free(q);
    } else if (tee == ST_TEE_SNP) {
        struct stat st;
        if (tsm_root || (stat(root, &st) == 0 && S_ISDIR(st.st_mode)))
            rc = snp_tsm(root, report_data, ev, err);
        else
            rc = snp_ioctl(report_data, ev, err);
    } else {
        rc = st_err_set(err, ST_E_USAGE,
                        "%s evidence does not come from configfs-tsm",
                        st_tee_name(tee));
    }
    if (rc != ST_OK) {
        st_evidence_free(ev);
        return rc;
    }
    *out = ev;
    return ST_OK;
}

st_code st_attest_self_measurement(uint8_t out[32], st_err *err)
{
    st_code rc = st_sha256_file("/proc/self/exe", out, err);
    if (rc != ST_OK)
        st_err_prefix(err, "measuring the running binary");
    return rc;
}
