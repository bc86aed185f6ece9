"""greentune's Adafactor and its gradient threshold (grad_sparsify) against
references written here in PyTorch, run on the same parameters and gradients
as tests/nn/optimizer_driver.c.

Adafactor's reference follows the algorithm of Shazeer & Stern (2018),
"Adafactor: Adaptive Learning Rates with Sublinear Memory Cost" (Algorithms 4
and 5 with update clipping, relative step sizes and parameter scale), with the
choices Hugging Face transformers' Adafactor makes (transformers is not a
Debian package, so it is not imported):
  beta2_t = 1 - t^decay_rate; V = g^2 + eps1
  2-D: R = beta2_t R + (1 - beta2_t) mean_cols(V); C = ... mean_rows(V);
       U = g / sqrt(R C / mean(R))      1-D: v = beta2_t v + (1 - beta2_t) V; U = g / sqrt(v)
  U /= max(1, RMS(U) / d);  alpha = relative ? min(1e-2 or 1e-6 t, 1/sqrt t) : lr
  alpha *= max(eps2, RMS(p)) when scale_parameter; U *= alpha
  with beta1: m = beta1 m + (1 - beta1) U; U = m
  p -= wd alpha p (decayed tensors); p -= U
The thresholded AdamW and SGD references apply torch.optim's formulas to the
entries whose |g| reaches the threshold and leave the others (parameter and
moments) untouched.

Tolerance: 2e-5 relative plus 1e-7 absolute: both sides compute in fp32, but
greentune sums the factored means and the RMS in double (torch in fp32,
blockwise), and rsqrt differs by an ulp."""
import os
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    src = os.environ["GREENTUNE_SOURCE_DIR"]
    print("test_adafactor_torch: python3-torch missing, running scripts/install-deps.sh")
    subprocess.run([os.path.join(src, "scripts", "install-deps.sh")], check=True)
    import torch
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_optimizer_torch import write_driver_input  # noqa: E402

DRIVER = os.environ.get("GREENTUNE_NN_OPTIMIZER_DRIVER")
failures = []


def rms(t):
    return t.norm(2) / (t.numel() ** 0.5)


def adafactor_reference(case, params, grads_per_step):
    """Runs the algorithm above on float32 torch tensors; returns the values after each step."""
    state = []
    for p in params:
        s = {}
        if p.dim() == 2:
            s["row"] = torch.zeros(p.shape[0])
            s["col"] = torch.zeros(p.shape[1])
        else:
            s["v"] = torch.zeros_like(p)
        if case.get("beta1", 0.0) > 0:
            s["m"] = torch.zeros_like(p)
        state.append(s)
    trainable = [i for i, f in enumerate(case["flags"]) if not f & 1]
    out = []
    for step, grads in enumerate(grads_per_step, start=1):
        for i, g in zip(trainable, grads):
            p, s = params[i], state[i]
            alpha = case["lr"]
            if case.get("relative_step", 0):
                alpha = min(1e-6 * step if case.get("warmup_init", 0) else 1e-2, 1.0 / step ** 0.5)
            if case.get("scale_parameter", 0):
                alpha *= max(case.get("eps2", 1e-3), float(rms(p)))
            beta2t = 1.0 - step ** case.get("decay_rate", -0.8)
            v = g * g + case.get("eps", 1e-30)
            if p.dim() == 2:
                s["row"] = s["row"] * beta2t + v.mean(dim=1) * (1 - beta2t)
                s["col"] = s["col"] * beta2t + v.mean(dim=0) * (1 - beta2t)
                r_factor = (s["row"] / s["row"].mean()).rsqrt().unsqueeze(1)
                c_factor = s["col"].rsqrt().unsqueeze(0)
                u = g * r_factor * c_factor
            else:
                s["v"] = s["v"] * beta2t + v * (1 - beta2t)
                u = g * s["v"].rsqrt()
            u = u / max(1.0, float(rms(u)) / case.get("clip_threshold", 1.0))
            u = u * alpha
            if "m" in s:
                s["m"] = s["m"] * case["beta1"] + u * (1 - case["beta1"])
                u = s["m"]
            wd = case.get("wd", 0.0)
            if wd and not case["flags"][i] & 2:
                p = p + p * (-wd * alpha)
            params[i] = p - u
        out.append([p.numpy().copy() for p in params])
    return out


def masked_reference(case, params, grads_per_step):
    """AdamW or SGD (torch.optim's formulas) on the entries with |g| >= threshold only."""
    thr = case["threshold"]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    trainable = [i for i, f in enumerate(case["flags"]) if not f & 1]
    out, skipped = [], 0
    for step, grads in enumerate(grads_per_step, start=1):
        for i, g in zip(trainable, grads):
            keep = g.abs() >= thr
            skipped += int((~keep).sum())
            p = params[i]
            wd = 0.0 if case["flags"][i] & 2 else case.get("wd", 0.0)
            if case["opt"] == "sgd":
                new_p = p - case["lr"] * (g + wd * p)
                params[i] = torch.where(keep, new_p, p)
                continue
            b1, b2, eps, lr = case["beta1"], case["beta2"], case["eps"], case["lr"]
            new_m = m[i] * b1 + (1 - b1) * g
            new_v = v[i] * b2 + (1 - b2) * g * g
            denom = new_v.sqrt() / (1 - b2 ** step) ** 0.5 + eps
            new_p = p * (1 - lr * wd) - (lr / (1 - b1 ** step)) * new_m / denom
            params[i] = torch.where(keep, new_p, p)
            m[i] = torch.where(keep, new_m, m[i])
            v[i] = torch.where(keep, new_v, v[i])
        out.append([p.numpy().copy() for p in params])
    return out, skipped


