/*
 * data_internal.h: pieces shared by the files of src/data/ (not public).
 */
#ifndef ST_DATA_INTERNAL_H
#define ST_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"

/* Result of st_data_parse_float. */
typedef enum st_num_status {
    ST_NUM_OK = 0,
    ST_NUM_EMPTY,     /* zero-length field */
    ST_NUM_SYNTAX,    /* not a decimal number */
    ST_NUM_NONFINITE, /* nan, inf, infinity (any case, any sign) */
    ST_NUM_RANGE      /* finite text, but beyond float32 */
} st_num_status;

/* Parses the whole of s[0..len) as a decimal number into a float32
 * (rounded to double first, then to float). Locale-independent. */
st_num_status st_data_parse_float(const char *s, size_t len, float *out);
/* Same, giving the double (labels are compared numerically). */
st_num_status st_data_parse_double(const char *s, size_t len, double *out);
/* What a status means, for messages: "expected a number". */
const char *st_data_num_why(st_num_status st);

/* Quotes up to 40 bytes of untrusted text for an error message, escaping
 * anything unprintable. */
void st_data_quote(const char *s, size_t len, char *out, size_t cap);

/* ---- the row readers (rows.c, csv.c, libsvm.c, idx.c) ---- */

#include "data/rows.h"
#include "sealtrain/readers.h"

/* A byte source: a file descriptor or bytes in memory, either of which
 * may be gzip-compressed (RFC 1952, detected by its magic; concatenated
 * members are read one after the other). */
typedef struct st_src {
    int fd; /* -1 for memory */
    const uint8_t *mem;
    size_t mem_len, mem_pos;
    uint64_t size; /* total bytes (file size; compressed for gzip) */
    uint64_t done; /* bytes consumed (compressed for gzip) */
    /* gzip: the inflater (its state and window in secure memory: they
     * hold plaintext) and the compressed input (secure too) */
    struct z_stream_s *z;
    uint8_t *zin;
    int z_member_done; /* the last member ended; more input: another */
} st_src;

/* One field of a CSV record: offsets into the buffer. */
typedef struct st_csv_field {
    size_t off, len;
    long line;   /* line where the field starts */
    int escaped; /* quoted and contains "" */
    int quoted;
} st_csv_field;

struct st_rows {
    st_data_format format;
    char origin[512]; /* the file named in errors */
    char labels_origin[512];
    st_src in, lab;

    /* the input window (secure memory): buf[pos..len) not yet parsed */
    uint8_t *buf;
    size_t cap, len, pos;
    int eof;
    long line; /* line number of buf[pos] */

    /* the current row (secure memory) */
    float *values;
    uint32_t *index;
    size_t vcap; /* entries in values (and index) */
    char *label; /* secure: label text (unescaped) */
    size_t label_cap;

    /* CSV */
    st_csv_field *fields;
    size_t fields_cap;
    size_t ncols;         /* fields per record (with the label) */
    size_t label_col;     /* index of the (first) label field */
    size_t nlabels;       /* label fields: 1, or several regression targets */
    size_t *label_cols;   /* their indices, in --label order */
    size_t *feature_cols; /* feature i's field index, ncols - nlabels */
    uint32_t *is_label;   /* per field: 0 feature, k + 1 for label k */
    float *targets;       /* secure: the label fields' values (nlabels > 1) */
    char **names;         /* header names, ncols */
    /* scikit-learn's layout (a first line of counts and class names):
     * the rows and class names it announces; 0 / NULL otherwise */
    uint64_t sk_rows, sk_seen;
    char **sk_classes;
    size_t sk_nclasses;

    /* IDX */
    unsigned idx_type, idx_esize;
    unsigned lab_type, lab_esize;
    uint64_t idx_items, idx_next;
    size_t idx_cols;
    uint8_t labbuf[8];
};

/* rows.c */
ST_MUST_CHECK st_code st_rows_src_read(st_rows *r, st_src *s, void *dst,
                                       size_t n, size_t *got, st_err *err);
/* Compacts the window and reads more; grows the buffer when it is full
 * (up to ST_DATA_MAX_RECORD). Sets r->eof at the end of input. */
ST_MUST_CHECK st_code st_rows_fill(st_rows *r, st_err *err);
/* Ensures room for n row values (and indices when `sparse`). */
ST_MUST_CHECK st_code st_rows_reserve_values(st_rows *r, size_t n, int sparse,
                                             st_err *err);
ST_MUST_CHECK st_code st_rows_reserve_label(st_rows *r, size_t n, st_err *err);

ST_MUST_CHECK st_code st_csv_open(st_rows *r, const char *label, st_err *err);
ST_MUST_CHECK st_code st_csv_next(st_rows *r, st_row *row, int *done,
                                  st_err *err);
ST_MUST_CHECK st_code st_libsvm_next(st_rows *r, st_row *row, int *done,
                                     st_err *err);
ST_MUST_CHECK st_code st_idx_open(st_rows *r, st_err *err);
ST_MUST_CHECK st_code st_idx_next(st_rows *r, st_row *row, int *done,
                                  st_err *err);
#endif
