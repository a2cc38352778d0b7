/*
 * rows.h (src/data): the dataset readers of sealtrain/readers.h (whose
 * header says how they stream, and the input rules): a row reader over
 * any format, the validating scan that learns the schema (pass 1), and
 * the conversion into the tensor layout (pass 2). The data module's
 * import and the model's scoring read rows through these.
 */
#ifndef SEALTRAIN_DATA_ROWS_H
#define SEALTRAIN_DATA_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"
#include "sealtrain/readers.h"

/* One row, valid until the next call. Dense rows (CSV, IDX) have
 * index == NULL and n == columns; sparse rows (LIBSVM) list 0-based column
 * indices, strictly increasing. */
typedef struct st_row {
    long line; /* 1-based line (CSV: where the record starts); IDX: item */
    const char *label; /* the (first) label column's text */
    size_t label_len;
    /* CSV with several label columns: their values, parsed as numbers;
     * NULL (ntargets 0) otherwise */
    const float *target;
    size_t ntargets;
    size_t n;
    const uint32_t *index;
    const float *value;
} st_row;

typedef struct st_rows st_rows;

ST_MUST_CHECK st_code st_rows_open(const st_data_input *in, st_rows **out,
                                   st_err *err);
/* The next row into *row; *done = 1 at the end (then *row is unset). */
ST_MUST_CHECK st_code st_rows_next(st_rows *r, st_row *row, int *done,
                                   st_err *err);
/* Feature columns: CSV and IDX know them at open; LIBSVM returns 0 (the
 * count is the largest index, known after a scan). */
size_t st_rows_columns(const st_rows *r);
/* CSV: the header name of feature column i (label column excluded), and
 * of the label column; NULL for other formats. */
const char *st_rows_feature_name(const st_rows *r, size_t i);
const char *st_rows_label_name(const st_rows *r);
/* Label columns (CSV: as many as --label named; others: 1) and the CSV
 * header name of label column i (NULL for other formats). */
size_t st_rows_label_columns(const st_rows *r);
const char *st_rows_target_name(const st_rows *r, size_t i);
/* Class names the input gives for class indices 0..n-1 (CSV in
 * scikit-learn's layout: a first line of counts and class names); 0 and
 * NULL otherwise. Valid until st_rows_close. */
size_t st_rows_class_names(const st_rows *r, const char *const **names);
/* Bytes consumed so far and the total (for progress). */
void st_rows_progress(const st_rows *r, uint64_t *done, uint64_t *total);
void st_rows_close(st_rows *r);

/* The schema learnt by a scan. */
typedef struct st_data_schema {
    st_data_format format;
    uint64_t rows;
    uint32_t cols;
    char **feature_names; /* cols names (CSV), else NULL */
    char *label_name;     /* CSV header name of the label column, or NULL */
    st_data_task task;    /* never AUTO after a scan */
    int task_chosen;      /* 1: the scan chose the task (input said AUTO) */
    uint64_t distinct;    /* distinct label texts seen (at most the limit) */
    uint32_t classes;     /* K; 0 for regression */
    int labels_mapped;    /* 0: labels were the integers 0..K-1 */
    uint32_t targets;     /* regression targets (1 for classification) */
    char **target_names;  /* regression: targets names (CSV header names,
                             else "target"); NULL for classification */
    char **class_names;   /* classes names the input gives (scikit-learn's
                             layout: its first line), else NULL; they name
                             the classes in the tensor */
    /* Private: label texts (secure memory) and their lookup table. */
    struct st_label_set *labels;
} st_data_schema;

/* Pass 1: reads and validates every row; fills *schema (free it with
 * st_data_schema_free). Writes nothing anywhere. */
ST_MUST_CHECK st_code st_data_scan(const st_data_input *in,
                                   st_data_schema *schema,
                                   st_data_progress progress, void *pctx,
                                   st_err *err);
void st_data_schema_free(st_data_schema *schema);

/* Receives tensor bytes in order; the bytes are plaintext in secure
 * memory, valid only during the call. */
typedef st_code (*st_data_sink)(void *ctx, const uint8_t *data, size_t len,
                                st_err *err);

/* Pass 2: reads the input again and streams the tensor (header, features,
 * labels, class names) into `sink`; *size gets its length and
 * plain_sha256 its SHA-256. Fails if the input no longer matches the
 * schema. */
ST_MUST_CHECK st_code st_data_convert(const st_data_input *in,
                                      const st_data_schema *schema,
                                      st_data_sink sink, void *sctx,
                                      st_data_progress progress, void *pctx,
                                      uint64_t *size, uint8_t plain_sha256[32],
                                      st_err *err);

#endif
