"""`mpirun -n 3 greentune sweep`: rank 0 keeps the database, ranks 1 and 2
run the runs; the database ends with the same content as a sweep in one
process — the same runs, each done exactly once, the same metrics, knobs,
stages and training curves (energy readings aside) — with the node recorded
per run and the idle power measured on the node that runs them. While the
runs run, only rank 0 has the database open (a run looks at every process's
open files). Ctrl-C stops it without failing a run, and the same command
finishes it. Then, with workers on two played nodes, runs on different nodes
run side by side while runs on one node never overlap unless
--runs-per-node allows it."""
import json
import os
import signal
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpilib import BIN, MPIEXEC, Checks, alone, finish, mpirun, require_mpi, rows, setup, wait_for  # noqa: E402

require_mpi("test_sweep_mpi")
c = Checks("test_sweep_mpi")

EXPERIMENT = """\
name: same
pipeline: pipeline.yaml
repeats: 2
seed: 7
idle_s: 0.2
baseline: V0
variants:
  - {name: V0}
  - {name: E2, set: {train.epochs: 2}}
  - {name: T1, knobs: {threads: 1}}
  - {name: ext, command: [sh, -c, "echo start train > $GREENTUNE_CONTROL; echo stop train > $GREENTUNE_CONTROL; echo '{\\"f1\\": 0.5}' > $GREENTUNE_METRICS"]}
  - {name: bad, set: {data.path: missing.jsonl}}
  - {name: own, command: [%(python)s, %(holders)s]}
"""

# Run as the "own" variant: which processes hold a database of the test's
# directory open (the file itself or its journal), by the MPI rank they were
# started as (their original environment keeps OMPI_COMM_WORLD_RANK; "-" for
# a process mpirun did not start). One JSON line per run.
HOLDERS = """\
import json, os, sys
d = %(dir)r
found = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fds = os.listdir("/proc/%%s/fd" %% pid)
    except OSError:
        continue
    for fd in fds:
        try:
            target = os.readlink("/proc/%%s/fd/%%s" %% (pid, fd))
        except OSError:
            continue
        if os.path.dirname(target) == d and ".db" in os.path.basename(target):
            try:
                env = open("/proc/%%s/environ" %% pid, "rb").read().split(b"\\0")
            except OSError:
                env = []
            rank = [e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"OMPI_COMM_WORLD_RANK=")]
            db = os.path.basename(target).split(".db")[0] + ".db"
            found.setdefault(db, set()).add(rank[0] if rank else "-")
with open(os.path.join(d, "holders.log"), "a") as f:
    f.write(json.dumps({db: sorted(ranks) for db, ranks in found.items()}) + "\\n")
"""

d = os.path.realpath(setup("sweep-mpi", epochs=4))
with open(os.path.join(d, "holders.py"), "w") as f:
    f.write(HOLDERS % {"dir": d})
with open(os.path.join(d, "experiment.yaml"), "w") as f:
    f.write(EXPERIMENT % {"python": sys.executable, "holders": os.path.join(d, "holders.py")})

rc1, _, err1 = alone(["sweep", "experiment.yaml", "--db", "one.db", "-q"], d)
os.unlink(os.path.join(d, "holders.log"))
# Two workers on one node, both allowed to run at once, so both get runs.
rc2, out2, err2 = mpirun(3, ["sweep", "experiment.yaml", "--db", "two.db", "--runs-per-node", "2"], d)
c.check(rc1 == 1 and rc2 == 1, "both sweeps end with the two failed runs: exit %d and %d: %s" % (
    rc1, rc2, err2[-1500:]))
c.check("2 of 12 runs failed" in err2 and "[12/12" in err2, "rank 0's lines: %r" % err2[-1500:])
c.check(out2.count("same (two.db)") == 1, "one summary table, from rank 0: %r" % out2)
with open(os.path.join(d, "holders.log")) as f:
    holders = [json.loads(line) for line in f]
c.check(len(holders) == 2 and all(h == {"two.db": ["0"]} for h in holders),
        "while runs ran, the database was open in (by rank) %r, want rank 0 alone" % holders)


def by_run(db):
    return {(r["variant"], r["repeat"]): r for r in rows(db, "SELECT * FROM runs")}


