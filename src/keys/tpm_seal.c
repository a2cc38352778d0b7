/*
 * tpm_seal.c: seal / unseal the workspace root key with a TPM 2.0 through
 * tpm2-tss ESAPI (TCG TSS 2.0 Enhanced System API; TPM 2.0 Library Part 3
 * sections 12.1 Create, 12.2 Load, 12.7 Unseal, 24.1 CreatePrimary).
 *
 * The root key is the sensitive data of a keyedhash object (no sign or
 * decrypt attributes: it can only be unsealed) whose parent is an ECC
 * P-256 storage primary created from a fixed template under the owner
 * hierarchy; the same template yields the same primary on every open, so
 * only the object's public/private blobs are stored (in keys/root.json).
 * Commands that carry the secret (Create, Unseal) run in a salted HMAC
 * session with parameter encryption (AES-128-CFB), so the root key never
 * crosses the TPM interface (here a TCP socket to swtpm) in the clear.
 *
 * Must never: leave transient objects or sessions loaded (without a
 * resource manager they fill the TPM): every handle is flushed before
 * return, on every path; keep a copy of the unsealed bytes outside
 * secure memory (the ESAPI output buffer is wiped and freed).
 */
#include "keys/tpm_seal.h"

#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "sealtrain/log.h"

typedef struct tpm_ctx {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR primary;
    ESYS_TR session;
    ESYS_TR object;
} tpm_ctx;

const char *st_tpm_tcti(void)
{
    const char *t = getenv("SEALTRAIN_TPM_TCTI");
    return t && *t ? t : NULL;
}

static ST_MUST_CHECK st_code tpm_fail(st_err *err, st_code code,
                                      const char *what, TSS2_RC rc)
{
    return st_err_set(err, code, "TPM %s failed: %s", what, Tss2_RC_Decode(rc));
}

static void tpm_close(tpm_ctx *t)
{
    if (t->esys) {
        if (t->object != ESYS_TR_NONE)
            Esys_FlushContext(t->esys, t->object);
        if (t->session != ESYS_TR_NONE)
            Esys_FlushContext(t->esys, t->session);
        if (t->primary != ESYS_TR_NONE)
            Esys_FlushContext(t->esys, t->primary);
        Esys_Finalize(&t->esys);
    }
    if (t->tcti)
        Tss2_TctiLdr_Finalize(&t->tcti);
}

/* Connects, creates the storage primary and a salted, parameter-
 * encrypting session bound to it. */
static ST_MUST_CHECK st_code tpm_open(tpm_ctx *t, st_err *err)
{
    memset(t, 0, sizeof(*t));
    t->primary = t->session = t->object = ESYS_TR_NONE;
    const char *conf = st_tpm_tcti();
    /* tpm2-tss logs its own errors to stderr; ours say it once, better */
    setenv("TSS2_LOG", "all+NONE", 0);
    TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &t->tcti);
    if (rc != TSS2_RC_SUCCESS)
        return st_err_set(err, ST_E_IO,
                          "TPM not available (TCTI %s): %s; set "
                          "SEALTRAIN_TPM_TCTI (e.g. "
                          "swtpm:host=127.0.0.1,port=2321) or attach a TPM",
                          conf ? conf : "default", Tss2_RC_Decode(rc));
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        tpm_close(t);
        return st_err_set(err, ST_E_IO, "TPM not available (TCTI %s): %s",
                          conf ? conf : "default", Tss2_RC_Decode(rc));
    }
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_PUBLIC tmpl = {
        .publicArea =
            {
                .type = TPM2_ALG_ECC,
                .nameAlg = TPM2_ALG_SHA256,
                .objectAttributes =
                    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
                    TPMA_OBJECT_NODA,
                .parameters.eccDetail =
                    {
                        .symmetric = {.algorithm = TPM2_ALG_AES,
                                      .keyBits.aes = 128,
                                      .mode.aes = TPM2_ALG_CFB},
                        .scheme = {.scheme = TPM2_ALG_NULL},
                        .curveID = TPM2_ECC_NIST_P256,
                        .kdf = {.scheme = TPM2_ALG_NULL},
                    },
            },
    };
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                            ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
                            &pcrs, &t->primary, NULL, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        tpm_close(t);
        return tpm_fail(err, ST_E_IO, "CreatePrimary (owner hierarchy)", rc);
    }
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES,
                        .keyBits.aes = 128,
                        .mode.aes = TPM2_ALG_CFB};
    rc = Esys_StartAuthSession(t->esys, t->primary, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC,
                               &sym, TPM2_ALG_SHA256, &t->session);
    if (rc != TSS2_RC_SUCCESS) {
        tpm_close(t);
        return tpm_fail(err, ST_E_IO, "StartAuthSession", rc);
    }
    TPMA_SESSION attrs = TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT |
                         TPMA_SESSION_CONTINUESESSION;
    rc = Esys_TRSess_SetAttributes(t->esys, t->session, attrs, 0xff);
    if (rc != TSS2_RC_SUCCESS) {
        tpm_close(t);
        return tpm_fail(err, ST_E_IO, "session attributes", rc);
    }
    return ST_OK;
}

