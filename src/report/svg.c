#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Heckbert's "nice numbers": the closest (round) or next larger of 1, 2, 5
 * times a power of ten. */
static double nice_number(double x, int round_it)
{
    double e = floor(log10(x)), f = x / pow(10, e), nf;
    if (round_it)
        nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else
        nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

int svg_nice_ticks(double lo, double hi, int target, double *ticks, double *step, double *nice_lo, double *nice_hi)
{
    if (!(hi > lo)) {
        /* One value (or none): a range around it. */
        double pad = isfinite(lo) && lo != 0 ? fabs(lo) * 0.1 : 1;
        lo = isfinite(lo) ? lo - pad : -1;
        hi = isfinite(hi) ? hi + pad : 1;
    }
    if (target < 2)
        target = 2;
    double d = nice_number(nice_number(hi - lo, 0) / (target - 1), 1);
    *nice_lo = floor(lo / d) * d;
    *nice_hi = ceil(hi / d) * d;
    *step = d;
    int n = 0;
    for (double t = *nice_lo; t <= *nice_hi + d / 2 && n < SVG_MAX_TICKS; t += d)
        ticks[n++] = fabs(t) < d * 1e-9 ? 0 : t;   /* no "-0" labels */
    return n;
}

/* A margin of 4 % of the span, so that points at the extremes are not cut by
 * the frame; an end at exactly 0 stays (bars start there). */
static void pad(double *lo, double *hi)
{
    double m = (*hi - *lo) * 0.04;
    if (*lo != 0)
        *lo -= m;
    if (*hi != 0)
        *hi += m;
}

void svg_frame_fit(svg_frame *f, double xmin, double xmax, double ymin, double ymax)
{
    pad(&xmin, &xmax);
    pad(&ymin, &ymax);
    f->nx = svg_nice_ticks(xmin, xmax, 6, f->xticks, &f->xstep, &f->x0, &f->x1);
    f->ny = svg_nice_ticks(ymin, ymax, 6, f->yticks, &f->ystep, &f->y0, &f->y1);
}

double svg_x(const svg_frame *f, double x)
{
    return f->left + (x - f->x0) / (f->x1 - f->x0) * f->width;
}

double svg_y(const svg_frame *f, double y)
{
    return f->top + f->height - (y - f->y0) / (f->y1 - f->y0) * f->height;
}

void svg_open(rbuf *b, int width, int height, const char *title)
{
    rbuf_printf(b,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                "role=\"img\" font-family=\"sans-serif\"><title>",
                width, height, width, height);
    rbuf_html(b, title);
    rbuf_puts(b, "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
}

void svg_close(rbuf *b)
{
    rbuf_puts(b, "</svg>\n");
}

/* A tick label with as many decimals as the step needs. */
static void tick_label(char *out, size_t size, double value, double step)
{
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(out, size, "%.*f", decimals, value);
}

void svg_axes(rbuf *b, const svg_frame *f, const char *x_title, const char *y_title)
{
    char label[32];
    double bottom = f->top + f->height, right = f->left + f->width;
    rbuf_puts(b, "<g class=\"axes\" stroke=\"#dddddd\" stroke-width=\"1\">\n");
    for (int i = 0; i < f->nx; i++)
        rbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", svg_x(f, f->xticks[i]), f->top,
                    svg_x(f, f->xticks[i]), bottom);
    for (int i = 0; i < f->ny; i++)
        rbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", f->left, svg_y(f, f->yticks[i]),
                    right, svg_y(f, f->yticks[i]));
    rbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444444\"/>\n",
                f->left, f->top, f->width, f->height);
    rbuf_puts(b, "</g>\n");
    for (int i = 0; i < f->nx; i++) {
        tick_label(label, sizeof label, f->xticks[i], f->xstep);
        svg_text(b, svg_x(f, f->xticks[i]), bottom + 16, "middle", 11, "#333333", label);
    }
    for (int i = 0; i < f->ny; i++) {
        tick_label(label, sizeof label, f->yticks[i], f->ystep);
        svg_text(b, f->left - 6, svg_y(f, f->yticks[i]) + 4, "end", 11, "#333333", label);
    }
    svg_text(b, f->left + f->width / 2, bottom + 36, "middle", 13, "#111111", x_title);
    double yx = f->left - 48, yy = f->top + f->height / 2;
    rbuf_printf(b, "<g transform=\"rotate(-90 %.1f %.1f)\">", yx, yy);
    svg_text(b, yx, yy, "middle", 13, "#111111", y_title);
    rbuf_puts(b, "</g>\n");
}