def run_c(case, shapes, init, grads, tmp):
    in_path, out_path = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
    write_driver_input(in_path, init, grads)
    spec = ",".join("%dx%d" % s if len(s) == 2 else "%d" % s[0] for s in shapes)
    args = [DRIVER, "--opt", case["opt"], "--numel", spec, "--flags", ",".join(map(str, case["flags"])),
            "--steps", str(case["steps"])]
    names = {"lr": "--lr", "beta1": "--beta1", "beta2": "--beta2", "eps": "--eps", "wd": "--wd",
             "threshold": "--threshold", "eps2": "--eps2", "clip_threshold": "--clip-threshold",
             "decay_rate": "--decay-rate", "relative_step": "--relative-step",
             "scale_parameter": "--scale-parameter", "warmup_init": "--warmup-init", "qkv": "--qkv"}
    for key, flag in names.items():
        if key in case:
            args += [flag, repr(case[key])]
    args += [in_path, out_path]
    p = subprocess.run(args, check=True, capture_output=True, text=True)
    stats = dict(line.split(" ", 1) for line in p.stdout.splitlines())
    skipped, considered = (int(x) for x in stats["skipped"].split(" of "))
    data = open(out_path, "rb").read()
    sizes = [int(np.prod(s)) for s in shapes]
    out, pos = [], 0
    for _ in range(case["steps"]):
        pos += 16  # lr and gradient norm: test_optimizer_torch.py checks them
        values = []
        for s, n in zip(shapes, sizes):
            values.append(np.frombuffer(data[pos:pos + 4 * n], dtype=np.float32).reshape(s))
            pos += 4 * n
        out.append(values)
    if pos != len(data):
        failures.append("%s: driver wrote %d bytes, expected %d" % (case["name"], len(data), pos))
    return out, skipped, considered, int(stats["state_bytes"])


def compare(name, ref, got, rel=2e-5, abs_tol=1e-7):
    for step, (rv, cv) in enumerate(zip(ref, got)):
        for t, (a, b) in enumerate(zip(rv, cv)):
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            bound = rel * np.maximum(np.abs(a), np.abs(b)) + abs_tol
            bad = np.argwhere(diff > bound)
            if len(bad):
                i = tuple(bad[0])
                failures.append("%s step %d tensor %d: %d values differ, e.g. %s %r (reference) vs %r (greentune)"
                                % (name, step, t, len(bad), i, float(a[i]), float(b[i])))
                return


SHAPES = [(30, 17), (40,), (200, 130), (9, 5)]   # (200, 130) takes the parallel path

ADAFACTOR_CASES = [
    # transformers' class defaults: relative step, parameter scale, no first moment, no decay.
    dict(name="adafactor-hf-defaults", opt="adafactor", lr=0.0, relative_step=1, scale_parameter=1,
         warmup_init=0, steps=6, flags=[0, 0, 0, 0]),
    # As the Trainer sets it up: the given lr, no relative step or scale; weight decay on two
    # tensors, a no-decay tensor and a frozen one.
    dict(name="adafactor-trainer", opt="adafactor", lr=1e-3, relative_step=0, scale_parameter=0, wd=0.01,
         steps=6, flags=[0, 2, 0, 1]),
    # First moment, warmup_init, another clip threshold and decay rate; large gradients so clipping acts.
    dict(name="adafactor-beta1-warmup", opt="adafactor", lr=0.0, relative_step=1, scale_parameter=1,
         warmup_init=1, beta1=0.9, clip_threshold=0.5, decay_rate=-0.6, eps2=1e-2, steps=5,
         flags=[0, 0, 0, 0], grad_scale=40.0),
]

# BERT's query, key and value are one (3C, C) tensor in greentune, three in
# transformers: Adafactor must factor and clip each third on its own.
QKV_CASE = dict(name="adafactor-packed-qkv", opt="adafactor", lr=1e-2, relative_step=0, scale_parameter=1,
                steps=4, flags=[0, 0, 0, 0], qkv=1, grad_scale=3.0)

THRESHOLD_CASES = [
    dict(name="adamw-threshold", opt="adamw", lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.01,
         threshold=0.3, steps=5, flags=[0, 2, 0, 1]),
    dict(name="sgd-threshold", opt="sgd", lr=0.1, wd=0.001, threshold=0.5, steps=4, flags=[0, 0, 2, 0]),
]


