/*
 * fuzz_safetensors.c: libFuzzer harness for the strict safetensors loader
 * (train.h): st_safetensors_parse on the raw input, every tensor's bytes
 * read in full (so an offset that escapes the buffer shows under ASan),
 * then loading into a small fixed model, which must either take all
 * weights or refuse the file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "train/train.h"

static st_trainer *model(void)
{
    static st_trainer *t;
    if (!t) {
        st_train_config c;
        st_train_config_default(&c);
        c.model = ST_MODEL_MLP;
        c.nhidden = 1;
        c.hidden[0] = 3;
        c.inputs = 4;
        c.outputs = 2;
        if (st_trainer_new(&c, &t, NULL) != ST_OK)
            abort();
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_safetensors *st = NULL;
    if (st_safetensors_parse(data, size, &st, NULL) == ST_OK) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < st->count; i++) {
            const st_safetensor *t = &st->tensors[i];
            if (t->data < data || t->data + t->nbytes > data + size)
                abort();
            for (uint64_t j = 0; j < t->nbytes; j++)
                sink ^= t->data[j];
            if (st_safetensors_find(st, t->name) == NULL)
                abort();
        }
        (void)sink;
        st_safetensors_free(st);
    }
    st_discard(st_trainer_load_safetensors(model(), data, size, NULL));
    return 0;
}
