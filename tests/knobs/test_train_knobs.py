"""The training-phase knobs and prefetch take effect on a tiny pipeline, and
their evidence says so, checked against figures computed here or taken from
the baseline run (the same pipeline without the knob):

optimizer      state bytes as the tensors' shapes (read from the saved
               model.safetensors) give them: adamw8bit ~1/4, sgd 1/2, adafactor
               rows + columns of AdamW's
bf16           every training matmul in bf16: the bf16 FLOPs equal the
               baseline's fp32 FLOPs
grad_accum     steps x k micro-batches; batch 4 x 2 trains the same weights as
               batch 8 (within float rounding), as one large batch would
early_stop     stops patience validations after its best, before the plan;
               never stops a metric that keeps improving
dynamic_batch  the schedule it ran is the one simulated here
grad_sparsify  the share of skipped entries grows with the threshold; every
               trainable value is seen once per step
prefetch       every batch built ahead, training bit-identical to the baseline
"""
import json
import os
import struct
import sys

from knob_runs import TINY_PIPELINE, Workdir, evidence, main_of

import numpy as np

NO_DROPOUT = TINY_PIPELINE.replace("max_len: 24}", "max_len: 24, dropout: 0}")


def safetensors(path):
    """{name: float32 array} of an F32 safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + lo:8 + n + hi], dtype=np.float32).reshape(t["shape"])
    return out


def grad_floats(shapes):
    """Bounds of the gradient block: every value, each tensor starting at a
    multiple of 256 floats (in the engine's order, which the file does not keep)."""
    sizes = [int(np.prod(s)) for s in shapes]
    return sum(sizes), sum((n + 255) // 256 * 256 for n in sizes)


def factored_floats(tensors):
    """Adafactor's state in floats: rows + columns of each matrix (BERT's
    query, key and value three of them, as in transformers), all of a vector."""
    return sum(t.shape[0] + t.shape[1] if t.ndim == 2 else t.size for t in tensors.values())


def test_optimizer(c):
    w = Workdir("optimizer")
    out = os.path.join(w.dir, "model")
    rc0, base, err = w.run(extra=["--out", out])
    if not c.check(rc0 == 0, "baseline: %s" % err):
        return
    tensors = safetensors(os.path.join(out, "model.safetensors"))
    shapes = [t.shape for t in tensors.values()]
    c.check(sum(int(np.prod(s)) for s in shapes) == base["model"]["trainable_params"], "every tensor trains")
    lo, hi = grad_floats(shapes)

    def adamw8bit(f):
        return 2 * f + 2 * 4 * ((f + 255) // 256)  # a byte per moment, two fp32 scales per 256
    expect = {"adamw8bit": (adamw8bit(lo), adamw8bit(hi)), "sgd": (4 * lo, 4 * hi),
              "adafactor": (4 * factored_floats(tensors),) * 2}
    for kind, (least, most) in expect.items():
        rc, rec, err = w.run(["optimizer=%s" % kind])
        if not c.check(rc == 0, "optimizer=%s: %s" % (kind, err)):
            continue
        e = evidence(rec, "optimizer")
        c.check(e["optimizer_used"] == kind and rec["train"]["optimizer"] == kind, "optimizer %s not used" % kind)
        c.check(8 * lo <= e["optimizer_state_bytes_fp32"] <= 8 * hi,
                "%s: AdamW's state %s, expected %d..%d" % (kind, e["optimizer_state_bytes_fp32"], 8 * lo, 8 * hi))
        c.check(least <= e["optimizer_state_bytes"] <= most,
                "%s: state %s bytes, expected %d..%d from the shapes" % (kind, e["optimizer_state_bytes"], least,
                                                                        most))
        c.check(e["optimizer_state_bytes"] < e["optimizer_state_bytes_fp32"], "%s: no smaller than AdamW" % kind)
    rc, rec, err = w.run(["optimizer={kind: sgd, lr: 0.05, momentum: 0.5}"])
    c.check(rc == 0 and rec["train"]["lr"] == 0.05 and evidence(rec, "optimizer")["lr"] == 0.05,
            "optimizer lr: %s" % err)


def test_bf16(c):
    w = Workdir("bf16")
    rc0, base, _ = w.run()
    rc, rec, err = w.run(["bf16"])
    if not c.check(rc0 == 0 and rc == 0, "bf16 runs: %s" % err):
        return
    e = evidence(rec, "bf16")
    c.check(e["bf16_flop_share"] == 1.0, "bf16: share %s" % e["bf16_flop_share"])
    c.check(base["train"]["matmul_flops"]["bf16"] == 0 and base["train"]["matmul_flops"]["fp32"] > 0,
            "baseline matmuls %s" % base["train"]["matmul_flops"])
    c.check(e["train_flops_bf16"] == base["train"]["matmul_flops"]["fp32"],
            "bf16: %s FLOPs in bf16, the baseline ran %s in fp32" % (e["train_flops_bf16"],
                                                                     base["train"]["matmul_flops"]["fp32"]))


def test_grad_accum(c):
    w = Workdir("gradaccum", pipeline=NO_DROPOUT)
    big, small = os.path.join(w.dir, "big"), os.path.join(w.dir, "small")
    rc0, base, err0 = w.run(sets=["train.batch=8"], extra=["--out", big])
    rc, rec, err = w.run(["grad_accum=2"], sets=["train.batch=4"], extra=["--out", small])
    if not c.check(rc0 == 0 and rc == 0, "grad_accum runs: %s %s" % (err0, err)):
        return
    e = evidence(rec, "grad_accum")
    n, epochs = rec["data"]["split"]["train"]["samples"], len(rec["train"]["epochs"])
    micro = -(-n // 4)
    c.check(e["micro_batches"] == micro * epochs and e["optimizer_steps"] == -(-micro // 2) * epochs,
            "grad_accum: %s steps of %s micro-batches, expected %d of %d" % (
                e["optimizer_steps"], e["micro_batches"], -(-micro // 2) * epochs, micro * epochs))
    c.check(e["optimizer_steps"] == base["train"]["steps"], "grad_accum: not as many steps as batch 8")
    # The control: batch 4 without accumulation takes twice the steps and lands elsewhere.
    other = os.path.join(w.dir, "other")
    rc, _, err = w.run(sets=["train.batch=4"], extra=["--out", other])
    c.check(rc == 0, "batch 4: %s" % err)
    a, b, o = (safetensors(os.path.join(d, "model.safetensors")) for d in (big, small, other))
    apart = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    control = max(float(np.max(np.abs(a[k] - o[k]))) for k in a)
    c.check(apart < 2e-3 and apart * 20 < control, "batch 4 x 2 and batch 8 trained weights %g apart (batch 4 "
            "alone: %g)" % (apart, control))
    for mine, theirs in zip(rec["train"]["epochs"], base["train"]["epochs"]):
        c.check(abs(mine["loss"] - theirs["loss"]) < 1e-3, "epoch %d loss %s vs %s" % (
            mine["epoch"], mine["loss"], theirs["loss"]))
    print("grad_accum: batch 4 x 2 vs batch 8: weights %.2g apart; batch 4 alone: %.2g" % (apart, control))


def test_early_stop(c):
    w = Workdir("earlystop")
    rc0, base, _ = w.run()
    rc, rec, err = w.run(["early_stop={patience: 2, every: 2, min_delta: 0.01}"])
    if not c.check(rc0 == 0 and rc == 0, "early_stop runs: %s" % err):
        return
    e = evidence(rec, "early_stop")
    t = rec["train"]
    c.check(e["stopped"] is True and e["steps_run"] < e["steps_planned"], "early_stop did not stop: %s" % e)
    c.check(e["steps_planned"] == base["train"]["steps"], "planned %s, the baseline ran %s" % (
        e["steps_planned"], base["train"]["steps"]))
    c.check(e["steps_run"] == t["steps"] == e["stopped_at_step"], "steps run %s, train.steps %s" % (
        e["steps_run"], t["steps"]))
    # 6 steps an epoch, a validation every 2: patience 2 means 4 steps after the best.
    c.check(e["stopped_at_step"] == e["best_step"] + 2 * 2, "stopped at %s, best at %s" % (
        e["stopped_at_step"], e["best_step"]))
    c.check(e["validations"] == len(t.get("validations", [])) + len(t["epochs"]), "validations counted")
    # The rule, again: an improvement must beat the best by more than min_delta.
    ends = np.cumsum([v["steps"] for v in t["epochs"]])
    seen = sorted([(v["step"], v["val_loss"]) for v in t.get("validations", [])] +
                  [(int(end), v["val_loss"]) for end, v in zip(ends, t["epochs"])])
    best = None
    for _, loss in seen:
        if best is None or loss < best - 0.01:
            best = loss
    c.check(len(seen) >= 3 and best is not None and abs(e["best_metric"] - best) < 1e-12,
            "best loss %s, the rule gives %s" % (e["best_metric"], best))
    # A metric that never fails to improve by -1 never stops the training.
    rc, rec, err = w.run(["early_stop={patience: 1000, every: 3, metric: f1}"])
    e = evidence(rec, "early_stop") if rc == 0 else {}
    c.check(rc == 0 and e["stopped"] is False and e["steps_run"] == e["steps_planned"], "patient early_stop: %s" % e)


def schedule(n, epochs, start, grow, every, top):
    """dynamic_batch's schedule, simulated: [[step, size]] where the size changes
    (an epoch's last, smaller batch is a remainder, not a change)."""
    out, step = [], 0
    for _ in range(epochs):
        first = 0
        while first < n:
            size = min(top, round(start * grow ** (step // every)))
            rows = min(size, n - first)
            if (not out or rows != out[-1][1]) and not (first + rows == n and rows < size):
                out.append([step, rows])
            first += rows
            step += 1
    return out, step


def test_dynamic_batch(c):
    w = Workdir("dynbatch")
    rc, rec, err = w.run(["dynamic_batch={start: 2, max: 16, growth: 2, every: 5}"])
    if not c.check(rc == 0, "dynamic_batch runs: %s" % err):
        return
    e = evidence(rec, "dynamic_batch")
    n, epochs = rec["data"]["split"]["train"]["samples"], rec["train"]["epochs_planned"]
    want, steps = schedule(n, epochs, 2, 2, 5, 16)
    c.check(e["batch_schedule"] == want, "dynamic_batch: ran %s, simulated %s" % (e["batch_schedule"], want))
    c.check(rec["train"]["steps"] == steps == e["optimizer_steps"], "steps %s, simulated %d" % (
        rec["train"]["steps"], steps))
    c.check(abs(e["mean_batch"] - n * epochs / steps) < 1e-9, "mean batch %s" % e["mean_batch"])
    c.check([s for _, s in e["batch_schedule"]] == [2, 4, 8, 16], "sizes %s" % e["batch_schedule"])


def test_grad_sparsify(c):
    w = Workdir("sparsify")
    shares = []
    for threshold in ("1e-5", "1e-3"):
        rc, rec, err = w.run(["grad_sparsify=%s" % threshold])
        if not c.check(rc == 0, "grad_sparsify=%s: %s" % (threshold, err)):
            return
        e = evidence(rec, "grad_sparsify")
        c.check(e["entries_seen"] == rec["train"]["steps"] * rec["model"]["trainable_params"],
                "grad_sparsify: %s entries seen, %d steps x %d parameters" % (
                    e["entries_seen"], rec["train"]["steps"], rec["model"]["trainable_params"]))
        c.check(0 < e["skipped_share"] < 1 and e["entries_skipped"] == round(e["skipped_share"] * e["entries_seen"]),
                "grad_sparsify: share %s" % e)
        shares.append(e["skipped_share"])
    c.check(shares[0] < shares[1], "a higher threshold skipped no more: %s" % shares)


def test_prefetch(c):
    w = Workdir("prefetch")
    rc0, base, _ = w.run()
    rc, rec, err = w.run(["prefetch=3"])
    if not c.check(rc0 == 0 and rc == 0, "prefetch runs: %s" % err):
        return
    e = evidence(rec, "prefetch")
    c.check(e["batches_prefetched"] == rec["train"]["micro_batches"] > 0, "prefetch: %s of %s batches ahead" % (
        e["batches_prefetched"], rec["train"]["micro_batches"]))
    c.check(e["overlap_s"] >= 0 and e["build_s"] > 0 and e["wait_s"] >= 0, "prefetch times %s" % e)
    c.check(base["train"]["batch_build_seconds"] == base["train"]["batch_wait_seconds"],
            "without prefetch the train thread waits exactly while it builds")
    for key in ("first_loss", "last_loss"):
        c.check(rec["train"][key] == base["train"][key], "prefetch changed train.%s" % key)
    c.check(rec["metrics"]["confusion"] == base["metrics"]["confusion"], "prefetch changed the predictions")


if __name__ == "__main__":
    sys.exit(main_of("test_train_knobs", [test_optimizer, test_bf16, test_grad_accum, test_early_stop,
                                          test_dynamic_batch, test_grad_sparsify, test_prefetch]))
