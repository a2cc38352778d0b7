/*
 * fuzz_gbdt_config.c: libFuzzer harness for a gbdt job spec's "model",
 * "training" and "preprocessing" sections (gbdt.h). Whatever
 * st_gbdt_config_from_json accepts must serialise with
 * st_gbdt_config_to_json and read back to the same configuration, and the
 * controller's memory estimate must not overflow into nonsense for it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/gbdt.h"
#include "sealtrain/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = st_json_parse((const char *)data, size, "fuzz", NULL);
    if (!j)
        return 0;
    st_gbdt_config c, back;
    if (json_is_object(j) &&
        st_gbdt_config_from_json(
            json_object_get(j, "model"), json_object_get(j, "training"),
            json_object_get(j, "preprocessing"), &c, NULL) == ST_OK) {
        json_t *out = st_gbdt_config_to_json(&c);
        if (!out ||
            st_gbdt_config_from_json(
                json_object_get(out, "model"), json_object_get(out, "training"),
                json_object_get(out, "preprocessing"), &back, NULL) != ST_OK ||
            memcmp(&c, &back, sizeof(c)) != 0)
            abort();
        json_decref(out);
        if (st_gbdt_secure_bytes(&c, 1000, 10, 3, 100, 1) < 1)
            abort();
    }
    json_decref(j);
    return 0;
}
