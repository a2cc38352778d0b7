/*
 * html.c: a training report's charts and its HTML page, from the report
 * document of st_report_collect (include/sealtrain/report.h).
 *
 * The document is read leniently: a part that is missing or has the
 * wrong shape is left out of the page (a failed job has no result; an
 * older job has no history), never trusted and never an error. The
 * charts are those of svg.c; everything else is tables. Every string of
 * the document goes through st_buf_append_html: names are chosen by
 * whoever imported the data. The page carries a Content-Security-Policy
 * that allows no script and no fetch, so that even a mistake in escaping
 * could not run anything.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/svg.h"
#include "sealtrain/json.h"
#include "sealtrain/report.h"
#include "sealtrain/version.h"

/* ---- reading the document ---- */

static const json_t *at(const json_t *v, const char *a, const char *b)
{
    const json_t *x = json_object_get(v, a);
    return b ? json_object_get(x, b) : x;
}

static const char *str(const json_t *v, const char *key)
{
    const char *s = json_string_value(json_object_get(v, key));
    return s ? s : "";
}

/* 1 for a gbdt job (rounds, not epochs). */
static int is_gbdt(const json_t *doc)
{
    return !strcmp(str(at(doc, "hyperparameters", "model"), "type"), "gbdt");
}

/* 1 when the final evaluation is a regression's (MSE, MAE, R^2). */
static int is_regression(const json_t *doc)
{
    const json_t *fe = at(doc, "metrics", "final_evaluation");
    return !json_object_get(fe, "accuracy") &&
           (json_object_get(fe, "mse") || json_object_get(fe, "r2"));
}

/* The epoch (round) whose weights the model holds when that is not the
 * last one, else -1: the best epoch when early stopping restores it (a
 * gbdt model with early_stopping_rounds keeps its best round; an engine
 * model with early_stopping unless it says "restore_best": false), as
 * the runtime decides (gbdt.c, runtime.c on_epoch). */
static long long kept_epoch(const json_t *doc)
{
    const json_t *best = at(doc, "metrics", "best_epoch");
    const json_t *rounds = at(doc, "hyperparameters", "model");
    rounds = json_object_get(rounds, "early_stopping_rounds");
    const json_t *es = at(doc, "hyperparameters", "training");
    es = json_object_get(es, "early_stopping");
    int restores =
        is_gbdt(doc) ? json_integer_value(rounds) > 0
                     : json_is_object(es) &&
                           !json_is_false(json_object_get(es, "restore_best"));
    return json_is_integer(best) && restores ? json_integer_value(best) : -1;
}

/* ---- charts ---- */

/* The figure `key` of each history entry, NaN where it has none. */
static int history_column(const json_t *hist, const char *key, double *x,
                          double *y)
{
    size_t i;
    const json_t *h;
    int any = 0;
    json_array_foreach(hist, i, h)
    {
        const json_t *e = json_object_get(h, "epoch"),
                     *v = json_object_get(h, key);
        x[i] = json_is_integer(e) ? (double)json_integer_value(e) : NAN;
        y[i] = json_is_number(v) ? json_number_value(v) : NAN;
        any |= isfinite(x[i]) && isfinite(y[i]);
    }
    return any;
}

typedef struct curve_def {
    const char *file, *title, *y_label;
    const char *train_key, *eval_key;
} curve_def;

static const curve_def class_curves[] = {
    {"loss.svg", "Loss", "loss (cross-entropy)", "train_loss", "loss"},
    {"accuracy.svg", "Accuracy", "accuracy", "train_accuracy", "accuracy"},
};
static const curve_def reg_curves[] = {
    {"loss.svg", "Loss", "loss (mean squared error)", "train_loss", "loss"},
    {"mse.svg", "Mean squared error", "MSE", NULL, "mse"},
    {"mae.svg", "Mean absolute error", "MAE", NULL, "mae"},
    {"r2.svg", "Coefficient of determination", "R\xc2\xb2", NULL, "r2"},
};

typedef struct chart_list {
    st_report_chart *v;
    size_t n, cap;
} chart_list;

