/*
 * fuzz_onnx_export.c: libFuzzer harness for the ONNX exporter
 * (src/model/onnx.c) on arbitrary safetensors bytes: the safetensors
 * parser, the embedded sealtrain.config, and shape checks before any
 * tensor is copied. Property: no crash or leak; whatever is accepted comes
 * out as a ModelProto starting with ir_version 8 (field 1, varint 8).
 */
#include <stdint.h>
#include <stdlib.h>

#include <sealtrain/sealtrain.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *out = NULL;
    size_t len = 0;
    st_err err;
    if (st_model_onnx_export(data, size, "fuzz", &out, &len, &err) == ST_OK) {
        const uint8_t *p = out;
        if (len < 2 || p[0] != 0x08 || p[1] != 0x08)
            abort();
    } else if (out)
        abort();
    st_secmem_free(out);
    return 0;
}
