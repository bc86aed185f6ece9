/* The cascade model: expected savings and the synergistic / additive /
 * antagonistic label, with and without repeats. */
#include <math.h>
#include <string.h>

#include "greentune/analysis.h"
#include "test_support.h"

static gt_summary summary(double mean, double std, size_t n)
{
    gt_summary s = {n, mean, std, NAN, NAN};
    return s;
}

static void test_expected_saving_compounds(void)
{
    double two[] = {0.5, 0.2};
    CHECK_NEAR(gt_cascade_expected_saving(two, 2), 0.6, 1e-15);   /* 1 - 0.5 * 0.8 */
    double one[] = {0.3};
    CHECK_NEAR(gt_cascade_expected_saving(one, 1), 0.3, 1e-15);
    CHECK_NEAR(gt_cascade_expected_saving(NULL, 0), 0, 0);
    /* A knob that costs energy (s < 0) eats into the others' saving. */
    double mixed[] = {0.5, -0.3};
    CHECK_NEAR(gt_cascade_expected_saving(mixed, 2), 1 - 0.5 * 1.3, 1e-15);
}

/* Baseline 100 J, singles 50 and 80 J: independence predicts 40 J (60 %). */
static const gt_summary *base(void)
{
    static gt_summary b;
    b = summary(100, 2, 5);
    return &b;
}

static gt_cascade classify(double bundle_mean, double std, size_t n)
{
    gt_summary singles[] = {summary(50, 1, 5), summary(80, 2, 5)};
    gt_summary bundle = summary(bundle_mean, std, n);
    return gt_cascade_classify(&bundle, base(), singles, 2);
}

static void test_saving_beyond_the_prediction_is_synergistic(void)
{
    gt_cascade c = classify(30, 1, 5);
    CHECK_EQ_STR(gt_interaction_name(c.interaction), "synergistic");
    CHECK(c.from_ci);
    CHECK_NEAR(c.expected_saving_pct, 60, 1e-12);
    CHECK_NEAR(c.measured_saving_pct, 70, 1e-12);
    CHECK_NEAR(c.difference_pct, 10, 1e-12);
    CHECK_NEAR(c.ratio, 0.75, 1e-12);
    CHECK(c.ratio_ci_hi < 1);
    CHECK(c.difference_ci_lo > 0 && c.difference_ci_lo < 10 && c.difference_ci_hi > 10);
}

/* The interval, recomputed by hand from its definition: log Q's variance is
 * the sum of each mean's relative variance, the baseline's counted (k-1)^2
 * times; df by Welch-Satterthwaite; t at 0.975. */
static void test_interval_follows_the_delta_method(void)
{
    gt_cascade c = classify(30, 1, 5);
    double terms[] = {1.0 / 5 / (30 * 30), 1 * 4.0 / 5 / (100 * 100), 1.0 / 5 / (50 * 50), 4.0 / 5 / (80 * 80)};
    double var = 0, den = 0;
    for (int i = 0; i < 4; i++) {
        var += terms[i];
        den += terms[i] * terms[i] / 4;
    }
    double half = gt_t_quantile(0.975, var * var / den) * sqrt(var);
    CHECK_NEAR(c.ratio_ci_lo, 0.75 * exp(-half), 1e-12);
    CHECK_NEAR(c.ratio_ci_hi, 0.75 * exp(half), 1e-12);
    CHECK_NEAR(c.difference_ci_lo, 100 * 0.4 * (1 - 0.75 * exp(half)), 1e-9);
}

static void test_saving_short_of_the_prediction_is_antagonistic(void)
{
    gt_cascade c = classify(50, 1, 5);
    CHECK_EQ_STR(gt_interaction_name(c.interaction), "antagonistic");
    CHECK_NEAR(c.measured_saving_pct, 50, 1e-12);
    CHECK_NEAR(c.difference_pct, -10, 1e-12);
    CHECK(c.ratio_ci_lo > 1);
    CHECK(c.difference_ci_hi < 0);
}

/* 41 J against a predicted 40 J, with noisy repeats: the CI holds Q = 1. */
static void test_saving_within_the_interval_is_additive(void)
{
    gt_cascade c = classify(41, 4, 3);
    CHECK_EQ_STR(gt_interaction_name(c.interaction), "additive");
    CHECK(c.from_ci);
    CHECK(c.ratio_ci_lo < 1 && c.ratio_ci_hi > 1);
    CHECK(c.difference_ci_lo < 0 && c.difference_ci_hi > 0);
}

/* Single runs: no interval; the label comes from the point estimate with a
 * 2 % band and says so. */
static void test_single_runs_label_by_point_estimate(void)
{
    gt_cascade c = classify(40.5, NAN, 1);
    CHECK(!c.from_ci);
    CHECK(isnan(c.ratio_ci_lo) && isnan(c.difference_ci_lo));
    CHECK_EQ_STR(gt_interaction_name(c.interaction), "additive");
    CHECK_EQ_STR(gt_interaction_name(classify(45, NAN, 1).interaction), "antagonistic");
    CHECK_EQ_STR(gt_interaction_name(classify(35, NAN, 1).interaction), "synergistic");
}

/* Identical repeats (a deterministic estimate): the interval is the point. */
static void test_zero_variance_gives_a_point_interval(void)
{
    gt_summary singles[] = {summary(50, 0, 2), summary(80, 0, 2)};
    gt_summary b = summary(100, 0, 2), bundle = summary(40, 0, 2);
    gt_cascade c = gt_cascade_classify(&bundle, &b, singles, 2);
    CHECK(c.from_ci);
    CHECK_NEAR(c.ratio_ci_lo, 1, 1e-12);
    CHECK_NEAR(c.ratio_ci_hi, 1, 1e-12);
    CHECK_EQ_STR(gt_interaction_name(c.interaction), "additive");
}

static void test_no_energy_is_unknown(void)
{
    gt_summary singles[] = {summary(NAN, NAN, 0), summary(80, 2, 5)};
    gt_summary bundle = summary(30, 1, 5);
    gt_cascade c = gt_cascade_classify(&bundle, base(), singles, 2);
    CHECK_EQ_STR(gt_interaction_name(c.interaction), "unknown");
    CHECK(isnan(c.expected_saving_pct));
}

int main(void)
{
    RUN(test_expected_saving_compounds);
    RUN(test_saving_beyond_the_prediction_is_synergistic);
    RUN(test_interval_follows_the_delta_method);
    RUN(test_saving_short_of_the_prediction_is_antagonistic);
    RUN(test_saving_within_the_interval_is_additive);
    RUN(test_single_runs_label_by_point_estimate);
    RUN(test_zero_variance_gives_a_point_interval);
    RUN(test_no_energy_is_unknown);
    return test_summary();
}