static st_report_chart *chart_add(chart_list *l, const char *file,
                                  const char *title, st_err *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        st_report_chart *p = realloc(l->v, cap * sizeof(*p));
        if (!p) {
            st_err_set(err, ST_E_IO, "out of memory");
            return NULL;
        }
        l->v = p;
        l->cap = cap;
    }
    st_report_chart *c = &l->v[l->n++];
    snprintf(c->name, sizeof(c->name), "%s", file);
    snprintf(c->title, sizeof(c->title), "%s", title);
    st_buf_init(&c->svg);
    return c;
}

static ST_MUST_CHECK st_code curves(const json_t *doc, chart_list *l,
                                    st_err *err)
{
    const json_t *m = json_object_get(doc, "metrics");
    const json_t *hist = json_object_get(m, "history");
    size_t n = json_array_size(hist);
    if (!n)
        return ST_OK;
    double *buf = malloc(4 * n * sizeof(double));
    if (!buf)
        return st_err_set(err, ST_E_IO, "out of memory");
    double *tx = buf, *ty = buf + n, *ex = buf + 2 * n, *ey = buf + 3 * n;
    int gbdt = is_gbdt(doc), reg = is_regression(doc);
    const char *unit = gbdt ? "round" : "epoch";
    const curve_def *defs = reg ? reg_curves : class_curves;
    size_t ndefs = reg ? sizeof(reg_curves) / sizeof(reg_curves[0])
                       : sizeof(class_curves) / sizeof(class_curves[0]);
    /* the evaluation curve is the validation data's when there was any */
    const char *eval_name = json_is_true(json_object_get(m, "validation"))
                                ? "validation"
                                : "evaluation (training rows)";
    long long kept = kept_epoch(doc);
    int stopped = json_is_true(json_object_get(m, "stopped"));
    char marker[64] = "";
    if (kept > 0)
        snprintf(marker, sizeof(marker), "%s%s %lld kept",
                 stopped ? "early stop: " : "", unit, kept);
    st_code rc = ST_OK;
    for (size_t d = 0; rc == ST_OK && d < ndefs; d++) {
        st_svg_series s[2];
        size_t ns = 0;
        if (defs[d].train_key &&
            history_column(hist, defs[d].train_key, tx, ty))
            s[ns++] = (st_svg_series){"training", tx, ty, n, 0};
        if (history_column(hist, defs[d].eval_key, ex, ey))
            s[ns++] = (st_svg_series){eval_name, ex, ey, n, 1};
        if (!ns)
            continue;
        st_svg_lines c = {defs[d].title,
                          unit,
                          defs[d].y_label,
                          s,
                          ns,
                          kept > 0 ? (double)kept : NAN,
                          marker};
        st_report_chart *out = chart_add(l, defs[d].file, defs[d].title, err);
        rc = out ? st_svg_line_chart(&out->svg, &c, err) : err->code;
    }
    free(buf);
    return rc;
}

/* The classes' labels: their indices. The class names are data (the
 * label values): they travel only inside the encrypted tensor and the
 * sealed model, never in a job's metrics, so a report numbers them as
 * the model's outputs are numbered. */
