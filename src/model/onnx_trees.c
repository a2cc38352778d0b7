/*
 * onnx_trees.c: ONNX export of gradient-boosted trees (gbdt models).
 *
 * Reads XGBoost's JSON model out of the sealed safetensors buffer
 * (tensor "xgboost.model", docs/models.md "Gradient-boosted trees in the
 * model") and writes one ai.onnx.ml operator (opset 3, onnx/defs/
 * traditionalml/defs.cc):
 *
 *   binary:logistic   TreeEnsembleClassifier, every leaf's weight to class
 *                     0, base_values [logit(base_score)], post_transform
 *                     LOGISTIC: ONNX Runtime's binary case then outputs
 *                     [1 - p, p], as XGBoost's predict_proba
 *   multi:softprob    TreeEnsembleClassifier, leaf weights to the tree's
 *                     class (XGBoost's tree_info), base_values base_score
 *                     per class, post_transform SOFTMAX
 *   reg:squarederror  TreeEnsembleRegressor, one target, base_values
 *                     [base_score], aggregate SUM, post_transform NONE
 *
 * Classifiers output "label" (int64 [N], the class index) and
 * "probabilities" (float [N, classes]); the regressor "output" (float
 * [N, 1]). XGBoost goes left when x < split_condition and a missing value
 * follows default_left: mode BRANCH_LT, true = left, missing tracks true =
 * default_left. A model with categorical splits is refused. A model
 * trained with preprocessing starts with Sub(shift) and Mul(scale), as
 * onnx.c's, so the graph takes raw rows.
 *
 * Memory: the arrays built here and the encoded model are secure memory;
 * jansson's parse of the model JSON is its ordinary heap (freed, not
 * wiped), as the XGBoost buffers in training are (docs/security.md).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "model/onnx_pb.h"
#include "train/gbdt.h"
#include "sealtrain/json.h"
#include "sealtrain/sealtrain.h" /* st_version */

#define ONNX_ML_OPSET 3
#define ATTR_STRING 3
#define ATTR_FLOATS 6
#define ATTR_INTS 7
#define ATTR_STRINGS 8

/* The attribute arrays of the ensemble, one entry per node and one per
 * leaf weight. */
typedef struct ens {
    size_t n, cap; /* nodes */
    int64_t *tree, *id, *feature, *yes, *no, *missing;
    float *value;
    uint8_t *leaf;
    size_t nw, wcap; /* leaf weights */
    int64_t *wtree, *wid, *wclass;
    float *weight;
} ens;

static void ens_free(ens *e)
{
    void *all[] = {e->tree,  e->id,   e->feature, e->yes, e->no,     e->missing,
                   e->value, e->leaf, e->wtree,   e->wid, e->wclass, e->weight};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        st_secmem_free(all[i]);
    memset(e, 0, sizeof(*e));
}

static ST_MUST_CHECK st_code ens_alloc(ens *e, size_t nodes, size_t leaves,
                                       st_err *err)
{
    memset(e, 0, sizeof(*e));
    size_t n = nodes ? nodes : 1, w = leaves ? leaves : 1;
    e->tree = st_secmem_alloc(n * 8, err);
    e->id = e->tree ? st_secmem_alloc(n * 8, err) : NULL;
    e->feature = e->id ? st_secmem_alloc(n * 8, err) : NULL;
    e->yes = e->feature ? st_secmem_alloc(n * 8, err) : NULL;
    e->no = e->yes ? st_secmem_alloc(n * 8, err) : NULL;
    e->missing = e->no ? st_secmem_alloc(n * 8, err) : NULL;
    e->value = e->missing ? st_secmem_alloc(n * 4, err) : NULL;
    e->leaf = e->value ? st_secmem_alloc(n, err) : NULL;
    e->wtree = e->leaf ? st_secmem_alloc(w * 8, err) : NULL;
    e->wid = e->wtree ? st_secmem_alloc(w * 8, err) : NULL;
    e->wclass = e->wid ? st_secmem_alloc(w * 8, err) : NULL;
    e->weight = e->wclass ? st_secmem_alloc(w * 4, err) : NULL;
    if (!e->weight) {
        ens_free(e);
        return st_err_prefix(err, "onnx export");
    }
    e->cap = n;
    e->wcap = w;
    return ST_OK;
}

/* An integer out of an XGBoost JSON array: integers, or booleans (some
 * writers give default_left as true/false). */
static int64_t jint(const json_t *a, size_t i)
{
    const json_t *v = json_array_get(a, i);
    return json_is_true(v) ? 1 : json_is_integer(v) ? json_integer_value(v) : 0;
}

