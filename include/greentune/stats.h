/* greentune/stats.h — the statistics behind every number a report shows.
 *
 * Small samples (2 to 10 repeats) are the norm, so intervals use Student's t
 * rather than the normal distribution, and every comparison says whether it is
 * significant. Everything here is pure: no allocation beyond the call, no I/O.
 * A value that cannot be computed (too few samples) is NAN, never a guess.
 *
 *   gt_summary s = gt_summarize(x, n);          // mean, std, 95 % CI
 *   gt_welch w = gt_welch_test(x, nx, y, ny);   // x vs y, two-sided p
 *   gt_ratio_ci r = gt_delta_pct(x, nx, base, nb);  // 100 (mean x / mean base - 1), Fieller CI
 */
#ifndef GREENTUNE_STATS_H
#define GREENTUNE_STATS_H

#include <stddef.h>

#include "greentune/common.h"

/* The level every interval and test uses: 95 % intervals, significance at 0.05. */
#define GT_ALPHA 0.05

/* Mean, sample standard deviation (n - 1) and the 95 % Student-t interval of the
 * mean. n = 0: everything NAN; n = 1: std and the interval NAN. */
typedef struct {
    size_t n;
    double mean, std;
    double ci_lo, ci_hi;   /* mean -+ t(0.975, n-1) * std / sqrt(n) */
} gt_summary;

GT_API double gt_mean(const double *x, size_t n);
GT_API double gt_sample_std(const double *x, size_t n);
GT_API gt_summary gt_summarize(const double *x, size_t n);

/* Regularized incomplete beta I_x(a, b), by its continued fraction. */
GT_API double gt_incomplete_beta(double x, double a, double b);
/* Student's t distribution with df > 0 degrees of freedom (df need not be whole). */
GT_API double gt_t_cdf(double t, double df);
/* P(|T| >= |t|): the two-sided tail, computed directly (no 1 - cdf cancellation). */
GT_API double gt_t_two_sided_p(double t, double df);
/* The p-quantile, 0 < p < 1: t such that gt_t_cdf(t, df) == p. */
GT_API double gt_t_quantile(double p, double df);

/* Welch's unequal-variance t-test of mean(x) - mean(y) != 0.
 * Needs nx, ny >= 2; otherwise tested = 0 and the rest NAN. When both samples
 * have zero variance, the difference is exact: p = 1 if the means are equal,
 * else 0 (t = +-inf, df NAN). */
typedef struct {
    int tested;
    double t, df, p;
} gt_welch;

GT_API gt_welch gt_welch_test(const double *x, size_t nx, const double *y, size_t ny);

/* Mann-Whitney U (Wilcoxon rank-sum) test, two-sided and exact: the p-value
 * is the share of all C(nx+ny, nx) assignments of the pooled midranks whose
 * rank sum lies as far from its mean as the observed one, so ties are handled
 * exactly. u is the U statistic of x. Samples up to GT_MW_MAX_N values in all;
 * beyond (or when nx or ny is 0) tested = 0. */
#define GT_MW_MAX_N 60
typedef struct {
    int tested;
    double u, p;
} gt_mann_whitney;

GT_API gt_mann_whitney gt_mann_whitney_test(const double *x, size_t nx, const double *y, size_t ny);

/* The change of mean(x) relative to mean(base), in percent, with a 95 %
 * interval by Fieller's theorem for the ratio R = mean(x) / mean(base) of two
 * independent means (zero covariance):
 *     (mean_x - R mean_b)^2 = t^2 (v_x + R^2 v_b),   v = s^2 / n,
 * with t at the Welch-Satterthwaite degrees of freedom of v_x and R^2 v_b.
 * The interval is reported as 100 (R_lo - 1) .. 100 (R_hi - 1). It is NAN when
 * either side has fewer than 2 values, or when the baseline mean is not itself
 * significantly different from zero (the Fieller set is then unbounded). */
typedef struct {
    double pct;            /* 100 (mean_x / mean_base - 1) */
    double ci_lo, ci_hi;   /* NAN when unavailable */
} gt_ratio_ci;

GT_API gt_ratio_ci gt_delta_pct(const double *x, size_t nx, const double *base, size_t nb);

#endif
