"""Bad parameters and knobs that cannot apply: each is one line on stderr and
a non-zero exit, never a silent no-op.

- out of range, wrong type, unknown choice, parameters that contradict each
  other, conflicting knobs: refused before anything runs (exit 2);
- a knob that would change nothing in this pipeline (seq_trim longer than the
  model's sequences or than every sample, early_stop without a validation split,
  dynamic_batch that never grows, subsample that drops a class): the run fails
  with one line (exit 1) and `--dry-run` says the same where it can know;
- `--dry-run` describes what every knob of this area would change.
"""
import os
import sys

from knob_runs import Workdir, main_of, one_line_failure, pipeline_util

BAD_SPECS = [
    ("tokenizer_fast=0", 'knob "tokenizer_fast": sample 0 is out of range [1, 100000]'),
    ("seq_trim=4", 'knob "seq_trim": max_len 4 is out of range [8, 65536]'),
    ("seq_trim=abc", 'knob "seq_trim": max_len must be an integer, got "abc"'),
    ("dynamic_padding={bucket: maybe}", 'knob "dynamic_padding": bucket must be true or false, got maybe'),
    ("dedup={normalize: 3}", 'knob "dedup": normalize must be true or false, got 3'),
    ("subsample=1.5", 'knob "subsample": fraction 1.5 is out of range [0.01, 0.99]'),
    ("subsample={strategy: median}", 'strategy "median" is not one of random, stratified, length'),
    ("optimizer=lamb", 'kind "lamb" is not one of adamw8bit, sgd, adafactor'),
    ("optimizer={kind: sgd, momentum: 2}", "momentum 2 is out of range"),
    ("optimizer={kind: adamw8bit, momentum: 0.5}", "momentum is sgd's parameter, not adamw8bit's"),
    ("optimizer={kind: sgd, lr: fast}", "lr must be a number"),
    ("bf16=3", 'knob "bf16" takes no value (got 3); write just bf16'),
    ("grad_accum=1", 'knob "grad_accum": steps 1 is out of range [2, 1024]'),
    ("grad_accum=2.5", "steps must be an integer"),
    ("early_stop={patience: 0}", "patience 0 is out of range"),
    ("early_stop={metric: auc}", 'metric "auc" is not one of loss, f1, mcc, accuracy'),
    ("early_stop={min_delta: -1}", "min_delta -1 is out of range"),
    ("dynamic_batch={start: 64, max: 8}", 'knob "dynamic_batch": start (64) must be below max (8)'),
    ("dynamic_batch={growth: 1}", "growth 1 is out of range"),
    ("grad_sparsify=2", 'knob "grad_sparsify": threshold 2 is out of range'),
    ("grad_sparsify=none", "threshold must be a number"),
    ("prefetch=0", 'knob "prefetch": depth 0 is out of range [1, 16]'),
    ("prefetch={depth: 2, size: 4}", '"size" is not a parameter'),
]

CANNOT_APPLY = [
    # (knobs, sets, the run's message, the dry run's message or None where only the run can know)
    (["seq_trim=64"], [], 'knob "seq_trim": max_len 64 is not below model.max_len 24',
     'knob "seq_trim": max_len 64 is not below model.max_len 24'),
    (["seq_trim=20"], [], 'knob "seq_trim": no training sample is longer than max_len 20', None),
    (["early_stop"], ["data.split=[0.5, 0, 0.5]"], 'knob "early_stop": data.split has no validation share',
     'knob "early_stop": data.split has no validation share'),
    (["dynamic_batch={start: 8, max: 16, every: 1000}"], [], "the first growth comes after 1000", None),
    (["subsample={fraction: 0.01, strategy: random}"], [], 'knob "subsample": no training sample of class', None),
]


def test_bad_parameters(c):
    w = Workdir("failures")
    for spec, expect in BAD_SPECS:
        rc, rec, err = w.run([spec])
        one_line_failure(c, spec, rc, err, 2, expect)
    rc, rec, err = w.run(["dynamic_batch={start: 2, max: 8}", "grad_accum=2"])
    one_line_failure(c, "dynamic_batch + grad_accum", rc, err, 2, 'knobs "dynamic_batch" and "grad_accum" conflict')
    rc, rec, err = w.run(["subsample", "subsample=0.5"])
    one_line_failure(c, "subsample twice", rc, err, 2, 'knob "subsample" is given twice')


def test_cannot_apply(c):
    w = Workdir("cannot")
    for knobs, sets, expect, dry in CANNOT_APPLY:
        rc, rec, err = w.run(knobs, sets)
        one_line_failure(c, " ".join(knobs), rc, err, 1, expect)
        rc, rec, err = w.run(knobs, sets, extra=["--dry-run"])
        if dry:
            one_line_failure(c, "--dry-run " + " ".join(knobs), rc, err, 1, dry)
        else:
            c.check(rc == 0, "--dry-run %s: exit %d (%s)" % (knobs, rc, err))
    # A split from files with an empty validation file: only the run can see it.
    w = Workdir("cannot-files", split=(range(0, 60), [], range(60, 96)))
    rc, rec, err = w.run(["early_stop"])
    one_line_failure(c, "early_stop, split files", rc, err, 1, 'knob "early_stop": the validation split is empty')


def paragraphs(out):
    """{knob: its paragraph} of a dry run's output (a paragraph: a line "name [..."
    and the indented lines after it)."""
    found, name = {}, None
    for line in out.splitlines():
        if not line.startswith(" ") and " [" in line:
            name = line.split(" [")[0]
            found[name] = ""
        elif name and line.startswith("    "):
            found[name] += line + "\n"
        else:
            name = None
    return found


def test_dry_run_describes(c):
    w = Workdir("dryrun")
    knobs = ["tokenizer_fast", "seq_trim=8", "dynamic_padding", "dedup", "subsample=0.5", "optimizer=adafactor",
             "bf16", "early_stop", "dynamic_batch={start: 2, max: 8}", "grad_sparsify", "prefetch", "grad_accum=3"]
    args = ["run", w.pipeline, "--dry-run"]
    for k in knobs[:-1]:  # grad_accum conflicts with dynamic_batch: a run of its own
        args += ["--knob", k]
    rc, out, err = pipeline_util.run(args, cwd=w.dir)
    c.check(rc == 0 and err == "", "dry run: %d %s" % (rc, err))
    rc2, out2, err2 = pipeline_util.run(["run", w.pipeline, "--dry-run", "--knob", "grad_accum=3"], cwd=w.dir)
    found = paragraphs(out)
    found.update(paragraphs(out2))
    for k in knobs:
        name = k.split("=")[0]
        c.check("    would: " in found.get(name, ""), "the dry run says nothing about what %s would change" % name)
    for phrase in ("keep 8 of the 24 tokens per sample", "train on 50 % of the training split",
                   "per-row and per-column second moments", "start with batches of 2",
                   "build up to 2 training batches ahead", "|g| < 0.0001"):
        c.check(phrase in out, "dry run lacks %r" % phrase)
    c.check("one optimizer step per 3 micro-batches of 8: an effective batch of 24" in out2, "grad_accum plan")
    c.check(not any(n.startswith("run") for n in os.listdir(w.dir)), "the dry run wrote a record")


if __name__ == "__main__":
    sys.exit(main_of("test_knob_failures", [test_bad_parameters, test_cannot_apply, test_dry_run_describes]))
