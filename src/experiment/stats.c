/* Statistics for small samples: summaries, Student's t, Welch's test, exact
 * Mann-Whitney, Fieller intervals for percentage changes. */
#include "greentune/stats.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double gt_mean(const double *x, size_t n)
{
    if (n == 0)
        return NAN;
    /* Summed as offsets from the first value: identical repeats (a
     * deterministic stage) give exactly that value, with no rounding residue
     * that a t-test could mistake for a difference. */
    double offsets = 0;
    for (size_t i = 1; i < n; i++)
        offsets += x[i] - x[0];
    return x[0] + offsets / (double)n;
}

double gt_sample_std(const double *x, size_t n)
{
    if (n < 2)
        return NAN;
    /* Two passes: the deviations from the mean, not sum(x^2) - n mean^2, which
     * cancels catastrophically for energies like 41000.2, 41000.4 J. */
    double m = gt_mean(x, n), ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (double)(n - 1));
}

gt_summary gt_summarize(const double *x, size_t n)
{
    gt_summary s = {n, gt_mean(x, n), gt_sample_std(x, n), NAN, NAN};
    if (n >= 2) {
        double half = gt_t_quantile(1 - GT_ALPHA / 2, (double)(n - 1)) * s.std / sqrt((double)n);
        s.ci_lo = s.mean - half;
        s.ci_hi = s.mean + half;
    }
    return s;
}

/* The continued fraction of I_x(a, b) (converges fast for x < (a+1)/(a+b+2)),
 * evaluated with the modified Lentz method. */
static double beta_fraction(double x, double a, double b)
{
    const double tiny = 1e-300, eps = 1e-15;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double f = d;
    for (int m = 1; m <= 1000; m++) {
        double two_m = 2.0 * m;
        /* Even step, then odd step, of the fraction's coefficients. */
        double coef[2] = {
            m * (b - m) * x / ((a + two_m - 1) * (a + two_m)),
            -(a + m) * (a + b + m) * x / ((a + two_m) * (a + two_m + 1)),
        };
        double delta = 1;
        for (int k = 0; k < 2; k++) {
            d = 1 + coef[k] * d;
            if (fabs(d) < tiny)
                d = tiny;
            c = 1 + coef[k] / c;
            if (fabs(c) < tiny)
                c = tiny;
            d = 1 / d;
            delta = c * d;
            f *= delta;
        }
        if (fabs(delta - 1) < eps)
            break;
    }
    return f;
}

double gt_incomplete_beta(double x, double a, double b)
{
    if (!(a > 0) || !(b > 0) || isnan(x))
        return NAN;
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double log_front = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    double front = exp(log_front);
    /* Use the fraction where it converges; the symmetry I_x(a,b) = 1 - I_{1-x}(b,a)
     * covers the other side. */
    if (x < (a + 1) / (a + b + 2))
        return front * beta_fraction(x, a, b) / a;
    return 1 - front * beta_fraction(1 - x, b, a) / b;
}

double gt_t_two_sided_p(double t, double df)
{
    if (isnan(t) || !(df > 0))
        return NAN;
    if (isinf(t))
        return 0;
    return gt_incomplete_beta(df / (df + t * t), df / 2, 0.5);
}

double gt_t_cdf(double t, double df)
{
    double tail = gt_t_two_sided_p(t, df) / 2;
    return t > 0 ? 1 - tail : tail;
}

double gt_t_quantile(double p, double df)
{
    if (!(p > 0 && p < 1) || !(df > 0))
        return NAN;
    if (p == 0.5)
        return 0;
    if (p < 0.5)
        return -gt_t_quantile(1 - p, df);
    /* The two-sided tail falls monotonically in t >= 0: bracket, then bisect to
     * the last bit (at most ~1100 halvings of a double interval, usually ~60). */
    double target = 2 * (1 - p), lo = 0, hi = 1;
    while (gt_t_two_sided_p(hi, df) > target) {
        lo = hi;
        hi *= 2;
        if (hi > 1e300)
            return INFINITY;
    }
    for (int i = 0; i < 2000; i++) {
        double mid = lo + (hi - lo) / 2;
        if (mid <= lo || mid >= hi)
            break;
        if (gt_t_two_sided_p(mid, df) > target)
            lo = mid;
        else
            hi = mid;
    }
    return lo + (hi - lo) / 2;
}

