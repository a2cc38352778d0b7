/*
 * fuzz_broker_msg.c: libFuzzer harness for the key release protocol's
 * frame parser and every typed payload parser (broker.h): the runtime's
 * messages are untrusted input to the broker, and the broker's to the
 * runtime.
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sealtrain/broker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
        case ST_MSG_HELLO: st_broker_hello_parse(&m, &h, NULL); break;
        case ST_MSG_NONCE: st_broker_nonce_parse(&m, nonce, NULL); break;
        case ST_MSG_KEYS:
            if (k)
                st_broker_keys_parse(&m, k, NULL);
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
