"""greentune's AdamW, SGD, gradient clipping and learning-rate schedules against
PyTorch: torch.optim.AdamW / torch.optim.SGD, torch.nn.utils.clip_grad_norm_ and
LambdaLR with Hugging Face transformers' warmup schedules, run on the same
parameters and gradients as tests/nn/optimizer_driver.c, for several steps.

Tolerance: parameters within 1e-6 relative, plus 5e-8 absolute for values that
pass near zero (the parameters are of order 1; an update that cancels a value
of order 0.1 leaves a few ulps of 0.1 behind). Both sides compute in fp32 with
the same formulas in the same order; they differ by an ulp where PyTorch's
vectorised kernels use fused multiply-adds. Learning rates and gradient norms: 1e-12 and
1e-6 relative (torch sums the norm in fp32, greentune in double)."""
import math
import os
import subprocess
import sys
import tempfile


def import_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        # python3-torch is a test dependency: install it rather than skip.
        src = os.environ["GREENTUNE_SOURCE_DIR"]
        print("test_optimizer_torch: python3-torch missing, running scripts/install-deps.sh")
        subprocess.run([os.path.join(src, "scripts", "install-deps.sh")], check=True)
    import torch
    return torch


torch = import_torch()
import numpy as np  # noqa: E402  (comes with python3-torch's dependencies)

DRIVER = os.environ.get("GREENTUNE_NN_OPTIMIZER_DRIVER")
failures = []


def hf_lambda(kind, warmup, total):
    """Hugging Face transformers' schedules (get_*_schedule_with_warmup), from their formulas."""
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        if kind == "constant":
            return 1.0
        if kind == "linear":
            return max(0.0, float(total - step) / float(max(1, total - warmup)))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    return f