one, two = by_run(os.path.join(d, "one.db")), by_run(os.path.join(d, "two.db"))
c.check(sorted(one) == sorted(two) and len(one) == 12, "runs %r vs %r" % (sorted(one), sorted(two)))
c.check(all(r["attempts"] == 1 for r in two.values()), "runs done more than once: %r" % sorted(
    (k, r["attempts"]) for k, r in two.items() if r["attempts"] != 1))
hostname = os.uname().nodename
ranks = set()
for key in sorted(one):
    a, b = one[key], two.get(key, {})
    what = "%s #%d" % key
    for column in ("status", "attempts", "cores", "cpu_model", "meter", "estimated", "f1", "accuracy", "precision",
                   "recall", "mcc", "confusion", "knobs", "model", "error"):
        c.check(a[column] == b.get(column), "%s: %s %r vs %r" % (what, column, a[column], b.get(column)))
    c.check(b.get("hostname") == hostname or b.get("status") != "done", "%s: hostname %r" % (what,
                                                                                           b.get("hostname")))
    if a["status"] != "done":
        continue
    ra, rb = json.loads(a["result"]), json.loads(b["result"])
    c.check(rb["machine"].get("node") == hostname and rb["machine"].get("rank") in (1, 2),
            "%s: placement %r" % (what, rb["machine"]))
    ranks.add(rb["machine"].get("rank"))
    rb["machine"].pop("node")
    rb["machine"].pop("rank")
    if key[0] in ("ext", "own"):
        ra.setdefault("machine", rb["machine"])  # a command's record gains its node's facts
    c.check(sorted(ra) == sorted(rb), "%s: record keys %r vs %r" % (what, sorted(ra), sorted(rb)))
    if "train" in ra:
        c.check([e["loss"] for e in ra["train"]["epochs"]] == [e["loss"] for e in rb["train"]["epochs"]],
                "%s: training curves differ" % what)
    stages_a = sorted(s["stage"] for s in rows(os.path.join(d, "one.db"), "SELECT stage FROM stages WHERE run_id = ?",
                                               (a["id"],)))
    stages_b = sorted(s["stage"] for s in rows(os.path.join(d, "two.db"), "SELECT stage FROM stages WHERE run_id = ?",
                                               (b["id"],)))
    c.check(stages_a == stages_b and (stages_b or key[0] == "own"), "%s: stages %r vs %r" % (what, stages_a,
                                                                                         stages_b))
    c.check(b["energy_j"] > 0, "%s: energy %r" % (what, b["energy_j"]))
c.check(ranks == {1, 2}, "the runs ran on ranks %r, want 1 and 2" % sorted(ranks))
idle = rows(os.path.join(d, "two.db"), "SELECT hostname, meter, duration_s FROM idle")
c.check(len(idle) == 1 and idle[0]["hostname"] == hostname and idle[0]["meter"] == "estimate",
        "idle measurements %r" % idle)

# A second sweep of the same database has nothing to do.
rc, _, err = mpirun(2, ["sweep", "experiment.yaml", "--db", "two.db"], d)
c.check(rc == 1 and "0 runs to do" in err, "resumed sweep: exit %d: %r" % (rc, err[-600:]))

# Placement. Each run appends when it starts and ends to a log (the time, and
# the node its rank plays); three workers play nodes a, a and b.
PLACEMENT = """\
name: placement
pipeline: pipeline.yaml
repeats: 4
variants:
  - {name: x, command: [sh, -c, "echo $(date +%%s.%%N) start $NODE >> %(log)s; sleep 0.4; echo $(date +%%s.%%N) end $NODE >> %(log)s"]}
  - {name: y, command: [sh, -c, "echo $(date +%%s.%%N) start $NODE >> %(log)s; sleep 0.4; echo $(date +%%s.%%N) end $NODE >> %(log)s"]}
"""
NODES = 'case $OMPI_COMM_WORLD_RANK in 3) NODE=b;; *) NODE=a;; esac\nexport NODE GREENTUNE_MPI_NODE=$NODE'


