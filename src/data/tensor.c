/*
 * tensor.c: parsing and validating the sealtrain tensor layout
 * (readers.h, docs/formats.md) once it is decrypted in memory.
 *
 * The view points into the caller's buffer (no copies: a decrypted
 * dataset in secure memory is used in place by the training engine).
 * Every offset and size is checked against the buffer before any pointer
 * is formed; every label must be below the class count and every feature
 * finite, so the trainer can index and compute without checks of its own.
 * The bytes are untrusted until checked (they come out of an
 * authenticated file, but its writer could have been anyone holding a
 * key).
 */
#include "data_internal.h"

#include <math.h>
#include <string.h>

#include "sealtrain/bytes.h"

st_code st_tensor_parse(const uint8_t *data, size_t len, st_tensor_view *v,
                        st_err *err)
{
    memset(v, 0, sizeof(*v));
    st_reader rd;
    st_reader_init(&rd, data, len);
    uint8_t magic[8];
    st_read_bytes(&rd, magic, 8);
    uint32_t version = st_read_u32le(&rd);
    uint32_t hsize = st_read_u32le(&rd);
    uint64_t rows = st_read_u64le(&rd);
    uint32_t cols = st_read_u32le(&rd);
    uint32_t kind = st_read_u32le(&rd);
    uint32_t classes = st_read_u32le(&rd);
    uint32_t reserved = st_read_u32le(&rd);
    uint64_t foff = st_read_u64le(&rd);
    uint64_t loff = st_read_u64le(&rd);
    uint64_t noff = st_read_u64le(&rd);
    if (rd.failed)
        return st_err_set(err, ST_E_INPUT,
                          "tensor: %zu bytes is shorter than the header", len);
    if (memcmp(magic, ST_TENSOR_MAGIC, 8) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "tensor: bad magic: expected \"STTENSOR\"");
    if (version != ST_TENSOR_VERSION || hsize != ST_TENSOR_HEADER_SIZE)
        return st_err_set(err, ST_E_INPUT,
                          "tensor: version %u, header size %u: expected "
                          "version 1 with a 64-byte header",
                          version, hsize);
    /* kind 1: class indices; kind 2: `reserved` is the number of targets */
    uint32_t targets = kind == ST_TENSOR_LABEL_VALUE ? reserved : 1;
    if (!((kind == ST_TENSOR_LABEL_CLASS && reserved == 0 && classes > 0 &&
           classes <= ST_DATA_MAX_CLASSES) ||
          (kind == ST_TENSOR_LABEL_VALUE && classes == 0 && targets > 0 &&
           targets <= ST_DATA_MAX_TARGETS)))
        return st_err_set(err, ST_E_INPUT,
                          "tensor: label kind %u with %u classes and %u "
                          "targets: expected kind 1 (class indices, 1 to %u "
                          "classes) or 2 (values, no classes, 1 to %u "
                          "targets)",
                          kind, classes, reserved, ST_DATA_MAX_CLASSES,
                          ST_DATA_MAX_TARGETS);
    if (rows == 0 || cols == 0 || cols > ST_DATA_MAX_COLUMNS ||
        rows > (UINT64_C(1) << 50) / cols)
        return st_err_set(err, ST_E_INPUT,
                          "tensor: %llu rows, %u columns: out of range",
                          (unsigned long long)rows, cols);
    uint64_t feat = rows * cols * 4, lab = rows * targets * 4;
    if (foff != ST_TENSOR_HEADER_SIZE || loff != foff + feat ||
        noff != loff + lab || noff > len)
        return st_err_set(err, ST_E_INPUT,
                          "tensor: section offsets do not match the shape "
                          "or the size (%zu bytes)",
                          len);
    v->rows = rows;
    v->cols = cols;
    v->kind = kind;
    v->classes = classes;
    v->targets = targets;
    v->features = (const float *)(data + foff);
    v->labels = (const float *)(data + loff);
    v->names = data + noff;
    v->names_len = len - noff;
    /* the names section: exactly one length-prefixed name per class (per
     * target for values) */
    uint32_t nnames = classes ? classes : targets;
    st_reader_init(&rd, v->names, v->names_len);
    for (uint32_t k = 0; k < nnames; k++) {
        uint32_t n = st_read_u32le(&rd);
        if (rd.failed || n == 0 || n > ST_DATA_MAX_LABEL ||
            !st_read_view(&rd, n))
            return st_err_set(err, ST_E_INPUT,
                              "tensor: %s name %u is malformed",
                              classes ? "class" : "target", k);
    }
    if (st_reader_left(&rd) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "tensor: %zu bytes after the %s names",
                          st_reader_left(&rd), classes ? "class" : "target");
    for (uint64_t i = 0; i < rows * targets; i++) {
        float l;
        memcpy(&l, data + loff + 4 * i, 4);
        if (classes &&
            !(l >= 0.0f && l < (float)classes && l == (float)(uint32_t)l))
            return st_err_set(err, ST_E_INPUT,
                              "tensor: row %llu has label %g, expected an "
                              "integer below %u",
                              (unsigned long long)i, (double)l, classes);
        if (!classes && !isfinite(l))
            return st_err_set(err, ST_E_INPUT,
                              "tensor: target %llu of row %llu is not "
                              "finite",
                              (unsigned long long)(i % targets),
                              (unsigned long long)(i / targets));
    }
    for (uint64_t i = 0; i < rows * cols; i++) {
        float f;
        memcpy(&f, data + foff + 4 * i, 4);
        if (!isfinite(f))
            return st_err_set(err, ST_E_INPUT,
                              "tensor: feature %llu of row %llu is not "
                              "finite",
                              (unsigned long long)(i % cols),
                              (unsigned long long)(i / cols));
    }
    return ST_OK;
}

st_code st_tensor_class_name(const st_tensor_view *v, uint32_t k,
                             const char **name, size_t *len, st_err *err)
{
    uint32_t count = v->classes ? v->classes : v->targets;
    if (k >= count)
        return st_err_set(err, ST_E_USAGE, "name %u of %u", k, count);
    st_reader rd;
    st_reader_init(&rd, v->names, v->names_len);
    for (uint32_t i = 0;; i++) {
        uint32_t n = st_read_u32le(&rd);
        const uint8_t *p = st_read_view(&rd, n);
        if (rd.failed)
            return st_err_set(err, ST_E_INPUT, "tensor: bad names section");
        if (i == k) {
            *name = (const char *)p;
            *len = n;
            return ST_OK;
        }
    }
}
