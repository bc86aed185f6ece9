"""The cascade model's interval does what a 95 % interval must, checked by
simulation (seeded): when the knobs really act independently (Q = 1) a bundle
is called additive about 95 % of the time, the interval covers the true Q at
that rate for a real interaction too, and a clear synergy is found."""
import sys

import numpy as np

import gtlib

lib = gtlib.load()
rng = np.random.default_rng(7)


def summary(values):
    return lib.gt_summarize(*gtlib.arr(values))


def simulate(q_true, n, trials, cv=0.04):
    """Baseline 100 J, singles keeping 50 % and 80 %, the bundle keeping
    0.4 * q_true; every run has a coefficient of variation of cv."""
    labels, covered = {}, 0
    for _ in range(trials):
        base = summary(rng.normal(100, 100 * cv, n))
        s1, s2 = summary(rng.normal(50, 50 * cv, n)), summary(rng.normal(80, 80 * cv, n))
        bundle = summary(rng.normal(40 * q_true, 40 * q_true * cv, n))
        singles = (gtlib.Summary * 2)(s1, s2)
        c = lib.gt_cascade_classify(bundle, base, singles, 2)
        name = gtlib.INTERACTIONS[c.interaction]
        labels[name] = labels.get(name, 0) + 1
        covered += c.ratio_ci_lo <= q_true <= c.ratio_ci_hi
    return {k: v / trials for k, v in labels.items()}, covered / trials


def test_independent_knobs_are_additive():
    for n in (3, 5):
        labels, coverage = simulate(1.0, n, 2000)
        gtlib.check(0.925 <= labels.get("additive", 0) <= 0.975, f"n={n}: additive rate {labels}")
        gtlib.check(0.925 <= coverage <= 0.975, f"n={n}: coverage of Q=1 {coverage}")


def test_interval_covers_a_real_interaction():
    labels, coverage = simulate(0.8, 4, 2000)
    gtlib.check(0.925 <= coverage <= 0.975, f"coverage of Q=0.8 {coverage}")
    gtlib.check(labels.get("synergistic", 0) > 0.99, f"a 20 % synergy with 4 % noise is found: {labels}")
    labels, _ = simulate(1.25, 4, 500)
    gtlib.check(labels.get("antagonistic", 0) > 0.99, f"a 25 % antagonism is found: {labels}")


for test in [test_independent_knobs_are_additive, test_interval_covers_a_real_interaction]:
    test()
    print("ok" if gtlib.failures == 0 else "after failures:", test.__name__)
sys.exit(1 if gtlib.failures else 0)
