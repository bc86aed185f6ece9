#!/usr/bin/env python3
"""The engine's knob features against PyTorch (tests/nn/torch_models.py), with
test_model_parity.py's driver, tolerances and comparisons:

LoRA: the same tiny models with PEFT-style adapters written out in PyTorch
(y = x W^T + b + (alpha/r) (x A^T) B^T on the targeted projections, the base
frozen, the classifier trained): logits, loss, the gradients of every trainable
tensor (adapters included), the weights after one AdamW step and the inference
logits, all within 1e-5 of float64 PyTorch. bert's q/k/v adapters sit on rows of
greentune's packed (3C, C) block and on separate Linear modules in PyTorch, so
this also checks that each target maps to the right rows. The QLoRA variant
(frozen base in int8) is compared with the same float64 reference: logits at
int8's bound (8e-2 of their scale), each gradient by its direction (cosine
similarity >= 0.95; see TOL_QLORA_COS); with bf16 training (the base's
matmuls in bf16, the adapters in fp32) the worst error against fp64 is at
most 1.5 times torch.autocast's.

Pruning: a model built with fewer layers whose weights come from the full
checkpoint through a layer map equals the full PyTorch model with the same
layers sliced out of its ModuleList — from the top and from the bottom. For a
ModernBERT cut from the bottom, the reference replaces the new first layer's
attn_norm by Identity, as Hugging Face builds layer 0 (docs/knobs.md), and
keeps every layer's global/local kind (layer_types).
"""
import json
import os
import sys
import tempfile

import test_model_parity as P  # noqa: E402  (imports torch, numpy, the helpers)

torch, np = P.torch, P.np
nn, F = torch.nn, torch.nn.functional
torch_models = P.torch_models
serialize = P.serialize

# QLoRA: the frozen base runs int8 matmuls with per-call activation scales, so
# its gradients carry quantization noise of order 1e-1 of their scale in a
# 4-layer model with these large weights; what must hold is that they point
# the same way as the exact gradients (cosine similarity per tensor).
TOL_QLORA_COS = 0.95


def cosine(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))


TARGET_BITS = {"q": 1, "k": 2, "v": 4, "o": 8, "ffn": 16}


class Lora(nn.Module):
    """A frozen Linear plus adapters on row ranges of its output."""

    def __init__(self, base, scale):
        super().__init__()
        self.base, self.scale, self.rows = base, scale, []
        self.lora_A, self.lora_B = nn.ParameterList(), nn.ParameterList()

    def add(self, row0, rows, A, B):
        self.rows.append((row0, rows))
        self.lora_A.append(A)
        self.lora_B.append(B)

    def forward(self, x):
        y = self.base(x)
        out = y.shape[-1]
        for (row0, rows), A, B in zip(self.rows, self.lora_A, self.lora_B):
            d = self.scale * torch.matmul(torch.matmul(x, A.t()), B.t())
            y = y + F.pad(d, (row0, out - row0 - rows))
        return y


def lora_sites(model, c, targets):
    """(greentune module name, parent, attribute, row0, rows) for every adapter."""
    C = c["dim"]
    sites = []
    for i in range(c["layers"]):
        if c["arch"] == "bert":
            L, p = model.bert.encoder.layer[i], "bert.encoder.layer.%d." % i
            for t, attr in (("q", "query"), ("k", "key"), ("v", "value")):
                if t in targets:
                    sites.append((p + "attention.self." + attr, L.attention.self, attr, 0, C))
            if "o" in targets:
                sites.append((p + "attention.output.dense", L.attention.output, "dense", 0, C))
            if "ffn" in targets:
                sites.append((p + "intermediate.dense", L.intermediate, "dense", 0, c["ffn"]))
                sites.append((p + "output.dense", L.output, "dense", 0, C))
        else:
            L, p = model.model.layers[i], "model.layers.%d." % i
            for k, t in enumerate("qkv"):
                if t in targets:
                    sites.append((p + "attn.Wqkv." + t, L.attn, "Wqkv", k * C, C))
            if "o" in targets:
                sites.append((p + "attn.Wo", L.attn, "Wo", 0, C))
            if "ffn" in targets:
                sites.append((p + "mlp.Wi", L.mlp, "Wi", 0, 2 * c["ffn"]))
                sites.append((p + "mlp.Wo", L.mlp, "Wo", 0, C))
    return sites