def make_data(rng, case):
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    scale = case.get("grad_scale", 0.5)
    trainable = [s for s, f in zip(SHAPES, case["flags"]) if not f & 1]
    grads = [[(rng.standard_normal(s) * scale).astype(np.float32) for s in trainable] for _ in range(case["steps"])]
    return init, grads


def to_torch(init, grads):
    return [torch.tensor(v) for v in init], [[torch.tensor(g) for g in step] for step in grads]


def main():
    if not DRIVER:
        print("test_adafactor_torch: GREENTUNE_NN_OPTIMIZER_DRIVER is not set; run through ctest")
        return 2
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        for case in ADAFACTOR_CASES:
            init, grads = make_data(rng, case)
            params, tgrads = to_torch(init, grads)
            ref = adafactor_reference(case, params, tgrads)
            got, skipped, considered, state_bytes = run_c(case, SHAPES, init, grads, tmp)
            compare(case["name"], ref, got)
            if skipped != 0:
                failures.append("%s: %d entries skipped without a threshold" % (case["name"], skipped))
            # Factored state: rows + columns of each trainable 2-D tensor, all of a 1-D one,
            # plus a full first moment with beta1 (rounded up to 64-byte allocations).
            trainable = [s for s, f in zip(SHAPES, case["flags"]) if not f & 1]
            floats = sum(s[0] + s[1] if len(s) == 2 else s[0] for s in trainable)
            full = sum(int(np.prod(s)) for s in trainable)
            if not floats * 4 <= state_bytes <= floats * 4 + 64 + (full * 4 + 4096 if case.get("beta1") else 0):
                failures.append("%s: state %d bytes, expected about %d (factored)"
                                % (case["name"], state_bytes, floats * 4))
            if not case.get("beta1") and state_bytes * 10 > 2 * 4 * full:
                failures.append("%s: state %d bytes is not far below AdamW's %d" % (case["name"], state_bytes,
                                                                                   8 * full))
            print("%-24s %d steps compared, state %d bytes (AdamW: %d)" % (case["name"], case["steps"],
                                                                             state_bytes, 8 * full))
        # The packed block: the reference sees its three thirds as three tensors.
        case = QKV_CASE
        init, grads = make_data(rng, case)
        params, tgrads = to_torch(init, grads)
        split = list(params[0].chunk(3)) + params[1:]
        split_grads = [list(step[0].chunk(3)) + step[1:] for step in tgrads]
        ref = adafactor_reference(dict(case, flags=[0, 0] + case["flags"]), split, split_grads)
        ref = [[np.concatenate(step[:3])] + step[3:] for step in ref]
        got, _, _, state_bytes = run_c(case, SHAPES, init, grads, tmp)
        compare(case["name"], ref, got)
        r, cols = SHAPES[0]
        floats = r + 3 * cols + sum(s[0] + s[1] if len(s) == 2 else s[0] for s in SHAPES[1:])
        if state_bytes != floats * 4:
            failures.append("%s: state %d bytes, expected %d" % (case["name"], state_bytes, floats * 4))
        print("%-24s %d steps compared, state %d bytes" % (case["name"], case["steps"], state_bytes))
        for case in THRESHOLD_CASES:
            init, grads = make_data(rng, case)
            params, tgrads = to_torch(init, grads)
            ref, ref_skipped = masked_reference(case, params, tgrads)
            got, skipped, considered, _ = run_c(case, SHAPES, init, grads, tmp)
            compare(case["name"], ref, got, rel=1e-6, abs_tol=5e-8)
            trainable = [int(np.prod(s)) for s, f in zip(SHAPES, case["flags"]) if not f & 1]
            if skipped != ref_skipped or considered != sum(trainable) * case["steps"]:
                failures.append("%s: skipped %d of %d, expected %d of %d" % (
                    case["name"], skipped, considered, ref_skipped, sum(trainable) * case["steps"]))
            if not 0 < skipped < considered:
                failures.append("%s: the threshold skipped %d of %d entries" % (case["name"], skipped, considered))
            print("%-24s %d steps compared, %d of %d entries skipped" % (case["name"], case["steps"], skipped,
                                                                         considered))
        # adamw8bit: an entry under the threshold at every step never moves.
        case = dict(name="adamw8bit-threshold", opt="adamw8bit", lr=1e-2, threshold=0.4, steps=3,
                    flags=[0, 0, 0, 0])
        init, grads = make_data(rng, case)
        got, skipped, considered, _ = run_c(case, SHAPES, init, grads, tmp)
        expect = sum(int((np.abs(g) < 0.4).sum()) for step in grads for g in step)
        if skipped != expect:
            failures.append("adamw8bit-threshold: skipped %d, expected %d" % (skipped, expect))
        for t in range(len(SHAPES)):
            never = np.all([np.abs(step[t]) < 0.4 for step in grads], axis=0)
            moved = got[-1][t] != init[t]
            if np.any(never & moved) or not np.any(~never & moved):
                failures.append("adamw8bit-threshold tensor %d: skipped entries moved or none updated" % t)
        print("%-24s %d of %d entries skipped" % (case["name"], skipped, considered))
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
