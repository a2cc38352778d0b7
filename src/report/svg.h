/*
 * svg.h (internal to src/report/): the three charts of a training report
 * as SVG 1.1 text: line charts (curves per epoch or round), a heat map
 * (the confusion matrix, with its counts) and horizontal bars (feature
 * importances).
 *
 * Each function appends one complete <svg> element to `out`, styled by
 * attributes only (no CSS, no script, no external reference), so that the
 * same text is a standalone .svg file and an inline chart in HTML. Every
 * text that comes from a job (series, class and feature names) is escaped
 * by st_buf_append_html. Elements the report tests count carry a class:
 * "series" (one <path> per curve), "cell" (one <rect> per matrix cell),
 * "bar" (one <rect> per bar), "legend", "axis-label".
 */
#ifndef ST_REPORT_SVG_H
#define ST_REPORT_SVG_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/bytes.h"
#include "sealtrain/err.h"

/* One curve: y[i] at x[i]; a NaN y is a point the curve does not have
 * (the line joins the points around it). */
typedef struct st_svg_series {
    const char *name; /* legend text */
    const double *x, *y;
    size_t n;
    unsigned color; /* index into the palette (the same role, the same
                       colour in every chart) */
} st_svg_series;

typedef struct st_svg_lines {
    const char *title, *x_label, *y_label;
    const st_svg_series *series;
    size_t nseries;
    double marker_x;          /* a dashed vertical line there; NaN: none */
    const char *marker_label; /* its text */
} st_svg_lines;

/* A line chart; ST_E_INPUT when no series has a finite point. */
ST_MUST_CHECK st_code st_svg_line_chart(st_buf *out, const st_svg_lines *c,
                                        st_err *err);

/* A k x k heat map: counts[i * k + j] in row i (true class) and column j
 * (predicted class), shaded by its share of row i, with the count written
 * in cells large enough to hold it (and in every cell's tooltip). */
ST_MUST_CHECK st_code st_svg_heatmap(st_buf *out, const char *title, size_t k,
                                     const char *const *labels,
                                     const uint64_t *counts, st_err *err);

/* Horizontal bars, in the order given, for values >= 0. */
ST_MUST_CHECK st_code st_svg_bars(st_buf *out, const char *title,
                                  const char *x_label, size_t n,
                                  const char *const *names,
                                  const double *values, st_err *err);

#endif
