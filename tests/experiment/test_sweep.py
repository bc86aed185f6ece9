"""`greentune sweep` on a tiny pipeline: every planned run stored once, with
its stages, meter and metrics; overrides per variant take effect; an external
command is measured with its control-channel stages and metrics; runs that
fail are recorded (error, output tail) while the sweep goes on; a second
sweep has nothing to do; --retry-failed reruns the failed ones; `greentune
report` reads the result."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweeplib import Checks, processes_with, rows, run, runs, setup, wait_gone  # noqa: E402

c = Checks("test_sweep")

EXPERIMENT = """\
name: tiny
pipeline: pipeline.yaml
repeats: 2
seed: 5
idle_s: 0.2
baseline: V0
set: {train.epochs: 4}
variants:
  - {name: V0}
  - {name: T1, knobs: {threads: 1}}
  - {name: E1, set: {train.epochs: 1}}
  - {name: nodata, set: {data.path: missing.jsonl}}
  - {name: ext, command: [sh, -c, "echo start train > $GREENTUNE_CONTROL; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo stop train > $GREENTUNE_CONTROL; echo '{\\"f1\\": 0.75}' > $GREENTUNE_METRICS"]}
  - {name: flaky, command: [sh, -c, "if [ -e %s ]; then exit 0; fi; echo boom on stderr >&2; exit 3"]}
