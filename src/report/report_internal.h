/* Shared by the report writers: number formatting, knob labels, warnings,
 * Table I's cells, the figures. */
#ifndef GREENTUNE_REPORT_INTERNAL_H
#define GREENTUNE_REPORT_INTERNAL_H

#include <stddef.h>

#include "buf.h"
#include "greentune/analysis.h"

struct cJSON;

/* 3 significant digits without an exponent for everyday magnitudes; "–" for NAN. */
void fmt_value(char *out, size_t size, double v);
/* "100 ± 6.21" (the 95 % CI half-width) when there are >= 2 runs, else "100". */
void fmt_mean_ci(char *out, size_t size, const gt_summary *s);
/* v, but 0 for what "%+.1f" would print as "-0.0". */
double no_negative_zero(double v);
/* "-46.0 [-48.1, -43.8]" with a marker: "†" not significant, "‡" not tested. */
void fmt_delta(char *out, size_t size, const gt_delta *d);

/* "seq_trim(max_len=64) + fused"; "external command"; "none". */
void variant_knobs(rbuf *b, const gt_variant_summary *v);
/* One knob: "prune_layers(from=top,n=2)", "fused", "seq_trim=64". */
void knob_label(rbuf *b, const gt_knob_ref *k);

#define REPORT_WARNING_MAX 256
#define REPORT_WARNINGS_MAX 8
/* Warnings about variant i (failed, pending, no CI, single class) or, for
 * GT_NONE, about the experiment (no baseline runs, several machines, mixed
 * meters). Returns how many were written. */
size_t report_warnings(const gt_analysis *a, size_t i, char out[][REPORT_WARNING_MAX], size_t max);
/* A short form for Table I's notes column. */
void report_notes(const gt_analysis *a, size_t i, char *out, size_t size);

/* Where the energy numbers come from, in a sentence. */
void report_source_sentence(rbuf *b, const gt_analysis *a);
/* How bundles are judged, in a sentence. */
void report_cascade_sentence(rbuf *b);
/* Table I's caption (the source sentence included). */
void report_table1_caption(rbuf *b, const gt_analysis *a);

/* A table as cells: Markdown and HTML write any of them the same way. The
 * first `text_columns` columns and the last are text (left-aligned), the
 * others numbers. */
typedef struct {
    int columns;
    size_t rows;
    const char *const *headers;
    void (*cell)(const gt_analysis *a, size_t row, int column, char *out, size_t size);
    int text_columns;
} report_table;

/* Table I: a row per variant (stage energies, total, deltas, F1, MCC, times, notes). */
report_table table1(const gt_analysis *a);
/* A row per bundle: expected and measured saving, the difference, the label. */
report_table bundle_table(const gt_analysis *a);

/* Fig. 2's quadrant of variant i: 1 both better, -1 both worse, 0 mixed,
 * 2 not plotted (baseline or no eval numbers). */
int quadrant(const gt_analysis *a, size_t i);

void figure_quadrant(rbuf *b, const gt_analysis *a);
void figure_stages(rbuf *b, const gt_analysis *a);
void figure_pareto(rbuf *b, const gt_analysis *a, int time_axis);

void report_markdown(rbuf *b, const gt_analysis *a);
void report_csv(rbuf *b, const gt_analysis *a);
void report_html(rbuf *b, const gt_analysis *a);
struct cJSON *report_json(const gt_analysis *a);

#endif