def add_lora(model, c, rank, alpha, targets, seed):
    """Wraps the targeted Linears; returns {greentune name: adapter parameter}.
    B is random (not PEFT's zero) so that A's gradient is not zero."""
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.classifier.parameters():
        p.requires_grad_(True)
    g = torch.Generator().manual_seed(seed)
    adapters, wrapped = {}, {}
    for name, parent, attr, row0, rows in lora_sites(model, c, targets):
        key = (id(parent), attr)
        if key not in wrapped:
            wrapped[key] = Lora(getattr(parent, attr), alpha / rank)
            setattr(parent, attr, wrapped[key])
        base = wrapped[key].base
        A = nn.Parameter(0.3 * torch.randn(rank, base.in_features, generator=g, dtype=base.weight.dtype))
        B = nn.Parameter(0.3 * torch.randn(rows, rank, generator=g, dtype=base.weight.dtype))
        wrapped[key].add(row0, rows, A, B)
        adapters[name + ".lora_A.weight"], adapters[name + ".lora_B.weight"] = A, B
    return adapters


def trainable(model, adapters):
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    named = {n: p for n, p in named.items() if "lora_" not in n}
    named.update(adapters)
    return named


def reference(model, params, ids, valid, labels):
    """forward + backward, one AdamW step, eval logits (model and params in float64)."""
    model.train()
    logits, loss = model(ids, valid, labels)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in params.items()}
    decay = [p for p in params.values() if p.dim() > 1]
    no_decay = [p for p in params.values() if p.dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": P.WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=P.LR, betas=(0.9, 0.999), eps=P.EPS)
    opt.step()
    model.eval()
    with torch.no_grad():
        infer, _ = model(ids, valid)
    return {"logits": logits.detach(), "loss": loss.detach(), "grads": grads,
            "params": {n: p.detach().clone() for n, p in params.items()}, "infer": infer}


def inputs(c, B, T, valid_list, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, c["vocab"], (B, T), generator=g)
    valid = torch.tensor(valid_list)
    ids[torch.arange(T)[None, :] >= valid[:, None]] = c["pad_id"]
    return ids, valid, torch.randint(0, c["num_labels"], (B,), generator=g)


def write_case(tmp, config_json, tensors, ids, valid, labels):
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config_json, f)
    with open(os.path.join(tmp, "model.safetensors"), "wb") as f:
        f.write(serialize(P.to_entries(tensors)))
    with open(os.path.join(tmp, "inputs.safetensors"), "wb") as f:
        f.write(serialize(P.to_entries({"ids": ids.int(), "valid": valid.int(), "labels": labels.int()})))


def run_driver(tmp, *extra):
    out = os.path.join(tmp, "out.safetensors")
    cmd = [P.driver(), os.path.join(tmp, "config.json"), os.path.join(tmp, "model.safetensors"),
           os.path.join(tmp, "inputs.safetensors"), out, "--lr", repr(P.LR), "--wd", repr(P.WD)] + list(extra)
    r = P.subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("test_knob_parity: %s failed: %s" % (" ".join(cmd), r.stderr.strip()))
    return P.read_outputs(out)


def lora_model(c, targets, rank, alpha, seed):
    """The torch model with adapters, its base weights and its adapters (the same for the same seed)."""
    torch.manual_seed(seed)
    model = torch_models.build(c)
    P.randomize(model, seed)
    base = {n: p.detach().clone() for n, p in model.state_dict().items()}
    return model, base, add_lora(model, c, rank, alpha, targets, seed + 7)


def compare_qlora(name, qlora, ref):
    logits = P.check(name + " qlora logits", qlora["logits"], ref["logits"], P.TOL_INT8) or 0
    worst = 1.0
    for n, g in ref["grads"].items():
        cos = cosine(qlora["grad." + n], g.numpy())
        worst = min(worst, cos)
        if not cos >= TOL_QLORA_COS:
            P.FAILURES.append("%s qlora grad %s: cosine %.3f with the fp64 gradient < %.2f" % (name, n, cos,
                                                                                             TOL_QLORA_COS))
    print("%-28s QLoRA (int8 frozen base): logits %.1e, lowest gradient cosine %.3f" % (name, logits, worst))


def compare_bf16(name, got, auto, ref):
    """bf16 training with adapters: the base's matmuls in bf16, the adapters in fp32. Its worst error
    against fp64 (logits, loss, gradients at a hundredth of the largest) may not exceed
    max(1.5 x that of torch.autocast, which rounds the adapters too, 1e-2)."""
    floor = P.gradient_floor(ref["grads"], 1e-2)
    pairs = [("logits", got["logits"], auto["logits"], ref["logits"], 0.0),
             ("loss", got["loss"], auto["loss"].reshape(1), ref["loss"].reshape(1), 0.0)]
    pairs += [("grad " + n, got["grad." + n], auto["grads"][n], g, floor) for n, g in ref["grads"].items()]
    mine = theirs = 0.0
    for what, g, a, r, fl in pairs:
        r = np.asarray(r, np.float64)
        mine = max(mine, P.scaled_error(g, r, fl))
        theirs = max(theirs, P.scaled_error(np.asarray(a.float(), np.float64), r, fl))
    if not mine <= max(1.5 * theirs, 1e-2):
        P.FAILURES.append("%s bf16: worst error vs fp64 %.3g, autocast's %.3g" % (name, mine, theirs))
    print("%-28s bf16 base: worst error vs fp64 %.1e (autocast %.1e)" % (name, mine, theirs))


