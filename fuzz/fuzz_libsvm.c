/*
 * fuzz_libsvm.c: the LIBSVM/svmlight reader on arbitrary bytes.
 */
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_data_input in = {ST_DATA_LIBSVM, "fuzz.svm", NULL, data, size, NULL, 0};
    fuzz_convert(&in);
    return 0;
}
