/* The report's figures as inline SVG: Fig. 2's quadrant plot, energy per stage
 * as stacked bars, and the Pareto fronts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "svg.h"

#define GREEN "#2e9e44"
#define RED "#d64541"
#define GRAY "#8c8c8c"
#define YELLOW "#f5c518"
#define BLUE "#1f77b4"

static const char *const stage_colors[GT_RUN_STAGE_COUNT] = {
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
};

/* " (estimated)" where the numbers are: a plot never passes an estimate off
 * as a measurement. */
static const char *estimated_suffix(const gt_analysis *a)
{
    return a->estimated ? " (estimated)" : "";
}

static void widen(double *lo, double *hi, double v)
{
    if (isnan(v))
        return;
    if (v < *lo)
        *lo = v;
    if (v > *hi)
        *hi = v;
}

/* A horizontal or vertical whisker for a CI. */
static void whisker(rbuf *b, double x1, double y1, double x2, double y2, const char *color)
{
    rbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.2\"/>\n", x1,
                y1, x2, y2, color);
}

static void quadrant_legend(rbuf *b, double x, double y)
{
    const struct {
        const char *color, *text;
        int star;
    } items[] = {{GREEN, "both better", 0}, {RED, "both worse", 0}, {GRAY, "mixed", 0},
                 {RED, "baseline", 1},      {YELLOW, "best bundle", 1}};
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        double cx = x + (double)i * 110;
        if (items[i].star)
            svg_star(b, cx, y - 4, 7, items[i].color, NULL);
        else
            svg_dot(b, cx, y - 4, 5, items[i].color, NULL);
        svg_text(b, cx + 10, y, "start", 12, "#222222", items[i].text);
    }
}

void figure_quadrant(rbuf *b, const gt_analysis *a)
{
    svg_frame f = {90, 50, 600, 420, 0, 0, 0, 0, {0}, {0}, 0, 0, 0, 0};
    double xlo = 0, xhi = 0, ylo = 0, yhi = 0;
    for (size_t i = 0; i < a->n_variants; i++) {
        if (quadrant(a, i) == 2)
            continue;
        const gt_variant_summary *v = &a->variants[i];
        widen(&xlo, &xhi, v->d_stage_energy[GT_RUN_STAGE_EVAL].pct);
        widen(&ylo, &yhi, v->d_stage_time[GT_RUN_STAGE_EVAL].pct);
    }
    svg_frame_fit(&f, xlo, xhi, ylo, yhi);
    svg_open(b, 720, 530, "Fig. 2: change of evaluation energy vs. evaluation time relative to the baseline");

    /* The quadrants that decide: both better (bottom left), both worse (top right). */
    double ox = svg_x(&f, 0), oy = svg_y(&f, 0);
    rbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#e8f5e9\"/>\n", f.left, oy,
                ox - f.left, f.top + f.height - oy);
    rbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fdecea\"/>\n", ox, f.top,
                f.left + f.width - ox, oy - f.top);
    char x_title[96], y_title[96];
    snprintf(x_title, sizeof x_title, "Δ evaluation energy (%%)%s", estimated_suffix(a));
    snprintf(y_title, sizeof y_title, "Δ evaluation time (%%)");
    svg_axes(b, &f, x_title, y_title);
    rbuf_printf(b,
                "<g stroke=\"#555555\" stroke-dasharray=\"4 3\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                "y2=\"%.1f\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/></g>\n",
                ox, f.top, ox, f.top + f.height, f.left, oy, f.left + f.width, oy);

    svg_layout layout = {0};
    svg_layout_reserve(&layout, ox, oy, 11);
    for (size_t i = 0; i < a->n_variants; i++)
        if (quadrant(a, i) != 2)
            svg_layout_reserve(&layout, svg_x(&f, a->variants[i].d_stage_energy[GT_RUN_STAGE_EVAL].pct),
                               svg_y(&f, a->variants[i].d_stage_time[GT_RUN_STAGE_EVAL].pct), 7);
    for (size_t i = 0; i < a->n_variants; i++) {
        int q = quadrant(a, i);
        if (q == 2)
            continue;
        const gt_variant_summary *v = &a->variants[i];
        const gt_delta *dx = &v->d_stage_energy[GT_RUN_STAGE_EVAL], *dy = &v->d_stage_time[GT_RUN_STAGE_EVAL];
        const char *color = q == 1 ? GREEN : q == -1 ? RED : GRAY;
        double px = svg_x(&f, dx->pct), py = svg_y(&f, dy->pct);
        if (!isnan(dx->ci_lo))
            whisker(b, svg_x(&f, fmax(dx->ci_lo, f.x0)), py, svg_x(&f, fmin(dx->ci_hi, f.x1)), py, color);
        if (!isnan(dy->ci_lo))
            whisker(b, px, svg_y(&f, fmax(dy->ci_lo, f.y0)), px, svg_y(&f, fmin(dy->ci_hi, f.y1)), color);
        char tip[GT_NAME_MAX + 96];
        snprintf(tip, sizeof tip, "%s: eval energy %+.1f %%, eval time %+.1f %%", v->name, dx->pct, dy->pct);
        if (i == a->best_bundle)
            svg_star(b, px, py, 11, YELLOW, tip);
        else
            svg_dot(b, px, py, 6, color, tip);
    }
    /* Labels last, so that none hides under a later point. */
    for (size_t i = 0; i < a->n_variants; i++)
        if (quadrant(a, i) != 2)
            svg_layout_label(b, &layout, svg_x(&f, a->variants[i].d_stage_energy[GT_RUN_STAGE_EVAL].pct),
                             svg_y(&f, a->variants[i].d_stage_time[GT_RUN_STAGE_EVAL].pct), 12, "#111111",
                             a->variants[i].name);
    if (a->baseline != GT_NONE && a->variants[a->baseline].runs > 0) {
        char label[GT_NAME_MAX + 16];
        snprintf(label, sizeof label, "%s (baseline)", a->variants[a->baseline].name);
        svg_star(b, ox, oy, 11, RED, label);
        svg_layout_label(b, &layout, ox, oy, 12, "#111111", label);
    }
    svg_layout_free(&layout);
    quadrant_legend(b, f.left + 10, 28);
    svg_close(b);
}

