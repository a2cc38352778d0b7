/*
 * onnx_pb.h: the minimal protobuf encoder and ONNX message helpers shared
 * by the ONNX exporters of src/model/ (onnx.c: the engine's networks;
 * onnx_trees.c: gradient-boosted trees). Field numbers are onnx.proto's,
 * listed in onnx.c's header comment. Every buffer is secure memory: the
 * encoded models hold weights. Not public.
 */
#ifndef SEALTRAIN_ONNX_PB_H
#define SEALTRAIN_ONNX_PB_H

#include <stdint.h>
#include <string.h>

#include "sealtrain/err.h"
#include "sealtrain/secmem.h"
#include "train/train.h"
#include "sealtrain/version.h"

#define ONNX_IR_VERSION 8
#define ONNX_OPSET 13
#define ONNX_FLOAT 1
#define ONNX_INT64 7
#define ATTR_FLOAT 1
#define ATTR_INT 2

/* A growing buffer in secure memory. */
typedef struct pb {
    uint8_t *p;
    size_t len, cap;
    st_code rc; /* first failure; later writes are no-ops */
    st_err *err;
} pb;

static inline void pb_init(pb *b, st_err *err)
{
    memset(b, 0, sizeof(*b));
    b->err = err;
}

static inline void pb_free(pb *b)
{
    st_secmem_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static inline void pb_put(pb *b, const void *d, size_t n)
{
    if (b->rc != ST_OK)
        return;
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n)
            nc *= 2;
        uint8_t *np = st_secmem_alloc(nc, b->err);
        if (!np) {
            b->rc = b->err ? b->err->code : ST_E_IO;
            return;
        }
        if (b->len)
            memcpy(np, b->p, b->len);
        st_secmem_free(b->p);
        b->p = np;
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}

static inline void pb_varint(pb *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    pb_put(b, tmp, n);
}

static inline void pb_key(pb *b, unsigned field, unsigned wire)
{
    pb_varint(b, ((uint64_t)field << 3) | wire);
}

static inline void pb_int(pb *b, unsigned field, int64_t v)
{
    pb_key(b, field, 0);
    pb_varint(b, (uint64_t)v);
}

static inline void pb_bytes(pb *b, unsigned field, const void *d, size_t n)
{
    pb_key(b, field, 2);
    pb_varint(b, n);
    pb_put(b, d, n);
}

static inline void pb_str(pb *b, unsigned field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

/* Appends `sub` as field `field` and frees it. */
static inline void pb_msg(pb *b, unsigned field, pb *sub)
{
    if (sub->rc != ST_OK && b->rc == ST_OK)
        b->rc = sub->rc;
    pb_bytes(b, field, sub->p, sub->len);
    pb_free(sub);
}

static inline void pb_float(pb *b, unsigned field, float f)
{
    uint8_t le[4];
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++)
        le[i] = (uint8_t)(u >> (8 * i));
    pb_key(b, field, 5);
    pb_put(b, le, 4);
}

/* ---- ONNX messages ---- */

static inline void attr_int(pb *node, const char *name, int64_t v)
{
    pb a;
    pb_init(&a, node->err);
    pb_str(&a, 1, name);
    pb_int(&a, 3, v);
    pb_int(&a, 20, ATTR_INT);
    pb_msg(node, 5, &a);
}

static inline void attr_float(pb *node, const char *name, float v)
{
    pb a;
    pb_init(&a, node->err);
    pb_str(&a, 1, name);
    pb_float(&a, 2, v);
    pb_int(&a, 20, ATTR_FLOAT);
    pb_msg(node, 5, &a);
}

/* A node; `ins` and `outs` NULL-terminated. Returns the node buffer for
 * attributes; the caller passes it to pb_msg(graph, 1, ...). */
static inline void node_begin(pb *n, st_err *err, const char *op,
                              const char *name, const char *const *ins,
                              const char *const *outs)
{
    pb_init(n, err);
    for (; *ins; ins++)
        pb_str(n, 1, *ins);
    for (; *outs; outs++)
        pb_str(n, 2, *outs);
    pb_str(n, 3, name);
    pb_str(n, 4, op);
}

static inline void add_node(pb *graph, const char *op, const char *name,
                            const char *const *ins, const char *const *outs)
{
    pb n;
    node_begin(&n, graph->err, op, name, ins, outs);
    pb_msg(graph, 1, &n);
}

/* A float tensor with little-endian raw data (x86-64 and aarch64 floats
 * are stored little-endian: copied as they are). */