static char **class_labels(size_t k)
{
    char **v = calloc(k, sizeof(char *));
    for (size_t i = 0; v && i < k; i++) {
        char num[24];
        snprintf(num, sizeof(num), "%zu", i);
        v[i] = strdup(num);
        if (!v[i]) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return NULL;
        }
    }
    return v;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static ST_MUST_CHECK st_code confusion(const json_t *doc, chart_list *l,
                                       st_err *err)
{
    const json_t *cm = at(doc, "metrics", "final_evaluation");
    cm = json_object_get(cm, "confusion");
    size_t k = json_array_size(cm);
    if (!k || k > 1000)
        return ST_OK;
    uint64_t *counts = calloc(k * k, sizeof(uint64_t));
    char **labels = counts ? class_labels(k) : NULL;
    if (!labels) {
        free(counts);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    int ok = 1;
    for (size_t i = 0; ok && i < k; i++) {
        const json_t *row = json_array_get(cm, i);
        ok = json_array_size(row) == k;
        for (size_t j = 0; ok && j < k; j++) {
            const json_t *c = json_array_get(row, j);
            ok = json_is_integer(c) && json_integer_value(c) >= 0;
            counts[i * k + j] = ok ? (uint64_t)json_integer_value(c) : 0;
        }
    }
    st_code rc = ST_OK;
    if (ok) {
        st_report_chart *out =
            chart_add(l, "confusion.svg", "Confusion matrix", err);
        rc = out ? st_svg_heatmap(&out->svg, "Confusion matrix", k,
                                  (const char *const *)labels, counts, err)
                 : err->code;
    }
    free_strings(labels, k);
    free(counts);
    return rc;
}

#define IMPORTANCE_BARS 20

typedef struct gain {
    size_t feature;
    double value;
} gain;

static int by_gain(const void *a, const void *b)
{
    double x = ((const gain *)a)->value, y = ((const gain *)b)->value;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The feature importances: {"values": [...]} (every feature) or
 * {"features": F, "top": [[index, gain], ...]}, as the runtime reports
 * them; named by the document's feature_names when they fit. */
static ST_MUST_CHECK st_code importance(const json_t *doc, chart_list *l,
                                        st_err *err)
{
    const json_t *fi = at(doc, "metrics", "feature_importance");
    const json_t *values = json_object_get(fi, "values");
    const json_t *top = json_object_get(fi, "top");
    size_t n = values ? json_array_size(values) : json_array_size(top);
    size_t features =
        values ? n
               : (size_t)json_integer_value(json_object_get(fi, "features"));
    if (!n)
        return ST_OK;
    gain *g = calloc(n, sizeof(gain));
    if (!g)
        return st_err_set(err, ST_E_IO, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = values ? json_array_get(values, i)
                                 : json_array_get(json_array_get(top, i), 1);
        const json_t *ix =
            values ? NULL : json_array_get(json_array_get(top, i), 0);
        size_t f = values ? i : (size_t)json_integer_value(ix);
        if (!json_is_number(v) || !(json_number_value(v) > 0) ||
            (!values && (!json_is_integer(ix) || json_integer_value(ix) < 0 ||
                         f >= features)))
            continue;
        g[k++] = (gain){f, json_number_value(v)};
    }
    qsort(g, k, sizeof(gain), by_gain);
    if (k > IMPORTANCE_BARS)
        k = IMPORTANCE_BARS;
    const json_t *names = json_object_get(doc, "feature_names");
    int named = json_array_size(names) == features;
    const char *label[IMPORTANCE_BARS];
    char num[IMPORTANCE_BARS][24];
    double val[IMPORTANCE_BARS];
    for (size_t i = 0; i < k; i++) {
        snprintf(num[i], sizeof(num[i]), "feature %zu", g[i].feature);
        const char *s =
            named ? json_string_value(json_array_get(names, g[i].feature))
                  : NULL;
        label[i] = s ? s : num[i];
        val[i] = g[i].value;
    }
    free(g);
    if (!k)
        return ST_OK;
    st_report_chart *out =
        chart_add(l, "importance.svg", "Feature importance", err);
    return out ? st_svg_bars(&out->svg, "Feature importance (gain)",
                             "total gain of the feature's splits", k, label,
                             val, err)
               : err->code;
}

st_code st_report_charts(const json_t *doc, st_report_chart **charts, size_t *n,
                         st_err *err)
{
    chart_list l = {NULL, 0, 0};
    st_code rc = curves(doc, &l, err);
    if (rc == ST_OK)
        rc = confusion(doc, &l, err);
    if (rc == ST_OK)
        rc = importance(doc, &l, err);
    if (rc == ST_E_INPUT) /* a chart without a finite point: left out */
        rc = ST_OK;
    if (rc != ST_OK) {
        st_report_charts_free(l.v, l.n);
        *charts = NULL;
        *n = 0;
        return rc;
    }
    *charts = l.v;
    *n = l.n;
    return ST_OK;
}

void st_report_charts_free(st_report_chart *charts, size_t n)
{
    for (size_t i = 0; charts && i < n; i++)
        st_buf_free(&charts[i].svg);
    free(charts);
}

/* ---- the page ---- */

static const char css[] =
    "body{margin:0;background:#f6f7f9;color:#1a1a1a;font:14px/1.45 "
    "'DejaVu Sans',Helvetica,Arial,sans-serif}"
    "main{max-width:980px;margin:0 auto;padding:24px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 12px}"
    ".sub{color:#555;margin:0 0 20px}"
    "section{background:#fff;border:1px solid #dde1e6;border-radius:6px;"
    "padding:16px 20px;margin:0 0 18px}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:5px 10px 5px 0;border-bottom:1px solid "
    "#eceef1;vertical-align:top}"
    "th{font-weight:600;color:#333;white-space:nowrap;width:1%}"
    "code{font:12px 'DejaVu Sans Mono',monospace;word-break:break-all}"
    "figure{margin:0 0 12px;overflow-x:auto}svg{max-width:100%;height:auto}"
    ".pass{color:#1e7b34;font-weight:600}.fail{color:#b3261e;font-weight:600}"
    ".note{color:#555;font-size:13px}footer{color:#555;font-size:12px}";

static ST_MUST_CHECK st_code esc(st_buf *b, const char *s, st_err *err)
{
    return st_buf_append_html(b, s ? s : "", err);
}

/* <tr><th>k</th><td>escaped v</td></tr>, `code` in <code> */
static ST_MUST_CHECK st_code row(st_buf *b, const char *k, const char *v,
                                 int code, st_err *err)
{
    st_code rc =
        st_buf_printf(b, err, "<tr><th>%s</th><td>%s", k, code ? "<code>" : "");
    if (rc == ST_OK)
        rc = esc(b, v, err);
    return rc == ST_OK
               ? st_buf_printf(b, err, "%s</td></tr>\n", code ? "</code>" : "")
               : rc;
}

/* A JSON value as text: strings as they are, the rest compact JSON. */
static char *value_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return st_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
                                JSON_REAL_PRECISION(10));
}

