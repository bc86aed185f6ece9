/* Statistics against textbook values and hand computations. The wide random
 * comparison against SciPy is tests/experiment/test_stats_scipy.py. */
#include <math.h>
#include <string.h>

#include "greentune/stats.h"
#include "test_support.h"

/* The 0.975 quantiles of a printed t table (two-sided 95 %). */
static void test_t_quantiles_match_the_printed_table(void)
{
    CHECK_NEAR(gt_t_quantile(0.975, 1), 12.706, 0.0005);
    CHECK_NEAR(gt_t_quantile(0.975, 2), 4.303, 0.0005);
    CHECK_NEAR(gt_t_quantile(0.975, 4), 2.776, 0.0005);
    CHECK_NEAR(gt_t_quantile(0.975, 10), 2.228, 0.0005);
    CHECK_NEAR(gt_t_quantile(0.975, 30), 2.042, 0.0005);
    CHECK_NEAR(gt_t_quantile(0.975, 1e7), 1.960, 0.0005);
    CHECK_NEAR(gt_t_quantile(0.025, 4), -2.776, 0.0005);
    CHECK_NEAR(gt_t_quantile(0.5, 3), 0, 1e-12);
    CHECK(isnan(gt_t_quantile(1.0, 3)));
    CHECK(isnan(gt_t_quantile(0.9, 0)));
}

/* With one degree of freedom t is Cauchy: cdf(t) = 1/2 + atan(t)/pi exactly. */
static void test_t_cdf_with_one_df_is_cauchy(void)
{
    double ts[] = {-30, -2.5, -1, -0.1, 0, 0.3, 1, 4, 100};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        CHECK_NEAR(gt_t_cdf(ts[i], 1), 0.5 + atan(ts[i]) / M_PI, 1e-12);
}

/* For whole a, b: I_x(a, b) = P(Binomial(a+b-1, x) >= a). */
static void test_incomplete_beta_matches_the_binomial_sum(void)
{
    /* a=2, b=3, x=0.4: 6*.16*.36 + 4*.064*.6 + .0256 = 0.5248 */
    CHECK_NEAR(gt_incomplete_beta(0.4, 2, 3), 0.5248, 1e-13);
    /* a=1, b=1 is the uniform cdf; a=1: 1-(1-x)^b. */
    CHECK_NEAR(gt_incomplete_beta(0.37, 1, 1), 0.37, 1e-13);
    CHECK_NEAR(gt_incomplete_beta(0.9, 1, 5), 1 - pow(0.1, 5), 1e-13);
    CHECK_NEAR(gt_incomplete_beta(0, 2, 2), 0, 0);
    CHECK_NEAR(gt_incomplete_beta(1, 2, 2), 1, 0);
    CHECK(isnan(gt_incomplete_beta(0.5, 0, 2)));
}

/* Sample 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sum of squares 32, s = sqrt(32/7),
 * CI = 5 -+ t(0.975, 7) s / sqrt(8) with t = 2.364624. */
static void test_summary_of_a_small_sample(void)
{
    double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    gt_summary s = gt_summarize(x, 8);
    CHECK_EQ_INT(s.n, 8);
    CHECK_NEAR(s.mean, 5, 1e-12);
    CHECK_NEAR(s.std, sqrt(32.0 / 7), 1e-12);
    double half = 2.364624252 * sqrt(32.0 / 7) / sqrt(8.0);
    CHECK_NEAR(s.ci_lo, 5 - half, 1e-8);
    CHECK_NEAR(s.ci_hi, 5 + half, 1e-8);

    gt_summary one = gt_summarize(x, 1);
    CHECK_NEAR(one.mean, 2, 0);
    CHECK(isnan(one.std) && isnan(one.ci_lo) && isnan(one.ci_hi));
    CHECK(isnan(gt_summarize(x, 0).mean));
}

/* Identical repeats summarize to exactly that value and no spread. */
static void test_identical_values_have_exactly_zero_spread(void)
{
    double x[] = {0.2, 0.2, 0.2};
    gt_summary s = gt_summarize(x, 3);
    CHECK(s.mean == 0.2);
    CHECK(s.std == 0);
    CHECK(s.ci_lo == 0.2 && s.ci_hi == 0.2);
}

/* Large values close together: a one-pass formula would lose every digit. */
static void test_std_survives_large_offsets(void)
{
    double x[] = {1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16};
    CHECK_NEAR(gt_sample_std(x, 4), sqrt(90.0 / 3), 1e-6);
}

/* Wikipedia, "Welch's t-test", example 1: t = -2.46, df = 24.99, p = 0.021. */
static void test_welch_on_the_published_example(void)
{
    double a1[] = {27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4};
    double a2[] = {27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4};
    gt_welch w = gt_welch_test(a1, 15, a2, 15);
    CHECK(w.tested);
    CHECK_NEAR(w.t, -2.46, 0.005);
    CHECK_NEAR(w.df, 24.99, 0.005);
    CHECK_NEAR(w.p, 0.021, 0.0005);
}

static void test_welch_needs_two_values_per_side(void)
{
    double x[] = {1, 2, 3}, y[] = {4};
    gt_welch w = gt_welch_test(x, 3, y, 1);
    CHECK(!w.tested);
    CHECK(isnan(w.p));
}

