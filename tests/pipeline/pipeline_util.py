"""Shared pieces of the pipeline tests: a small labelled data set whose classes
a tiny model separates in a fraction of a second, pipeline files, and running
the greentune binary."""
import importlib
import json
import os
import random
import subprocess
import tempfile

BIN = os.environ.get("GREENTUNE_BIN", "greentune")
SOURCE = os.environ.get("GREENTUNE_SOURCE_DIR", ".")
SANITIZE = os.environ.get("GREENTUNE_SANITIZE", "0") == "1"

SPAM = ["free", "money", "click", "here", "win", "offer", "cash", "prize"]
HAM = ["energy", "stage", "train", "split", "data", "code", "meeting", "report"]
FILLER = ["the", "and", "to", "is", "of", "it", "we", "a", "in", "at"]

# A model of one layer learns this in about 100 steps (a few hundredths of a second).
TINY_PIPELINE = """\
data: {format: jsonl, path: data.jsonl, split: [0.5, 0.25, 0.25], seed: 1}
tokenizer: {vocab_size: 120, min_frequency: 1}
model: {arch: bert, layers: 1, dim: 32, heads: 2, ffn: 64, max_len: 24}
train: {epochs: 20, batch: 8, lr: 3.0e-3, seed: 1}
eval: {batch: 16}
system: {threads: 1, meter: estimate}
"""


def require(module):
    """Imports a test dependency (sklearn.metrics, torch), installing the
    Debian packages first when it is missing: a missing one never skips."""
    try:
        return importlib.import_module(module)
    except ImportError:
        print("%s missing: running scripts/install-deps.sh" % module)
        subprocess.run([os.path.join(SOURCE, "scripts", "install-deps.sh")], check=True)
        return importlib.import_module(module)


def texts(n=96, seed=3, noise=0.1):
    """(text, label) pairs: a third are spam-like, and a share `noise` of the
    labels is flipped so the metrics are not all perfect."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = int(i % 3 == 0)
        words = [rng.choice(SPAM if label else HAM) for _ in range(rng.randint(2, 4))]
        words += [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        rng.shuffle(words)
        if rng.random() < noise:
            label = 1 - label
        out.append((" ".join(words), label))
    return out


def write_jsonl(path, pairs):
    with open(path, "w") as f:
        for text, label in pairs:
            f.write(json.dumps({"text": text, "label": label}) + "\n")


def workdir(prefix):
    return tempfile.mkdtemp(prefix="greentune-%s-" % prefix)


def setup(directory, pipeline=TINY_PIPELINE, pairs=None):
    """Writes data.jsonl and pipeline.yaml into directory; returns the pipeline's path."""
    write_jsonl(os.path.join(directory, "data.jsonl"), texts() if pairs is None else pairs)
    path = os.path.join(directory, "pipeline.yaml")
    with open(path, "w") as f:
        f.write(pipeline)
    return path


def run(args, cwd=None, timeout=300):
    """Runs greentune with args; returns (exit code, stdout, stderr)."""
    p = subprocess.run([BIN] + args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       errors="replace")
    return p.returncode, p.stdout, p.stderr


class Checks:
    """Collects failures so one run shows all of them."""

    def __init__(self, name):
        self.name = name
        self.failures = 0

    def check(self, ok, message):
        if not ok:
            self.failures += 1
            print("FAIL %s: %s" % (self.name, message))
        return ok

    def close(self, note=""):
        print("%s: %s%s" % (self.name, "ok" if not self.failures else "%d failures" % self.failures,
                            " (%s)" % note if note else ""))
        return 1 if self.failures else 0
