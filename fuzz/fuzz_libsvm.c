/*
 * fuzz_libsvm.c: the LIBSVM/svmlight reader on arbitrary bytes.
 */
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the size's parity picks the task: labels as classes or as targets */
    st_data_input in = {ST_DATA_LIBSVM,
                        "fuzz.svm",
                        NULL,
                        data,
                        size,
                        NULL,
                        0,
                        size & 1 ? ST_TASK_REGRESSION : ST_TASK_AUTO,
                        0};
    fuzz_convert(&in);
    return 0;
}
