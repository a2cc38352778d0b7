/*
 * fuzz_hparams.c: libFuzzer harness for the job spec's "model",
 * "training" and "preprocessing" sections (train.h). Whatever st_train_config_from_json
 * accepts must serialise with st_train_config_to_json and read back to the
 * same configuration, and resolving it against a small dataset must either
 * succeed or fail cleanly; when it succeeds, a trainer must be creatable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/json.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = st_json_parse((const char *)data, size, "fuzz", NULL);
    if (!j)
        return 0;
    st_train_config c, back;
    if (json_is_object(j) &&
        st_train_config_from_json(json_object_get(j, "model"),
                                  json_object_get(j, "training"), &c,
                                  NULL) == ST_OK &&
        st_train_config_preprocessing(json_object_get(j, "preprocessing"), &c,
                                      NULL) == ST_OK) {
        json_t *out = st_train_config_to_json(&c);
        if (!out ||
            st_train_config_from_json(json_object_get(out, "model"),
                                      json_object_get(out, "training"), &back,
                                      NULL) != ST_OK ||
            st_train_config_preprocessing(json_object_get(out, "preprocessing"),
                                          &back, NULL) != ST_OK ||
            memcmp(&c, &back, sizeof(c)) != 0)
            abort();
        json_decref(out);
        static const float x[4 * 3] = {0};
        static const float y[4] = {0, 1, 0, 1};
        st_train_data d = {x, y, 4, 3, 1, 2};
        /* keep trainers small: the fuzzer is about parsing, not memory */
        int small = c.batch_size <= 256 && c.nhidden <= 3;
        for (size_t i = 0; i < c.nhidden; i++)
            small = small && c.hidden[i] <= 64;
        if (small && st_train_config_resolve(&c, &d, NULL) == ST_OK) {
            st_trainer *t = NULL;
            if (st_trainer_new(&c, &t, NULL) != ST_OK)
                abort();
            st_trainer_free(t);
        }
    }
    json_decref(j);
    return 0;
}
