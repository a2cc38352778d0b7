/*
 * fuzz_policy_envelope.c: libFuzzer harness for the release policies that
 * arrive signed over HTTPS (PUT /v1/datasets/NAME/policy ->
 * st_release_policy_put -> st_release_policy_open): the envelope's JSON,
 * DSSE structure and base64, the signature check, the statement's binding
 * to the dataset and the strict policy parser on the signed payload.
 *
 * The first byte picks the mode: 0, the rest is the envelope text as a
 * client would send it (its signatures cannot verify, so this drives the
 * envelope parser and the refusals); otherwise the rest is a statement
 * payload that the harness signs with the owner's fixed key, so that the
 * binding and the policy parser behind a valid signature are reached too.
 * Property: no crash or leak; a statement is accepted only when it binds
 * dataset "digits" with the expected id and its policy parses alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/policy.h"
#include "fuzz_dsse_common.h"

#define ID "00112233445566778899aabbccddeeff"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t seed[32], pub[32];
    fuzz_dsse_key(0x24, seed, pub);
    if (size < 1)
        return 0;
    const uint8_t *body = data + 1;
    size_t len;
    char *text =
        fuzz_dsse_text(data, size, ST_DSSE_TYPE_RELEASE_POLICY, seed, &len);
    if (!text)
        return 0;
    st_release_policy *p = NULL;
    if (st_release_policy_open(text, len, "digits", ID, "dana", pub, &p,
                               NULL) == ST_OK) {
        if (data[0] == 0)
            abort(); /* nothing unsigned by the owner's key is accepted */
        json_t *stmt = json_loadb((const char *)body, size - 1, 0, NULL);
        const char *id = json_string_value(json_object_get(stmt, "dataset_id"));
        char *again = json_dumps(json_object_get(stmt, "policy"), 0);
        st_release_policy *q = NULL;
        if (!id || strcmp(id, ID) || !again ||
            st_release_policy_parse(again, strlen(again), "fuzz", &q, NULL) !=
                ST_OK)
            abort(); /* accepted only a bound, valid policy */
        st_release_policy_free(q);
        free(again);
        json_decref(stmt);
    }
    st_release_policy_free(p);
    free(text);
    return 0;
}
