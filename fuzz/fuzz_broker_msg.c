/*
 * fuzz_broker_msg.c: libFuzzer harness for the key release protocol's
 * frame parser and every typed payload parser (broker.h): the runtime's
 * messages are untrusted input to the broker, and the broker's to the
 * runtime. The same bytes also go through the remote broker's HELLO body
 * (src/broker/remote.h: a HELLO frame, then the signed job spec) and, when
 * that splits, the envelope through st_job_envelope_open as
 * src/server/routes_broker.c opens it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "broker/remote.h"
#include "sealtrain/broker.h"
#include "sealtrain/job.h"

static void hello_body(const uint8_t *data, size_t size)
{
    st_broker_hello h;
    const char *env = NULL;
    size_t len = 0;
    if (st_broker_hello_body_parse(data, size, &h, &env, &len, NULL) != ST_OK)
        return;
    if (!env || len == 0 || len > ST_BROKER_SPEC_MAX ||
        env + len != (const char *)data + size)
        abort();
    static const uint8_t pub[32] = {1};
    st_job_spec spec;
    uint8_t digest[32];
    if (st_job_envelope_open(env, len, "fuzz", pub, &spec, digest, NULL,
                             NULL) == ST_OK)
        st_job_spec_free(&spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hello_body(data, size);
    while (size > 0) {
        st_broker_msg m;
        size_t used = 0;
        if (st_broker_frame_parse(data, size, &m, &used, NULL) != ST_OK)
            return 0;
        st_broker_hello h;
        st_broker_keys *k = malloc(sizeof(*k));
        uint8_t nonce[32];
        json_t *j = NULL;
        switch (m.type) {
        case ST_MSG_HELLO:
            st_discard(st_broker_hello_parse(&m, &h, NULL));
            break;
        case ST_MSG_NONCE:
            st_discard(st_broker_nonce_parse(&m, nonce, NULL));
            break;
        case ST_MSG_KEYS:
            if (k)
                st_discard(st_broker_keys_parse(&m, k, NULL));
            break;
        default:
            if (st_broker_json_parse(&m, &j, NULL) == ST_OK)
                json_decref(j);
        }
        free(k);
        st_broker_msg_free(&m);
        data += used;
        size -= used;
    }
    return 0;
}
