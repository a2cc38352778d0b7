/*
 * svg.c: line charts, a heat map and bars as SVG 1.1 text (svg.h).
 *
 * Pure functions of their arguments: no file, no clock, no locale (the
 * numbers are written with "%.1f"/"%.6g" in the C locale the library
 * runs in). Sizes are fixed pixels; text widths are estimated at 7 px a
 * character of 12 px sans-serif, which is what the layout leaves room
 * for, and long names are shortened with an ellipsis (the whole name is
 * in the element's tooltip). Must never write a byte of job text without
 * st_buf_append_html.
 */
#include "report/svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CHAR_W 7.0 /* estimated width of a 12 px character */

static const char *const palette[] = {"#1f6fb4", "#e4572e", "#2a9d5c",
                                      "#8c5bb0", "#b8860b", "#555555"};
#define NPALETTE (sizeof(palette) / sizeof(palette[0]))

/* ---- pieces ---- */

static ST_MUST_CHECK st_code put(st_buf *b, st_err *err, const char *s)
{
    return st_buf_append(b, s, strlen(s), err);
}

/* The number of characters (UTF-8 lead bytes) of s. */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* s cut to at most `max` characters (at a character boundary, with an
 * ellipsis) into out. */
static const char *shorten(const char *s, size_t max, char *out, size_t cap)
{
    if (chars(s) <= max)
        return s;
    size_t n = 0, i = 0;
    for (; s[i] && i + 4 < cap; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80 && ++n == max)
            break;
    }
    memcpy(out, s, i);
    memcpy(out + i, "\xe2\x80\xa6", 4); /* U+2026 and the NUL */
    return out;
}

/* <text x y ATTRS>escaped s</text> */
static ST_MUST_CHECK st_code text(st_buf *b, st_err *err, double x, double y,
                                  const char *attrs, const char *s)
{
    st_code rc =
        st_buf_printf(b, err, "<text x=\"%.1f\" y=\"%.1f\" %s>", x, y, attrs);
    if (rc == ST_OK)
        rc = st_buf_append_html(b, s, err);
    return rc == ST_OK ? put(b, err, "</text>\n") : rc;
}

static ST_MUST_CHECK st_code open_svg(st_buf *b, st_err *err, double w,
                                      double h, const char *title)
{
    st_code rc = st_buf_printf(
        b, err,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
        "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
        "role=\"img\" font-family=\"DejaVu Sans, Helvetica, Arial, "
        "sans-serif\" font-size=\"12\" fill=\"#1a1a1a\">\n<title>",
        w, h, w, h);
    if (rc == ST_OK)
        rc = st_buf_append_html(b, title, err);
    if (rc == ST_OK)
        rc = st_buf_printf(b, err,
                           "</title>\n<rect width=\"%.0f\" height=\"%.0f\" "
                           "fill=\"#ffffff\"/>\n",
                           w, h);
    return rc == ST_OK ? text(b, err, 12, 22,
                              "font-size=\"15\" font-weight=\"bold\"", title)
                       : rc;
}

/* A tick label: %.6g, with a value that is zero but for rounding as 0. */
static void tick_text(double v, double step, char out[32])
{
    if (fabs(v) < fabs(step) * 1e-9)
        v = 0;
    snprintf(out, 32, "%.6g", v);
}

