#!/usr/bin/env python3
"""greentune's bert and modernbert against the same models in plain PyTorch
(tests/nn/torch_models.py, written from HF transformers' modeling code).

Each case builds a tiny model in PyTorch with random weights (larger than HF's
init, so every path carries signal), writes them as safetensors with HF names
plus a HF config.json and the inputs (with padding; modernbert with local
layers whose window is shorter than the sequence), and runs
tests/nn/model_driver.c on them: one forward + backward, one AdamW step, then
inference in fp32, int8 (and bf16), with the straightforward or fused
attention kernel and without or with fused kernels (gt_nn_options.fused).
PyTorch computes the same in float64 (the
reference) and, for bf16, under torch.autocast("cpu", torch.bfloat16).

Error measure: for a tensor, max|greentune - reference| / max|reference| (the
error at the tensor's scale); for gradients the scale is at least a thousandth
of the model's largest gradient, so that a tensor with tiny gradients is not
judged by its rounding noise alone. Tolerances:
  fp32 logits, loss, every parameter gradient:        1e-5
  bert's key biases, whose gradient is 0 in exact arithmetic (softmax ignores
    a shift common to a row of scores): |gradient| <= 1e-6 of the largest
  fp32 weights after one AdamW step (lr 1e-3, wd 0.01): per element
      |dw| <= 1e-6 max|w| + lr * 2 |dg| / (|g| + eps)
    (Adam's first step is lr g / (|g| + eps): its error is set by the
    gradient's error relative to the gradient itself, which for a gradient
    near 0 is large; the bound is that propagation, checked element-wise.)
  fp32 inference logits (prepacked weights, fused epilogues): 1e-5
  bf16 training (logits, loss, gradients; the gradient floor a hundredth):
    1e-1 against autocast bf16 (which is itself up to 5e-2 off fp64 here: it
    rounds every activation to bf16, greentune only the matmul inputs), 5e-2
    against the fp64 reference, and the
    worst of greentune's errors against fp64 at most max(1.5 x the worst of
    autocast's, 1e-2) — bf16 keeps 8 significant bits (2^-9 relative rounding).
  int8 inference logits against fp32 logits:           8e-2 of the logit scale
    (int8 linear layers; attention products in bf16 on CPUs that have it)
  bf16 inference logits against fp32 logits:           5e-2
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def import_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        # python3-torch is a test dependency: install it rather than skip.
        src = os.environ["GREENTUNE_SOURCE_DIR"]
        print("test_model_parity: python3-torch missing, running scripts/install-deps.sh")
        subprocess.run([os.path.join(src, "scripts", "install-deps.sh")], check=True)
    import torch
    return torch


torch = import_torch()
import numpy as np  # noqa: E402

sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "io"))
import torch_models  # noqa: E402
from safetensors_spec import deserialize, serialize  # noqa: E402

LR, WD, EPS = 1e-3, 0.01, 1e-8
TOL_FP32, TOL_BF16, TOL_AUTOCAST, TOL_INT8, ZERO_GRAD = 1e-5, 5e-2, 1e-1, 8e-2, 1e-6
FAILURES = []


def driver():
    path = os.environ.get("GREENTUNE_NN_MODEL_DRIVER")
    if not path:
        path = os.path.join(os.environ.get("GREENTUNE_BUILD_DIR", "build"), "tests", "nn_model_driver")
    if not os.access(path, os.X_OK):
        sys.exit("test_model_parity: %s: driver not built (run make)" % path)
    return path


def bf16_supported():
    flags = open("/proc/cpuinfo").read()
    return " avx512_bf16 " in flags or " amx_bf16 " in flags


def scaled_error(got, want, floor=0.0):
    got, want = np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel()
    scale = max(np.max(np.abs(want)) if want.size else 0.0, floor)
    err = np.max(np.abs(got - want)) if want.size else 0.0
    return err / scale if scale > 0 else err


def check(what, got, want, tol, floor=0.0):
    if np.asarray(got).shape != np.asarray(want).shape:
        FAILURES.append("%s: shape %s, expected %s" % (what, np.asarray(got).shape, np.asarray(want).shape))
        return None
    err = scaled_error(got, want, floor)
    ok = bool(np.isfinite(got).all()) and err <= tol
    if not ok:
        FAILURES.append("%s: error %.3g at the tensor's scale > %.0e" % (what, err, tol))
    return err


def randomize(model, seed):
    """Weights of order 0.1-1 (HF's init is 0.02): every path carries signal."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and not name.endswith("bias"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g) / max(1.0, p.shape[-1] ** 0.25))


def to_entries(tensors):
    out = {}
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        out[name] = (dtype, list(t.shape), t.numpy().tobytes())
    return out


def read_outputs(path):
    blob = open(path, "rb").read()
    result = {}
    for name, (dtype, shape, data) in deserialize(blob)[0].items():
        assert dtype == "F32", name
        result[name] = np.frombuffer(data, dtype=np.float32).reshape(shape)
    return result


def param_groups(model):
    """HF's grouping: no weight decay for biases and LayerNorm weights (all the 1-D tensors)."""
    decay = [p for _, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for _, p in model.named_parameters() if p.dim() == 1]
    return [{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}]


def torch_run(c, weights, ids, valid, labels, dtype, autocast=False):
    """forward + backward, then one AdamW step, then eval-mode logits, in dtype."""
    model = torch_models.build(c)
    model.load_state_dict(weights)
    model = model.to(dtype)
    model.train()
    if autocast:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, loss = model(ids, valid, labels)
    else:
        logits, loss = model(ids, valid, labels)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(param_groups(model), lr=LR, betas=(0.9, 0.999), eps=EPS)
    opt.step()
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.eval()
    with torch.no_grad():
        infer, _ = model(ids, valid)
    return {"logits": logits.detach().float(), "loss": loss.detach().float(), "grads": grads, "params": params,
            "infer": infer.float()}


def run_driver(tmp, precision, attention, fused):
    out = os.path.join(tmp, "out-%s-%s.safetensors" % (precision, attention))
    cmd = [driver(), os.path.join(tmp, "config.json"), os.path.join(tmp, "model.safetensors"),
           os.path.join(tmp, "inputs.safetensors"), out, "--precision", precision, "--attention", attention,
           "--fused", str(fused), "--lr", repr(LR), "--wd", repr(WD)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("test_model_parity: %s failed: %s" % (" ".join(cmd), r.stderr.strip()))
    return read_outputs(out)


def step_bound(w_ref, g_ref, g_got):
    """The per-element bound on the weights after one AdamW step (see the docstring)."""
    dg = np.abs(g_got.astype(np.float64) - g_ref)
    return 1e-6 * np.max(np.abs(w_ref)) + LR * 2.0 * dg / (np.abs(g_ref) + EPS) + 1e-9


def gradient_floor(grads, fraction=1e-3):
    """A fraction of the model's largest gradient: the scale for a tensor whose true gradient is 0."""
    return fraction * max(float(g.abs().max()) for g in grads.values())


def compare_fp32(name, c_out, ref):
    errs = [check(name + " logits", c_out["logits"], ref["logits"], TOL_FP32),
            check(name + " loss", c_out["loss"], ref["loss"].reshape(1), TOL_FP32)]
    grad_worst, step_bad = 0.0, 0
    floor = gradient_floor(ref["grads"])
    for pname, g in ref["grads"].items():
        got = c_out.get("grad." + pname)
        if got is None:
            FAILURES.append("%s: greentune has no gradient for %s" % (name, pname))
            continue
        if pname.endswith("attention.self.key.bias"):
            # 0 in exact arithmetic: softmax ignores a shift common to a row of scores
            noise = float(np.max(np.abs(got))) / (floor * 1e3)
            if noise > ZERO_GRAD:
                FAILURES.append("%s: gradient of %s is %.3g of the largest, should be 0" % (name, pname, noise))
            e = noise
        else:
            e = check("%s grad %s" % (name, pname), got, g.numpy(), TOL_FP32, floor)
        grad_worst = max(grad_worst, e or 0.0)
        w_ref, w_got = ref["params"][pname].numpy().astype(np.float64), c_out["param." + pname]
        bad = np.abs(w_got - w_ref) > step_bound(w_ref, g.numpy(), got)
        if bad.any():
            i = np.argmax(bad)
            FAILURES.append("%s: %d weights of %s differ after the AdamW step, e.g. [%d] %r vs %r"
                            % (name, int(bad.sum()), pname, i, float(w_got.ravel()[i]), float(w_ref.ravel()[i])))
            step_bad += int(bad.sum())
    errs.append(check(name + " inference fp32", c_out["infer.fp32"], ref["infer"], TOL_FP32))
    print("%-28s fp32: logits %.1e loss %.1e worst gradient %.1e inference %.1e; %d tensors, step ok: %s"
          % (name, errs[0] or 0, errs[1] or 0, grad_worst, errs[2] or 0, len(ref["grads"]), step_bad == 0))


def compare_bf16(name, c_out, auto, ref):
    worst = {"vs autocast": 0.0, "greentune vs fp64": 0.0, "autocast vs fp64": 0.0}
    floor = gradient_floor(ref["grads"], 1e-2)
    pairs = [("logits", c_out["logits"], auto["logits"], ref["logits"], 0.0),
             ("loss", c_out["loss"], auto["loss"].reshape(1), ref["loss"].reshape(1), 0.0)]
    pairs += [("grad " + n, c_out["grad." + n], auto["grads"][n].float(), ref["grads"][n], floor)
              for n in ref["grads"]]
    for what, got, a, r, fl in pairs:
        a, r = np.asarray(a, np.float64), np.asarray(r, np.float64)
        e = check("%s bf16 %s vs autocast" % (name, what), got, a, TOL_AUTOCAST, fl)
        mine = check("%s bf16 %s vs fp64" % (name, what), got, r, TOL_BF16, fl)
        worst["vs autocast"] = max(worst["vs autocast"], e or 0.0)
        worst["greentune vs fp64"] = max(worst["greentune vs fp64"], mine or 0.0)
        worst["autocast vs fp64"] = max(worst["autocast vs fp64"], scaled_error(a, r, fl))
    if worst["greentune vs fp64"] > max(1.5 * worst["autocast vs fp64"], 1e-2):
        FAILURES.append("%s bf16: worst error vs fp64 %.3g, autocast's %.3g" % (name, worst["greentune vs fp64"],
                                                                             worst["autocast vs fp64"]))
    print("%-28s bf16: worst error %s" % (name, ", ".join("%s %.1e" % kv for kv in worst.items())))


def run_case(name, c, B, T, valid_list, attention, fused, seed):
    torch.manual_seed(seed)
    model = torch_models.build(c)
    randomize(model, seed)
    weights = {n: p.detach().clone() for n, p in model.state_dict().items()}
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(1, c["vocab"], (B, T), generator=g)
    valid = torch.tensor(valid_list)
    ids[torch.arange(T)[None, :] >= valid[:, None]] = c["pad_id"]
    labels = torch.randint(0, c["num_labels"], (B,), generator=g)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(torch_models.hf_config(c), f)
        with open(os.path.join(tmp, "model.safetensors"), "wb") as f:
            f.write(serialize(to_entries(weights)))
        with open(os.path.join(tmp, "inputs.safetensors"), "wb") as f:
            f.write(serialize(to_entries({"ids": ids.int(), "valid": valid.int(), "labels": labels.int()})))
        ref = torch_run(c, weights, ids, valid, labels, torch.float64)
        c32 = run_driver(tmp, "fp32", attention, fused)
        compare_fp32(name, c32, ref)
        int8 = check(name + " int8 inference vs fp32", c32["infer.int8"], c32["infer.fp32"], TOL_INT8)
        print("%-28s int8 inference: error %.1e of the logit scale" % (name, int8 or 0))
        if "infer.bf16" in c32:
            b16 = check(name + " bf16 inference vs fp32", c32["infer.bf16"], c32["infer.fp32"], TOL_BF16)
            print("%-28s bf16 inference: error %.1e of the logit scale" % (name, b16 or 0))
        if bf16_supported():
            auto = torch_run(c, weights, ids, valid, labels, torch.float32, autocast=True)
            compare_bf16(name, run_driver(tmp, "bf16", attention, fused), auto, ref)
        else:
            print("%-28s bf16: this CPU has no bf16 instructions; greentune refuses bf16 here" % name)


# (name, config, batch, seq, valid lengths, attention kernel, fused kernels)
CASES = [
    ("bert", torch_models.tiny_config("bert", layers=2, dim=32, heads=4, ffn=64, max_len=24), 3, 16,
     [16, 9, 5], "standard", 0),
    ("bert fused gelu_tanh", torch_models.tiny_config("bert", layers=2, dim=32, heads=2, ffn=48,
                                                        act="gelu_tanh"), 2, 12, [12, 7], "fused", 1),
    # layers 0 and 3 global, 1 and 2 local (window 8 < T = 20): both RoPE tables, both masks
    ("modernbert mean", torch_models.tiny_config("modernbert", layers=4, dim=32, heads=2, ffn=48,
                                                 local_window=8, pooling="mean"), 3, 20, [20, 13, 6], "standard",
     0),
    ("modernbert cls fused", torch_models.tiny_config("modernbert", layers=4, dim=48, heads=3, ffn=40,
                                                      local_window=6, pooling="cls", head_act="relu"),
     2, 18, [18, 11], "fused", 1),
]


def main():
    for i, (name, c, B, T, valid, attention, fused) in enumerate(CASES):
        run_case(name, c, B, T, valid, attention, fused, seed=100 + i)
    for f in FAILURES[:40]:
        print("FAIL", f)
    if len(FAILURES) > 40:
        print("... and %d more" % (len(FAILURES) - 40))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
