"""`greentune run` end to end on a tiny pipeline (seconds): the run record's
contract keys (design.md), stage energies that add up to the total with
"other", metrics that agree with the confusion matrix (recomputed with
scikit-learn) and with the per-sample predictions, a checkpoint that reloads
through `greentune predict` with the eval stage's predictions, determinism
(same seed and threads: identical losses and metrics), and --dry-run."""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_util import Checks, require, run, setup, texts, workdir  # noqa: E402

skm = require("sklearn.metrics")

STAGES = ["data", "tokenize", "load", "train", "save", "eval"]
c = Checks("test_run_e2e")


def number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_forecast(r):
    """The train stage reports its progress, so the energy result carries the
    forecast made at 10 % of the steps and its error against the measurement."""
    f = r.get("energy", {}).get("tasks", {}).get("train", {}).get("forecast")
    if not c.check(isinstance(f, dict), "no tasks.train.forecast in %r" % r.get("energy", {}).get("tasks", {})):
        return
    c.check(0.1 <= f.get("fraction", 0) < 0.2, "forecast at %r, want the first report from 10 %%" % f.get("fraction"))
    c.check(number(f.get("energy_error_pct")) and number(f.get("duration_error_pct")), "forecast errors %r" % f)


def check_contract(r):
    for key in ["stages", "total", "meter", "estimated", "metrics", "knobs", "model", "other"]:
        c.check(key in r, "run record lacks %r" % key)
    c.check(list(r["stages"]) == STAGES, "stages %r" % list(r["stages"]))
    for name in STAGES + ["total", "other"]:
        w = r["stages"][name] if name in STAGES else r[name]
        c.check(number(w["energy_j"]) and number(w["duration_s"]), "%s: %r" % (name, w))
        c.check(all(number(w["components"][k]) for k in ("cpu_j", "dram_j", "gpu_j")), "%s components" % name)
    for name in STAGES:
        c.check(r["stages"][name]["energy_j"] >= 0 and r["stages"][name]["duration_s"] > 0, "stage %s: %r"
                % (name, r["stages"][name]))
    c.check(isinstance(r["meter"], str) and r["meter"] == "estimate", "meter %r" % r["meter"])
    c.check(r["estimated"] is True, "estimated %r" % r["estimated"])
    m = r["metrics"]
    for key in ["accuracy", "precision", "recall", "f1", "f1_weighted", "mcc"]:
        c.check(number(m.get(key)), "metrics.%s %r" % (key, m.get(key)))
    c.check(len(m["confusion"]) == 2 and all(len(row) == 2 for row in m["confusion"]), "confusion %r" % m["confusion"])
    c.check(r["knobs"] == [], "knobs %r" % r["knobs"])
    for key in ["params", "trainable_params", "layers"]:
        c.check(number(r["model"].get(key)), "model.%s" % key)
    c.check(r["model"]["layers"] == 1 and r["model"]["params"] > 0, "model %r" % r["model"])
    c.check(r["model"]["trainable_params"] == r["model"]["params"], "everything trains without knobs")
    split = r["data"]["split"]
    c.check(r["data"]["samples"] == 96 and sum(split[p]["samples"] for p in split) == 96, "data %r" % r["data"])
    c.check(split["test"]["samples"] == r["eval"]["samples"] == sum(map(sum, r["metrics"]["confusion"])),
            "test samples: split %r, eval %r" % (split["test"], r["eval"]))
    c.check(len(r["train"]["epochs"]) == 20, "20 epochs recorded")
    c.check(isinstance(r["warnings"], list), "warnings is a list")
    c.check(r["machine"]["threads"] == 1, "machine.threads %r" % r["machine"].get("threads"))


def check_sums(r):
    """Stages plus other are the total: nothing measured is left out or counted twice."""
    for key in ("energy_j", "duration_s"):
        parts = sum(r["stages"][s][key] for s in STAGES) + r["other"][key]
        c.check(abs(parts - r["total"][key]) <= 1e-9 * max(1.0, r["total"][key]),
                "%s: stages + other = %.12g, total %.12g" % (key, parts, r["total"][key]))
        c.check(r["other"][key] >= -1e-9 * max(1.0, r["total"][key]), "other.%s %g < 0" % (key, r["other"][key]))
    for comp in ("cpu_j", "dram_j", "gpu_j"):
        parts = sum(r["stages"][s]["components"][comp] for s in STAGES) + r["other"]["components"][comp]
        c.check(abs(parts - r["total"]["components"][comp]) <= 1e-9 * max(1.0, r["total"]["energy_j"]),
                "components.%s do not add up" % comp)


def check_metrics(r, predictions):
    m = r["metrics"]
    (tn, fp), (fn, tp) = m["confusion"]
    y = [0] * (tn + fp) + [1] * (fn + tp)
    p = [0] * tn + [1] * fp + [0] * fn + [1] * tp
    want = {"accuracy": skm.accuracy_score(y, p), "precision": skm.precision_score(y, p, zero_division=0),
            "recall": skm.recall_score(y, p, zero_division=0), "f1": skm.f1_score(y, p, zero_division=0),
            "f1_weighted": skm.f1_score(y, p, average="weighted", zero_division=0),
            "mcc": skm.matthews_corrcoef(y, p)}
    for key, value in want.items():
        c.check(abs(m[key] - value) < 1e-12, "metrics.%s %r, sklearn on the confusion matrix %r" % (key, m[key], value))
    labels = [x["label"] for x in predictions]
    preds = [x["predicted"] for x in predictions]
    c.check(skm.confusion_matrix(labels, preds, labels=[0, 1]).tolist() == m["confusion"],
            "the predictions file's confusion matrix differs from the record's")
    # Training learned the task (an untrained model predicts one class: MCC 0).
    c.check(m["mcc"] > 0.3 and r["eval"]["predicted_classes"] == 2, "the model did not learn: %r" % m)