static ST_MUST_CHECK st_code header(const json_t *doc, st_buf *b, st_err *err)
{
    const json_t *job = json_object_get(doc, "job");
    st_code rc = st_buf_printf(
        b, err,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
        "charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n<meta "
        "name=\"viewport\" content=\"width=device-width, "
        "initial-scale=1\">\n<title>Training report: ");
    if (rc == ST_OK)
        rc = esc(b, str(job, "name"), err);
    if (rc == ST_OK)
        rc = st_buf_printf(b, err,
                           "</title>\n<style>%s</style>\n</head>\n<body>\n"
                           "<main>\n<h1>Training report: ",
                           css);
    if (rc == ST_OK)
        rc = esc(b, str(job, "name"), err);
    if (rc == ST_OK)
        rc = st_buf_printf(b, err, "</h1>\n<p class=\"sub\">job <code>");
    const char *parts[][2] = {
        {"", str(job, "id")},
        {"</code> &middot; ", str(job, "state")},
        {" &middot; submitted by ", str(job, "submitter")},
        {" &middot; created ", str(job, "created")},
        {" &middot; updated ", str(job, "updated")}};
    for (size_t i = 0; rc == ST_OK && i < sizeof(parts) / sizeof(parts[0]);
         i++) {
        rc = st_buf_printf(b, err, "%s", parts[i][0]);
        if (rc == ST_OK)
            rc = esc(b, parts[i][1], err);
    }
    if (rc == ST_OK && *str(job, "reason")) {
        rc = st_buf_printf(b, err, " &middot; ");
        if (rc == ST_OK)
            rc = esc(b, str(job, "reason"), err);
    }
    return rc == ST_OK ? st_buf_printf(b, err, "</p>\n") : rc;
}

static ST_MUST_CHECK st_code number_row(st_buf *b, const char *k,
                                        const json_t *v, st_err *err)
{
    if (!json_is_number(v))
        return ST_OK;
    char t[40];
    snprintf(t, sizeof(t), "%.4f", json_number_value(v));
    return row(b, k, t, 0, err);
}