static const json_t *tree_array(const json_t *t, const char *key, size_t n,
                                st_err *err, st_code *rc)
{
    const json_t *a = json_object_get(t, key);
    if (*rc == ST_OK && (!json_is_array(a) || json_array_size(a) != n))
        *rc = st_err_set(err, ST_E_INPUT,
                         "onnx export: tree field \"%s\" is missing or not "
                         "one per node",
                         key);
    return a;
}

/* Adds tree `t` (XGBoost's JSON tree, nodes 0..n-1, 0 the root) as tree
 * number `tid`, its leaves weighing for class `cls`. */
static ST_MUST_CHECK st_code add_tree(ens *e, const json_t *t, int64_t tid,
                                      int64_t cls, size_t features, st_err *err)
{
    const json_t *lc = json_object_get(t, "left_children");
    size_t n = json_array_size(lc);
    st_code rc =
        n ? ST_OK
          : st_err_set(err, ST_E_INPUT, "onnx export: a tree without nodes");
    const json_t *rcn = tree_array(t, "right_children", n, err, &rc);
    const json_t *si = tree_array(t, "split_indices", n, err, &rc);
    const json_t *sc = tree_array(t, "split_conditions", n, err, &rc);
    const json_t *dl = tree_array(t, "default_left", n, err, &rc);
    const json_t *st = json_object_get(t, "split_type");
    if (rc != ST_OK)
        return rc;
    if (e->n + n > e->cap || e->nw + n > e->wcap)
        return st_err_set(err, ST_E_INPUT,
                          "onnx export: more nodes than "
                          "counted");
    for (size_t i = 0; i < n; i++) {
        int64_t l = jint(lc, i), r = jint(rcn, i), f = jint(si, i);
        const json_t *cv = json_array_get(sc, i);
        if (!json_is_number(cv))
            return st_err_set(err, ST_E_INPUT,
                              "onnx export: a split condition is not a "
                              "number");
        float v = (float)json_number_value(cv);
        size_t k = e->n++;
        e->tree[k] = tid;
        e->id[k] = (int64_t)i;
        if (l == -1) { /* a leaf: its value is in split_conditions */
            e->leaf[k] = 1;
            e->feature[k] = e->yes[k] = e->no[k] = e->missing[k] = 0;
            e->value[k] = 0.0f;
            size_t w = e->nw++;
            e->wtree[w] = tid;
            e->wid[w] = (int64_t)i;
            e->wclass[w] = cls;
            e->weight[w] = v;
            continue;
        }
        if (l < 0 || r < 0 || (size_t)l >= n || (size_t)r >= n || f < 0 ||
            (size_t)f >= features)
            return st_err_set(err, ST_E_INPUT,
                              "onnx export: tree %lld node %zu points "
                              "outside the tree or the features",
                              (long long)tid, i);
        if (st && jint(st, i) != 0)
            return st_err_set(err, ST_E_INPUT,
                              "onnx export: categorical splits have no "
                              "ONNX form here");
        e->leaf[k] = 0;
        e->feature[k] = f;
        e->value[k] = v;
        e->yes[k] = l; /* x < value goes left */
        e->no[k] = r;
        e->missing[k] = jint(dl, i) ? 1 : 0;
    }
    return ST_OK;
}

/* ---- attribute encoders ---- */

static void attr_ints(pb *node, const char *name, const int64_t *v, size_t n)
{
    pb a;
    pb_init(&a, node->err);
    pb_str(&a, 1, name);
    for (size_t i = 0; i < n; i++)
        pb_int(&a, 8, v[i]);
    pb_int(&a, 20, ATTR_INTS);
    pb_msg(node, 5, &a);
}

static void attr_floats(pb *node, const char *name, const float *v, size_t n)
{
    pb a;
    pb_init(&a, node->err);
    pb_str(&a, 1, name);
    for (size_t i = 0; i < n; i++)
        pb_float(&a, 7, v[i]);
    pb_int(&a, 20, ATTR_FLOATS);
    pb_msg(node, 5, &a);
}

static void attr_string(pb *node, const char *name, const char *s)
{
    pb a;
    pb_init(&a, node->err);
    pb_str(&a, 1, name);
    pb_str(&a, 4, s);
    pb_int(&a, 20, ATTR_STRING);
    pb_msg(node, 5, &a);
}

static void attr_modes(pb *node, const ens *e)
{
    pb a;
    pb_init(&a, node->err);
    pb_str(&a, 1, "nodes_modes");
    for (size_t i = 0; i < e->n; i++)
        pb_str(&a, 9, e->leaf[i] ? "LEAF" : "BRANCH_LT");
    pb_int(&a, 20, ATTR_STRINGS);
    pb_msg(node, 5, &a);
}

/* ---- the model ---- */

