"""Running the tiny pipeline with knobs: the record, a knob's evidence, the
per-sample predictions and saved checkpoints (the knob tests' shared pieces)."""
import json
import os

from pipeline_util import run, setup, workdir

# Two layers, so that pruning, checkpointing and a half-size student exist.
TWO_LAYERS = """\
data: {format: jsonl, path: data.jsonl, split: [0.5, 0.25, 0.25], seed: 1}
tokenizer: {vocab_size: 120, min_frequency: 1}
model: {arch: %s, layers: %d, dim: 32, heads: 2, ffn: 64, max_len: 24}
train: {epochs: %d, batch: 8, lr: 3.0e-3, seed: 1}
eval: {batch: 16}
system: {threads: 1, meter: estimate}
"""

# Fine-tuning a model directory (its tokenizer comes with it).
FROM_DIR = """\
data: {format: jsonl, path: data.jsonl, split: [0.5, 0.25, 0.25], seed: 1}
model: {from: %s}
train: {epochs: 1, batch: 8, lr: %g, seed: 1}
system: {threads: 1, meter: estimate}
"""


class Pipeline:
    """A work directory with the tiny data set and a pipeline file."""

    def __init__(self, prefix, arch="bert", layers=2, epochs=20, text=None):
        self.dir = workdir(prefix)
        self.path = setup(self.dir, text or TWO_LAYERS % (arch, layers, epochs))
        self.runs = 0

    def run(self, knobs=(), sets=(), out=None, extra=()):
        """(exit code, record or None, stderr, predictions or None)."""
        self.runs += 1
        rec = os.path.join(self.dir, "run%d.json" % self.runs)
        pred = os.path.join(self.dir, "pred%d.jsonl" % self.runs)
        args = ["run", self.path, "-q", "--json", rec, "--predictions", pred]
        for k in knobs:
            args += ["--knob", k]
        for s in sets:
            args += ["--set", s]
        if out:
            args += ["--out", out]
        code, _, err = run(args + list(extra), cwd=self.dir)
        record = json.load(open(rec)) if code == 0 else None
        preds = [json.loads(line) for line in open(pred)] if code == 0 else None
        return code, record, err, preds

    def out(self, name):
        return os.path.join(self.dir, name)


def from_dir(prefix, model_dir, lr):
    """A pipeline that trains model_dir's model for one epoch at lr."""
    return Pipeline(prefix, text=FROM_DIR % (model_dir, lr))


def evidence(record, name):
    for k in record["knobs"]:
        if k["name"] == name:
            return k["evidence"]
    raise KeyError(name)


def one_line(code, err):
    """A refusal: non-zero exit and one line on stderr that starts with greentune:."""
    lines = [line for line in err.splitlines() if line.strip()]
    return code != 0 and len(lines) == 1 and lines[0].startswith("greentune: ")


def config_json(directory):
    return json.load(open(os.path.join(directory, "config.json")))


def logits(preds):
    return [p["logits"] for p in preds]


def max_diff(a, b):
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def scale(a):
    return max(abs(x) for row in a for x in row)
