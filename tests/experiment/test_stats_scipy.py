"""greentune's statistics (libgreentune.so through ctypes) against SciPy and
brute force, on many seeded random cases: t distribution, incomplete beta,
summaries, Welch's test, exact Mann-Whitney (with and without ties), Fieller
intervals (an independent Python implementation, plus their coverage)."""
import itertools
import math
import sys

import numpy as np

import gtlib

try:
    from scipy import special, stats
except ImportError:
    sys.exit("test_stats_scipy: SciPy is missing (Debian python3-scipy); run scripts/install-deps.sh")


lib = gtlib.load()
Summary, Welch, MannWhitney, RatioCI = gtlib.Summary, gtlib.Welch, gtlib.MannWhitney, gtlib.RatioCI
check, close, arr = gtlib.check, gtlib.close, gtlib.arr


rng = np.random.default_rng(20240611)


def test_t_distribution_against_scipy():
    for df in [0.7, 1, 1.5, 2, 3, 4.3, 7, 12.5, 30, 99, 1e4]:
        for t in [-50, -4, -1.7, -0.2, 0, 0.05, 1, 2.1, 9, 300]:
            check(close(lib.gt_t_cdf(t, df), stats.t.cdf(t, df), 1e-10, 1e-14),
                  f"t cdf({t}, {df}) {lib.gt_t_cdf(t, df)} vs {stats.t.cdf(t, df)}")
            want = 2 * stats.t.sf(abs(t), df)
            check(close(lib.gt_t_two_sided_p(t, df), want, 1e-9, 1e-300),
                  f"t two-sided p({t}, {df}) {lib.gt_t_two_sided_p(t, df)} vs {want}")
        for p in [1e-6, 0.01, 0.025, 0.3, 0.6, 0.9, 0.975, 0.995, 1 - 1e-6]:
            # SciPy 1.10's ppf is itself good to only ~1e-9 (its cdf at its own
            # ppf misses p by 5e-10), so: close to ppf, and SciPy's cdf at our
            # quantile gives p back (to its 1e-10).
            q = lib.gt_t_quantile(p, df)
            check(close(q, stats.t.ppf(p, df), 1e-8, 1e-12), f"t quantile({p}, {df}) {q} vs {stats.t.ppf(p, df)}")
            check(close(stats.t.cdf(q, df), p, 1e-10, 1e-15), f"t cdf(t quantile({p}, {df})) {stats.t.cdf(q, df)}")


def test_incomplete_beta_against_scipy():
    for _ in range(400):
        a, b = rng.uniform(0.05, 40, 2)
        x = rng.uniform(0, 1)
        got, want = lib.gt_incomplete_beta(x, a, b), special.betainc(a, b, x)
        check(close(got, want, 1e-9, 1e-14), f"I_{x}({a}, {b}) {got} vs {want}")


def test_summaries_against_numpy():
    for _ in range(200):
        n = int(rng.integers(2, 12))
        x = rng.normal(1000, 50, n)
        s = lib.gt_summarize(*arr(x))
        half = stats.t.ppf(0.975, n - 1) * np.std(x, ddof=1) / math.sqrt(n)
        check(s.n == n and close(s.mean, np.mean(x)) and close(s.std, np.std(x, ddof=1)),
              f"summary of {x}")
        check(close(s.ci_lo, np.mean(x) - half) and close(s.ci_hi, np.mean(x) + half),
              f"CI of {x}: {s.ci_lo}, {s.ci_hi}")


