/*
 * audit_kek.c: the keyring's KEK "audit.log" as the audit log's sealer
 * (st_audit_sealer, include/sealtrain/audit.h). The audit log sits below
 * the keyring, so it seals its signing key through these two calls
 * instead of calling the keyring by name.
 *
 * Never: hand out the KEK itself; wrap under another KEK.
 */
#include "sealtrain/keyring.h"

#define AUDIT_KEK "audit.log"

static st_code wrap(void *ctx, const uint8_t *secret, size_t len,
                    const uint8_t *aad, size_t aadlen, st_buf *out,
                    uint32_t *used, st_err *err)
{
    st_keyring *kr = ctx;
    uint32_t v;
    st_err e2;
    /* created on first use, like the log key it seals */
    if (st_kek_current(kr, AUDIT_KEK, &v, &e2) == ST_E_NOTFOUND &&
        st_kek_create(kr, AUDIT_KEK, 0, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    return st_kek_wrap(kr, AUDIT_KEK, 0, secret, len, aad, aadlen, out, used,
                       err);
}

static st_code unwrap(void *ctx, uint32_t version, const uint8_t *wrapped,
                      size_t len, const uint8_t *aad, size_t aadlen,
                      st_secret **out, st_err *err)
{
    return st_kek_unwrap(ctx, AUDIT_KEK, version, wrapped, len, aad, aadlen,
                         out, err);
}

st_audit_sealer st_keyring_audit_sealer(st_keyring *kr)
{
    st_audit_sealer s = {kr, wrap, unwrap};
    return s;
}