/* A step of 1, 2 or 5 times a power of ten giving about `want` ticks. */
static double nice_step(double range, int want)
{
    double raw = range / want;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* ---- line chart ---- */

#define LC_W 640.0
#define LC_H 360.0
#define LC_LEFT 74.0
#define LC_RIGHT 20.0
#define LC_TOP 44.0
#define LC_BOTTOM 52.0

typedef struct frame {
    double x0, x1, y0, y1; /* data ranges */
    double px0, px1, py0, py1;
} frame;

static double fx(const frame *f, double x)
{
    return f->px0 + (x - f->x0) / (f->x1 - f->x0) * (f->px1 - f->px0);
}

static double fy(const frame *f, double y)
{
    return f->py1 - (y - f->y0) / (f->y1 - f->y0) * (f->py1 - f->py0);
}

/* The data ranges of the chart's finite points; 0 when there is none. */
static int ranges(const st_svg_lines *c, frame *f)
{
    int any = 0;
    f->x0 = f->y0 = INFINITY;
    f->x1 = f->y1 = -INFINITY;
    for (size_t s = 0; s < c->nseries; s++)
        for (size_t i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            any = 1;
            f->x0 = fmin(f->x0, x);
            f->x1 = fmax(f->x1, x);
            f->y0 = fmin(f->y0, y);
            f->y1 = fmax(f->y1, y);
        }
    return any;
}

static ST_MUST_CHECK st_code axes(st_buf *b, st_err *err, frame *f,
                                  const st_svg_lines *c)
{
    /* y: padded to whole steps; x: the epochs as they are */
    if (f->y1 - f->y0 <= 1e-12 * fmax(1, fabs(f->y1))) {
        double pad = f->y1 != 0 ? fabs(f->y1) * 0.05 : 1;
        f->y0 -= pad;
        f->y1 += pad;
    }
    double ys = nice_step(f->y1 - f->y0, 5);
    f->y0 = floor(f->y0 / ys) * ys;
    f->y1 = ceil(f->y1 / ys) * ys;
    if (f->x1 - f->x0 < 1) {
        f->x0 -= 1;
        f->x1 += 1;
    }
    double xs = fmax(1, nice_step(f->x1 - f->x0, 6));
    st_code rc = ST_OK;
    char t[32];
    for (double v = f->y0; rc == ST_OK && v <= f->y1 + ys * 1e-6; v += ys) {
        double y = fy(f, v);
        tick_text(v, ys, t);
        rc = st_buf_printf(b, err,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                           "y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                           f->px0, y, f->px1, y);
        if (rc == ST_OK)
            rc = text(b, err, f->px0 - 6, y + 4, "text-anchor=\"end\"", t);
    }
    for (double v = ceil(f->x0 / xs) * xs; rc == ST_OK && v <= f->x1 + 1e-9;
         v += xs) {
        double x = fx(f, v);
        tick_text(v, xs, t);
        rc = st_buf_printf(b, err,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                           "y2=\"%.1f\" stroke=\"#555555\"/>\n",
                           x, f->py1, x, f->py1 + 5);
        if (rc == ST_OK)
            rc = text(b, err, x, f->py1 + 18, "text-anchor=\"middle\"", t);
    }
    if (rc == ST_OK)
        rc = st_buf_printf(b, err,
                           "<path d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" "
                           "stroke=\"#555555\" class=\"axis\"/>\n",
                           f->px0, f->py0, f->py1, f->px1);
    if (rc == ST_OK)
        rc = text(b, err, (f->px0 + f->px1) / 2, LC_H - 12,
                  "text-anchor=\"middle\" class=\"axis-label\"", c->x_label);
    if (rc == ST_OK) {
        char attrs[160];
        double yc = (f->py0 + f->py1) / 2;
        snprintf(attrs, sizeof(attrs),
                 "text-anchor=\"middle\" class=\"axis-label\" "
                 "transform=\"rotate(-90 16 %.1f)\"",
                 yc);
        rc = text(b, err, 16, yc, attrs, c->y_label);
    }
    return rc;
}

static ST_MUST_CHECK st_code curve(st_buf *b, st_err *err, const frame *f,
                                   const st_svg_series *s, const char *color)
{
    size_t pts = 0;
    for (size_t i = 0; i < s->n; i++)
        pts += isfinite(s->x[i]) && isfinite(s->y[i]);
    if (!pts)
        return ST_OK;
    st_code rc = put(b, err, "<path class=\"series\" d=\"");
    int first = 1;
    for (size_t i = 0; rc == ST_OK && i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i]))
            continue;
        rc = st_buf_printf(b, err, "%s%.1f %.1f", first ? "M" : "L",
                           fx(f, s->x[i]), fy(f, s->y[i]));
        first = 0;
    }
    if (rc == ST_OK)
        rc = st_buf_printf(b, err,
                           "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                           "stroke-linejoin=\"round\"><title>",
                           color);
    if (rc == ST_OK)
        rc = st_buf_append_html(b, s->name, err);
    if (rc == ST_OK)
        rc = put(b, err, "</title></path>\n");
    /* dots where there are few points, so that one epoch still shows */
    for (size_t i = 0; rc == ST_OK && pts <= 40 && i < s->n; i++)
        if (isfinite(s->x[i]) && isfinite(s->y[i]))
            rc = st_buf_printf(b, err,
                               "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" "
                               "fill=\"%s\"/>\n",
                               fx(f, s->x[i]), fy(f, s->y[i]), color);
    return rc;
}

/* The legend, right-aligned on the title's line. */
static ST_MUST_CHECK st_code legend(st_buf *b, st_err *err,
                                    const st_svg_lines *c)
{
    char tmp[128];
    double x = LC_W - LC_RIGHT;
    st_code rc = ST_OK;
    for (size_t s = c->nseries; rc == ST_OK && s-- > 0;) {
        const char *name = shorten(c->series[s].name, 24, tmp, sizeof(tmp));
        x -= CHAR_W * (double)chars(name);
        rc = text(b, err, x, 22, "class=\"legend\"", name);
        x -= 24;
        if (rc == ST_OK)
            rc = st_buf_printf(b, err,
                               "<line x1=\"%.1f\" y1=\"18\" x2=\"%.1f\" "
                               "y2=\"18\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                               x, x + 18,
                               palette[c->series[s].color % NPALETTE]);
        x -= 14;
    }
    return rc;
}

