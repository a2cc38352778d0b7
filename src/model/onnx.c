/*
 * onnx.c: ONNX export of the engine's linear/logistic/MLP models (gbdt
 * models: onnx_trees.c, chosen here by the metadata's model type).
 *
 * Writes an ONNX ModelProto (onnx/onnx.proto, IR version 8, default-domain
 * opset 13) with a minimal protobuf encoder: varints (wire type 0) and
 * length-delimited fields (wire type 2); nested messages are encoded into
 * their own buffer first, then copied behind their length. Field numbers
 * used (onnx.proto):
 *   ModelProto: ir_version 1, producer_name 2, producer_version 3,
 *     graph 7, opset_import 8, metadata_props 14
 *   OperatorSetIdProto: domain 1, version 2
 *   GraphProto: node 1, name 2, initializer 5, input 11, output 12
 *   NodeProto: input 1, output 2, name 3, op_type 4, attribute 5
 *   AttributeProto: name 1, f 2, i 3, type 20 (FLOAT 1, INT 2)
 *   TensorProto: dims 1, data_type 2 (FLOAT 1), name 8, raw_data 9
 *   ValueInfoProto: name 1, type 2; TypeProto: tensor_type 1;
 *   TypeProto.Tensor: elem_type 1, shape 2; TensorShapeProto: dim 1;
 *   Dimension: dim_value 1, dim_param 2; StringStringEntryProto: key 1,
 *   value 2
 *
 * The graph reproduces st_trainer_predict: per layer Gemm(x, W, b) with
 * transB = 1 (W is [out, in] as torch.nn.Linear), the hidden activation
 * after every hidden layer (GELU in its exact erf form, since Gelu is not
 * an operator before opset 20), then Softmax (axis 1) for softmax CE,
 * Sigmoid for BCE, nothing for MSE. Dropout is inference-off and absent.
 * A model trained with preprocessing starts with Sub(input, shift) and
 * Mul(., scale), so the graph takes raw rows as the data owner has them.
 *
 * The architecture comes from the safetensors metadata "sealtrain.config"
 * (st_train_config_from_json) and every tensor's shape is checked against
 * it. Weights are secret: every buffer holding them is secure memory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/json.h"
#include "sealtrain/model.h"
#include "sealtrain/secmem.h"
#include "train/train.h"
#include "sealtrain/version.h"

#include "model/model_internal.h"
#include "model/onnx_pb.h"

static void activation(pb *g, st_train_activation act, const char *in,
                       const char *out, unsigned layer)
{
    char name[64];
    const char *ins[] = {in, NULL}, *outs[] = {out, NULL};
    switch (act) {
    case ST_ACT_RELU:
        snprintf(name, sizeof(name), "relu_%u", layer);
        add_node(g, "Relu", name, ins, outs);
        return;
    case ST_ACT_TANH:
        snprintf(name, sizeof(name), "tanh_%u", layer);
        add_node(g, "Tanh", name, ins, outs);
        return;
    case ST_ACT_SIGMOID:
        snprintf(name, sizeof(name), "sigmoid_%u", layer);
        add_node(g, "Sigmoid", name, ins, outs);
        return;
    case ST_ACT_GELU: {
        /* x * 0.5 * (1 + erf(x / sqrt(2))), with scalar constants as
         * initializers named per layer */
        char d[64], e[64], p[64], h[64], n[64];
        snprintf(d, sizeof(d), "gelu_%u_div", layer);
        snprintf(e, sizeof(e), "gelu_%u_erf", layer);
        snprintf(p, sizeof(p), "gelu_%u_add", layer);
        snprintf(h, sizeof(h), "gelu_%u_mul", layer);
        const char *i1[] = {in, "gelu_sqrt2", NULL}, *o1[] = {d, NULL};
        snprintf(n, sizeof(n), "gelu_%u_div_node", layer);
        add_node(g, "Div", n, i1, o1);
        const char *i2[] = {d, NULL}, *o2[] = {e, NULL};
        snprintf(n, sizeof(n), "gelu_%u_erf_node", layer);
        add_node(g, "Erf", n, i2, o2);
        const char *i3[] = {e, "gelu_one", NULL}, *o3[] = {p, NULL};
        snprintf(n, sizeof(n), "gelu_%u_add_node", layer);
        add_node(g, "Add", n, i3, o3);
        const char *i4[] = {in, p, NULL}, *o4[] = {h, NULL};
        snprintf(n, sizeof(n), "gelu_%u_mul_node", layer);
        add_node(g, "Mul", n, i4, o4);
        const char *i5[] = {h, "gelu_half", NULL}, *o5[] = {out, NULL};
        snprintf(n, sizeof(n), "gelu_%u_half_node", layer);
        add_node(g, "Mul", n, i5, o5);
        return;
    }
    }
}

