/*
 * refs.c: the workspace's trust anchors for verifying a sealed model's
 * provenance (st_model_verify): the public half of the sim platform key
 * (keys/sim-platform.pem) and the enrolled TPM attestation key
 * (keys/tpm-ak). Shared by `model verify` and the server's
 * /v1/models/NAME/verify, so both reach the same verdict.
 *
 * Never keeps the sim platform's private seed beyond deriving its public
 * key (secure memory, wiped); a missing anchor is left NULL, which makes
 * the verifier refuse that TEE's evidence rather than trust it.
 */
#include <stdlib.h>
#include <string.h>

#include "sealtrain/attest.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/model.h"
#include "sealtrain/secmem.h"
#include "sealtrain/workspace.h"

void st_model_refs_load(st_workspace *ws, const char *sim_key_pem,
                        st_model_refs *out)
{
    memset(out, 0, sizeof(*out));
    char path[4200];
    if (sim_key_pem) {
        if (st_ed25519_load_public_pem(sim_key_pem, out->sim_pub, NULL) ==
            ST_OK)
            out->refs.sim_platform_key = out->sim_pub;
    } else if (ws &&
               st_workspace_path(ws, "keys", "sim-platform.pem", path,
                                 sizeof(path), NULL) == ST_OK &&
               st_fs_exists(path)) {
        uint8_t *seed = st_secmem_alloc(32, NULL);
        if (seed &&
            st_attest_sim_key(path, 0, seed, out->sim_pub, NULL) == ST_OK)
            out->refs.sim_platform_key = out->sim_pub;
        st_secmem_free(seed);
    }
    size_t len = 0;
    if (ws &&
        st_workspace_path(ws, "keys", "tpm-ak", path, sizeof(path), NULL) ==
            ST_OK &&
        st_fs_exists(path) &&
        st_fs_read_all(path, 1 << 16, &out->ak, &len, NULL) == ST_OK) {
        out->refs.tpm_ak = out->ak;
        out->refs.tpm_ak_len = len;
    }
}

void st_model_refs_free(st_model_refs *r)
{
    if (!r)
        return;
    free(r->ak);
    memset(r, 0, sizeof(*r));
}