def test_welch_against_scipy():
    for _ in range(300):
        nx, ny = rng.integers(2, 10, 2)
        x = rng.normal(100, rng.uniform(0.5, 10), nx)
        y = rng.normal(100 + rng.uniform(-10, 10), rng.uniform(0.5, 10), ny)
        w = lib.gt_welch_test(*arr(x), *arr(y))
        ref = stats.ttest_ind(x, y, equal_var=False)
        vx, vy = np.var(x, ddof=1) / nx, np.var(y, ddof=1) / ny
        df = (vx + vy) ** 2 / (vx ** 2 / (nx - 1) + vy ** 2 / (ny - 1))
        check(w.tested == 1 and close(w.t, ref.statistic) and close(w.df, df)
              and close(w.p, ref.pvalue, 1e-8), f"welch {w.t} {w.df} {w.p} vs {ref}")


def brute_force_rank_sum_p(x, y):
    """Two-sided p of the rank sum over every assignment of the pooled midranks."""
    ranks = stats.rankdata(np.concatenate([x, y]))
    n, nx = len(ranks), len(x)
    mean = nx * (n + 1) / 2
    observed = abs(ranks[:nx].sum() - mean)
    sums = [abs(ranks[list(c)].sum() - mean) for c in itertools.combinations(range(n), nx)]
    return sum(1 for s in sums if s >= observed - 1e-9) / len(sums)


def test_mann_whitney_against_scipy_and_brute_force():
    for _ in range(150):
        nx, ny = rng.integers(1, 8, 2)
        x, y = rng.normal(0, 1, nx), rng.normal(rng.uniform(-2, 2), 1, ny)
        m = lib.gt_mann_whitney_test(*arr(x), *arr(y))
        ref = stats.mannwhitneyu(x, y, alternative="two-sided", method="exact")
        check(m.tested == 1 and close(m.u, ref.statistic) and close(m.p, ref.pvalue, 1e-9),
              f"mann-whitney {m.u} {m.p} vs {ref}")
    for _ in range(150):  # ties: values from a handful of levels
        nx, ny = rng.integers(1, 7, 2)
        x, y = rng.integers(0, 4, nx).astype(float), rng.integers(0, 4, ny).astype(float)
        m = lib.gt_mann_whitney_test(*arr(x), *arr(y))
        want = brute_force_rank_sum_p(x, y)
        check(close(m.p, want, 1e-9), f"mann-whitney with ties {x} {y}: {m.p} vs {want}")
        u_ref = stats.mannwhitneyu(x, y, alternative="two-sided").statistic
        check(close(m.u, u_ref), f"U with ties {x} {y}: {m.u} vs {u_ref}")


def test_fieller_against_python():
    for _ in range(300):
        nx, nb = rng.integers(2, 8, 2)
        b = rng.normal(1000, rng.uniform(5, 60), nb)
        x = rng.normal(1000 * rng.uniform(0.1, 1.5), rng.uniform(5, 60), nx)
        got = lib.gt_delta_pct(*arr(x), *arr(b))
        want = gtlib.fieller(x, b)
        check(close(got.pct, want[0]) and close(got.ci_lo, want[1], 1e-7)
              and close(got.ci_hi, want[2], 1e-7), f"fieller {x} {b}: {got.ci_lo} {got.ci_hi} vs {want}")


def test_fieller_covers_the_true_ratio():
    """A 95 % interval must contain the true change about 95 % of the time
    (5 repeats a side, 20 % noise on the baseline as a hard case)."""
    hits, trials = 0, 1500
    for _ in range(trials):
        b = rng.normal(100, 20, 5)
        x = rng.normal(60, 5, 5)
        r = lib.gt_delta_pct(*arr(x), *arr(b))
        hits += r.ci_lo <= -40 <= r.ci_hi
    check(0.92 <= hits / trials <= 0.98, f"Fieller coverage {hits / trials}")


for test in [test_t_distribution_against_scipy, test_incomplete_beta_against_scipy,
             test_summaries_against_numpy, test_welch_against_scipy,
             test_mann_whitney_against_scipy_and_brute_force, test_fieller_against_python,
             test_fieller_covers_the_true_ratio]:
    test()
    print("ok" if gtlib.failures == 0 else "after failures:", test.__name__)
sys.exit(1 if gtlib.failures else 0)
