#!/usr/bin/env python3
"""The nn ops' values and gradients against PyTorch on the same inputs.

Gradient checks cannot see convention errors (which half RoPE pairs, which half
GeGLU gates, biased or unbiased variance, where the window ends), so this runs
each op through tests/nn/ops_driver.c on random float32 inputs and compares
the outputs and input gradients with PyTorch computing the same thing the way
BERT / ModernBERT (HF transformers) do, in float64 from the same float32
inputs. RoPE's tables are built in float32 exactly as HF builds them, since
their rounding is part of ModernBERT's numbers.

Tolerance: for every tensor, max|C - torch| <= tol * max|torch| (a relative
error at the tensor's scale), with tol stated per op below.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # never skip silently: the parity tests need torch
    sys.exit(f"test_ops_torch: {e} — install python3-torch and python3-numpy with scripts/install-deps.sh")

torch.manual_seed(0)
RNG = np.random.default_rng(1234)
FAILURES = []


def driver_path():
    path = os.environ.get("GREENTUNE_NN_OPS_DRIVER")
    if not path:
        path = os.path.join(os.environ.get("GREENTUNE_BUILD_DIR", "build"), "tests", "nn_ops_driver")
    if not os.access(path, os.X_OK):
        sys.exit(f"test_ops_torch: {path}: driver not built — run `make` first")
    return path


DRIVER = driver_path()


def run(op, sizes, inputs, outputs):
    """Writes inputs ({name: array}), runs the driver, returns {name: float32 array}."""
    with tempfile.TemporaryDirectory() as d:
        for name, a in inputs.items():
            ext = ".i32" if a.dtype == np.int32 else ".f32"
            a.astype(a.dtype).tofile(os.path.join(d, name + ext))
        cmd = [DRIVER, op, d] + [str(s) for s in sizes]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"test_ops_torch: {' '.join(cmd)} failed: {r.stderr.strip()}")
        return {name: np.fromfile(os.path.join(d, name + ".f32"), dtype=np.float32) for name in outputs}


def check(what, got, want, tol):
    want = np.asarray(want, dtype=np.float64).ravel()
    got = np.asarray(got, dtype=np.float64).ravel()
    if got.shape != want.shape:
        FAILURES.append(f"{what}: {got.size} values, expected {want.size}")
        return
    scale = np.max(np.abs(want)) if want.size else 0.0
    err = np.max(np.abs(got - want)) if want.size else 0.0
    rel = err / scale if scale > 0 else err
    ok = bool(np.isfinite(got).all()) and rel <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {what:48s} max error / scale {rel:.2e} (tol {tol:.0e})")
    if not ok:
        FAILURES.append(f"{what}: relative error {rel:.3g} > {tol:.0e}")


def f32(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(np.float32)


def grads(fn, inputs, dy):
    """fn(*float64 leaf tensors) -> output; returns output and the input grads for upstream dy."""
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    out = fn(*leaves)
    out.backward(torch.tensor(dy, dtype=torch.float64).reshape(out.shape))
    return out.detach().numpy(), [t.grad.numpy() for t in leaves]


def test_gelu():
    n = 4096
    x, dy = f32(n, lo=-6, hi=6), f32(n)
    for op, approximate in (("gelu_erf", "none"), ("gelu_tanh", "tanh")):
        c = run(op, [n], {"x": x, "dy": dy}, ["y", "dx"])
        y, (dx,) = grads(lambda t: F.gelu(t, approximate=approximate), [x], dy)
        check(f"{op} y", c["y"], y, 2e-6)
        check(f"{op} dx", c["dx"], dx, 2e-6)


def test_geglu():
    N, Fd = 33, 40
    x, dy = f32(N, 2 * Fd, lo=-4, hi=4), f32(N, Fd)
    for op, approximate in (("geglu_erf", "none"), ("geglu_tanh", "tanh")):
        c = run(op, [N, Fd], {"x": x, "dy": dy}, ["y", "dx"])

        def geglu(t):  # ModernBertMLP: input, gate = Wi(h).chunk(2, dim=-1); act(input) * gate
            inp, gate = t.chunk(2, dim=-1)
            return F.gelu(inp, approximate=approximate) * gate

        y, (dx,) = grads(geglu, [x], dy)
        check(f"{op} y", c["y"], y, 2e-6)
        check(f"{op} dx", c["dx"], dx, 2e-6)


def test_layernorm():
    N, C = 50, 96
    x = f32(N, C, lo=-3, hi=5)  # a non-zero mean
    w, b, dy = f32(C, lo=0.5, hi=1.5), f32(C), f32(N, C)
    for has_bias in (1, 0):
        inputs = {"x": x, "w": w, "dy": dy}
        if has_bias:
            inputs["b"] = b
        names = ["y", "dx", "dw"] + (["db"] if has_bias else [])
        c = run("layernorm", [N, C, has_bias, "1e-5"], inputs, names)
        leaves = [x, w] + ([b] if has_bias else [])
        y, g = grads(lambda *t: F.layer_norm(t[0], (C,), t[1], t[2] if has_bias else None, 1e-5), leaves, dy)
        tag = "layernorm" + (" (bias)" if has_bias else " (no bias)")
        check(f"{tag} y", c["y"], y, 1e-5)
        for name, grad in zip(names[1:], g):
            check(f"{tag} {name}", c[name], grad, 1e-5)


def hf_rope_tables(T, D, theta):
    """cos, sin (T, D) as HF's ModernBertRotaryEmbedding builds them, in float32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    positions = torch.arange(T).float()
    freqs = (inv_freq[:, None] @ positions[None, :]).transpose(0, 1)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def test_rope():
    B, T, H, D = 2, 256, 2, 64
    x, dy = f32(B, T, H, D, lo=-2, hi=2), f32(B, T, H, D)
    for theta in (160000.0, 10000.0):
        c = run("rope", [B, T, H, D, theta], {"x": x, "dy": dy}, ["y", "dx", "cos", "sin"])
        cos, sin = hf_rope_tables(T, D, theta)
        check(f"rope tables cos (theta {theta:g})", c["cos"], cos[:, : D // 2].numpy(), 1e-6)
        check(f"rope tables sin (theta {theta:g})", c["sin"], sin[:, : D // 2].numpy(), 1e-6)
        cos64, sin64 = cos.double()[None, :, None, :], sin.double()[None, :, None, :]
        y, (dx,) = grads(lambda t: t * cos64 + rotate_half(t) * sin64, [x], dy)
        check(f"rope y (theta {theta:g})", c["y"], y, 2e-6)
        check(f"rope dx (theta {theta:g})", c["dx"], dx, 2e-6)


def attention_reference(qkv, valid, window, B, T, H, D):
    """HF-style eager attention on a packed (B, T, 3, H, D) qkv: additive mask,
    sliding window as abs(i - j) <= window // 2 (ModernBERT's
    _update_attention_mask). Rows with no allowed key are defined as zeros."""
    def fn(t):
        q, k, v = t.view(B, T, 3, H, D).transpose(3, 1).unbind(dim=2)  # (B, H, T, D)
        scores = q @ k.transpose(2, 3) * (D ** -0.5)
        pos = torch.arange(T)
        allowed = (pos[None, None, :] < torch.tensor(valid)[:, None, None])  # (B, 1, T) keys
        allowed = allowed[:, None, :, :].expand(B, 1, T, T)
        if window:
            allowed = allowed & ((pos[:, None] - pos[None, :]).abs() <= window // 2)
        scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return (probs @ v).transpose(1, 2).reshape(B, T, H * D)
    return fn


def test_attention():
    cases = [  # B, T, H, D, window, valid
        (2, 40, 2, 16, 0, [40, 40]),
        (3, 150, 2, 32, 0, [150, 63, 1]),   # two fused blocks of 128
        (2, 200, 2, 16, 128, [200, 150]),
        (2, 70, 1, 64, 6, [70, 20]),      # padding queries far from real tokens: zero rows
    ]
    for B, T, H, D, window, valid in cases:
        qkv, dy = f32(B, T, 3, H, D, lo=-2, hi=2), f32(B, T, H, D)
        v32 = np.array(valid, dtype=np.int32)
        y, (dx,) = grads(attention_reference(qkv, valid, window, B, T, H, D), [qkv], dy)
        for op in ("attention", "fused_attention"):
            c = run(op, [B, T, H, D, window], {"qkv": qkv, "valid": v32, "dy": dy}, ["y", "dx"])
            tag = f"{op} T={T} D={D} window={window}"
            check(f"{tag} out", c["y"], y, 1e-5)
            check(f"{tag} dqkv", c["dx"], dx, 1e-5)


def test_cross_entropy():
    B, L = 37, 9
    x = f32(B, L, lo=-8, hi=8)
    x[0, 3] = 80.0  # large logits stay finite
    labels = RNG.integers(0, L, size=B).astype(np.int32)
    c = run("cross_entropy", [B, L], {"x": x, "labels": labels}, ["y", "loss", "dx"])
    leaf = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(leaf, torch.tensor(labels, dtype=torch.int64))
    loss.backward()
    per_example = F.cross_entropy(leaf.detach(), torch.tensor(labels, dtype=torch.int64), reduction="none")
    check("cross_entropy losses", c["y"], per_example.numpy(), 1e-6)
    check("cross_entropy mean loss", c["loss"], [loss.item()], 1e-6)
    check("cross_entropy dlogits", c["dx"], leaf.grad.numpy(), 1e-6)


def test_mean_pool():
    B, T, C = 3, 11, 8
    x, dy = f32(B, T, C), f32(B, C)
    valid = [11, 4, 1]
    c = run("mean_pool", [B, T, C], {"x": x, "valid": np.array(valid, np.int32), "dy": dy}, ["y", "dx"])
    mask = torch.tensor([[1.0 if t < v else 0.0 for t in range(T)] for v in valid], dtype=torch.float64)
    y, (dx,) = grads(lambda t: (t * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True), [x], dy)
    check("mean_pool y", c["y"], y, 1e-6)
    check("mean_pool dx", c["dx"], dx, 1e-6)


def main():
    for test in (test_gelu, test_geglu, test_layernorm, test_rope, test_attention, test_cross_entropy,
                 test_mean_pool):
        test()
    if FAILURES:
        print(f"{len(FAILURES)} comparison(s) failed:", *FAILURES, sep="\n  ")
        return 1
    print("all comparisons with PyTorch passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
