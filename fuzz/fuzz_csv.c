/*
 * fuzz_csv.c: the CSV reader on arbitrary bytes. The first byte picks the
 * label column: by name "y" (bit 0 clear) or by a 0-based index (bit 0
 * set: bits 1-2); bit 5 names two target columns "y,z" instead; bits 3-4
 * pick the task (auto, classification, regression, auto); bit 6 reads
 * the rows without a label column (rows to score, `model predict
 * --input`).
 */
#include "data/rows.h"
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char label[8] = "y";
    if (data[0] & 0x20)
        memcpy(label, "y,z", 4);
    else if (data[0] & 1)
        label[0] = (char)('0' + (data[0] >> 1) % 4);
    static const st_data_task tasks[] = {ST_TASK_AUTO, ST_TASK_CLASSIFICATION,
                                         ST_TASK_REGRESSION, ST_TASK_AUTO};
    int no_label = (data[0] & 0x40) != 0;
    st_data_input in = {
        ST_DATA_CSV, "fuzz.csv", no_label ? NULL : label,   data + 1, size - 1,
        NULL,        0,          tasks[(data[0] >> 3) & 3], no_label};
    if (!no_label) {
        fuzz_convert(&in);
        return 0;
    }
    /* rows to score: every row has exactly the header's columns */
    st_rows *r = NULL;
    st_err e;
    if (st_rows_open(&in, &r, &e) != ST_OK)
        return 0;
    size_t cols = st_rows_columns(r);
    st_row row;
    int done = 0;
    while (st_rows_next(r, &row, &done, &e) == ST_OK && !done)
        if (row.n != cols || row.label_len != 0)
            abort();
    st_rows_close(r);
    return 0;
}