void figure_stages(rbuf *b, const gt_analysis *a)
{
    const double row = 26, top = 60;
    double height = top + row * (double)a->n_variants + 60;
    svg_frame f = {150, top, 560, row * (double)a->n_variants, 0, 0, 0, 0, {0}, {0}, 0, 0, 0, 0};
    double hi = 0;
    for (size_t i = 0; i < a->n_variants; i++) {
        const gt_summary *e = &a->variants[i].energy;
        double end = isnan(e->ci_hi) ? e->mean : e->ci_hi;
        if (end > hi)
            hi = end;
    }
    svg_frame_fit(&f, 0, hi > 0 ? hi : 1, 0, 1);
    f.ny = 0;   /* rows, not a y scale */
    svg_open(b, 760, (int)height, "Energy per stage and variant (stacked, mean of the finished runs)");
    char x_title[96];
    snprintf(x_title, sizeof x_title, "Energy (J, mean)%s", estimated_suffix(a));
    svg_axes(b, &f, x_title, "");
    for (int s = 0; s < GT_RUN_STAGE_COUNT; s++) {
        double lx = 150 + s * 80;
        rbuf_printf(b, "<rect x=\"%.1f\" y=\"18\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", lx, stage_colors[s]);
        svg_text(b, lx + 16, 29, "start", 12, "#222222", gt_run_stage_name((gt_run_stage)s));
    }
    for (size_t i = 0; i < a->n_variants; i++) {
        const gt_variant_summary *v = &a->variants[i];
        double y = top + row * (double)i + 5, h = row - 10, x = 0;
        svg_text(b, f.left - 8, y + h - 3, "end", 12, "#111111", v->name);
        if (v->runs == 0) {
            svg_text(b, f.left + 6, y + h - 3, "start", 11, "#999999", "no finished runs");
            continue;
        }
        for (int s = 0; s < GT_RUN_STAGE_COUNT; s++) {
            double e = v->stage_energy[s].mean;
            if (isnan(e) || e <= 0)
                continue;
            rbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", svg_x(&f, x),
                        y, svg_x(&f, x + e) - svg_x(&f, x), h, stage_colors[s]);
            rbuf_html(b, v->name);
            rbuf_printf(b, " %s: %.4g J</title></rect>\n", gt_run_stage_name((gt_run_stage)s), e);
            x += e;
        }
        if (!isnan(v->energy.ci_lo))
            whisker(b, svg_x(&f, v->energy.ci_lo), y + h / 2, svg_x(&f, v->energy.ci_hi), y + h / 2, "#000000");
    }
    svg_close(b);
}

