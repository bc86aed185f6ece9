/* The cascade model: do a bundle's knobs save what their single-knob runs
 * predict if they acted independently (1 - prod(1 - s_i)), more (synergy), or
 * less (antagonism)? The definitions are in include/greentune/analysis.h. */
#include <math.h>

#include "greentune/analysis.h"

/* Within 2 % of the prediction counts as additive when there is no interval. */
#define POINT_TOLERANCE 0.02

const char *gt_interaction_name(gt_interaction interaction)
{
    switch (interaction) {
    case GT_INTERACTION_SYNERGISTIC: return "synergistic";
    case GT_INTERACTION_ADDITIVE: return "additive";
    case GT_INTERACTION_ANTAGONISTIC: return "antagonistic";
    default: return "unknown";
    }
}

double gt_cascade_expected_saving(const double *savings, size_t n)
{
    double keep = 1;
    for (size_t i = 0; i < n; i++)
        keep *= 1 - savings[i];
    return 1 - keep;
}

/* One term of log Q = log E_b + (k-1) log E_0 - sum log E_i for the delta
 * method: coef^2 Var(mean)/mean^2, and its share of the Welch-Satterthwaite
 * denominator. Returns 0 when the summary has no variance estimate. */
static int add_term(const gt_summary *s, double coef, double *var, double *df_denominator)
{
    if (s->n < 2 || isnan(s->std))
        return 0;
    double c = coef * coef * (s->std * s->std / (double)s->n) / (s->mean * s->mean);
    *var += c;
    *df_denominator += c * c / (double)(s->n - 1);
    return 1;
}

gt_cascade gt_cascade_classify(const gt_summary *bundle, const gt_summary *baseline, const gt_summary *singles,
                               size_t n)
{
    gt_cascade c = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, GT_INTERACTION_UNKNOWN, 0};
    if (n == 0 || !(baseline->mean > 0) || !(bundle->mean > 0))
        return c;
    double expected_keep = 1;
    for (size_t i = 0; i < n; i++) {
        if (!(singles[i].mean > 0))
            return c;
        expected_keep *= singles[i].mean / baseline->mean;
    }
    double measured_keep = bundle->mean / baseline->mean;
    c.expected_saving_pct = 100 * (1 - expected_keep);
    c.measured_saving_pct = 100 * (1 - measured_keep);
    c.difference_pct = c.measured_saving_pct - c.expected_saving_pct;
    c.ratio = measured_keep / expected_keep;

    /* The baseline enters Q once per single (divided out) and once for the
     * bundle: its net power is k - 1, one shared variance. */
    double var = 0, df_den = 0;
    int complete = add_term(bundle, 1, &var, &df_den);
    if (n > 1)
        complete &= add_term(baseline, (double)n - 1, &var, &df_den);
    for (size_t i = 0; i < n; i++)
        complete &= add_term(&singles[i], 1, &var, &df_den);

    if (complete) {
        double half = 0;
        if (var > 0) {
            double df = var * var / df_den;
            half = gt_t_quantile(1 - GT_ALPHA / 2, df) * sqrt(var);
        }
        c.ratio_ci_lo = c.ratio * exp(-half);
        c.ratio_ci_hi = c.ratio * exp(half);
        /* measured - expected = expected_keep (1 - Q), in points */
        c.difference_ci_lo = 100 * expected_keep * (1 - c.ratio_ci_hi);
        c.difference_ci_hi = 100 * expected_keep * (1 - c.ratio_ci_lo);
        c.from_ci = 1;
        c.interaction = c.ratio_ci_hi < 1   ? GT_INTERACTION_SYNERGISTIC
                        : c.ratio_ci_lo > 1 ? GT_INTERACTION_ANTAGONISTIC
                                            : GT_INTERACTION_ADDITIVE;
    } else {
        c.interaction = fabs(c.ratio - 1) <= POINT_TOLERANCE ? GT_INTERACTION_ADDITIVE
                        : c.ratio < 1                        ? GT_INTERACTION_SYNERGISTIC
                                                             : GT_INTERACTION_ANTAGONISTIC;
    }
    return c;
}
