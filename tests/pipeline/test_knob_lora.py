"""The lora knob on the tiny pipeline: what trains is counted from the built
model (adapters on every named target, the classifier, nothing else), the
adapters learn the task, the checkpoint is a plain model with the adapters
merged (`greentune predict` on it gives the eval stage's logits), a setup that
would train too little fails the run instead of silently learning nothing (the
paper's 14 k-parameter LoRA run), and with int8 the frozen base runs int8
matmuls while training (QLoRA)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from knob_util import Pipeline, evidence, logits, max_diff, one_line, scale  # noqa: E402
from pipeline_util import Checks, run  # noqa: E402

c = Checks("test_knob_lora")
p = Pipeline("lora")

# Every target of both layers, the head frozen: adapters and the classifier
# learn the task on top of a frozen random base (a higher learning rate, as
# LoRA usually takes).
out = p.out("lora-model")
code, r, err, preds = p.run(["lora={rank: 8, alpha: 16, head: false}"], sets=["train.lr=5e-3", "train.epochs=40"],
                            out=out)
if c.check(code == 0, "lora run failed: %s" % err):
    e = evidence(r, "lora")
    c.check(e["targets_covered"] == {"q": 2, "k": 2, "v": 2, "o": 2, "ffn": 4}, "targets %r" % e["targets_covered"])
    # per layer (C 32, F 64, r 8): q, k, v, o 8 (32 + 32) each; ffn 8 (32 + 64) twice
    c.check(e["adapter_params"] == 2 * (4 * 512 + 2 * 768), "adapter params %r" % e["adapter_params"])
    # and the classifier (2 x 32 + 2)
    c.check(e["trainable_params"] == e["adapter_params"] + 66, "trainable %r" % e["trainable_params"])
    c.check(e["total_params"] == r["model"]["params"] and e["trainable_params"] == r["model"]["trainable_params"],
            "evidence %r, model %r" % (e, r["model"]))
    c.check(0.001 < e["trainable_share"] < 1, "share %r" % e["trainable_share"])
    losses = [x["loss"] for x in r["train"]["epochs"]]
    c.check(sum(losses[-5:]) < 0.7 * sum(losses[:5]), "the adapters learnt nothing: epoch losses %r" % losses)
    c.check(r["eval"]["predicted_classes"] == 2, "one class predicted: %r" % r["metrics"])
    # the saved model is a plain HF directory with W + B A merged in
    blob = open(os.path.join(out, "model.safetensors"), "rb").read()
    names = json.loads(blob[8:8 + int.from_bytes(blob[:8], "little")].decode())
    c.check(not [n for n in names if "lora" in n], "adapter tensors in the checkpoint")
    texts = [json.loads(line)["text"] for line in open(p.out("data.jsonl"))]
    with open(p.out("test.txt"), "w") as f:
        f.write("".join(texts[int(q["id"])] + "\n" for q in preds))
    code, _, err = run(["predict", out, "--input", p.out("test.txt"), "--json", p.out("predict.json")])
    if c.check(code == 0, "predict: %s" % err):
        have = [q["logits"] for q in json.load(open(p.out("predict.json")))["predictions"]]
        want = logits(preds)
        c.check(max_diff(want, have) <= 1e-4 * max(1.0, scale(want)), "merged checkpoint logits differ by %g"
                % max_diff(want, have))

# A setup that trains (almost) nothing fails before training, with one line.
code, r, err, _ = p.run(["lora={rank: 1, targets: [q], head: false, min_share: 0.05}"])
c.check(one_line(code, err) and "min_share" in err and "would train" in err, "tiny share: %d %r" % (code, err))

# QLoRA: without a validation split, every int8 matmul before the save stage is training's.
code, r, err, _ = p.run(["lora={rank: 4}", "int8"], sets=["data.split=[0.75, 0, 0.25]"])
if c.check(code == 0, "qlora run failed: %s" % err):
    e = evidence(r, "int8")
    c.check(e["qlora"] is True and e["int8_matmuls_train"] >= 8 * r["train"]["steps"], "qlora %r, %d steps"
            % (e, r["train"]["steps"]))
    c.check(e["weight_bytes_after"] < e["weight_bytes_before"] / 3, "weight bytes %r" % e)
    c.check(r["eval"]["precision"] == "int8", "eval precision %r" % r["eval"]["precision"])

# The dry run says what would change.
code, stdout, err = run(["run", p.path, "--dry-run", "--knob", "lora=4", "--knob", "int8"])
c.check(code == 0 and "rank-4 adapters" in stdout and "QLoRA" in stdout, "dry run: %r %r" % (stdout, err))

sys.exit(c.close())
