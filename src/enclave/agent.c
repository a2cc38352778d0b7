/*
 * agent.c: the platform attestation agent for the tpm backend (see
 * runtime.h). It answers each request from the runtime (one per nonce:
 * the local broker's and one per remote key broker): report data in, a
 * TPM 2.0 quote over the application PCR (extended with the platform's
 * own measurements of the runtime binary, the job spec and the encrypted
 * datasets) out, until the runtime closes the line.
 *
 * It must never hold a key of the broker's (it is forked before the
 * keyring is opened, and secure memory is not inherited) and never accept
 * measurements from the runtime: it measures what the platform started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "broker/msg.h"
#include "enclave/runtime.h"

int st_agent_main(const st_agent_args *a, int sock)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    st_err err;
    st_err_clear(&err);
    st_code rc = ST_OK;
    /* one quote per nonce (the local broker's, then one per remote key
     * broker), until the runtime closes the line */
    for (;;) {
        st_broker_msg m;
        /* the runtime asks once it has a nonce: within a minute and a half
         * (a remote broker's timeouts included) */
        if (st_broker_recv(sock, 90000, &m, &err) != ST_OK)
            break;
        if (m.type != ST_MSG_EVIDENCE || m.len != ST_REPORT_DATA_LEN) {
            st_broker_msg_free(&m);
            return 1;
        }
        st_evidence *ev = NULL;
        rc = st_attest_tpm_evidence(a->tcti, m.data, a->items, a->nitems, &ev,
                                    &err);
        st_broker_msg_free(&m);
        char *bundle = NULL;
        size_t len = 0;
        if (rc == ST_OK) {
            bundle = st_evidence_to_json(ev, &len, &err);
            if (!bundle)
                rc = err.code ? err.code : ST_E_INTERNAL;
        }
        st_evidence_free(ev);
        if (rc == ST_OK)
            rc = st_broker_send(sock, ST_MSG_EVIDENCE, bundle, len, &err);
        else {
            json_t *v = json_pack("{s:s,s:s}", "code", st_code_name(rc),
                                  "message", err.msg);
            /* the runtime times out if this is lost; nothing else to do */
            st_discard(st_broker_send_json(sock, ST_MSG_ERROR, v, NULL));
            json_decref(v);
        }
        free(bundle);
        if (rc != ST_OK)
            break;
    }
    return rc == ST_OK ? 0 : 1;
}