st_code st_tpm_seal(const uint8_t *secret, size_t len, st_buf *pub,
                    st_buf *priv, st_err *err)
{
    TPM2B_SENSITIVE_CREATE sens = {0};
    if (len > sizeof(sens.sensitive.data.buffer))
        return st_err_set(err, ST_E_USAGE, "TPM seal: secret too long");
    tpm_ctx t;
    st_code rc = tpm_open(&t, err);
    if (rc)
        return rc;
    sens.sensitive.data.size = (UINT16)len;
    memcpy(sens.sensitive.data.buffer, secret, len);
    TPM2B_PUBLIC tmpl = {
        .publicArea =
            {
                .type = TPM2_ALG_KEYEDHASH,
                .nameAlg = TPM2_ALG_SHA256,
                /* no sign/decrypt: a pure sealed data object */
                .objectAttributes = TPMA_OBJECT_FIXEDTPM |
                                    TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA,
                .parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
            },
    };
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    TPM2B_PRIVATE *opriv = NULL;
    TPM2B_PUBLIC *opub = NULL;
    TSS2_RC r = Esys_Create(t.esys, t.primary, t.session, ESYS_TR_NONE,
                            ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &opriv,
                            &opub, NULL, NULL, NULL);
    st_wipe(&sens, sizeof(sens));
    if (r != TSS2_RC_SUCCESS) {
        rc = tpm_fail(err, ST_E_IO, "Create (seal root key)", r);
        goto done;
    }
    uint8_t bpub[sizeof(TPM2B_PUBLIC)], bpriv[sizeof(TPM2B_PRIVATE)];
    size_t npub = 0, npriv = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(opub, bpub, sizeof(bpub), &npub) ||
        Tss2_MU_TPM2B_PRIVATE_Marshal(opriv, bpriv, sizeof(bpriv), &npriv)) {
        rc = st_err_set(err, ST_E_INTERNAL,
                        "TPM: cannot marshal the sealed "
                        "object");
        goto done;
    }
    if ((rc = st_buf_append(pub, bpub, npub, err)) ||
        (rc = st_buf_append(priv, bpriv, npriv, err)))
        goto done;
    rc = ST_OK;
done:
    Esys_Free(opriv);
    Esys_Free(opub);
    tpm_close(&t);
    return rc;
}

st_code st_tpm_unseal(const uint8_t *pub, size_t publen, const uint8_t *priv,
                      size_t privlen, st_secret **out, st_err *err)
{
    *out = NULL;
    TPM2B_PUBLIC ipub = {0};
    TPM2B_PRIVATE ipriv = {0};
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, publen, &off, &ipub) ||
        off != publen)
        return st_err_set(err, ST_E_INPUT,
                          "TPM sealed root key: malformed public blob");
    off = 0;
    if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv, privlen, &off, &ipriv) ||
        off != privlen)
        return st_err_set(err, ST_E_INPUT,
                          "TPM sealed root key: malformed private blob");
    tpm_ctx t;
    st_code rc = tpm_open(&t, err);
    if (rc)
        return rc;
    TPM2B_SENSITIVE_DATA *data = NULL;
    TSS2_RC r = Esys_Load(t.esys, t.primary, t.session, ESYS_TR_NONE,
                          ESYS_TR_NONE, &ipriv, &ipub, &t.object);
    if (r != TSS2_RC_SUCCESS) {
        /* integrity or binding failures: the blob is not from this TPM or
         * was altered */
        rc = st_err_set(err, ST_E_DENIED,
                        "TPM refuses the sealed root key (sealed by another "
                        "TPM, TPM cleared, or altered): %s",
                        Tss2_RC_Decode(r));
        goto done;
    }
    r = Esys_Unseal(t.esys, t.object, t.session, ESYS_TR_NONE, ESYS_TR_NONE,
                    &data);
    if (r != TSS2_RC_SUCCESS) {
        rc = tpm_fail(err, ST_E_DENIED, "Unseal (root key)", r);
        goto done;
    }
    *out = st_secret_from(data->buffer, data->size, err);
    rc = *out ? ST_OK : (err ? err->code : ST_E_IO);
done:
    if (data) {
        st_wipe(data, sizeof(*data));
        Esys_Free(data);
    }
    tpm_close(&t);
    return rc;
}
