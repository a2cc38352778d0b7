/*
 * sealtrain/readers.h: what a dataset is read from (CSV, LIBSVM/svmlight,
 * IDX: formats, the task, limits), the input rules, and sealtrain's
 * float32 tensor layout. The readers themselves, their two passes and
 * the conversion are src/data/rows.h, behind st_dataset_import.
 *
 * Readers stream: they hold one input buffer (1 MiB, growing to at most
 * ST_DATA_MAX_RECORD for one long record) and one row, all in secure
 * memory, whatever the size of the file. Conversion takes two passes over
 * the input: st_data_scan validates every row and learns the schema (rows,
 * columns, label classes) without producing any output; st_data_convert
 * then reads the file again and hands the tensor bytes to a sink (the age
 * encryptor) in chunks, so plaintext never reaches a file. If the input
 * changes between the passes, conversion fails.
 *
 * Input rules (docs/formats.md has the full text):
 *  - numbers: [+-]digits[.digits][(e|E)[+-]digits], locale-independent,
 *    the whole field; no spaces, hex, NaN or infinity; must fit float32.
 *  - CSV (RFC 4180): a header row of unique, non-empty names; LF or CRLF;
 *    quoted fields with "" escapes; every record has the header's field
 *    count; one UTF-8 BOM at the start is skipped. Or scikit-learn's
 *    layout: a first line "n_samples,n_features[,class names...]", then
 *    rows of the features and the class index (column "target").
 *  - any of them gzip-compressed (read through zlib, in secure memory).
 *  - LIBSVM: "label idx:value ..." with 1-based, strictly increasing
 *    indices; "# comment" tails and comment lines are ignored; "qid:" is
 *    rejected (ranking data is not supported).
 *  - IDX (MNIST): magic 00 00 TYPE NDIM, big-endian u32 dimensions, data
 *    big-endian; an images file (N x d1 x ...) and a labels file (N, an
 *    integer type); sizes must match exactly.
 *  - labels (classification): canonical integers 0..K-1 are used as class
 *    indices (K = largest + 1); any other labels are mapped to 0..K-1 in
 *    sorted order (numerically when all are numbers, else bytewise), and
 *    the names travel inside the encrypted tensor, never in clear.
 *  - targets (regression): one or more numeric label columns (CSV
 *    "--label a,b"), each value a number as above; the task is chosen
 *    from the labels when the caller leaves it out (st_data_scan).
 *
 * Errors name the file, line and column (CSV: the field number and its
 * header name) and what was expected.
 */
#ifndef SEALTRAIN_READERS_H
#define SEALTRAIN_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_DATA_MAX_RECORD (64u << 20) /* longest CSV/LIBSVM record */
#define ST_DATA_MAX_COLUMNS (1u << 20)
#define ST_DATA_MAX_CLASSES 65536u
#define ST_DATA_MAX_LABEL 256u    /* bytes of one label's text */
#define ST_DATA_MAX_TARGETS 1024u /* regression target columns */
/* Largest feature matrix (rows x cols x 4 bytes) a dataset may have. */
#define ST_DATA_MAX_TENSOR (UINT64_C(64) << 30)

/* What the labels are. AUTO lets st_data_scan choose (see scan.c). */
typedef enum st_data_task {
    ST_TASK_AUTO = 0,
    ST_TASK_CLASSIFICATION = 1,
    ST_TASK_REGRESSION = 2
} st_data_task;

/* "classification", "regression" (AUTO: "auto"). */
const char *st_data_task_name(st_data_task t);
/* Parses "classification", "regression" or "auto". */
ST_MUST_CHECK st_code st_data_task_parse(const char *s, st_data_task *out,
                                         st_err *err);

typedef enum st_data_format {
    ST_DATA_CSV = 1,
    ST_DATA_LIBSVM = 2,
    ST_DATA_IDX = 3
} st_data_format;

/* "csv", "libsvm", "idx". */
const char *st_data_format_name(st_data_format f);
/* Parses "csv", "libsvm" (or "svmlight"), "idx". */
ST_MUST_CHECK st_code st_data_format_parse(const char *s, st_data_format *out,
                                           st_err *err);
/* From the file name: .csv, .svm/.libsvm/.svmlight/.txt, .idx / -ubyte;
 * ST_E_USAGE when it cannot tell. */
ST_MUST_CHECK st_code st_data_format_guess(const char *path,
                                           st_data_format *out, st_err *err);

/* What to read. Either files (path, label) or, when `data` is not NULL,
 * bytes in memory (tests and fuzzers; `path` then only names the input
 * in errors). */
typedef struct st_data_input {
    st_data_format format;
    const char *path;  /* data file; IDX: the images file */
    const char *label; /* CSV: label column, by name, else a 0-based index,
                          or several joined by commas (regression targets);
                          IDX: path of the labels file; LIBSVM: NULL */
    const void *data;
    size_t data_len;
    const void *labels; /* IDX labels in memory */
    size_t labels_len;
    st_data_task task; /* AUTO (0): chosen from the labels by the scan */
    int no_label;      /* CSV only, `label` NULL: every column is a feature
                          (rows to be scored, which have no label) */
} st_data_input;

/* Progress callback: bytes done of total over both passes. */
typedef void (*st_data_progress)(void *ctx, uint64_t done, uint64_t total);

/* The tensor layout (docs/formats.md): a 64-byte little-endian header,
 *   0 magic "STTENSOR"   8 u32 version (1)   12 u32 header size (64)
 *  16 u64 rows          24 u32 cols         28 u32 label kind
 *  32 u32 classes       36 u32 targets (kind 1: 0, kind 2: T)
 *  40 u64 features offset (64)  48 u64 labels offset  56 u64 names offset
 * then rows x cols float32 features (row-major), then the labels and the
 * names section:
 *  kind 1 (class): rows float32 labels (class indices 0..K-1, exact
 *    integers: the training engine's y), and `classes` names, each a u32
 *    length and its bytes (the original label texts);
 *  kind 2 (value, regression): rows x T float32 targets (row-major), and
 *    T target names (the label columns' names) in the same form. */
#define ST_TENSOR_MAGIC "STTENSOR"
#define ST_TENSOR_VERSION 1u
#define ST_TENSOR_HEADER_SIZE 64u
#define ST_TENSOR_LABEL_CLASS 1u
#define ST_TENSOR_LABEL_VALUE 2u

/* A parsed, validated view into a tensor in memory (no copies). */
typedef struct st_tensor_view {
    uint64_t rows;
    uint32_t cols;
    uint32_t kind;         /* ST_TENSOR_LABEL_CLASS or ST_TENSOR_LABEL_VALUE */
    uint32_t classes;      /* 0 for kind VALUE */
    uint32_t targets;      /* label values per row: 1 for kind CLASS */
    const float *features; /* rows * cols, 4-byte aligned when the buffer is */
    const float *labels;   /* rows class indices, integers < classes, or
                              rows x targets finite values */
    const uint8_t *names;  /* the names section */
    size_t names_len;
} st_tensor_view;

/* Checks the header, the exact size, every label < classes (or finite),
 * every feature finite and the names section; errors say which field is
 * wrong. */
ST_MUST_CHECK st_code st_tensor_parse(const uint8_t *data, size_t len,
                                      st_tensor_view *out, st_err *err);
/* The name of class k, or of target k for kind VALUE (not
 * NUL-terminated) from a parsed view. */
ST_MUST_CHECK st_code st_tensor_class_name(const st_tensor_view *v, uint32_t k,
                                           const char **name, size_t *len,
                                           st_err *err);

#ifdef __cplusplus
}
#endif
#endif
