"""Experiment files: every mistake is one line naming file:line:column, exit
status 2, before anything runs (no database appears); --dry-run prints the
plan, whose randomized order is recomputed here from the documented rule."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweeplib import Checks, run, setup  # noqa: E402

c = Checks("test_experiment_file")

HEAD = "name: e\npipeline: pipeline.yaml\n"
CASES = [
    # (what, experiment text, the line it must name, words the message must hold)
    ("unknown key", HEAD + "repeat: 2\nvariants: [{name: A}]\n", 3, ['repeat', 'did you mean "repeats"']),
    ("unknown variant key", HEAD + "variants:\n  - {name: A}\n  - {name: B, knob: {threads: 1}}\n", 5,
     ['knob', 'did you mean "knobs"']),
    ("duplicate variant", HEAD + "variants:\n  - {name: A}\n  - {name: A}\n", 5, ["'A' is defined twice", ":4:"]),
    ("unknown baseline", HEAD + "baseline: Z\nvariants: [{name: A}, {name: B}]\n", 3,
     ["'Z' is not a variant", "A, B"]),
    ("missing pipeline", "pipeline: nothere.yaml\nvariants: [{name: A}]\n", 1, ["nothere.yaml", "No such file"]),
    ("unknown knob", HEAD + "variants:\n  - {name: A}\n  - {name: B, knobs: {seq_trimm: 64}}\n", 5,
     ['seq_trimm', 'did you mean "seq_trim"']),
    ("knob out of range", HEAD + "variants:\n  - {name: A}\n  - {name: B, knobs: {seq_trim: 2}}\n", 5,
     ["seq_trim", "out of range"]),
    ("conflicting knobs", HEAD + "variants:\n  - {name: A}\n  - {name: B, knobs: {attention: flash, fused: true}}\n",
     5, ["conflict"]),
    ("bad override", HEAD + "variants:\n  - {name: A}\n  - {name: B, set: {data.limt: 5}}\n", 5,
     ["variant 'B'", "data.limt", 'did you mean "limit"']),
    ("bad common override", HEAD + "set: {train.lr: abc}\nvariants: [{name: A}]\n", 3, ["train.lr", "number"]),
    ("command with knobs", HEAD + "variants:\n  - {name: A, command: [echo], knobs: {bf16: true}}\n", 4,
     ["external command takes no knobs"]),
    ("no variants", HEAD + "variants: []\n", 3, ["list of variants"]),
    ("bad order", HEAD + "order: random\nvariants: [{name: A}]\n", 3, ['"random"', "randomized, sequential"]),
    ("bad repeats", HEAD + "repeats: 0\nvariants: [{name: A}]\n", 3, ["repeats"]),
    ("command not a list", HEAD + "variants:\n  - {name: A, command: python3 train.py}\n", 4, ["list of strings"]),
]

for what, text, line, words in CASES:
    d, path = setup("expfile", text)
    rc, out, err = run(["sweep", path])
    lines = err.strip().splitlines()
    c.check(rc == 2, "%s: exit %d, want 2 (%s)" % (what, rc, err.strip()))
    c.check(len(lines) == 1, "%s: %d lines on stderr: %r" % (what, len(lines), err))
    msg = lines[0] if lines else ""
    c.check(re.search(r"experiment\.yaml:%d:\d+: " % line, msg) is not None,
            "%s: the message does not name experiment.yaml:%d: %r" % (what, line, msg))
    for w in words:
        c.check(w in msg, "%s: %r not in %r" % (what, w, msg))
    c.check(not os.path.exists(os.path.join(d, "experiment.db")), "%s: a database was created" % what)


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & (2**64 - 1)
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return state, z ^ (z >> 31)


def expected_order(names, repeats, seed):
    """docs/experiments.md: per round r a Fisher-Yates shuffle (from the back)
    driven by splitmix64 seeded with seed ^ (0xd1b54a32d192ed03 * (r + 1))."""
    order = []
    for r in range(repeats):
        state = seed ^ ((0xD1B54A32D192ED03 * (r + 1)) & (2**64 - 1))
        rnd = list(names)
        for i in range(len(rnd), 1, -1):
            state, x = splitmix64(state)
            j = x % i
            rnd[i - 1], rnd[j] = rnd[j], rnd[i - 1]
        order += ["%s#%d" % (n, r + 1) for n in rnd]
    return order


names = ["V0", "T1", "T2", "S", "U", "W"]
text = HEAD + "repeats: 3\nseed: 42\nvariants:\n" + "".join("  - {name: %s}\n" % n for n in names)
d, path = setup("dryrun", text)
rc, out, err = run(["sweep", path, "--dry-run"])
c.check(rc == 0, "dry run: exit %d: %s" % (rc, err))
m = re.search(r"^  order\s+(.*)$", out, re.M)
got = m.group(1).split() if m else []
c.check(got == expected_order(names, 3, 42), "dry-run order %r, want %r" % (got, expected_order(names, 3, 42)))
c.check("6 variants x 3 repeats = 18 runs" in out, "plan line: %r" % out[:200])
c.check(not os.path.exists(os.path.join(d, "experiment.db")), "--dry-run created the database")

sys.exit(c.close())