static ST_MUST_CHECK st_code check_tensor(const st_safetensor *t,
                                          const char *name, uint64_t d0,
                                          uint64_t d1, size_t ndim, st_err *err)
{
    if (!t)
        return st_err_set(err, ST_E_INPUT,
                          "onnx export: tensor \"%s\" is "
                          "missing",
                          name);
    if (t->dtype != ST_DTYPE_F32 || t->ndim != ndim || t->shape[0] != d0 ||
        (ndim == 2 && t->shape[1] != d1))
        return st_err_set(err, ST_E_INPUT,
                          "onnx export: tensor \"%s\" is not F32 of the "
                          "configured shape",
                          name);
    return ST_OK;
}

st_code st_model_onnx_export(const uint8_t *buf, size_t len,
                             const char *graph_name, void **out,
                             size_t *out_len, st_err *err)
{
    *out = NULL;
    *out_len = 0;
    st_safetensors *sf = NULL;
    st_code rc = st_safetensors_parse(buf, len, &sf, err);
    if (rc != ST_OK)
        return st_err_prefix(err, "onnx export");
    const char *type = json_string_value(
        json_object_get(sf->metadata, "sealtrain.model_type"));
    if (type && strcmp(type, "gbdt") == 0) { /* trees: onnx_trees.c */
        rc = st_model_onnx_export_gbdt(sf, graph_name, out, out_len, err);
        st_safetensors_free(sf);
        return rc;
    }
    const char *cfg_text =
        json_string_value(json_object_get(sf->metadata, "sealtrain.config"));
    json_t *cfg_json = cfg_text ? st_json_parse(cfg_text, strlen(cfg_text),
                                                "sealtrain.config", err)
                                : NULL;
    st_train_config cfg;
    if (!cfg_json)
        rc = cfg_text ? err->code
                      : st_err_set(err, ST_E_INPUT,
                                   "onnx export: the safetensors metadata has "
                                   "no sealtrain.config");
    else
        rc = st_train_config_from_json(json_object_get(cfg_json, "model"),
                                       json_object_get(cfg_json, "training"),
                                       &cfg, err);
    if (rc == ST_OK)
        rc = st_train_config_preprocessing(
            json_object_get(cfg_json, "preprocessing"), &cfg, err);
    json_decref(cfg_json);
    if (rc == ST_OK && (cfg.inputs == 0 || cfg.outputs == 0))
        rc = st_err_set(err, ST_E_INPUT,
                        "onnx export: the configuration does not say the "
                        "input and output sizes");
    if (rc != ST_OK) {
        st_safetensors_free(sf);
        return rc;
    }

    pb g;
    pb_init(&g, err);
    pb_str(&g, 2, graph_name && *graph_name ? graph_name : "sealtrain");
    size_t nlayers = cfg.nhidden + 1;
    uint64_t in_w = cfg.inputs;
    char prev[64] = "input";
    if (st_train_config_has_preprocessing(&cfg)) {
        /* raw rows in: the fitted scaling first, as st_pp_apply computes
         * it in float32, (x - shift) * scale */
        const st_safetensor *sh =
            st_safetensors_find(sf, "preprocessing.shift");
        const st_safetensor *sc =
            st_safetensors_find(sf, "preprocessing.scale");
        if (!(rc = check_tensor(sh, "preprocessing.shift", cfg.inputs, 0, 1,
                                err)) &&
            !(rc = check_tensor(sc, "preprocessing.scale", cfg.inputs, 0, 1,
                                err))) {
            preprocessing_nodes(&g, sh, sc);
            snprintf(prev, sizeof(prev), "scaled");
        }
    }
    for (size_t l = 0; rc == ST_OK && l < nlayers; l++) {
        uint64_t out_w = l < cfg.nhidden ? cfg.hidden[l] : cfg.outputs;
        char wn[64], bn[64], gemm[64], act[64], node[64];
        snprintf(wn, sizeof(wn), "layers.%zu.weight", l);
        snprintf(bn, sizeof(bn), "layers.%zu.bias", l);
        const st_safetensor *w = st_safetensors_find(sf, wn);
        const st_safetensor *b = st_safetensors_find(sf, bn);
        if ((rc = check_tensor(w, wn, out_w, in_w, 2, err)) ||
            (rc = check_tensor(b, bn, out_w, 0, 1, err)))
            break;
        initializer(&g, wn, w->shape, 2, w->data, w->nbytes);
        initializer(&g, bn, b->shape, 1, b->data, b->nbytes);
        int last = l + 1 == nlayers;
        int plain_out = last && cfg.loss == ST_LOSS_MSE;
        snprintf(gemm, sizeof(gemm), "%s", plain_out ? "output" : "");
        if (!plain_out)
            snprintf(gemm, sizeof(gemm), last ? "logits" : "gemm_%zu", l);
        const char *ins[] = {prev, wn, bn, NULL}, *outs[] = {gemm, NULL};
        snprintf(node, sizeof(node), "gemm_%zu_node", l);
        pb n;
        node_begin(&n, err, "Gemm", node, ins, outs);
        attr_int(&n, "transB", 1);
        attr_float(&n, "alpha", 1.0f);
        attr_float(&n, "beta", 1.0f);
        pb_msg(&g, 1, &n);
        if (!last) {
            snprintf(act, sizeof(act), "hidden_%zu", l);
            activation(&g, cfg.activation, gemm, act, (unsigned)l);
            snprintf(prev, sizeof(prev), "%s", act);
        } else if (cfg.loss == ST_LOSS_SOFTMAX_CE) {
            pb s;
            const char *si[] = {"logits", NULL}, *so[] = {"output", NULL};
            node_begin(&s, err, "Softmax", "softmax", si, so);
            attr_int(&s, "axis", 1);
            pb_msg(&g, 1, &s);
        } else if (cfg.loss == ST_LOSS_BCE) {
            const char *si[] = {"logits", NULL}, *so[] = {"output", NULL};
            add_node(&g, "Sigmoid", "sigmoid_out", si, so);
        }
        in_w = out_w;
    }
    if (rc == ST_OK && cfg.nhidden && cfg.activation == ST_ACT_GELU) {
        const float sqrt2 = (float)M_SQRT2, one = 1.0f, half = 0.5f;
        initializer(&g, "gelu_sqrt2", NULL, 0, (const uint8_t *)&sqrt2, 4);
        initializer(&g, "gelu_one", NULL, 0, (const uint8_t *)&one, 4);
        initializer(&g, "gelu_half", NULL, 0, (const uint8_t *)&half, 4);
    }
    if (rc == ST_OK) {
        value_info(&g, 11, "input", cfg.inputs);
        value_info(&g, 12, "output", cfg.outputs);
    }
    st_safetensors_free(sf);
    return onnx_model(&g, rc, 0,
                      cfg.loss == ST_LOSS_SOFTMAX_CE
                          ? "class probabilities (softmax)"
                      : cfg.loss == ST_LOSS_BCE ? "probability of class 1"
                                                : "predicted values",
                      out, out_len, err);
}