st_code st_svg_line_chart(st_buf *out, const st_svg_lines *c, st_err *err)
{
    frame f = {0, 0, 0, 0, LC_LEFT, LC_W - LC_RIGHT, LC_TOP, LC_H - LC_BOTTOM};
    if (!ranges(c, &f))
        return st_err_set(err, ST_E_INPUT, "chart \"%s\": no finite point",
                          c->title);
    st_code rc = open_svg(out, err, LC_W, LC_H, c->title);
    if (rc == ST_OK)
        rc = axes(out, err, &f, c);
    if (rc == ST_OK && isfinite(c->marker_x) && c->marker_x >= f.x0 &&
        c->marker_x <= f.x1) {
        double x = fx(&f, c->marker_x);
        rc = st_buf_printf(out, err,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                           "y2=\"%.1f\" stroke=\"#888888\" "
                           "stroke-dasharray=\"5 4\" class=\"marker\"/>\n",
                           x, f.py0, x, f.py1);
        int right = x > (f.px0 + f.px1) / 2;
        if (rc == ST_OK)
            rc = text(out, err, right ? x - 4 : x + 4, f.py0 + 12,
                      right ? "text-anchor=\"end\" fill=\"#555555\""
                            : "fill=\"#555555\"",
                      c->marker_label ? c->marker_label : "");
    }
    for (size_t s = 0; rc == ST_OK && s < c->nseries; s++)
        rc = curve(out, err, &f, &c->series[s],
                   palette[c->series[s].color % NPALETTE]);
    if (rc == ST_OK)
        rc = legend(out, err, c);
    return rc == ST_OK ? put(out, err, "</svg>\n") : rc;
}

/* ---- heat map ---- */

#define HM_LABEL_CHARS 16

st_code st_svg_heatmap(st_buf *out, const char *title, size_t k,
                       const char *const *labels, const uint64_t *counts,
                       st_err *err)
{
    if (k == 0)
        return st_err_set(err, ST_E_INPUT, "heat map: no class");
    char tmp[96];
    size_t maxc = 1;
    for (size_t i = 0; i < k; i++) {
        size_t n = chars(shorten(labels[i], HM_LABEL_CHARS, tmp, sizeof(tmp)));
        maxc = n > maxc ? n : maxc;
    }
    double cell = floor(480.0 / (double)k);
    cell = cell < 12 ? 12 : cell > 56 ? 56 : cell;
    double lw = CHAR_W * (double)maxc + 10;
    /* column labels turn when they do not fit across a cell */
    int turn = lw - 10 > cell - 4;
    double left = 30 + lw, top = 58 + (turn ? lw * 0.72 : 16);
    double side = cell * (double)k;
    double w = fmax(left + side + 24, 300), h = top + side + 40;
    st_code rc = open_svg(out, err, w, h, title);
    if (rc == ST_OK)
        rc = text(out, err, left + side / 2, 42,
                  "text-anchor=\"middle\" class=\"axis-label\"",
                  "predicted class");
    if (rc == ST_OK) {
        char attrs[160];
        snprintf(attrs, sizeof(attrs),
                 "text-anchor=\"middle\" class=\"axis-label\" "
                 "transform=\"rotate(-90 14 %.1f)\"",
                 top + side / 2);
        rc = text(out, err, 14, top + side / 2, attrs, "true class");
    }
    for (size_t i = 0; rc == ST_OK && i < k; i++) {
        const char *l = shorten(labels[i], HM_LABEL_CHARS, tmp, sizeof(tmp));
        double c = left + cell * ((double)i + 0.5);
        char attrs[160];
        if (turn)
            snprintf(attrs, sizeof(attrs),
                     "text-anchor=\"start\" transform=\"rotate(-45 %.1f "
                     "%.1f)\"",
                     c, top - 6);
        else
            snprintf(attrs, sizeof(attrs), "text-anchor=\"middle\"");
        rc = text(out, err, c, top - 6, attrs, l);
        if (rc == ST_OK)
            rc = text(out, err, left - 6, top + cell * ((double)i + 0.5) + 4,
                      "text-anchor=\"end\"", l);
    }
    for (size_t i = 0; rc == ST_OK && i < k; i++) {
        uint64_t row = 0;
        for (size_t j = 0; j < k; j++)
            row += counts[i * k + j];
        for (size_t j = 0; rc == ST_OK && j < k; j++) {
            uint64_t n = counts[i * k + j];
            double t = row ? (double)n / (double)row : 0;
            /* from #f4f8fb to #08306b */
            int r = (int)lround(244 + (8 - 244) * t),
                g = (int)lround(248 + (48 - 248) * t),
                bl = (int)lround(251 + (107 - 251) * t);
            double x = left + cell * (double)j, y = top + cell * (double)i;
            rc = st_buf_printf(out, err,
                               "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" "
                               "width=\"%.1f\" height=\"%.1f\" "
                               "fill=\"#%02x%02x%02x\" stroke=\"#ffffff\">"
                               "<title>true ",
                               x, y, cell, cell, r, g, bl);
            if (rc == ST_OK)
                rc = st_buf_append_html(out, labels[i], err);
            if (rc == ST_OK)
                rc = put(out, err, ", predicted ");
            if (rc == ST_OK)
                rc = st_buf_append_html(out, labels[j], err);
            if (rc == ST_OK)
                rc = st_buf_printf(out, err, ": %llu</title></rect>\n",
                                   (unsigned long long)n);
            char num[24];
            snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
            double fs = fmin(12, cell * 0.4);
            if (rc == ST_OK && cell >= 18 &&
                (double)strlen(num) * fs * 0.62 < cell - 2) {
                char attrs[96];
                snprintf(attrs, sizeof(attrs),
                         "text-anchor=\"middle\" font-size=\"%.0f\" "
                         "fill=\"%s\" class=\"count\"",
                         fs, t > 0.5 ? "#ffffff" : "#1a1a1a");
                rc = text(out, err, x + cell / 2, y + cell / 2 + fs * 0.35,
                          attrs, num);
            }
        }
    }
    if (rc == ST_OK)
        rc = text(out, err, 12, h - 12, "fill=\"#555555\"",
                  "shade: share of the true class's rows");
    return rc == ST_OK ? put(out, err, "</svg>\n") : rc;
}