def intervals(log):
    """Per node, the (start, end) of every run."""
    started, out = {}, {}
    with open(log) as f:
        for line in f:
            t, what, node = line.split()
            if what == "start":
                started.setdefault(node, []).append(float(t))
            else:
                out.setdefault(node, []).append((started[node].pop(0), float(t)))
    return out


def overlapping(spans):
    spans = sorted(spans)
    return sum(1 for (s0, e0), (s1, e1) in zip(spans, spans[1:]) if s1 < e0)


for per_node, name in ((1, "p1"), (2, "p2")):
    log = os.path.join(d, name + ".log")
    with open(os.path.join(d, name + ".yaml"), "w") as f:
        f.write(PLACEMENT % {"log": log})
    rc, _, err = mpirun(4, ["sweep", name + ".yaml", "--runs-per-node", str(per_node), "-q"], d, per_rank=NODES)
    c.check(rc == 0, "placement, %d per node: exit %d: %s" % (per_node, rc, err[-1000:]))
    spans = intervals(log)
    c.check(sum(len(v) for v in spans.values()) == 8, "%d runs logged, want 8: %r" % (
        sum(len(v) for v in spans.values()), spans))
    c.check(len(spans.get("b", [])) >= 1, "node b ran nothing: %r" % spans)
    both = overlapping([s for v in spans.values() for s in v])
    c.check(both >= 1, "%d per node: runs on nodes a and b never ran side by side" % per_node)
    on_a = overlapping(spans.get("a", []))
    if per_node == 1:
        c.check(on_a == 0, "two runs overlapped on node a: %r" % sorted(spans.get("a", [])))
    else:
        c.check(on_a >= 1, "--runs-per-node 2: node a's two workers never ran together: %r" % sorted(
            spans.get("a", [])))
    placed = {(r["variant"], r["repeat"]): json.loads(r["result"])["machine"]
              for r in rows(os.path.join(d, name + ".db"), "SELECT variant, repeat, result FROM runs")}
    c.check(all(m["node"] == ("b" if m["rank"] == 3 else "a") for m in placed.values()),
            "recorded nodes %r" % sorted((m["rank"], m["node"]) for m in placed.values()))

# Ctrl-C (SIGINT to mpirun) once a run is done: the runs under way go back
# to the plan, none is recorded failed, and the same command finishes.
with open(os.path.join(d, "stop.yaml"), "w") as f:
    f.write("name: stop\npipeline: pipeline.yaml\nrepeats: 8\n"
            "variants:\n  - {name: slow, command: [sh, -c, \"sleep 1\"]}\n")
cmd = [MPIEXEC, "--oversubscribe", "-n", "3", BIN, "sweep", "stop.yaml", "--runs-per-node", "2"]
job = subprocess.Popen(cmd, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
stop_db = os.path.join(d, "stop.db")


def done_runs():
    try:
        return len(rows(stop_db, "SELECT id FROM runs WHERE status = 'done'"))
    except sqlite3.Error:
        return 0


c.check(wait_for(done_runs, 60), "no run of stop.yaml was done")
job.send_signal(signal.SIGINT)
err = finish(job, 90, c, "Ctrl-C")
runs = rows(stop_db, "SELECT repeat, status, attempts, error FROM runs")
c.check(job.returncode != 0 and "sweep: stopped;" in err, "Ctrl-C: exit %d: %s" % (job.returncode, err[-800:]))
c.check(not [r for r in runs if r["status"] == "failed"] and [r for r in runs if r["status"] == "planned"],
        "after Ctrl-C: %r" % runs)
rc, _, err = mpirun(3, ["sweep", "stop.yaml", "-q"], d)
runs = rows(stop_db, "SELECT repeat, status, attempts FROM runs")
c.check(rc == 0 and len(runs) == 8 and all(r["status"] == "done" and r["attempts"] <= 2 for r in runs),
        "the same command after Ctrl-C: exit %d: %r %s" % (rc, runs, err[-800:]))

rc, _, err = mpirun(2, ["sweep", "experiment.yaml", "--runs-per-node", "0"], d)
c.check(rc == 2 and err.count("--runs-per-node") >= 1, "--runs-per-node 0: exit %d: %r" % (rc, err[-300:]))

sys.exit(c.close())
