"""Shared pieces of the sweep and search tests: a tiny pipeline on a small
labelled data set (a run takes a fraction of a second), experiment files, and
reading the run store back with Python's own sqlite3 module."""
import os
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pipeline"))
from pipeline_util import BIN, SANITIZE, Checks, run, texts, workdir, write_jsonl  # noqa: E402,F401

# One layer, a few epochs on 96 short texts: tenths of a second per run (more under ASan).
PIPELINE = """\
data: {format: jsonl, path: data.jsonl, split: [0.5, 0.25, 0.25], seed: 1}
tokenizer: {vocab_size: 120, min_frequency: 1}
model: {arch: bert, layers: 1, dim: 32, heads: 2, ffn: 64, max_len: 24}
train: {epochs: %d, batch: 8, lr: 3.0e-3, seed: 1}
eval: {batch: 16}
system: {threads: 1, meter: estimate, interval_ms: 0}
"""


def setup(name, experiment, epochs=10):
    """A fresh directory with data.jsonl, pipeline.yaml and the experiment
    file; returns (directory, experiment path)."""
    d = workdir(name)
    write_jsonl(os.path.join(d, "data.jsonl"), texts())
    with open(os.path.join(d, "pipeline.yaml"), "w") as f:
        f.write(PIPELINE % epochs)
    path = os.path.join(d, "experiment.yaml")
    with open(path, "w") as f:
        f.write(experiment)
    return d, path


def rows(db, sql, args=()):
    """Query results as dicts; the database is opened read-only."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, args)]
    finally:
        con.close()


def runs(db):
    return rows(db, "SELECT * FROM runs ORDER BY planned_order, id")


def processes_with(marker):
    """Pids of processes whose command line contains marker (a test's own
    directory), so a test sees only what it started."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker.encode() in f.read():
                    with open("/proc/%s/stat" % pid) as s:
                        if s.read().rsplit(")", 1)[1].split()[0] != "Z":
                            found.append(int(pid))
        except OSError:
            pass
    return found


def wait_gone(marker, timeout=30):
    """Waits until no process of the test is left; returns the ones that are."""
    end = time.time() + timeout
    while time.time() < end:
        left = processes_with(marker)
        if not left:
            return []
        time.sleep(0.05)
    return processes_with(marker)


def start(args, cwd=None):
    return subprocess.Popen([BIN] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")
