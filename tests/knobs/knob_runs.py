"""Running the tiny pipeline with knobs, for the knob tests: a working
directory with the data and a pipeline file, `greentune run` with --knob
and --set, the run record back, and the knob's evidence out of it."""
import json
import os
import subprocess
import sys

SOURCE = os.environ.get("GREENTUNE_SOURCE_DIR", ".")
sys.path.insert(0, os.path.join(SOURCE, "tests", "pipeline"))
import pipeline_util  # noqa: E402

BIN = pipeline_util.BIN
TINY_PIPELINE = pipeline_util.TINY_PIPELINE
Checks = pipeline_util.Checks
texts = pipeline_util.texts


class Workdir:
    """A directory holding data.jsonl and pipeline.yaml (and split files when given)."""

    def __init__(self, name, pipeline=TINY_PIPELINE, pairs=None, split=None):
        self.dir = pipeline_util.workdir(name)
        self.pairs = texts() if pairs is None else pairs
        if split is not None:
            # Record numbers per part: the test knows exactly which samples train.
            for part, ids in zip(("train", "val", "test"), split):
                with open(os.path.join(self.dir, part + ".txt"), "w") as f:
                    f.write("".join("%d\n" % i for i in ids))
            pipeline = pipeline.replace("split: [0.5, 0.25, 0.25], seed: 1",
                                        "split_files: {train: train.txt, val: val.txt, test: test.txt}")
        self.pipeline = pipeline_util.setup(self.dir, pipeline, self.pairs)
        self.runs = 0

    def run(self, knobs=(), sets=(), extra=()):
        """(exit code, record or None, stderr) of one run."""
        self.runs += 1
        out = os.path.join(self.dir, "run%d.json" % self.runs)
        args = ["run", self.pipeline, "-q", "--json", out]
        for k in knobs:
            args += ["--knob", k]
        for s in sets:
            args += ["--set", s]
        rc, _, err = pipeline_util.run(args + list(extra), cwd=self.dir)
        record = None
        if rc == 0 and os.path.exists(out):
            with open(out) as f:
                record = json.load(f)
        return rc, record, err


def evidence(record, name):
    for k in record["knobs"]:
        if k["name"] == name:
            return k["evidence"]
    raise KeyError(name)


def one_line_failure(checks, what, rc, err, code, expect):
    """The run failed with exit `code` and one line on stderr containing expect."""
    checks.check(rc == code, "%s: exit %d, expected %d (stderr %r)" % (what, rc, code, err))
    lines = [line for line in err.splitlines() if line.strip()]
    checks.check(len(lines) == 1 and lines[0].startswith("greentune: "),
                 "%s: stderr is not one line: %r" % (what, err))
    checks.check(expect in err, "%s: stderr %r lacks %r" % (what, err, expect))


def main_of(name, tests):
    checks = Checks(name)
    for test in tests:
        test(checks)
    return checks.close()