/* Identical repeats on both sides: the difference is exact. */
static void test_welch_with_zero_variance(void)
{
    double x[] = {5, 5, 5}, y[] = {5, 5}, z[] = {7, 7};
    CHECK_NEAR(gt_welch_test(x, 3, y, 2).p, 1, 0);
    gt_welch w = gt_welch_test(x, 3, z, 2);
    CHECK_NEAR(w.p, 0, 0);
    CHECK(isinf(w.t) && w.t < 0);
}

/* No overlap, 3 vs 3: only 2 of the C(6,3) = 20 orderings are as extreme. */
static void test_mann_whitney_exact_without_ties(void)
{
    double x[] = {1, 2, 3}, y[] = {4, 5, 6};
    gt_mann_whitney m = gt_mann_whitney_test(x, 3, y, 3);
    CHECK(m.tested);
    CHECK_NEAR(m.u, 0, 0);
    CHECK_NEAR(m.p, 0.1, 1e-12);
}

/* x = {1, 2}, y = {2, 3}: midranks 1, 2.5 | 2.5, 4, rank sum of x 3.5 (U = 0.5).
 * The six 2-subsets sum to 3.5, 3.5, 5, 5, 6.5, 6.5 around a mean of 5, so four
 * are as far out: p = 4/6. */
static void test_mann_whitney_exact_with_ties(void)
{
    double x[] = {1, 2}, y[] = {2, 3};
    gt_mann_whitney m = gt_mann_whitney_test(x, 2, y, 2);
    CHECK_NEAR(m.u, 0.5, 1e-12);
    CHECK_NEAR(m.p, 4.0 / 6, 1e-12);
    double big[GT_MW_MAX_N + 1] = {0};
    CHECK(!gt_mann_whitney_test(big, GT_MW_MAX_N, big, 1).tested);
}

/* base 100, 102, 98 (mean 100, var 4); x 60, 61, 59 (mean 60, var 1).
 * R = 0.6; v_x = 1/3, v_b = 4/3; a = 1/3, b = 0.36 * 4/3 = 0.48;
 * df = (a + b)^2 / (a^2/2 + b^2/2) = 0.661511 / 0.170756 = 3.874024.
 * Fieller's roots of (1e4 - t^2 4/3) R^2 - 2 (6000) R + (3600 - t^2/3). */
static void test_delta_pct_fieller_interval(void)
{
    double base[] = {100, 102, 98}, x[] = {60, 61, 59};
    gt_ratio_ci r = gt_delta_pct(x, 3, base, 3);
    CHECK_NEAR(r.pct, -40, 1e-12);
    double a = 1.0 / 3, b = 0.36 * 4.0 / 3;
    double df = (a + b) * (a + b) / (a * a / 2 + b * b / 2);
    CHECK_NEAR(df, 3.874024, 1e-6);
    double t = gt_t_quantile(0.975, df);
    double qa = 1e4 - t * t * 4.0 / 3, qb = 6000, qc = 3600 - t * t / 3;
    double disc = qb * qb - qa * qc;
    CHECK_NEAR(r.ci_lo, 100 * ((qb - sqrt(disc)) / qa - 1), 1e-9);
    CHECK_NEAR(r.ci_hi, 100 * ((qb + sqrt(disc)) / qa - 1), 1e-9);
    CHECK(r.ci_lo < -40 && r.ci_hi > -40);
    /* The interval is not symmetric around the estimate: ratios skew upward. */
    CHECK(r.ci_hi - (-40) > (-40) - r.ci_lo);
}

static void test_delta_pct_without_repeats_has_no_interval(void)
{
    double base[] = {98, 102}, x[] = {50};
    gt_ratio_ci r = gt_delta_pct(x, 1, base, 2);
    CHECK_NEAR(r.pct, -50, 1e-12);
    CHECK(isnan(r.ci_lo) && isnan(r.ci_hi));
}

/* A baseline whose mean is not distinguishable from zero gives an unbounded
 * Fieller set: no interval rather than a wrong one. */
static void test_delta_pct_unbounded_when_baseline_is_noise(void)
{
    double base[] = {-1, 1.5}, x[] = {3, 4};
    gt_ratio_ci r = gt_delta_pct(x, 2, base, 2);
    CHECK(isfinite(r.pct));
    CHECK(isnan(r.ci_lo));
}

int main(void)
{
    RUN(test_t_quantiles_match_the_printed_table);
    RUN(test_t_cdf_with_one_df_is_cauchy);
    RUN(test_incomplete_beta_matches_the_binomial_sum);
    RUN(test_summary_of_a_small_sample);
    RUN(test_identical_values_have_exactly_zero_spread);
    RUN(test_std_survives_large_offsets);
    RUN(test_welch_on_the_published_example);
    RUN(test_welch_needs_two_values_per_side);
    RUN(test_welch_with_zero_variance);
    RUN(test_mann_whitney_exact_without_ties);
    RUN(test_mann_whitney_exact_with_ties);
    RUN(test_delta_pct_fieller_interval);
    RUN(test_delta_pct_without_repeats_has_no_interval);
    RUN(test_delta_pct_unbounded_when_baseline_is_noise);
    return test_summary();
}