void svg_text(rbuf *b, double x, double y, const char *anchor, int size, const char *fill, const char *text)
{
    rbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\">", x, y, anchor, size,
                fill);
    rbuf_html(b, text);
    rbuf_puts(b, "</text>\n");
}

static void title_element(rbuf *b, const char *title)
{
    if (!title)
        return;
    rbuf_puts(b, "<title>");
    rbuf_html(b, title);
    rbuf_puts(b, "</title>");
}

void svg_dot(rbuf *b, double cx, double cy, double r, const char *fill, const char *title)
{
    rbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"#222222\" stroke-width=\"0.8\">",
                cx, cy, r, fill);
    title_element(b, title);
    rbuf_puts(b, "</circle>\n");
}

void svg_star(rbuf *b, double cx, double cy, double r, const char *fill, const char *title)
{
    rbuf_puts(b, "<polygon points=\"");
    for (int i = 0; i < 10; i++) {
        double radius = i % 2 ? r * 0.45 : r, angle = -M_PI / 2 + i * M_PI / 5;
        rbuf_printf(b, "%s%.1f,%.1f", i ? " " : "", cx + radius * cos(angle), cy + radius * sin(angle));
    }
    rbuf_printf(b, "\" fill=\"%s\" stroke=\"#222222\" stroke-width=\"1\">", fill);
    title_element(b, title);
    rbuf_puts(b, "</polygon>\n");
}

static void layout_add(svg_layout *l, svg_box box)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        svg_box *p = realloc(l->boxes, cap * sizeof *p);
        if (!p)
            return;   /* labels may then overlap; the figure is still right */
        l->boxes = p;
        l->cap = cap;
    }
    l->boxes[l->n++] = box;
}

void svg_layout_reserve(svg_layout *l, double cx, double cy, double r)
{
    svg_box box = {cx - r, cy - r, cx + r, cy + r, 1};
    layout_add(l, box);
}

static double overlap(const svg_box *a, const svg_box *b)
{
    double w = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), h = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
    return w > 0 && h > 0 ? w * h : 0;
}

/* From (x, y) to the nearest point of the box. */
static double distance_to_box(const svg_box *box, double x, double y)
{
    double dx = fmax(fmax(box->x0 - x, 0), x - box->x1), dy = fmax(fmax(box->y0 - y, 0), y - box->y1);
    return sqrt(dx * dx + dy * dy);
}

void svg_layout_label(rbuf *b, svg_layout *l, double cx, double cy, int size, const char *fill, const char *text)
{
    /* Sans-serif digits and capitals average about 0.62 em. */
    double w = 0.62 * size * (double)strlen(text), h = size;
    const struct {
        double dx, dy;
        int left;
    } spots[] = {{9, -7, 0}, {9, 7 + h, 0}, {-9, -7, 1}, {-9, 7 + h, 1}};
    int best = 0;
    double best_overlap = INFINITY;
    svg_box best_box = {0, 0, 0, 0, 0};
    for (int k = 0; k < 4; k++) {
        double x = cx + spots[k].dx, y = cy + spots[k].dy;
        svg_box box = {spots[k].left ? x - w : x, y - h, spots[k].left ? x : x + w, y + 2, 0};
        double total = 0;
        for (size_t i = 0; i < l->n; i++) {
            total += overlap(&box, &l->boxes[i]);
            /* A label nearer another point would name the wrong one. */
            if (l->boxes[i].point &&
                distance_to_box(&box, (l->boxes[i].x0 + l->boxes[i].x1) / 2, (l->boxes[i].y0 + l->boxes[i].y1) / 2) <
                    distance_to_box(&box, cx, cy) - 0.5)
                total += 1e4;
        }
        if (total < best_overlap) {
            best_overlap = total;
            best = k;
            best_box = box;
        }
        if (total == 0)
            break;
    }
    svg_text(b, cx + spots[best].dx, cy + spots[best].dy, spots[best].left ? "end" : "start", size, fill, text);
    layout_add(l, best_box);
}

void svg_layout_free(svg_layout *l)
{
    free(l->boxes);
    l->boxes = NULL;
    l->n = l->cap = 0;
}