def run_torch(case, init, grads):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.tensor(v)) for v in init]
    decay, no_decay = [], []
    for p, flag in zip(params, case["flags"]):
        if flag & 1:
            p.requires_grad_(False)
        elif flag & 2:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [g for g in ({"params": decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    if case["opt"] == "adamw":
        opt = torch.optim.AdamW(groups, lr=case["lr"], betas=(case["beta1"], case["beta2"]), eps=case["eps"],
                                weight_decay=case["wd"])
    else:
        opt = torch.optim.SGD(groups, lr=case["lr"], momentum=case["momentum"], dampening=case["dampening"],
                              weight_decay=case["wd"], nesterov=bool(case["nesterov"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda(case["schedule"], case["warmup"], case["total"]))
    trainable = [p for p in params if p.requires_grad]
    out = []
    for step in range(case["steps"]):
        for p, g in zip(trainable, grads[step]):
            p.grad = torch.tensor(g)
        if case["clip"] > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(trainable, case["clip"]))
        else:
            norm = float(torch.norm(torch.stack([torch.norm(p.grad) for p in trainable])))
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        out.append((lr, norm, [p.detach().numpy().copy() for p in params]))
    return out


def write_driver_input(path, init, grads):
    """The driver's IN file: every tensor's initial values, then each step's gradients, as float32."""
    with open(path, "wb") as f:
        for v in init:
            f.write(np.asarray(v, dtype=np.float32).tobytes())
        for step in grads:
            for g in step:
                f.write(np.asarray(g, dtype=np.float32).tobytes())


def run_c(case, init, grads, tmp):
    in_path, out_path = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
    write_driver_input(in_path, init, grads)
    sizes = [len(v) for v in init]
    args = [DRIVER, "--opt", case["opt"], "--numel", ",".join(map(str, sizes)),
            "--flags", ",".join(map(str, case["flags"])), "--steps", str(case["steps"])]
    for key in ("lr", "beta1", "beta2", "eps", "wd", "momentum", "dampening", "nesterov", "schedule",
                "warmup", "total", "clip"):
        if key in case:
            args += ["--" + key, repr(case[key]) if isinstance(case[key], float) else str(case[key])]
    args += [in_path, out_path]
    subprocess.run(args, check=True)
    data = open(out_path, "rb").read()
    out, pos = [], 0
    for _ in range(case["steps"]):
        lr, norm = np.frombuffer(data[pos:pos + 16], dtype=np.float64)
        pos += 16
        values = []
        for n in sizes:
            values.append(np.frombuffer(data[pos:pos + 4 * n], dtype=np.float32))
            pos += 4 * n
        out.append((float(lr), float(norm), values))
    if pos != len(data):
        failures.append("%s: driver wrote %d bytes, expected %d" % (case["name"], len(data), pos))
    return out


def close(a, b, rel, abs_tol=0.0):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + abs_tol


def compare(case, torch_out, c_out):
    for step, ((tlr, tnorm, tvals), (clr, cnorm, cvals)) in enumerate(zip(torch_out, c_out)):
        where = "%s step %d" % (case["name"], step)
        if not close(tlr, clr, 1e-12):
            failures.append("%s: lr %r (torch) vs %r (greentune)" % (where, tlr, clr))
        if not close(tnorm, cnorm, 1e-6):
            failures.append("%s: grad norm %r (torch) vs %r (greentune)" % (where, tnorm, cnorm))
        for t, (tv, cv) in enumerate(zip(tvals, cvals)):
            diff = np.abs(tv.astype(np.float64) - cv.astype(np.float64))
            bound = 1e-6 * np.maximum(np.abs(tv), np.abs(cv)) + 5e-8
            bad = np.nonzero(diff > bound)[0]
            if len(bad):
                i = bad[0]
                failures.append("%s tensor %d: %d values differ, e.g. [%d] %r (torch) vs %r (greentune)"
                                % (where, t, len(bad), i, float(tv[i]), float(cv[i])))


CASES = [
    # AdamW with weight decay on one group, a no-decay group, a frozen tensor,
    # clipping that triggers, linear warmup and decay.
    dict(name="adamw-linear-clip", opt="adamw", lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.01,
         schedule="linear", warmup=3, total=10, clip=1.0, steps=8, flags=[0, 2, 1, 0]),
    # Larger steps, other betas and eps, cosine schedule, no clipping.
    dict(name="adamw-cosine", opt="adamw", lr=5e-2, beta1=0.8, beta2=0.99, eps=1e-6, wd=0.1,
         schedule="cosine", warmup=2, total=9, clip=0.0, steps=9, flags=[0, 0, 2, 0]),
    # SGD with momentum, dampening and L2 weight decay, constant rate after warmup.
    dict(name="sgd-momentum", opt="sgd", lr=0.1, momentum=0.9, dampening=0.1, wd=1e-3, nesterov=0,
         schedule="constant", warmup=2, total=8, clip=0.5, steps=6, flags=[0, 2, 0, 1]),
    dict(name="sgd-nesterov", opt="sgd", lr=0.05, momentum=0.9, dampening=0.0, wd=0.0, nesterov=1,
         schedule="linear", warmup=0, total=6, clip=0.0, steps=6, flags=[0, 0, 0, 0]),
    dict(name="sgd-plain", opt="sgd", lr=0.2, momentum=0.0, dampening=0.0, wd=0.01, nesterov=0,
         schedule="cosine", warmup=1, total=5, clip=0.0, steps=5, flags=[0, 2, 0, 0]),
]


def main():
    if not DRIVER:
        print("test_optimizer_torch: GREENTUNE_NN_OPTIMIZER_DRIVER is not set; run through ctest")
        return 2
    rng = np.random.default_rng(7)
    sizes = [300, 17, 40, 20000]   # the last is large enough for the parallel update loop
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            init = [rng.standard_normal(n).astype(np.float32) for n in sizes]
            trainable = [n for n, f in zip(sizes, case["flags"]) if not f & 1]
            grads = [[(rng.standard_normal(n) * 0.5).astype(np.float32) for n in trainable]
                     for _ in range(case["steps"])]
            t_out = run_torch(case, init, grads)
            c_out = run_c(case, init, grads, tmp)
            compare(case, t_out, c_out)
            frozen = [i for i, f in enumerate(case["flags"]) if f & 1]
            for i in frozen:
                if not np.array_equal(c_out[-1][2][i], init[i]):
                    failures.append("%s: frozen tensor %d changed" % (case["name"], i))
            print("%-18s %d steps compared" % (case["name"], case["steps"]))
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
