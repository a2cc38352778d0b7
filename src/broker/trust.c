/*
 * trust.c: the gate's trust anchors, loaded in one place for every
 * transport: the sim platform key of this workspace (sim evidence is
 * accepted only under it), the TPM attestation key enrolled for the
 * platform (keys/tpm-ak: SPKI PEM or DER, or a TPM2B_PUBLIC; without it
 * a quote fails on "tpm.ak.pinned"), and the project data directory with
 * the vendors' roots (SEV-SNP ARK/ASK, Intel's SGX root CA).
 *
 * The sim key is made (0600) on first use, as `job run` does, so that the
 * workspace's broker and its local jobs share it; the loader keeps no
 * private key (the seed is wiped at once). The EAR verifier key
 * (keys/ear-verifier.pem) is its one signing key: the gate signs each
 * verdict with it, and relying parties check them with `attest ear-key`.
 * The workspace's offline collateral bundles (collateral.c) are loaded
 * verified, for evidence that carries no collateral of its own; one that
 * no longer verifies (edited, or its signer disabled) stops the load,
 * naming it, rather than being skipped in silence.
 */
#include <stdlib.h>
#include <string.h>

#include "attest/ear.h"
#include "broker/gate_internal.h"
#include "sealtrain/fs.h"
#include "sealtrain/secmem.h"

st_code st_gate_anchors_load(st_workspace *ws, st_gate_anchors *a, st_err *err)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->data_dir, sizeof(a->data_dir), "%s", st_attest_data_dir());
    char path[4200];
    st_code rc = st_workspace_path(ws, "keys", "sim-platform.pem", path,
                                   sizeof(path), err);
    if (rc != ST_OK)
        return rc;
    uint8_t *seed = st_secmem_alloc(32, err);
    if (!seed)
        return err ? err->code : ST_E_IO;
    rc = st_attest_sim_key(path, 1, seed, a->sim_pub, err);
    st_secmem_free(seed);
    if (rc != ST_OK)
        return st_err_prefix(err, "the sim platform key");
    a->have_sim = 1;
    if ((rc = st_workspace_path(ws, "keys", "tpm-ak", path, sizeof(path),
                                err)) != ST_OK)
        return rc;
    if (st_fs_exists(path) &&
        (rc = st_fs_read_all(path, 1 << 16, &a->tpm_ak, &a->tpm_ak_len, err)) !=
            ST_OK)
        return st_err_prefix(err, "the enrolled TPM attestation key");
    if ((rc = st_workspace_path(ws, "keys", "ear-verifier.pem", path,
                                sizeof(path), err)) != ST_OK)
        return rc;
    uint8_t pub[32];
    if (!(seed = st_secmem_alloc(32, err)))
        return err ? err->code : ST_E_IO;
    rc = st_ear_key_load(path, 1, seed, pub, err);
    if (rc == ST_OK)
        rc = st_ear_signer_init(&a->ear, seed, err);
    st_secmem_free(seed);
    if (rc != ST_OK)
        return rc; /* named by st_ear_key_load / st_ear_signer_init */
    a->have_ear = 1;
    if ((rc = st_collateral_load_all(ws, &a->bundles, &a->nbundles, err)) !=
        ST_OK)
        return st_err_prefix(err, "the offline collateral bundles");
    return ST_OK;
}

void st_gate_anchors_free(st_gate_anchors *a)
{
    if (a->have_ear)
        st_ear_signer_free(&a->ear);
    free(a->tpm_ak);
    st_collateral_free_all(a->bundles, a->nbundles);
    memset(a, 0, sizeof(*a));
}

void st_gate_anchors_refs(const st_gate_anchors *a, st_attest_refs *refs)
{
    memset(refs, 0, sizeof(*refs));
    refs->data_dir = a->data_dir;
    refs->sim_platform_key = a->have_sim ? a->sim_pub : NULL;
    refs->tpm_ak = a->tpm_ak;
    refs->tpm_ak_len = a->tpm_ak_len;
    refs->bundles = (const st_collateral_bundle *const *)a->bundles;
    refs->nbundles = a->nbundles;
}