struct xgb_model {
    json_t *root;
    const json_t *trees, *tree_info;
    double base_score;
    size_t features, classes; /* classes: num_class (multi), else 0 */
};

static ST_MUST_CHECK st_code read_model(const st_safetensor *t,
                                        struct xgb_model *m, st_err *err)
{
    memset(m, 0, sizeof(*m));
    m->root = st_json_parse((const char *)t->data, (size_t)t->nbytes,
                            "xgboost.model", err);
    if (!m->root)
        return st_err_prefix(err, "onnx export");
    const json_t *learner = json_object_get(m->root, "learner");
    const json_t *param = json_object_get(learner, "learner_model_param");
    const json_t *model =
        json_object_get(json_object_get(learner, "gradient_booster"), "model");
    const char *bs = json_string_value(json_object_get(param, "base_score"));
    const char *nf = json_string_value(json_object_get(param, "num_feature"));
    const char *nc = json_string_value(json_object_get(param, "num_class"));
    m->trees = json_object_get(model, "trees");
    m->tree_info = json_object_get(model, "tree_info");
    if (!bs || !nf || !nc || !json_is_array(m->trees) ||
        !json_is_array(m->tree_info) ||
        json_array_size(m->trees) != json_array_size(m->tree_info))
        return st_err_set(err, ST_E_INPUT,
                          "onnx export: not an XGBoost gbtree JSON model");
    m->base_score = strtod(bs, NULL);
    m->features = (size_t)strtoul(nf, NULL, 10);
    m->classes = (size_t)strtoul(nc, NULL, 10);
    return ST_OK;
}

static ST_MUST_CHECK st_code build_ensemble(const struct xgb_model *m,
                                            st_gbdt_objective obj, ens *e,
                                            st_err *err)
{
    size_t nodes = 0, ntrees = json_array_size(m->trees);
    for (size_t i = 0; i < ntrees; i++)
        nodes += json_array_size(
            json_object_get(json_array_get(m->trees, i), "left_children"));
    st_code rc = ens_alloc(e, nodes, nodes, err);
    for (size_t i = 0; rc == ST_OK && i < ntrees; i++) {
        int64_t cls = obj == ST_GBDT_MULTI ? jint(m->tree_info, i) : 0;
        if (cls < 0 || (obj == ST_GBDT_MULTI && (size_t)cls >= m->classes))
            rc = st_err_set(err, ST_E_INPUT,
                            "onnx export: tree %zu is for class %lld", i,
                            (long long)cls);
        else
            rc = add_tree(e, json_array_get(m->trees, i), (int64_t)i, cls,
                          m->features, err);
    }
    return rc;
}

/* The ensemble node, reading `in`. */
static void ensemble_node(pb *g, st_err *err, const ens *e,
                          st_gbdt_objective obj, const struct xgb_model *m,
                          size_t classes, const char *in)
{
    int cls = obj != ST_GBDT_REGRESSION;
    const char *ins[] = {in, NULL};
    const char *cout[] = {"label", "probabilities", NULL};
    const char *rout[] = {"output", NULL};
    pb n;
    node_begin(&n, err,
               cls ? "TreeEnsembleClassifier" : "TreeEnsembleRegressor",
               "trees", ins, cls ? cout : rout);
    pb_str(&n, 7, "ai.onnx.ml"); /* NodeProto.domain */
    attr_ints(&n, "nodes_treeids", e->tree, e->n);
    attr_ints(&n, "nodes_nodeids", e->id, e->n);
    attr_ints(&n, "nodes_featureids", e->feature, e->n);
    attr_floats(&n, "nodes_values", e->value, e->n);
    attr_modes(&n, e);
    attr_ints(&n, "nodes_truenodeids", e->yes, e->n);
    attr_ints(&n, "nodes_falsenodeids", e->no, e->n);
    attr_ints(&n, "nodes_missing_value_tracks_true", e->missing, e->n);
    const char *pre = cls ? "class_" : "target_";
    char k[32];
    snprintf(k, sizeof(k), "%streeids", pre);
    attr_ints(&n, k, e->wtree, e->nw);
    snprintf(k, sizeof(k), "%snodeids", pre);
    attr_ints(&n, k, e->wid, e->nw);
    snprintf(k, sizeof(k), "%sids", pre);
    attr_ints(&n, k, e->wclass, e->nw);
    snprintf(k, sizeof(k), "%sweights", pre);
    attr_floats(&n, k, e->weight, e->nw);
    /* zeroed only for GCC 12's -Wmaybe-uninitialized, which cannot see
     * that nbase and classes bound what attr_floats/attr_ints read */
    float base[ST_TRAIN_MAX_CLASSES] = {0};
    size_t nbase = obj == ST_GBDT_MULTI ? classes : 1;
    for (size_t i = 0; i < nbase; i++)
        base[i] = obj == ST_GBDT_BINARY
                      ? (float)log(m->base_score / (1.0 - m->base_score))
                      : (float)m->base_score;
    attr_floats(&n, "base_values", base, nbase);
    if (cls) {
        int64_t labels[ST_TRAIN_MAX_CLASSES] = {0};
        for (size_t i = 0; i < classes; i++)
            labels[i] = (int64_t)i;
        attr_ints(&n, "classlabels_int64s", labels, classes);
        attr_string(&n, "post_transform",
                    obj == ST_GBDT_BINARY ? "LOGISTIC" : "SOFTMAX");
    } else {
        attr_int(&n, "n_targets", 1);
        attr_string(&n, "aggregate_function", "SUM");
        attr_string(&n, "post_transform", "NONE");
    }
    pb_msg(g, 1, &n);
}

