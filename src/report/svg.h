/* Small helpers for hand-written SVG: a plot frame with "nice" tick values
 * (1, 2 or 5 times a power of ten), axes with grid lines and labels, markers,
 * escaped text. Coordinates: data values go through svg_x / svg_y. */
#ifndef GREENTUNE_REPORT_SVG_H
#define GREENTUNE_REPORT_SVG_H

#include "buf.h"

#define SVG_MAX_TICKS 16

typedef struct {
    double left, top, width, height;   /* the plot area, in pixels */
    double x0, x1, y0, y1;             /* the data range shown (after nice rounding) */
    double xticks[SVG_MAX_TICKS], yticks[SVG_MAX_TICKS];
    int nx, ny;
    double xstep, ystep;
} svg_frame;

/* Ticks for [lo, hi] at about `target` nice steps; widens [lo, hi] to whole
 * steps. Writes up to SVG_MAX_TICKS ticks and returns how many. */
int svg_nice_ticks(double lo, double hi, int target, double *ticks, double *step, double *nice_lo, double *nice_hi);

/* Sets the frame's data ranges from the data's extent (rounded out to ticks). */
void svg_frame_fit(svg_frame *f, double xmin, double xmax, double ymin, double ymax);
double svg_x(const svg_frame *f, double x);
double svg_y(const svg_frame *f, double y);

/* <svg> with a viewBox, a title for screen readers, and its own small style. */
void svg_open(rbuf *b, int width, int height, const char *title);
void svg_close(rbuf *b);
/* Grid, ticks, tick labels and axis titles around the frame. */
void svg_axes(rbuf *b, const svg_frame *f, const char *x_title, const char *y_title);
/* Text (escaped) anchored "start", "middle" or "end". */
void svg_text(rbuf *b, double x, double y, const char *anchor, int size, const char *fill, const char *text);
/* A dot or a five-pointed star, with a tooltip title. */
void svg_dot(rbuf *b, double cx, double cy, double r, const char *fill, const char *title);
void svg_star(rbuf *b, double cx, double cy, double r, const char *fill, const char *title);

/* Labels that keep out of each other's way: reserve the points' areas, then
 * each label takes the first of four spots around its point (right above,
 * right below, left above, left below) that overlaps the least and sits
 * nearer its own point than any other. */
typedef struct {
    double x0, y0, x1, y1;
    int point;   /* a reserved point, not a label */
} svg_box;

typedef struct {
    svg_box *boxes;
    size_t n, cap;
} svg_layout;

void svg_layout_reserve(svg_layout *l, double cx, double cy, double r);
void svg_layout_label(rbuf *b, svg_layout *l, double cx, double cy, int size, const char *fill, const char *text);
void svg_layout_free(svg_layout *l);

#endif
