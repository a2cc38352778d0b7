/*
 * fuzz_idx.c: the IDX reader on arbitrary bytes. The first two bytes give
 * the length of the images file (little-endian); the labels file is the
 * rest.
 */
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8;
    if (n > size - 2)
        n = size - 2;
    st_data_input in = {ST_DATA_IDX, "images.idx", "labels.idx", data + 2,
                        n,           data + 2 + n, size - 2 - n, ST_TASK_AUTO, 0};
    fuzz_convert(&in);
    return 0;
}