gt_welch gt_welch_test(const double *x, size_t nx, const double *y, size_t ny)
{
    gt_welch w = {0, NAN, NAN, NAN};
    if (nx < 2 || ny < 2)
        return w;
    w.tested = 1;
    double mx = gt_mean(x, nx), my = gt_mean(y, ny);
    double sx = gt_sample_std(x, nx), sy = gt_sample_std(y, ny);
    double vx = sx * sx / (double)nx, vy = sy * sy / (double)ny;
    if (vx + vy == 0) {
        w.t = mx == my ? 0 : (mx > my ? INFINITY : -INFINITY);
        w.p = mx == my ? 1 : 0;
        return w;
    }
    w.t = (mx - my) / sqrt(vx + vy);
    w.df = (vx + vy) * (vx + vy) / (vx * vx / (double)(nx - 1) + vy * vy / (double)(ny - 1));
    w.p = gt_t_two_sided_p(w.t, w.df);
    return w;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Doubled midranks of the pooled sample (integers even with ties): rank2[i] is
 * twice the midrank of value i of the pool (x first, then y). */
static void doubled_midranks(const double *pool, size_t n, long *rank2)
{
    double sorted[GT_MW_MAX_N];
    memcpy(sorted, pool, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_double);
    for (size_t i = 0; i < n; i++) {
        /* Tie group [first, last] of pool[i] in 1-based ranks. */
        size_t first = 0, last = 0;
        for (size_t k = 0; k < n; k++) {
            if (sorted[k] == pool[i]) {
                if (!first)
                    first = k + 1;
                last = k + 1;
            }
        }
        rank2[i] = (long)(first + last);
    }
}

gt_mann_whitney gt_mann_whitney_test(const double *x, size_t nx, const double *y, size_t ny)
{
    gt_mann_whitney r = {0, NAN, NAN};
    size_t n = nx + ny;
    if (nx == 0 || ny == 0 || n > GT_MW_MAX_N)
        return r;
    double pool[GT_MW_MAX_N];
    long rank2[GT_MW_MAX_N];
    memcpy(pool, x, nx * sizeof *pool);
    memcpy(pool + nx, y, ny * sizeof *pool);
    for (size_t i = 0; i < n; i++)
        if (isnan(pool[i]))
            return r;
    doubled_midranks(pool, n, rank2);

    /* ways[k * width + s]: number of k-subsets of the pool so far whose doubled
     * ranks sum to s. Counts reach C(60, 30) ~ 1e17, kept in doubles: only their
     * ratios matter. */
    size_t width = n * (n + 1) + 1;
    double *ways = calloc((nx + 1) * width, sizeof *ways);
    if (!ways)
        return r;
    ways[0] = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = (i + 1 < nx ? i + 1 : nx); k >= 1; k--)
            for (size_t s = (size_t)rank2[i]; s < width; s++)
                ways[k * width + s] += ways[(k - 1) * width + s - (size_t)rank2[i]];

    long observed = 0;
    for (size_t i = 0; i < nx; i++)
        observed += rank2[i];
    double expected = (double)nx * (double)(n + 1);   /* doubled mean rank sum */
    double distance = fabs((double)observed - expected);
    double total = 0, extreme = 0;
    for (size_t s = 0; s < width; s++) {
        double w = ways[nx * width + s];
        total += w;
        if (fabs((double)s - expected) >= distance - 1e-9)
            extreme += w;
    }
    free(ways);
    r.tested = 1;
    r.u = (double)observed / 2 - (double)nx * (double)(nx + 1) / 2;
    r.p = extreme / total;
    if (r.p > 1)
        r.p = 1;
    return r;
}

gt_ratio_ci gt_delta_pct(const double *x, size_t nx, const double *base, size_t nb)
{
    gt_ratio_ci r = {NAN, NAN, NAN};
    double mx = gt_mean(x, nx), mb = gt_mean(base, nb);
    if (nx == 0 || nb == 0 || mb == 0)
        return r;
    double ratio = mx / mb;
    r.pct = 100 * (ratio - 1);
    if (nx < 2 || nb < 2)
        return r;
    double sx = gt_sample_std(x, nx), sb = gt_sample_std(base, nb);
    double vx = sx * sx / (double)nx, vb = sb * sb / (double)nb;
    double a = vx, b = ratio * ratio * vb;
    if (a + b == 0) {
        r.ci_lo = r.ci_hi = r.pct;
        return r;
    }
    double df = (a + b) * (a + b) / (a * a / (double)(nx - 1) + b * b / (double)(nb - 1));
    double t = gt_t_quantile(1 - GT_ALPHA / 2, df);
    /* Fieller: A R^2 - 2 B R + C = 0. A <= 0 means the baseline mean's own
     * interval contains zero: the ratio is unbounded. */
    double qa = mb * mb - t * t * vb, qb = mx * mb, qc = mx * mx - t * t * vx;
    double disc = qb * qb - qa * qc;
    if (qa <= 0 || disc < 0)
        return r;
    double lo = (qb - sqrt(disc)) / qa, hi = (qb + sqrt(disc)) / qa;
    r.ci_lo = 100 * (lo - 1);
    r.ci_hi = 100 * (hi - 1);
    return r;
}