static inline void initializer(pb *graph, const char *name,
                               const uint64_t *dims, size_t ndims,
                               const uint8_t *data, size_t nbytes)
{
    pb t;
    pb_init(&t, graph->err);
    for (size_t i = 0; i < ndims; i++)
        pb_int(&t, 1, (int64_t)dims[i]);
    pb_int(&t, 2, ONNX_FLOAT);
    pb_str(&t, 8, name);
    pb_bytes(&t, 9, data, nbytes);
    pb_msg(graph, 5, &t);
}

/* ValueInfoProto of a tensor of elem_type (ONNX_FLOAT, ONNX_INT64) with a
 * symbolic batch: [N, *width], or [N] when width is NULL. */
static inline void value_info_typed(pb *graph, unsigned field, const char *name,
                                    int64_t elem_type, const uint64_t *width)
{
    st_err *err = graph->err;
    pb batch, shape, tensor, type, vi;
    pb_init(&batch, err);
    pb_str(&batch, 2, "N");
    pb_init(&shape, err);
    pb_msg(&shape, 1, &batch);
    if (width) {
        pb feat;
        pb_init(&feat, err);
        pb_int(&feat, 1, (int64_t)*width);
        pb_msg(&shape, 1, &feat);
    }
    pb_init(&tensor, err);
    pb_int(&tensor, 1, elem_type);
    pb_msg(&tensor, 2, &shape);
    pb_init(&type, err);
    pb_msg(&type, 1, &tensor);
    pb_init(&vi, err);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(graph, field, &vi);
}

/* The standardisation in front of a model, in float32: the initializers
 * preprocessing.shift and preprocessing.scale (the caller has checked
 * their shapes) and the nodes scaled = (input - shift) * scale. The
 * graph's next node reads "scaled". */
static inline void preprocessing_nodes(pb *graph, const st_safetensor *shift,
                                       const st_safetensor *scale)
{
    initializer(graph, "preprocessing.shift", shift->shape, 1, shift->data,
                shift->nbytes);
    initializer(graph, "preprocessing.scale", scale->shape, 1, scale->data,
                scale->nbytes);
    const char *si[] = {"input", "preprocessing.shift", NULL};
    const char *so[] = {"centred", NULL};
    add_node(graph, "Sub", "preprocessing_shift", si, so);
    const char *mi[] = {"centred", "preprocessing.scale", NULL};
    const char *mo[] = {"scaled", NULL};
    add_node(graph, "Mul", "preprocessing_scale", mi, mo);
}

/* ValueInfoProto: float tensor [N, width] with a symbolic batch. */
static inline void value_info(pb *graph, unsigned field, const char *name,
                              uint64_t width)
{
    value_info_typed(graph, field, name, ONNX_FLOAT, &width);
}

/* The ModelProto around graph g: IR version, producer, the opset imports
 * (the default domain; ai.onnx.ml at ml_opset too when ml_opset > 0) and
 * the "sealtrain.output" metadata, output_doc, that says what the output
 * holds. Takes g: it is freed in every case. rc is the caller's status so
 * far; when it or the graph failed, returns that failure and sets nothing.
 * On success *out (secure memory, st_secmem_free) and *out_len hold the
 * encoded model. */
static inline st_code onnx_model(pb *g, st_code rc, int64_t ml_opset,
                                 const char *output_doc, void **out,
                                 size_t *out_len, st_err *err)
{
    if (rc != ST_OK || g->rc != ST_OK) {
        rc = rc != ST_OK ? rc : g->rc;
        pb_free(g);
        return rc;
    }
    pb m, opset, meta;
    pb_init(&m, err);
    pb_int(&m, 1, ONNX_IR_VERSION);
    pb_str(&m, 2, "sealtrain");
    pb_str(&m, 3, st_version());
    pb_msg(&m, 7, g);
    pb_init(&opset, err);
    pb_str(&opset, 1, "");
    pb_int(&opset, 2, ONNX_OPSET);
    pb_msg(&m, 8, &opset);
    if (ml_opset > 0) {
        pb ml;
        pb_init(&ml, err);
        pb_str(&ml, 1, "ai.onnx.ml");
        pb_int(&ml, 2, ml_opset);
        pb_msg(&m, 8, &ml);
    }
    pb_init(&meta, err);
    pb_str(&meta, 1, "sealtrain.output");
    pb_str(&meta, 2, output_doc);
    pb_msg(&m, 14, &meta);
    if (m.rc != ST_OK) {
        rc = m.rc;
        pb_free(&m);
        return rc;
    }
    *out = m.p;
    *out_len = m.len;
    return ST_OK;
}

#endif