def lora_case(name, c, targets, rank, alpha, B, T, valid_list, seed):
    model, base, adapters = lora_model(c, targets, rank, alpha, seed)
    ids, valid, labels = inputs(c, B, T, valid_list, seed + 1)
    weights = dict(base)
    weights.update({n: p.detach().clone() for n, p in adapters.items()})
    mask = sum(TARGET_BITS[t] for t in targets)
    lora_arg = "%d,%r,%d" % (rank, alpha, mask)
    with tempfile.TemporaryDirectory() as tmp:
        write_case(tmp, torch_models.hf_config(c), weights, ids, valid, labels)
        got = run_driver(tmp, "--lora", lora_arg)
        qlora = run_driver(tmp, "--lora", lora_arg, "--frozen-int8", "1")
        bf16 = run_driver(tmp, "--lora", lora_arg, "--precision", "bf16") if P.bf16_supported() else None
    model = model.double()
    ref = reference(model, trainable(model, adapters), ids, valid, labels)
    names = set(k[5:] for k in got if k.startswith("grad."))
    if names != set(ref["grads"]):
        P.FAILURES.append("%s: greentune trains %s, PyTorch %s" % (name, sorted(names), sorted(ref["grads"])))
        return
    P.compare_fp32(name, got, ref)
    compare_qlora(name, qlora, ref)
    if bf16 is not None:
        m32, _, a32 = lora_model(c, targets, rank, alpha, seed)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = reference(m32, trainable(m32, a32), ids, valid, labels)
        compare_bf16(name, bf16, auto, ref)


def prune_case(name, c, keep, B, T, valid_list, seed):
    torch.manual_seed(seed)
    full = torch_models.build(c)
    P.randomize(full, seed)
    weights = {n: p.detach().clone() for n, p in full.state_dict().items()}
    ids, valid, labels = inputs(c, B, T, valid_list, seed + 1)
    pruned_c = dict(c, layers=len(keep))
    config = torch_models.hf_config(pruned_c)
    if c["arch"] == "bert":
        full.bert.encoder.layer = nn.ModuleList([full.bert.encoder.layer[i] for i in keep])
    else:
        full.model.layers = nn.ModuleList([full.model.layers[i] for i in keep])
        full.model.layers[0].attn_norm = nn.Identity()   # HF's layer 0 has none
        config["layer_types"] = ["full_attention" if (i % c["global_every"]) == 0 else "sliding_attention"
                                 for i in keep]
    with tempfile.TemporaryDirectory() as tmp:
        write_case(tmp, config, weights, ids, valid, labels)
        got = run_driver(tmp, "--layer-map", ",".join(map(str, keep)))
    full = full.double()
    ref = reference(full, dict(full.named_parameters()), ids, valid, labels)
    P.compare_fp32(name, got, ref)


def main():
    bert = torch_models.tiny_config("bert", layers=2, dim=32, heads=4, ffn=64, max_len=24)
    modern = torch_models.tiny_config("modernbert", layers=4, dim=32, heads=2, ffn=48, local_window=8)
    lora_case("bert lora q,k,v,o,ffn", bert, "q k v o ffn".split(), 4, 8.0, 3, 16, [16, 9, 5], 300)
    lora_case("bert lora k,ffn", bert, ["k", "ffn"], 2, 2.0, 2, 12, [12, 7], 301)
    lora_case("modernbert lora q,v,o", modern, ["q", "v", "o"], 4, 16.0, 3, 20, [20, 13, 6], 302)
    lora_case("modernbert lora k,ffn", modern, ["k", "ffn"], 3, 3.0, 2, 14, [14, 9], 303)
    prune_case("bert pruned top (keep 0)", dict(bert, layers=3), [0, 1], 3, 16, [16, 9, 5], 310)
    prune_case("bert pruned bottom (keep 2)", dict(bert, layers=3), [1, 2], 3, 16, [16, 9, 5], 311)
    prune_case("modernbert pruned top", dict(modern, layers=5), [0, 1, 2], 3, 20, [20, 13, 6], 312)
    prune_case("modernbert pruned bottom", dict(modern, layers=5), [2, 3, 4], 3, 20, [20, 13, 6], 313)
    for f in P.FAILURES[:40]:
        print("FAIL", f)
    return 1 if P.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