"""

d, _ = setup("sweep", "")
marker = os.path.join(d, "fixed")
path = os.path.join(d, "experiment.yaml")
with open(path, "w") as f:
    f.write(EXPERIMENT % marker)
db = os.path.join(d, "experiment.db")

rc, out, err = run(["sweep", path])
c.check(rc == 1, "first sweep: exit %d, want 1 (runs failed): %s" % (rc, err[-2000:]))
c.check("4 of 12 runs failed" in err and "--retry-failed" in err, "failure summary: %r" % err[-400:])
c.check("[12/12" in err, "a line per run, the last [12/12]: %r" % err[-800:])
c.check("tiny (" in out and "full report: greentune report" in out, "summary table: %r" % out)

r = runs(db)
c.check(len(r) == 12, "%d runs stored, want 12" % len(r))
c.check(len({(x["variant"], x["repeat"]) for x in r}) == 12, "a run stored twice")
by = {}
for x in r:
    by.setdefault(x["variant"], []).append(x)
for v in ("V0", "T1", "E1", "ext"):
    c.check(all(x["status"] == "done" and x["attempts"] == 1 for x in by[v]), "%s: %r" % (v, [
        (x["status"], x["attempts"], x["error"]) for x in by[v]]))
    c.check(all(x["meter"] == "estimate" and x["estimated"] == 1 and x["energy_j"] > 0 for x in by[v]),
            "%s: meter/energy %r" % (v, [(x["meter"], x["estimated"], x["energy_j"]) for x in by[v]]))
for v, words in (("nodata", "missing.jsonl"), ("flaky", "exited with status 3")):
    c.check(all(x["status"] == "failed" and words in (x["error"] or "") for x in by[v]),
            "%s: %r" % (v, [(x["status"], x["error"]) for x in by[v]]))
c.check(all("boom on stderr" in (x["stderr_tail"] or "") for x in by["flaky"]),
        "flaky: the output tail %r" % [x["stderr_tail"] for x in by["flaky"]])

# Pipeline runs: six stages that add up (with the record's "other") to the total; the override took effect.
for x in by["V0"] + by["E1"]:
    st = rows(db, "SELECT stage, energy_j FROM stages WHERE run_id = ?", (x["id"],))
    names = {s["stage"] for s in st}
    c.check({"data", "tokenize", "load", "train", "save", "eval"} <= names, "stages %r" % names)
    other = json.loads(x["result"])["other"]["energy_j"]
    c.check(abs(sum(s["energy_j"] for s in st) + other - x["energy_j"]) <= 1e-6 * x["energy_j"],
            "stored stages and other do not add up to the stored total")
epochs = {v: [len(json.loads(x["result"])["train"]["epochs"]) for x in by[v]] for v in ("V0", "E1")}
c.check(epochs == {"V0": [4, 4], "E1": [1, 1]}, "epochs per variant (set: overrides) %r" % epochs)
knobs = json.loads(by["T1"][0]["knobs"])
c.check(knobs and knobs[0]["name"] == "threads" and knobs[0]["params"] == {"n": 1}, "T1 knobs %r" % knobs)

# The external command: its control-channel task is a stage, its metrics are stored.
for x in by["ext"]:
    st = {s["stage"]: s["energy_j"] for s in rows(db, "SELECT stage, energy_j FROM stages WHERE run_id = ?",
                                                   (x["id"],))}
    c.check("train" in st, "ext stages %r" % st)
    c.check(x["f1"] == 0.75, "ext metrics f1 %r" % x["f1"])
    c.check(json.loads(x["result"])["command"][0] == "sh", "ext record keeps the command")

idle = rows(db, "SELECT * FROM idle")
c.check(len(idle) == 1 and idle[0]["meter"] == "estimate" and idle[0]["energy_j"] > 0, "idle %r" % idle)
variants = {v["name"]: v for v in rows(db, "SELECT * FROM variants")}
c.check(json.loads(variants["T1"]["knobs"]) == {"threads": {"n": 1}}, "stored knobs %r" % variants["T1"]["knobs"])
c.check(json.loads(variants["ext"]["command"])[0] == "sh", "stored command")

# Nothing left but the failed runs: a second sweep runs nothing.
rc, out, err = run(["sweep", path, "-q"])
c.check(rc == 1 and len(runs(db)) == 12, "second sweep: exit %d" % rc)
c.check(sum(x["attempts"] for x in runs(db)) == 12, "the second sweep ran something")
c.check(len(rows(db, "SELECT * FROM idle")) == 1, "idle measured again without runs to do")

# Fixed: --retry-failed reruns exactly the failed runs.
open(marker, "w").close()
rc, out, err = run(["sweep", path, "--retry-failed", "--db", db])
after = {(x["variant"], x["repeat"]): x for x in runs(db)}
c.check(rc == 1, "retry: exit %d (nodata still fails): %s" % (rc, err[-500:]))
c.check(all(after[("flaky", i)]["status"] == "done" and after[("flaky", i)]["attempts"] == 2 for i in (0, 1)),
        "flaky after retry: %r" % [(after[("flaky", i)]["status"], after[("flaky", i)]["attempts"]) for i in (0, 1)])
c.check(all(after[("nodata", i)]["attempts"] == 2 for i in (0, 1)), "nodata was not retried")
c.check(all(after[(v, i)]["attempts"] == 1 for v in ("V0", "T1", "E1", "ext") for i in (0, 1)),
        "a done run was redone")
c.check(after[("flaky", 0)]["error"] is None and after[("flaky", 0)]["stderr_tail"] is None,
        "a redone run keeps its old error")

# The report reads it: every variant, the failures and their first error.
rc, out, err = run(["report", db, "--format", "json"])
rep = json.loads(out) if rc == 0 else {}
c.check(rc == 0, "report: %s" % err)
names = [v["name"] for v in rep.get("variants", [])]
c.check(names == ["V0", "T1", "E1", "nodata", "ext", "flaky"], "report variants %r" % names)
c.check(rep.get("baseline") == "V0" and rep.get("estimated") is True, "report header %r" % {
    k: rep.get(k) for k in ("baseline", "estimated", "meter")})

# timeout_s: a run that hangs is stopped (its command too) and recorded failed.
d2, path2 = setup("timeout", "name: t\ntimeout_s: 0.5\nvariants: [{name: hang, command: [sleep, '30.123']}]\n")
started = time.time()
rc, out, err = run(["sweep", path2, "-q"])
took = time.time() - started
r = runs(os.path.join(d2, "experiment.db"))
c.check(rc == 1 and r and r[0]["status"] == "failed" and "timeout_s of 0.5 s" in (r[0]["error"] or ""),
        "timeout: exit %d, %r" % (rc, [(x["status"], x["error"]) for x in r]))
c.check(took < 20, "the hung command was not stopped: the sweep took %.1f s" % took)
c.check(not wait_gone(d2) and not processes_with("sleep\0" + "30.123"), "the hung command outlived the run")

sys.exit(c.close())
