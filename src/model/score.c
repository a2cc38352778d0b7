/*
 * score.c: a model owner's own, non-secret rows scored locally (`model
 * predict NAME --input FILE.csv --out FILE.csv`, docs/predict.md): no
 * enclave, no key broker. The model is decrypted in this process with the
 * owner's identity (as `model decrypt` would), its preprocessing applied
 * and its original labels written, through the same predictor the
 * enclave runtime uses (src/train/predictor.c).
 *
 * The input is CSV with a header, every column a feature in the order
 * the model was trained on (its count is checked); the output is the
 * predictor's CSV, written atomically (0600). Audited ("model.predict",
 * "local": true). Access checks are the caller's.
 *
 * Never: keep the weights, the rows or the outputs outside secure memory
 * (the output file is the caller's to ask for).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/rows.h"
#include "model/model_internal.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/readers.h"
#include "sealtrain/secmem.h"

/* Every row of the CSV into secure memory, rows x cols floats. */
static ST_MUST_CHECK st_code read_rows(const char *path, size_t cols, float **x,
                                       size_t *rows, st_err *err)
{
    st_data_input in = {.format = ST_DATA_CSV, .path = path, .no_label = 1};
    st_rows *r = NULL;
    st_code rc = st_rows_open(&in, &r, err);
    if (rc != ST_OK)
        return rc;
    if (st_rows_columns(r) != cols)
        rc = st_err_at(err, ST_E_INPUT, path, 1, 0,
                       "%zu columns: the model takes %zu features (every "
                       "column is one, in the training order)",
                       st_rows_columns(r), cols);
    size_t cap = 0, n = 0;
    float *buf = NULL;
    st_row row;
    int done = 0;
    while (rc == ST_OK && (rc = st_rows_next(r, &row, &done, err)) == ST_OK &&
           !done) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            float *nb = st_secmem_alloc(ncap * cols * sizeof(float), err);
            if (!nb) {
                rc = err ? err->code : ST_E_IO;
                break;
            }
            if (buf)
                memcpy(nb, buf, n * cols * sizeof(float));
            st_secmem_free(buf);
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + n * cols, row.value, cols * sizeof(float));
        n++;
    }
    st_rows_close(r);
    if (rc == ST_OK && n == 0)
        rc = st_err_at(err, ST_E_INPUT, path, 2, 0, "no rows to score");
    if (rc != ST_OK) {
        st_secmem_free(buf);
        return rc;
    }
    *x = buf;
    *rows = n;
    return ST_OK;
}

st_code st_model_score_csv(st_workspace *ws, const st_model_record *r,
                           const st_age_identity *ids, size_t nids,
                           const char *in_path, const char *out_path,
                           const char *actor, size_t *rows, st_err *err)
{
    *rows = 0;
    void *plain = NULL;
    size_t len = 0;
    st_predictor *p = NULL;
    st_code rc = st_model_open(r, ids, nids, &plain, &len, err);
    if (rc == ST_OK)
        rc = st_predictor_load(plain, len, &p, err);
    st_secmem_free(plain);
    float *x = NULL, *out = NULL;
    char *csv = NULL;
    size_t n = 0, clen = 0;
    if (rc == ST_OK)
        rc = read_rows(in_path, st_predictor_features(p), &x, &n, err);
    if (rc == ST_OK && !(out = st_secmem_alloc(
                             n * st_predictor_outputs(p) * sizeof(float), err)))
        rc = err ? err->code : ST_E_IO;
    if (rc == ST_OK)
        rc = st_predictor_predict(p, x, n, out, err);
    if (rc == ST_OK)
        rc = st_predictor_csv(p, out, n, &csv, &clen, err);
    if (rc == ST_OK)
        rc = st_fs_write_atomic(out_path, csv, clen, 0600, err);
    char hex[65] = "";
    if (rc == ST_OK) {
        uint8_t d[32];
        st_sha256(csv, clen, d);
        st_hex_encode(d, 32, hex);
        *rows = n;
    }
    st_secmem_free(csv);
    st_secmem_free(out);
    st_secmem_free(x);
    st_predictor_free(p);
    st_model_audit(ws, actor, "model.predict", r,
                   rc == ST_OK ? "success" : "failure",
                   rc == ST_OK ? NULL : err->msg,
                   json_pack("{s:b,s:s,s:I,s:s}", "local", 1, "input", in_path,
                             "rows", (json_int_t)n, "output_sha256", hex));
    return rc;
}