static ST_MUST_CHECK st_code result(const json_t *doc, st_buf *b, st_err *err)
{
    const json_t *model = json_object_get(doc, "model");
    const json_t *m = json_object_get(doc, "metrics");
    const json_t *fe = json_object_get(m, "final_evaluation");
    st_code rc = st_buf_printf(b, err,
                               "<section id=\"result\">\n<h2>Result</h2>\n"
                               "<table>\n");
    if (rc == ST_OK && model) {
        char ref[160];
        snprintf(
            ref, sizeof(ref), "%s@%lld", str(model, "name"),
            (long long)json_integer_value(json_object_get(model, "version")));
        rc = row(b, "model", ref, 1, err);
        if (rc == ST_OK)
            rc = row(b, "model sha256", str(model, "sha256"), 1, err);
    } else if (rc == ST_OK)
        rc = row(b, "model", "none (the job has no registered model)", 0, err);
    if (rc == ST_OK && fe)
        rc = row(b, "evaluated on", str(fe, "evaluated_on"), 0, err);
    static const char *const keys[][2] = {
        {"accuracy", "accuracy"}, {"macro_f1", "macro F1"}, {"loss", "loss"},
        {"mse", "MSE"},           {"mae", "MAE"},           {"r2", "R&sup2;"}};
    for (size_t i = 0; rc == ST_OK && i < sizeof(keys) / sizeof(keys[0]); i++)
        rc = number_row(b, keys[i][1], json_object_get(fe, keys[i][0]), err);
    const json_t *ep = json_object_get(m, "epoch");
    if (rc == ST_OK && json_is_integer(ep)) {
        char t[160];
        int gbdt = is_gbdt(doc);
        long long kept = kept_epoch(doc);
        int n = snprintf(
            t, sizeof(t), "%lld of %lld", (long long)json_integer_value(ep),
            (long long)json_integer_value(json_object_get(m, "epochs")));
        if (json_is_true(json_object_get(m, "stopped")) && n > 0)
            snprintf(t + n, sizeof(t) - (size_t)n,
                     "; early stopping ended the run");
        if (kept > 0 && n > 0) {
            size_t used = strlen(t);
            snprintf(t + used, sizeof(t) - used, "; the model holds %s %lld",
                     gbdt ? "round" : "epoch", kept);
        }
        rc = row(b, gbdt ? "rounds" : "epochs", t, 0, err);
    }
    if (rc == ST_OK && !m)
        rc = row(b, "metrics", "none (the job has not finished)", 0, err);
    return rc == ST_OK ? st_buf_printf(b, err, "</table>\n</section>\n") : rc;
}

static ST_MUST_CHECK st_code figures(const st_report_chart *c, size_t n,
                                     const char *id, const char *title,
                                     const char *const *files, size_t nfiles,
                                     st_buf *b, st_err *err)
{
    int open = 0;
    st_code rc = ST_OK;
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        int mine = 0;
        for (size_t f = 0; f < nfiles; f++)
            mine |= !strcmp(c[i].name, files[f]);
        if (!mine)
            continue;
        if (!open)
            rc = st_buf_printf(b, err, "<section id=\"%s\">\n<h2>%s</h2>\n", id,
                               title);
        open = 1;
        if (rc == ST_OK)
            rc = st_buf_printf(b, err, "<figure id=\"chart-%.*s\">\n",
                               (int)(strlen(c[i].name) - 4), c[i].name);
        if (rc == ST_OK)
            rc = st_buf_append(b, c[i].svg.data, c[i].svg.len, err);
        if (rc == ST_OK)
            rc = st_buf_printf(b, err, "</figure>\n");
    }
    return rc == ST_OK && open ? st_buf_printf(b, err, "</section>\n") : rc;
}

