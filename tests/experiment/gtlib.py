"""libgreentune.so through ctypes, for the Python tests that compare its
statistics with SciPy and simulations; plus a tiny check/close harness."""
import ctypes
import os
import subprocess
import sys

failures = 0


def check(ok, what):
    global failures
    if not ok:
        failures += 1
        print("FAIL:", what)


def close(a, b, rel=1e-9, abs_tol=1e-12):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + abs_tol


def arr(values):
    """A C double array and its length, as the gt_ functions take them."""
    return (ctypes.c_double * len(values))(*values), len(values)


def fieller(x, b):
    """Fieller's 95 % interval for mean(x)/mean(b) as a percent change, written
    from the textbook formula (Welch-Satterthwaite df): (pct, lo, hi)."""
    import numpy as np
    from scipy import stats
    mx, mb = np.mean(x), np.mean(b)
    vx, vb = np.var(x, ddof=1) / len(x), np.var(b, ddof=1) / len(b)
    r = mx / mb
    df = (vx + r * r * vb) ** 2 / (vx ** 2 / (len(x) - 1) + (r * r * vb) ** 2 / (len(b) - 1))
    t = stats.t.ppf(0.975, df)
    roots = np.sort(np.roots([mb * mb - t * t * vb, -2 * mx * mb, mx * mx - t * t * vx]).real)
    return 100 * (r - 1), 100 * (roots[0] - 1), 100 * (roots[1] - 1)


def reexec_with_sanitizer_runtime():
    """An ASan-built library can only be loaded by a process that starts with
    the ASan runtime: re-run the calling script with it preloaded."""
    if os.environ.get("GREENTUNE_SANITIZE") != "1" or os.environ.get("GT_TEST_PRELOADED"):
        return
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run(["gcc", "-print-file-name=" + name], capture_output=True,
                              text=True).stdout.strip()
        if os.path.isabs(path):
            libs.append(path)
    env = dict(os.environ, GT_TEST_PRELOADED="1", LD_PRELOAD=" ".join(libs),
               ASAN_OPTIONS="detect_leaks=0")  # the interpreter itself is not leak-clean
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


class Summary(ctypes.Structure):
    _fields_ = [("n", ctypes.c_size_t), ("mean", ctypes.c_double), ("std", ctypes.c_double),
                ("ci_lo", ctypes.c_double), ("ci_hi", ctypes.c_double)]


class Welch(ctypes.Structure):
    _fields_ = [("tested", ctypes.c_int), ("t", ctypes.c_double), ("df", ctypes.c_double),
                ("p", ctypes.c_double)]


class MannWhitney(ctypes.Structure):
    _fields_ = [("tested", ctypes.c_int), ("u", ctypes.c_double), ("p", ctypes.c_double)]


class RatioCI(ctypes.Structure):
    _fields_ = [("pct", ctypes.c_double), ("ci_lo", ctypes.c_double), ("ci_hi", ctypes.c_double)]


class Cascade(ctypes.Structure):
    _fields_ = [(name, ctypes.c_double) for name in (
        "expected_saving_pct", "measured_saving_pct", "difference_pct", "difference_ci_lo",
        "difference_ci_hi", "ratio", "ratio_ci_lo", "ratio_ci_hi")] + [
        ("interaction", ctypes.c_int), ("from_ci", ctypes.c_int)]


INTERACTIONS = {0: "unknown", 1: "synergistic", 2: "additive", 3: "antagonistic"}


def load():
    reexec_with_sanitizer_runtime()
    lib = ctypes.CDLL(os.path.join(os.environ["GREENTUNE_BUILD_DIR"], "libgreentune.so"))
    D, Z = ctypes.c_double, ctypes.c_size_t
    P = ctypes.POINTER(ctypes.c_double)
    S = ctypes.POINTER(Summary)
    for name, res, args in [
        ("gt_incomplete_beta", D, [D, D, D]), ("gt_t_cdf", D, [D, D]),
        ("gt_t_two_sided_p", D, [D, D]), ("gt_t_quantile", D, [D, D]),
        ("gt_summarize", Summary, [P, Z]), ("gt_welch_test", Welch, [P, Z, P, Z]),
        ("gt_mann_whitney_test", MannWhitney, [P, Z, P, Z]), ("gt_delta_pct", RatioCI, [P, Z, P, Z]),
        ("gt_cascade_classify", Cascade, [S, S, S, Z]),
    ]:
        getattr(lib, name).restype = res
        getattr(lib, name).argtypes = args
    return lib
