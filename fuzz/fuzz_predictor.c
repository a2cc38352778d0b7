/*
 * fuzz_predictor.c: libFuzzer harness for st_predictor_load
 * (src/train/predictor.c) on arbitrary safetensors bytes: either engine's
 * layout (sealtrain.config, the tensors, gbdt's XGBoost JSON), the labels
 * in the metadata. Property: no crash or leak; a model that loads
 * predicts on two rows of zeros and writes CSV whose length is what it
 * says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_predictor *p = NULL;
    st_err err;
    if (st_predictor_load(data, size, &p, &err) != ST_OK) {
        if (p)
            abort();
        return 0;
    }
    size_t f = st_predictor_features(p), no = st_predictor_outputs(p);
    if (f == 0 || no == 0 || f > (1u << 20) || no > (1u << 20)) {
        st_predictor_free(p);
        return 0;
    }
    float *x = calloc(2 * f, sizeof(float));
    float *out = calloc(2 * no, sizeof(float));
    char *csv = NULL;
    size_t len = 0;
    if (x && out && st_predictor_predict(p, x, 2, out, &err) == ST_OK &&
        st_predictor_csv(p, out, 2, &csv, &len, &err) == ST_OK &&
        strlen(csv) != len)
        abort();
    st_secmem_free(csv);
    free(x);
    free(out);
    st_predictor_free(p);
    return 0;
}
