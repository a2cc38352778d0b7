/*
 * bench_dcap.c: time to verify an Intel DCAP quote with its collateral on
 * one core: TDX quote v4 (trustee tdx_quote_4 with the go-tdx-guest
 * collateral for FMSPC 50806f000000) and SGX quote v3 (dcap-qvl sample).
 *
 *   full:   st_attest_verify on evidence holding the quote and collateral
 *           (every certificate, CRL and JSON document parsed per call)
 *   cached: collateral parsed once (st_dcap_collateral_parse), then quote
 *           parse + st_dcap_verify per call, as a verifier serving many
 *           quotes against the same collateral does
 *
 * Prints one line per case: "<case> <median ms> <p90 ms> <iterations>".
 * Never reads the clock for verification: times are fixed (PROVENANCE.md).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/dcap.h"
#include "sealtrain/attest.h"
#include "sealtrain/fs.h"

#define ATT "../shared/testvectors/attestation"
#define GTG ATT "/tdx/gtg-spr-e4-v4"
#define TRU ATT "/tdx/trustee-tdx-quotes"
#define PHALA ATT "/sgx/phala-sgx-v3"

typedef struct file {
    unsigned char *data;
    size_t len;
} file;

/* A set-up step that fails makes every figure after it meaningless: stop
 * and say which step. */
static void need(st_code rc, const char *what)
{
    if (rc != ST_OK) {
        fprintf(stderr, "bench: %s failed (%s)\n", what, st_code_name(rc));
        exit(1);
    }
}

static file load(const char *path)
{
    file f;
    st_err err;
    if (st_fs_read_all(path, 1 << 20, &f.data, &f.len, &err) != ST_OK) {
        fprintf(stderr, "bench_dcap: %s\n", err.msg);
        exit(1);
    }
    return f;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *t, int n)
{
    qsort(t, (size_t)n, sizeof(*t), cmp);
    printf("%-22s %8.3f %8.3f %6d\n", name, t[n / 2], t[n * 9 / 10], n);
}

static int64_t at(const char *s)
{
    int64_t t = 0;
    need(st_dcap_time_parse(s, &t, NULL), s);
    return t;
}

#define N 300

static void bench_full(const char *name, st_evidence *ev, int64_t when,
                       const uint8_t *rd)
{
    static double t[N];
    for (int i = 0; i < N; i++) {
        st_verdict v;
        st_err err;
        st_verdict_init(&v);
        double t0 = now_ms();
        st_code rc = st_attest_verify(ev, rd, NULL, NULL, when, &v, &err);
        t[i] = now_ms() - t0;
        if (rc != ST_OK) {
            fprintf(stderr, "bench_dcap: %s: %s\n", name, err.msg);
            exit(1);
        }
        st_verdict_free(&v);
    }
    report(name, t, N);
}

static void bench_cached(const char *name, const file *quote,
                         const st_dcap_collateral_parts *parts, int64_t when)
{
    static double t[N];
    st_dcap_collateral *c;
    st_err err;
    if (st_dcap_collateral_parse(parts, &c, &err) != ST_OK) {
        fprintf(stderr, "bench_dcap: %s\n", err.msg);
        exit(1);
    }
    for (int i = 0; i < N; i++) {
        st_dcap_quote q;
        st_dcap_result res;
        st_dcap_options o = {.at = when,
                             .allowed_tcb = (1u << ST_DCAP_TCB_REVOKED) - 1};
        double t0 = now_ms();
        st_code rc = st_dcap_quote_parse(quote->data, quote->len, &q, &err);
        if (rc == ST_OK)
            rc = st_dcap_verify(&q, c, &o, &res, &err);
        t[i] = now_ms() - t0;
        if (rc != ST_OK) {
            fprintf(stderr, "bench_dcap: %s: %s\n", name, err.msg);
            exit(1);
        }
    }
    st_dcap_collateral_free(c);
    report(name, t, N);
}

int main(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof(one), &one); /* one core */

    file tq = load(TRU "/tdx_quote_4.dat");
    file ti = load(GTG "/tcbinfo_fmspc_50806f000000.json");
    file qi = load(GTG "/qe_identity_td_qe.json");
    file ch = load(GTG "/tcb_signing_chain_2018-2025.pem");
    file c0 = load(GTG "/root_crl.der");
    file c1 = load(GTG "/pck_platform_crl.der");
    file sq = load(PHALA "/sgx_quote_v3.bin");
    file sc = load(PHALA "/sgx_quote_collateral.json");
    st_err err;

    st_evidence *tev = st_evidence_new(ST_TEE_TDX, &err);
    need(st_evidence_set(tev, "quote", tq.data, tq.len, &err), "evidence");
    need(st_evidence_set(tev, "tcb_info", ti.data, ti.len, &err), "evidence");
    need(st_evidence_set(tev, "qe_identity", qi.data, qi.len, &err),
         "evidence");
    need(st_evidence_set(tev, "tcb_chain", ch.data, ch.len, &err), "evidence");
    need(st_evidence_set(tev, "crl.0", c0.data, c0.len, &err), "evidence");
    need(st_evidence_set(tev, "crl.1", c1.data, c1.len, &err), "evidence");
    st_evidence *sev = st_evidence_new(ST_TEE_SGX, &err);
    need(st_evidence_set(sev, "quote", sq.data, sq.len, &err), "evidence");
    need(st_evidence_set(sev, "collateral", sc.data, sc.len, &err), "evidence");

    int64_t tdx_at = at("2023-07-01T01:00:00Z");
    int64_t sgx_at = at("2025-07-19T10:01:17Z");
    printf("%-22s %8s %8s %6s\n", "case", "median", "p90", "n");
    bench_full("tdx.full_ms", tev, tdx_at, NULL);
    st_dcap_blob crls[2] = {{c0.data, c0.len, "crl.0"},
                            {c1.data, c1.len, "crl.1"}};
    st_dcap_collateral_parts tp = {.tcb_info = {ti.data, ti.len, "tcb_info"},
                                   .qe_identity = {qi.data, qi.len, "qe"},
                                   .tcb_chain = {ch.data, ch.len, "chain"},
                                   .crls = crls,
                                   .ncrls = 2};
    bench_cached("tdx.cached_ms", &tq, &tp, tdx_at);
    bench_full("sgx.full_ms", sev, sgx_at, NULL);
    st_dcap_collateral_parts sp = {.qvl = {sc.data, sc.len, "collateral"}};
    bench_cached("sgx.cached_ms", &sq, &sp, sgx_at);
    st_evidence_free(tev);
    st_evidence_free(sev);
    return 0;
}