/* The sections of the spec a model is trained by, as dotted keys. */
static ST_MUST_CHECK st_code flat(st_buf *b, const char *prefix,
                                  const json_t *v, st_err *err)
{
    if (json_is_object(v) && json_object_size(v)) {
        const char *k;
        const json_t *x;
        st_code rc = ST_OK;
        json_object_foreach((json_t *)v, k, x)
        {
            size_t n = strlen(prefix) + strlen(k) + 2;
            char *key = malloc(n);
            if (!key)
                return st_err_set(err, ST_E_IO, "out of memory");
            snprintf(key, n, "%s.%s", prefix, k);
            rc = flat(b, key, x, err);
            free(key);
            if (rc != ST_OK)
                return rc;
        }
        return ST_OK;
    }
    char *t = value_text(v);
    if (!t)
        return st_err_set(err, ST_E_IO, "out of memory");
    st_code rc = st_buf_printf(b, err, "<tr><th><code>");
    if (rc == ST_OK)
        rc = esc(b, prefix, err);
    if (rc == ST_OK)
        rc = st_buf_printf(b, err, "</code></th><td><code>");
    if (rc == ST_OK)
        rc = esc(b, t, err);
    free(t);
    return rc == ST_OK ? st_buf_printf(b, err, "</code></td></tr>\n") : rc;
}

static ST_MUST_CHECK st_code hyperparameters(const json_t *doc, st_buf *b,
                                             st_err *err)
{
    const json_t *h = json_object_get(doc, "hyperparameters");
    if (!json_object_size(h))
        return ST_OK;
    st_code rc = st_buf_printf(b, err,
                               "<section id=\"hyperparameters\">\n<h2>"
                               "Hyperparameters</h2>\n<table>\n");
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)h, k, x)
    {
        if (rc == ST_OK)
            rc = flat(b, k, x, err);
    }
    return rc == ST_OK ? st_buf_printf(b, err, "</table>\n</section>\n") : rc;
}

static ST_MUST_CHECK st_code datasets(const json_t *doc, st_buf *b, st_err *err)
{
    const json_t *ds = json_object_get(doc, "datasets");
    if (!json_array_size(ds))
        return ST_OK;
    st_code rc = st_buf_printf(
        b, err,
        "<section id=\"datasets\">\n<h2>Datasets</h2>\n<p class=\"note\">"
        "Each dataset's plaintext SHA-256, as the runtime decrypted and "
        "checked it, then its encrypted file's.</p>\n<table>\n");
    size_t i;
    const json_t *d;
    json_array_foreach(ds, i, d)
    {
        const char *cells[] = {"<tr><th>",
                               str(d, "name"),
                               "</th><td>",
                               str(d, "role"),
                               "</td><td><code>",
                               *str(d, "sha256") ? str(d, "sha256") : "unknown",
                               "</code><br><code>",
                               str(d, "file_sha256"),
                               "</code></td></tr>\n"};
        for (size_t c = 0; rc == ST_OK && c < sizeof(cells) / sizeof(cells[0]);
             c++)
            rc = c % 2 ? esc(b, cells[c], err)
                       : st_buf_printf(b, err, "%s", cells[c]);
    }
    return rc == ST_OK ? st_buf_printf(b, err, "</table>\n</section>\n") : rc;
}

/* <tr><th>k (escaped `whose`)</th><td>verified | rejected: reason</td></tr> */
static ST_MUST_CHECK st_code verdict(st_buf *b, const char *k,
                                     const char *whose, int pass,
                                     const char *reason, st_err *err)
{
    st_code rc = st_buf_printf(b, err, "<tr><th>%s", k);
    if (rc == ST_OK && whose)
        rc = esc(b, whose, err);
    if (rc == ST_OK)
        rc = st_buf_printf(b, err, "</th><td><span class=\"%s\">%s</span>",
                           pass ? "pass" : "fail",
                           pass ? "verified" : "rejected");
    if (rc == ST_OK && !pass && reason && *reason) {
        rc = st_buf_printf(b, err, ": ");
        if (rc == ST_OK)
            rc = esc(b, reason, err);
    }
    return rc == ST_OK ? st_buf_printf(b, err, "</td></tr>\n") : rc;
}

