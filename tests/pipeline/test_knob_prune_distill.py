"""prune_layers and distill on the tiny pipeline.

prune_layers: a model built from scratch with fewer layers (top and bottom);
a trained checkpoint loaded with the kept layers' weights (layer indices
renumbered, config.json of the new checkpoint updated, the untouched tensors
copied exactly); a ModernBERT cut from the bottom keeping each layer's
global/local kind (layer_types); too many layers removed fails with one line.

distill: a student of half the teacher's layers trained on a fine-tuned
teacher directory's logits; the unpruned model.from as the teacher of a pruned
student; a teacher that cannot teach (no model.from, no fine-tuned classifier)
fails with one line."""
import json
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from knob_util import Pipeline, config_json, evidence, from_dir, one_line  # noqa: E402
from pipeline_util import SOURCE, Checks, run  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE, "tests", "io"))
from safetensors_spec import deserialize, serialize  # noqa: E402

c = Checks("test_knob_prune_distill")


def tensors(directory):
    """name -> raw bytes of model.safetensors' tensors."""
    blob = open(os.path.join(directory, "model.safetensors"), "rb").read()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n].decode())
    return {k: blob[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}


p = Pipeline("prune")

# From scratch: the top layer or the bottom one goes.
for side, removed in (("top", [1]), ("bottom", [0])):
    code, r, err, _ = p.run(["prune_layers={n: 1, from: %s}" % side], sets=["train.epochs=2"])
    if c.check(code == 0, "prune %s: %s" % (side, err)):
        e = evidence(r, "prune_layers")
        c.check(e["layers_before"] == 2 and e["layers_after"] == 1 and e["removed_layers"] == removed,
                "prune %s: %r" % (side, e))
        c.check(e["params_after"] == r["model"]["params"] < e["params_before"], "params %r" % e)
        # one bert layer of C 32, F 64: 4 C^2 + 4 C (attention) + 2 C F + F + C (FFN) + 4 C (norms)
        c.check(e["params_before"] - e["params_after"] == 4 * 1024 + 128 + 2 * 2048 + 96 + 128,
                "one layer's parameters: %r" % e)
        c.check(r["model"]["layers"] == 1, "model.layers %r" % r["model"]["layers"])

# A trained checkpoint of 3 layers, loaded with its bottom layer removed.
base = p.out("base")
code, r, err, _ = p.run(sets=["model.layers=3"], out=base)
c.check(code == 0, "base run: %s" % err)
loaded = from_dir("prune-loaded", base, 1e-9)
pruned = loaded.out("pruned")
code, r, err, _ = loaded.run(["prune_layers={n: 1, from: bottom}"], out=pruned)
if c.check(code == 0, "loaded prune: %s" % err):
    e = evidence(r, "prune_layers")
    c.check(e["weights_loaded"] is True and e["layers_after"] == 2 and e["removed_layers"] == [0], "evidence %r" % e)
    c.check(config_json(pruned)["num_hidden_layers"] == 2, "config.json %r" % config_json(pruned))
    before, after = tensors(base), tensors(pruned)
    c.check(len(after) == len(before) - 16, "%d tensors after, %d before" % (len(after), len(before)))
    # every tensor trains for one epoch at a learning rate of 1e-9 (Adam moves each by about that):
    # each kept tensor must still match its source layer's to 1e-5 (another layer's differs by far more)
    worst = 0.0
    for name, data in after.items():
        src = name.replace("encoder.layer.1.", "encoder.layer.2.").replace("encoder.layer.0.", "encoder.layer.1.")
        a = struct.unpack("%df" % (len(data) // 4), data)
        b = struct.unpack("%df" % (len(before[src]) // 4), before[src])
        worst = max(worst, max(abs(x - y) for x, y in zip(a, b)))
    c.check(worst < 1e-5, "kept layers moved by %g from their source layers" % worst)

# ModernBERT cut from the bottom: layers 1 and 2 of 3 are local, and stay local.
mb = Pipeline("prune-mb", arch="modernbert", layers=3, epochs=1)
mbase = mb.out("base")
code, r, err, _ = mb.run(out=mbase)
c.check(code == 0, "modernbert base: %s" % err)
mbl = from_dir("prune-mb-loaded", mbase, 1e-3)
mout = mbl.out("pruned")
code, r, err, _ = mbl.run(["prune_layers={n: 1, from: bottom}"], out=mout)
if c.check(code == 0, "modernbert prune: %s" % err):
    cfg = config_json(mout)
    c.check(cfg["num_hidden_layers"] == 2 and cfg.get("layer_types") == ["sliding_attention"] * 2,
            "config.json %r" % cfg)
    c.check(any("attn_norm" in w for w in r["warnings"]), "warnings %r" % r["warnings"])
    code, _, err = run(["predict", mout, "--text", "free money now"])
    c.check(code == 0, "the pruned modernbert checkpoint does not load: %s" % err)

# Removing every layer is refused.
code, _, err, _ = p.run(["prune_layers=2"])
c.check(one_line(code, err) and "leaves none" in err, "prune all: %d %r" % (code, err))

# distill from the fine-tuned 3-layer directory: a 1-layer student (half, rounded down).
code, r, err, _ = p.run(["distill={teacher: %s, temperature: 2, alpha: 0.5}" % base])
if c.check(code == 0, "distill: %s" % err):
    e = evidence(r, "distill")
    c.check(e["student_layers"] == 1 and e["teacher_layers"] == 3 and r["model"]["layers"] == 1, "layers %r" % e)
    c.check(e["teacher_params"] > e["student_params"] == r["model"]["params"], "params %r" % e)
    c.check(e["teacher"] == base and e["tokenizer"].startswith(base), "teacher %r" % e)
    c.check(0 < e["distill_loss_share"] < 1 and e["distill_steps"] == r["train"]["steps"], "loss share %r" % e)
    c.check(r["metrics"]["f1"] > 0.5, "the student learnt nothing: %r" % r["metrics"])

# The unpruned model.from teaches its pruned self.
code, r, err, _ = loaded.run(["prune_layers=1", "distill"], sets=["train.lr=1e-3"])
if c.check(code == 0, "distill unpruned: %s" % err):
    e, pe = evidence(r, "distill"), evidence(r, "prune_layers")
    c.check(e["teacher"].startswith("unpruned") and e["teacher_params"] == pe["params_before"], "%r %r" % (e, pe))
    c.check(e["student_params"] == pe["params_after"], "student %r" % e)

# Teachers that cannot teach.
code, _, err, _ = p.run(["distill"])
c.check(one_line(code, err) and "model.from" in err, "unpruned from scratch: %d %r" % (code, err))
# a directory like base but without a classifier: an encoder, not a fine-tuned classifier
encoder = p.out("encoder")
os.makedirs(encoder)
for name in ("config.json", "tokenizer.json"):
    shutil.copy(os.path.join(base, name), encoder)
tensors_in, _ = deserialize(open(os.path.join(base, "model.safetensors"), "rb").read())
with open(os.path.join(encoder, "model.safetensors"), "wb") as f:
    f.write(serialize({k: v for k, v in tensors_in.items() if not k.startswith("classifier.")}))
code, _, err, _ = p.run(["distill=%s" % encoder])
c.check(one_line(code, err) and "classifier.weight" in err and "fine-tune" in err, "encoder teacher: %r" % err)
code, _, err, _ = p.run(["distill=%s" % p.out("nowhere")])
c.check(one_line(code, err) and "nowhere" in err, "missing teacher: %d %r" % (code, err))

sys.exit(c.close())