/* ---- bars ---- */

#define BAR_NAME_CHARS 32
#define BAR_PLOT_W 400.0

st_code st_svg_bars(st_buf *out, const char *title, const char *x_label,
                    size_t n, const char *const *names, const double *values,
                    st_err *err)
{
    if (n == 0)
        return st_err_set(err, ST_E_INPUT, "bar chart \"%s\": no bar", title);
    char tmp[160];
    size_t maxc = 1;
    double vmax = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = chars(shorten(names[i], BAR_NAME_CHARS, tmp, sizeof(tmp)));
        maxc = c > maxc ? c : maxc;
        if (isfinite(values[i]) && values[i] > vmax)
            vmax = values[i];
    }
    double step = vmax > 0 ? nice_step(vmax, 4) : 1;
    double top_v = vmax > 0 ? ceil(vmax / step) * step : 1;
    double left = CHAR_W * (double)maxc + 20, top = 40, bh = 16, gap = 6;
    double bottom = top + (double)n * (bh + gap);
    double w = left + BAR_PLOT_W + 80, h = bottom + 48;
    st_code rc = open_svg(out, err, w, h, title);
    char t[32];
    for (double v = 0; rc == ST_OK && v <= top_v + step * 1e-6; v += step) {
        double x = left + v / top_v * BAR_PLOT_W;
        tick_text(v, step, t);
        rc = st_buf_printf(out, err,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                           "y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                           x, top - 4, x, bottom);
        if (rc == ST_OK)
            rc = text(out, err, x, bottom + 16, "text-anchor=\"middle\"", t);
    }
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        double v = isfinite(values[i]) && values[i] > 0 ? values[i] : 0;
        double y = top + (double)i * (bh + gap);
        rc = text(out, err, left - 8, y + bh - 4, "text-anchor=\"end\"",
                  shorten(names[i], BAR_NAME_CHARS, tmp, sizeof(tmp)));
        if (rc == ST_OK)
            rc = st_buf_printf(out, err,
                               "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
                               "width=\"%.1f\" height=\"%.1f\" "
                               "fill=\"%s\"><title>",
                               left, y, v / top_v * BAR_PLOT_W, bh, palette[0]);
        if (rc == ST_OK)
            rc = st_buf_append_html(out, names[i], err);
        if (rc == ST_OK)
            rc = put(out, err, "</title></rect>\n");
        snprintf(t, sizeof(t), "%.4g", v);
        if (rc == ST_OK)
            rc = text(out, err, left + v / top_v * BAR_PLOT_W + 4, y + bh - 4,
                      "fill=\"#555555\"", t);
    }
    if (rc == ST_OK)
        rc = st_buf_printf(out, err,
                           "<path d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" "
                           "stroke=\"#555555\"/>\n",
                           left, top - 4, bottom, left + BAR_PLOT_W);
    if (rc == ST_OK)
        rc = text(out, err, left + BAR_PLOT_W / 2, h - 10,
                  "text-anchor=\"middle\" class=\"axis-label\"", x_label);
    return rc == ST_OK ? put(out, err, "</svg>\n") : rc;
}