static ST_MUST_CHECK st_code check_pp(const st_safetensor *t, size_t f,
                                      st_err *err)
{
    if (!t || t->dtype != ST_DTYPE_F32 || t->ndim != 1 || t->shape[0] != f)
        return st_err_set(err, ST_E_INPUT,
                          "onnx export: the preprocessing tensors are not F32 "
                          "[%zu]",
                          f);
    return ST_OK;
}

st_code st_model_onnx_export_gbdt(const st_safetensors *sf,
                                  const char *graph_name, void **out,
                                  size_t *out_len, st_err *err)
{
    const char *text =
        json_string_value(json_object_get(sf->metadata, "sealtrain.config"));
    json_t *cj =
        text ? st_json_parse(text, strlen(text), "sealtrain.config", err)
             : NULL;
    st_gbdt_config cfg;
    st_code rc =
        cj ? st_gbdt_config_from_json(
                 json_object_get(cj, "model"), json_object_get(cj, "training"),
                 json_object_get(cj, "preprocessing"), &cfg, err)
           : (text ? err->code
                   : st_err_set(err, ST_E_INPUT,
                                "onnx export: the safetensors "
                                "metadata has no sealtrain.config"));
    json_decref(cj);
    if (rc == ST_OK && (!cfg.inputs || !cfg.outputs))
        rc = st_err_set(err, ST_E_INPUT,
                        "onnx export: the configuration does not say the "
                        "input and output sizes");
    const st_safetensor *mt = st_safetensors_find(sf, "xgboost.model");
    if (rc == ST_OK && (!mt || mt->dtype != ST_DTYPE_U8))
        rc = st_err_set(err, ST_E_INPUT,
                        "onnx export: no U8 tensor \"xgboost.model\"");
    struct xgb_model m = {0};
    if (rc == ST_OK)
        rc = read_model(mt, &m, err);
    size_t classes = cfg.objective == ST_GBDT_MULTI    ? cfg.outputs
                     : cfg.objective == ST_GBDT_BINARY ? 2
                                                       : 0;
    if (rc == ST_OK &&
        (m.features != cfg.inputs ||
         (cfg.objective == ST_GBDT_MULTI && m.classes != classes)))
        rc = st_err_set(err, ST_E_INPUT,
                        "onnx export: the XGBoost model's sizes differ from "
                        "the configuration");
    ens e = {0};
    if (rc == ST_OK)
        rc = build_ensemble(&m, cfg.objective, &e, err);
    json_decref(m.root);
    pb g;
    pb_init(&g, err);
    pb_str(&g, 2, graph_name && *graph_name ? graph_name : "sealtrain");
    const char *in = "input";
    if (rc == ST_OK && st_train_config_has_preprocessing(&cfg.pp)) {
        const st_safetensor *sh =
            st_safetensors_find(sf, "preprocessing.shift");
        const st_safetensor *sc =
            st_safetensors_find(sf, "preprocessing.scale");
        if (!(rc = check_pp(sh, cfg.inputs, err)) &&
            !(rc = check_pp(sc, cfg.inputs, err))) {
            preprocessing_nodes(&g, sh, sc);
            in = "scaled";
        }
    }
    if (rc == ST_OK) {
        ensemble_node(&g, err, &e, cfg.objective, &m, classes, in);
        value_info(&g, 11, "input", cfg.inputs);
        if (classes) {
            value_info_typed(&g, 12, "label", ONNX_INT64, NULL);
            value_info(&g, 12, "probabilities", classes);
        } else
            value_info(&g, 12, "output", 1);
    }
    ens_free(&e);
    return onnx_model(&g, rc, ONNX_ML_OPSET,
                      cfg.objective == ST_GBDT_REGRESSION
                          ? "predicted value (output)"
                          : "class index (label) and class probabilities "
                            "(probabilities)",
                      out, out_len, err);
}
