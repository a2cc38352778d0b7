/*
 * fuzz_csv.c: the CSV reader on arbitrary bytes. The first byte picks the
 * label column: by name "y" (even) or by a 0-based index (odd: byte/2 % 4).
 */
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char label[8] = "y";
    if (data[0] & 1)
        label[0] = (char)('0' + (data[0] >> 1) % 4);
    st_data_input in = {ST_DATA_CSV, "fuzz.csv", label, data + 1,
                        size - 1,    NULL,       0};
    fuzz_convert(&in);
    return 0;
}