def check_checkpoint(d, out, r, predictions):
    c.check(sorted(os.listdir(out)) == ["config.json", "model.safetensors", "tokenizer.json"],
            "checkpoint files %r" % sorted(os.listdir(out)))
    leftovers = [f for f in os.listdir(d) if ".tmp-" in f]
    c.check(not leftovers, "temporary directories left behind: %r" % leftovers)
    config = json.load(open(os.path.join(out, "config.json")))
    c.check(config["model_type"] == "bert" and config["id2label"] == {"0": "0", "1": "1"}, "config %r" % config)
    tok = json.load(open(os.path.join(out, "tokenizer.json")))
    c.check(tok["truncation"]["max_length"] == 24, "tokenizer.json truncation %r" % tok.get("truncation"))
    # Reload through predict: the same labels as the eval stage, logits within float noise.
    corpus = texts()
    chosen = [corpus[int(x["id"])][0] for x in predictions]
    with open(os.path.join(d, "test-texts.txt"), "w") as f:
        f.write("\n".join(chosen) + "\n")
    rc, so, se = run(["predict", out, "--input", os.path.join(d, "test-texts.txt"), "--json",
                      os.path.join(d, "predict.json")])
    if not c.check(rc == 0, "predict failed: %s" % se.strip()):
        return
    got = json.load(open(os.path.join(d, "predict.json")))["predictions"]
    c.check(len(got) == len(predictions) == r["eval"]["samples"], "predict gave %d predictions" % len(got))
    for g, e in zip(got, predictions):
        c.check(g["label"] == e["predicted"], "predict says %d, eval said %d for %r" % (g["label"], e["predicted"],
                                                                                         g["text"]))
        c.check(max(abs(a - b) for a, b in zip(g["logits"], e["logits"])) < 1e-4,
                "logits %r vs eval %r" % (g["logits"], e["logits"]))
        c.check(abs(sum(g["probs"]) - 1) < 1e-5 and g["tokens"][0] == "[CLS]" and g["tokens"][-1] == "[SEP]",
                "probs %r tokens %r" % (g["probs"], g["tokens"]))
    c.check(len(so.strip().splitlines()) == len(got), "predict prints one line per text")


def losses(r):
    return [(e["loss"], e.get("val_loss")) for e in r["train"]["epochs"]]


def main():
    d = workdir("e2e")
    pipeline = setup(d)
    out = os.path.join(d, "model")
    rc, so, se = run(["run", pipeline, "--json", os.path.join(d, "run.json"), "--out", out, "--predictions",
                      os.path.join(d, "predictions.jsonl")])
    if not c.check(rc == 0, "run failed (%d): %s" % (rc, se)):
        return c.close()
    r = json.load(open(os.path.join(d, "run.json")))
    predictions = [json.loads(line) for line in open(os.path.join(d, "predictions.jsonl"))]
    check_contract(r)
    check_forecast(r)
    # the progress line shows the train stage's forecast once there is one (the last line: the run's end)
    shown = [line for line in se.splitlines() if line.startswith("train: ") and "train ~ " in line]
    c.check(shown and shown[-1].rstrip().endswith("J estimated"), "no forecast in the train progress: %r" % se[-800:])
    check_sums(r)
    check_metrics(r, predictions)
    check_checkpoint(d, out, r, predictions)
    # The summary labels every energy figure with its source.
    energy_lines = [line for line in se.splitlines() if " J " in line]
    c.check(len(energy_lines) >= 8 and all("estimated" in line for line in energy_lines),
            "summary energy lines without their source: %r" % energy_lines)

    # Determinism: same seed and threads, identical losses and metrics.
    rc, so, se = run(["run", pipeline, "--json", os.path.join(d, "again.json"), "-q"])
    if c.check(rc == 0, "second run failed: %s" % se):
        again = json.load(open(os.path.join(d, "again.json")))
        c.check(losses(again) == losses(r), "losses differ between identical runs:\n%r\n%r" % (losses(r), losses(again)))
        c.check(again["metrics"] == r["metrics"], "metrics differ between identical runs")
        c.check(again["checkpoint"] is None, "no --out: no checkpoint kept")
    rc, so, se = run(["run", pipeline, "--set", "train.seed=2", "--json", os.path.join(d, "seed2.json"), "-q"])
    if c.check(rc == 0, "seed 2 failed: %s" % se):
        c.check(losses(json.load(open(os.path.join(d, "seed2.json")))) != losses(r), "train.seed changes nothing")

    # --dry-run: the plan, nothing run or written.
    before = sorted(os.listdir(d))
    rc, so, se = run(["run", pipeline, "--dry-run", "--out", os.path.join(d, "dry"), "--json",
                      os.path.join(d, "dry.json")])
    c.check(rc == 0 and "dry run" in so and "bert from scratch: 1 layers" in so, "dry run: %d %s %s" % (rc, so, se))
    c.check(sorted(os.listdir(d)) == before, "the dry run wrote files")
    return c.close()


if __name__ == "__main__":
    sys.exit(main())
