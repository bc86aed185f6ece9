/* The report as CSV: one row per variant, every number at full precision with
 * its interval and test in columns of their own; empty where there is none.
 * One function writes both the header and the rows, so they cannot drift. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

typedef struct {
    rbuf *b;
    int header;   /* writing the column names, not the values */
    int first;
} row;

static void field(row *r, const char *name, const char *value)
{
    if (!r->first)
        rbuf_puts(r->b, ",");
    r->first = 0;
    rbuf_csv(r->b, r->header ? name : value);
}

static void field_number(row *r, const char *name, double v)
{
    char text[40] = "";
    if (isfinite(v))
        snprintf(text, sizeof text, "%.10g", v);
    field(r, name, text);
}

/* name + suffix as a column name. */
static void field_number2(row *r, const char *name, const char *suffix, double v)
{
    char column[96];
    snprintf(column, sizeof column, "%s%s", name, suffix);
    field_number(r, column, v);
}

static void field_summary(row *r, const char *name, const gt_summary *s)
{
    field_number2(r, name, "_mean", s->mean);
    field_number2(r, name, "_std", s->std);
    field_number2(r, name, "_ci95_lo", s->ci_lo);
    field_number2(r, name, "_ci95_hi", s->ci_hi);
}

static void field_delta(row *r, const char *name, const gt_delta *d)
{
    char column[96];
    snprintf(column, sizeof column, "delta_%s", name);
    field_number2(r, column, "_pct", d->pct);
    field_number2(r, column, "_ci95_lo", d->ci_lo);
    field_number2(r, column, "_ci95_hi", d->ci_hi);
    field_number2(r, column, "_p_value", d->p_value);
    field_number2(r, column, "_p_value_mann_whitney", d->p_mann_whitney);
    snprintf(column, sizeof column, "delta_%s_significant", name);
    field(r, column, !d->tested ? "" : d->significant ? "yes" : "no");
}

static void write_row(row *r, const gt_analysis *a, size_t i)
{
    static const gt_variant_summary empty;
    const gt_variant_summary *v = r->header ? &empty : &a->variants[i];
    char text[64], name[64];
    rbuf knobs = {0};
    if (!r->header)
        variant_knobs(&knobs, v);
    field(r, "variant", v->name);
    field(r, "knobs", knobs.data ? knobs.data : "");
    rbuf_free(&knobs);
    field(r, "external", v->external ? "yes" : "no");
    field_number(r, "runs", (double)v->runs);
    field_number(r, "failed", (double)v->failed);
    field_number(r, "pending", (double)v->pending);
    field(r, "meter", v->meter);
    field(r, "estimated", v->estimated ? "yes" : "no");
    field_summary(r, "energy_j", &v->energy);
    field_summary(r, "duration_s", &v->duration);
    for (int s = 0; s < GT_RUN_STAGE_COUNT; s++) {
        snprintf(name, sizeof name, "%s_energy_j", gt_run_stage_name((gt_run_stage)s));
        field_summary(r, name, &v->stage_energy[s]);
        snprintf(name, sizeof name, "%s_duration_s", gt_run_stage_name((gt_run_stage)s));
        field_summary(r, name, &v->stage_duration[s]);
    }
    field_summary(r, "f1", &v->f1);
    field_summary(r, "f1_weighted", &v->f1_weighted);
    field_summary(r, "mcc", &v->mcc);
    field_summary(r, "accuracy", &v->accuracy);
    field_delta(r, "energy", &v->d_energy);
    field_delta(r, "time", &v->d_time);
    field_delta(r, "eval_energy", &v->d_stage_energy[GT_RUN_STAGE_EVAL]);
    field_delta(r, "eval_time", &v->d_stage_time[GT_RUN_STAGE_EVAL]);
    field_delta(r, "f1", &v->d_f1);
    field_delta(r, "f1_weighted", &v->d_f1_weighted);
    field_number(r, "delta_mcc", v->d_mcc);
    field_number(r, "single_class_runs", (double)v->single_class_runs);
    static const char *const quadrants[] = {"both worse", "mixed", "both better", "", ""};
    field(r, "quadrant", r->header ? "" : quadrants[quadrant(a, i) + 1]);
    text[0] = '\0';
    rbuf notes = {0};
    if (!r->header) {
        char w[REPORT_WARNINGS_MAX][REPORT_WARNING_MAX];
        size_t n = report_warnings(a, i, w, REPORT_WARNINGS_MAX);
        for (size_t k = 0; k < n; k++)
            rbuf_printf(&notes, "%s%s", k ? "; " : "", w[k]);
    }
    field(r, "warnings", notes.data ? notes.data : text);
    rbuf_free(&notes);
    rbuf_puts(r->b, "\r\n");
}

void report_csv(rbuf *b, const gt_analysis *a)
{
    row header = {b, 1, 1};
    write_row(&header, a, 0);
    for (size_t i = 0; i < a->n_variants; i++) {
        row r = {b, 0, 1};
        write_row(&r, a, i);
    }
}