static ST_MUST_CHECK st_code attestation(const json_t *doc, st_buf *b,
                                         st_err *err)
{
    const json_t *a = json_object_get(doc, "attestation");
    const json_t *kb = json_object_get(doc, "key_brokers");
    st_code rc = st_buf_printf(b, err,
                               "<section id=\"attestation\">\n<h2>Attestation"
                               "</h2>\n<table>\n");
    if (rc == ST_OK && !a && !json_array_size(kb))
        rc = row(b, "verdict", "none (the runtime was not attested)", 0, err);
    if (rc == ST_OK && a) {
        rc = verdict(b, "verdict", NULL,
                     json_is_true(json_object_get(a, "pass")), str(a, "reason"),
                     err);
        if (rc == ST_OK)
            rc = row(b, "TEE",
                     !strcmp(str(a, "tee"), "sim")
                         ? "sim (a simulation: no hardware root of trust)"
                         : str(a, "tee"),
                     0, err);
        if (rc == ST_OK)
            rc = row(b, "evidence sha256", str(a, "evidence_sha256"), 1, err);
    }
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(a, "verdicts"), i, e)
    {
        if (rc == ST_OK)
            rc = verdict(b, "policy of ", str(e, "policy_of"),
                         json_is_true(json_object_get(e, "pass")),
                         str(e, "reason"), err);
    }
    json_array_foreach(json_object_get(a, "ears"), i, e)
    {
        if (rc == ST_OK)
            rc = st_buf_printf(b, err, "<tr><th>EAR sha256</th><td><code>");
        if (rc == ST_OK)
            rc = esc(b, str(e, "sha256"), err);
        if (rc == ST_OK)
            rc = st_buf_printf(b, err, "</code> (policy of ");
        if (rc == ST_OK)
            rc = esc(b, str(e, "policy_of"), err);
        if (rc == ST_OK)
            rc = st_buf_printf(b, err, ")</td></tr>\n");
    }
    json_array_foreach(kb, i, e)
    {
        if (rc == ST_OK)
            rc = st_buf_printf(b, err, "<tr><th>key broker</th><td>");
        const char *parts[] = {str(e, "broker"), " released dataset ",
                               str(e, "dataset"), ": ", str(e, "outcome")};
        for (size_t p = 0; rc == ST_OK && p < 5; p++)
            rc = esc(b, parts[p], err);
        size_t j;
        const json_t *h;
        json_array_foreach(json_object_get(e, "ear_sha256"), j, h)
        {
            if (rc == ST_OK)
                rc = st_buf_printf(b, err, "<br>EAR sha256 <code>");
            if (rc == ST_OK)
                rc = esc(b, json_string_value(h), err);
            if (rc == ST_OK)
                rc = st_buf_printf(b, err, "</code>");
        }
        if (rc == ST_OK)
            rc = st_buf_printf(b, err, "</td></tr>\n");
    }
    return rc == ST_OK ? st_buf_printf(b, err, "</table>\n</section>\n") : rc;
}

st_code st_report_html(const json_t *doc, st_buf *out, st_err *err)
{
    st_report_chart *c = NULL;
    size_t n = 0;
    st_code rc = st_report_charts(doc, &c, &n, err);
    static const char *const curve_files[] = {"loss.svg", "accuracy.svg",
                                              "mse.svg", "mae.svg", "r2.svg"};
    static const char *const cm_files[] = {"confusion.svg"};
    static const char *const fi_files[] = {"importance.svg"};
    if (rc == ST_OK)
        rc = header(doc, out, err);
    if (rc == ST_OK)
        rc = result(doc, out, err);
    if (rc == ST_OK)
        rc = figures(c, n, "curves",
                     is_gbdt(doc) ? "Training curves (per round)"
                                  : "Training curves (per epoch)",
                     curve_files, 5, out, err);
    if (rc == ST_OK)
        rc = figures(c, n, "confusion", "Confusion matrix (final evaluation)",
                     cm_files, 1, out, err);
    if (rc == ST_OK)
        rc = figures(c, n, "importance", "Feature importance", fi_files, 1, out,
                     err);
    if (rc == ST_OK)
        rc = hyperparameters(doc, out, err);
    if (rc == ST_OK)
        rc = datasets(doc, out, err);
    if (rc == ST_OK)
        rc = attestation(doc, out, err);
    if (rc == ST_OK)
        rc = st_buf_printf(
            out, err,
            "<footer>This report holds aggregates only: metrics, counts, "
            "names and digests. It holds no weights, no rows of data and no "
            "keys. Written by sealtrain %s.</footer>\n</main>\n</body>\n"
            "</html>\n",
            st_version());
    st_report_charts_free(c, n);
    return rc;
}