/* The front as a staircase: from each point to the next, first along x. */
static void front_line(rbuf *b, const svg_frame *f, const double *x, const double *y, const size_t *front, size_t n)
{
    rbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", BLUE);
    for (size_t k = 0; k < n; k++) {
        double px = svg_x(f, x[front[k]]), py = svg_y(f, y[front[k]]);
        if (k)
            rbuf_printf(b, " %.1f,%.1f", px, svg_y(f, y[front[k - 1]]));
        rbuf_printf(b, "%s%.1f,%.1f", k ? " " : "", px, py);
    }
    rbuf_puts(b, "\"/>\n");
}

void figure_pareto(rbuf *b, const gt_analysis *a, int time_axis)
{
    size_t n = a->n_variants;
    double *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        b->failed = 1;
        return;
    }
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        x[i] = a->variants[i].energy.mean;
        y[i] = time_axis ? a->variants[i].duration.mean : a->variants[i].f1.mean;
        if (!isnan(x[i]) && !isnan(y[i])) {
            widen(&xlo, &xhi, x[i]);
            widen(&ylo, &yhi, y[i]);
        }
    }
    svg_frame f = {80, 30, 420, 300, 0, 0, 0, 0, {0}, {0}, 0, 0, 0, 0};
    svg_frame_fit(&f, isfinite(xlo) ? xlo : 0, isfinite(xhi) ? xhi : 1, isfinite(ylo) ? ylo : 0,
                  isfinite(yhi) ? yhi : 1);
    svg_open(b, 540, 390, time_axis ? "Pareto front: energy vs. time (both lower is better)"
                                    : "Pareto front: energy vs. F1 (lower energy, higher F1 is better)");
    char x_title[96];
    snprintf(x_title, sizeof x_title, "Energy (J, mean)%s", estimated_suffix(a));
    svg_axes(b, &f, x_title, time_axis ? "Time (s, mean)" : "F1 (binary, mean)");
    const size_t *front = time_axis ? a->pareto_time : a->pareto_f1;
    size_t n_front = time_axis ? a->n_pareto_time : a->n_pareto_f1;
    front_line(b, &f, x, y, front, n_front);
    svg_layout layout = {0};
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]) && !isnan(y[i]))
            svg_layout_reserve(&layout, svg_x(&f, x[i]), svg_y(&f, y[i]), 6);
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(y[i]))
            continue;
        int on_front = 0;
        for (size_t k = 0; k < n_front; k++)
            on_front |= front[k] == i;
        char tip[GT_NAME_MAX + 64];
        snprintf(tip, sizeof tip, "%s: %.4g J, %s %.4g", a->variants[i].name, x[i], time_axis ? "time" : "F1", y[i]);
        svg_dot(b, svg_x(&f, x[i]), svg_y(&f, y[i]), on_front ? 6 : 4, on_front ? BLUE : GRAY, tip);
    }
    for (size_t i = 0; i < n; i++) {
        int on_front = 0;
        for (size_t k = 0; k < n_front; k++)
            on_front |= front[k] == i;
        if (!isnan(x[i]) && !isnan(y[i]))
            svg_layout_label(b, &layout, svg_x(&f, x[i]), svg_y(&f, y[i]), 11, on_front ? "#111111" : "#777777",
                             a->variants[i].name);
    }
    svg_layout_free(&layout);
    svg_close(b);
    free(x);
    free(y);
}
