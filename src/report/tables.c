/* The report's tables as cells, shared by the Markdown and HTML writers:
 * Table I (one row per variant) and the bundles under the cascade model. */
#include <math.h>
#include <stdio.h>

#include "report_internal.h"

enum { T1_COLUMNS = 19, BUNDLE_COLUMNS = 6 };

static const char *const headers[T1_COLUMNS] = {
    "Variant", "Knobs", "n", "Data (J)", "Tokenize (J)", "Load (J)", "Train (J)", "Save (J)", "Eval (J)",
    "Other (J)", "Total (J)", "Δ Total (%)", "Δ F1 (%)", "Δ F1w (%)", "MCC", "Time (s)", "Eval time (s)",
    "Δ Eval time (%)", "Notes",
};

static void delta_cell(const gt_analysis *a, size_t i, const gt_delta *d, char *out, size_t size)
{
    if (i == a->baseline && !isnan(d->pct))
        snprintf(out, size, "0.0");
    else
        fmt_delta(out, size, d);
}

static void table1_cell(const gt_analysis *a, size_t i, int column, char *out, size_t size)
{
    const gt_variant_summary *v = &a->variants[i];
    out[0] = '\0';
    if (column >= 3 && column <= 9) {
        fmt_mean_ci(out, size, &v->stage_energy[column - 3]);
        return;
    }
    switch (column) {
    case 0: snprintf(out, size, "%s", v->name); break;
    case 1: {
        rbuf b = {0};
        variant_knobs(&b, v);
        snprintf(out, size, "%s", b.data ? b.data : "");
        rbuf_free(&b);
        break;
    }
    case 2: snprintf(out, size, "%zu", v->runs); break;
    case 10: fmt_mean_ci(out, size, &v->energy); break;
    case 11: delta_cell(a, i, &v->d_energy, out, size); break;
    case 12: delta_cell(a, i, &v->d_f1, out, size); break;
    case 13: delta_cell(a, i, &v->d_f1_weighted, out, size); break;
    case 14: fmt_mean_ci(out, size, &v->mcc); break;
    case 15: fmt_mean_ci(out, size, &v->duration); break;
    case 16: fmt_mean_ci(out, size, &v->stage_duration[GT_RUN_STAGE_EVAL]); break;
    case 17: delta_cell(a, i, &v->d_stage_time[GT_RUN_STAGE_EVAL], out, size); break;
    case 18: report_notes(a, i, out, size); break;
    default: break;
    }
}

static const char *const bundle_headers[BUNDLE_COLUMNS] = {
    "Bundle", "Knobs", "Expected saving (%)", "Measured saving (%)", "Difference (points) [95 % CI]",
    "Interaction",
};

static void bundle_cell(const gt_analysis *a, size_t k, int column, char *out, size_t size)
{
    const gt_bundle *bd = &a->bundles[k];
    const gt_variant_summary *v = &a->variants[bd->variant];
    const gt_cascade *c = &bd->cascade;
    rbuf b = {0};
    switch (column) {
    case 0: rbuf_puts(&b, v->name); break;
    case 1: variant_knobs(&b, v); break;
    case 2: fmt_value(out, size, c->expected_saving_pct); return;
    case 3: fmt_value(out, size, c->measured_saving_pct); return;
    case 4:
        if (isnan(c->difference_pct))
            rbuf_puts(&b, "–");
        else if (isnan(c->difference_ci_lo))
            rbuf_printf(&b, "%+.1f", no_negative_zero(c->difference_pct));
        else
            rbuf_printf(&b, "%+.1f [%+.1f, %+.1f]", no_negative_zero(c->difference_pct),
                        no_negative_zero(c->difference_ci_lo), no_negative_zero(c->difference_ci_hi));
        break;
    default:
        rbuf_puts(&b, gt_interaction_name(c->interaction));
        if (c->interaction != GT_INTERACTION_UNKNOWN && !c->from_ci)
            rbuf_puts(&b, " (point estimate: fewer than 2 runs)");
        for (size_t j = 0; j < v->n_knobs; j++)
            if (bd->singles[j] == GT_NONE)
                rbuf_printf(&b, "; no single-knob run of %s", v->knobs[j].name);
        break;
    }
    snprintf(out, size, "%s", b.data ? b.data : "");
    rbuf_free(&b);
}

report_table table1(const gt_analysis *a)
{
    report_table t = {T1_COLUMNS, a->n_variants, headers, table1_cell, 2};
    return t;
}

report_table bundle_table(const gt_analysis *a)
{
    report_table t = {BUNDLE_COLUMNS, a->n_bundles, bundle_headers, bundle_cell, 2};
    return t;
}
