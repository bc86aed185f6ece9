#!/usr/bin/python3
"""greentune bench next to PyTorch on the same model, shape and thread count.

    /usr/bin/python3 bench/compare_pytorch.py [--arch bert] [--layers 4] [--dim 256] [--heads 4]
        [--ffn 1024] [--seq 256] [--batch 16] [--vocab 8192] [--threads 2] [--steps 10]
        [--repeats 3] [--greentune build/greentune] [--modes fp32-train,bf16-train,fp32-infer,int8-infer]
        [--blas openblas|system] [--json FILE]

PyTorch runs the model of tests/nn/torch_models.py (HF's BERT / ModernBERT
written in plain PyTorch, eager attention, as transformers runs them on
PyTorch 1.13): training steps are forward + backward + clip_grad_norm_(1.0) +
AdamW (HF's no-decay grouping), under torch.autocast("cpu", bfloat16) for
bf16; inference is eval mode under torch.inference_mode(). Dropout is HF's
default (0.1) in training on both sides. greentune runs `greentune bench` with
the same options. Both sides: 2 warmup steps, then --steps timed ones; a run's
figure is its median step (--stat best: its fastest step, for a machine
other jobs keep busy), and the best of --repeats runs (alternating the two)
is kept, since the machine may be shared.

BLAS: Debian's PyTorch runs fp32 matmuls through whatever libblas.so.3 the
system provides; the default is the reference (netlib) BLAS, about 20x slower
than OpenBLAS. A fair baseline needs an optimised one, so by default the
PyTorch side loads OpenBLAS (Debian's libopenblas0-openmp, installed by
scripts/install-deps.sh) through LD_LIBRARY_PATH, whatever the system's
alternative says; --blas system keeps the system's. The BLAS torch loaded is
printed. (bf16 runs on oneDNN either way.)

int8 inference is compared with PyTorch's fp32 inference (the issue's
target); PyTorch's own dynamic int8 quantization
(torch.quantization.quantize_dynamic on the Linear layers) is shown for
reference.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "nn"))

import torch  # noqa: E402
import torch_models  # noqa: E402

OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
TARGETS = {"fp32-train": ("fp32-train", 2.5), "bf16-train": ("bf16-train", 1.2),
           "fp32-infer": ("fp32-infer", 2.0), "int8-infer": ("fp32-infer", 5.0)}


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in (("layers", 4), ("dim", 256), ("heads", 4), ("ffn", 1024), ("seq", 256), ("batch", 16),
                          ("vocab", 8192), ("threads", 2), ("steps", 10), ("repeats", 3)):
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--arch", default="bert", choices=["bert", "modernbert"])
    p.add_argument("--greentune", default=os.path.join(HERE, "..", "build", "greentune"))
    p.add_argument("--modes", default="fp32-train,bf16-train,fp32-infer,int8-infer")
    p.add_argument("--blas", default="openblas", choices=["openblas", "system"])
    p.add_argument("--stat", default="median", choices=["median", "best"],
                   help="a run's figure: its median step (default) or its fastest (on a busy machine)")
    p.add_argument("--json", help="write all figures to this file")
    return p.parse_args()


def use_blas(a):
    """Re-runs this script with OpenBLAS first on the library path (see the docstring)."""
    if a.blas != "openblas" or os.environ.get("GREENTUNE_COMPARE_BLAS"):
        return
    if not os.path.exists(os.path.join(OPENBLAS_DIR, "libblas.so.3")):
        sys.exit("compare_pytorch: %s: OpenBLAS missing; run scripts/install-deps.sh (or use --blas system)"
                 % OPENBLAS_DIR)
    env = dict(os.environ, GREENTUNE_COMPARE_BLAS="1",
               LD_LIBRARY_PATH=OPENBLAS_DIR + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def loaded_blas():
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libblas.so" in line or "libopenblas" in line}
    return ", ".join(sorted(paths)) or "none"


def torch_model(a, quantized=False):
    drop = 0.1 if a.arch == "bert" else 0.0
    c = torch_models.tiny_config(a.arch, layers=a.layers, dim=a.dim, heads=a.heads, ffn=a.ffn, vocab=a.vocab,
                                 max_len=a.seq, num_labels=2, local_window=128, drop_embedding=drop,
                                 drop_attn_out=drop, drop_ffn=drop, drop_classifier=drop)
    model = torch_models.build(c)
    if quantized:
        model.eval()
        model = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def torch_run(a, mode):
    """The median (or fastest, --stat best) step time in seconds of PyTorch in mode."""
    torch.manual_seed(0)
    precision, kind = mode.split("-")
    model = torch_model(a, quantized=precision == "int8")
    ids = torch.randint(0, a.vocab, (a.batch, a.seq))
    valid = torch.full((a.batch,), a.seq)
    labels = torch.arange(a.batch) % 2
    times = []
    if kind == "train":
        model.train()
        groups = [{"params": [p for p in model.parameters() if p.dim() > 1], "weight_decay": 0.01},
                  {"params": [p for p in model.parameters() if p.dim() == 1], "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=1e-4)
        for i in range(2 + a.steps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                _, loss = model(ids, valid, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if i >= 2:
                times.append(time.perf_counter() - t0)
    else:
        model.eval()
        with torch.inference_mode():
            for i in range(2 + a.steps):
                t0 = time.perf_counter()
                model(ids, valid)
                if i >= 2:
                    times.append(time.perf_counter() - t0)
    return min(times) if a.stat == "best" else median(times)


def greentune_run(a, mode):
    precision, kind = mode.split("-")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [a.greentune, "bench", "--arch", a.arch, "--layers", str(a.layers), "--dim", str(a.dim),
               "--heads", str(a.heads), "--ffn", str(a.ffn), "--seq", str(a.seq), "--batch", str(a.batch),
               "--vocab", str(a.vocab), "--precision", precision, "--mode", kind, "--steps", str(a.steps),
               "--threads", str(a.threads), "--json", out]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def main():
    a = parse()
    use_blas(a)
    torch.set_num_threads(a.threads)
    modes = a.modes.split(",")
    tokens = a.batch * a.seq
    best = {}
    flops = {}
    peaks = {}
    for r in range(a.repeats):
        for mode in modes:
            g = greentune_run(a, mode)
            flops[mode] = g["gflop_per_step"]
            peaks[mode] = g["peak_gflops"]
            key = "tokens_per_s_best" if a.stat == "best" else "tokens_per_s"
            best.setdefault(("greentune", mode), []).append(g[key])
            best.setdefault(("pytorch", mode), []).append(tokens / torch_run(a, mode))
            if mode == "int8-infer" and "fp32-infer" not in modes:
                best.setdefault(("pytorch", "fp32-infer"), []).append(tokens / torch_run(a, "fp32-infer"))
        print("run %d of %d done (load average %.2f)" % (r + 1, a.repeats, os.getloadavg()[0]), file=sys.stderr)
    tps = {k: max(v) for k, v in best.items()}
    print("%s, %d layers, dim %d, %d heads, ffn %d, batch %d x seq %d, vocab %d, %d threads; torch %s; "
          "best of %d runs (each run's %s step), tokens/s" % (a.arch, a.layers, a.dim, a.heads, a.ffn, a.batch,
                                                                a.seq, a.vocab, a.threads, torch.__version__,
                                                                a.repeats, a.stat))
    print("PyTorch's BLAS: %s; load average at the end %.2f" % (loaded_blas(), os.getloadavg()[0]))
    print("%-11s %12s %12s %8s %8s %8s  %s" % ("mode", "PyTorch", "greentune", "ratio", "target", "met", "MFU gt / pt"))
    rows = []
    for mode in modes:
        base_mode, target = TARGETS[mode]
        g = tps[("greentune", mode)]
        p = tps[("pytorch", base_mode)]
        mfu_g = flops[mode] * g / tokens / peaks[mode]
        mfu_p = flops[mode] * p / tokens / peaks[mode]
        rows.append({"mode": mode, "pytorch_mode": base_mode, "pytorch_tokens_per_s": p,
                     "greentune_tokens_per_s": g, "ratio": g / p, "target": target, "met": g / p >= target,
                     "mfu_greentune": mfu_g, "mfu_pytorch": mfu_p, "peak_gflops": peaks[mode]})
        print("%-11s %12.0f %12.0f %7.2fx %7.1fx %8s  %.2f / %.2f%s" % (
            mode, p, g, g / p, target, "yes" if g / p >= target else "NO", mfu_g, mfu_p,
            "  (PyTorch fp32 inference)" if mode == "int8-infer" else ""))
    if ("pytorch", "int8-infer") in tps:
        print("PyTorch's own dynamic int8 inference: %.0f tokens/s" % tps[("pytorch", "int8-infer")])
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "rows": rows, "load_average": os.getloadavg(), "blas": loaded_blas(),
                       "torch": torch.__version__}, f, indent=2)


if __name__ == "__main__":
    main()
