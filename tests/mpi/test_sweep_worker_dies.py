"""A worker rank that dies or falls silent loses only the run it had, and that
run is done again: with `mpirun --enable-recovery` by another worker in the
same sweep; without it (mpirun then ends the whole job) by the same command
run again. Every other run is done exactly once. A worker stopped by SIGTERM
together with its run (as Slurm's scancel signals every process of a job)
gives its run back unfailed and takes no more; the other worker finishes."""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpilib import BIN, MPIEXEC, Checks, finish, mpirun, require_mpi, rows, setup, wait_for  # noqa: E402

require_mpi("test_sweep_worker_dies")
c = Checks("test_sweep_worker_dies")

# The first run of "killer" kills the worker rank that runs it: the command's
# parent is the run's process, whose parent is the worker.
KILLER = """\
name: %(name)s
pipeline: pipeline.yaml
repeats: 3
variants:
  - {name: ok, command: [sh, -c, "sleep 0.2"]}
  - {name: killer, command: [sh, -c, "if [ ! -e %(mark)s ]; then touch %(mark)s; kill -9 $(cut -d' ' -f4 /proc/$PPID/stat); sleep 5; fi; sleep 0.2"]}
"""

d = setup("worker-dies")


def experiment(name):
    path = os.path.join(d, name + ".yaml")
    with open(path, "w") as f:
        f.write(KILLER % {"name": name, "mark": os.path.join(d, name + ".killed")})
    return name + ".yaml"


def check_all_done(db, redone, what, also=0):
    """Every run done; the killed one was run twice, and at most `also` more
    runs were run twice (runs under way when mpirun ended the job)."""
    runs = rows(os.path.join(d, db), "SELECT variant, repeat, status, attempts FROM runs")
    c.check(len(runs) == 6 and all(r["status"] == "done" for r in runs), "%s: runs %r" % (what, runs))
    again = sorted((r["variant"], r["repeat"]) for r in runs if r["attempts"] != 1)
    c.check(set(redone) <= set(again) and len(again) <= len(redone) + also and
            all(r["attempts"] <= 2 for r in runs), "%s: runs done more than once %r, want %r (%r)" % (
                what, again, redone, runs))


# 1. --enable-recovery: the job goes on; the coordinator sees the worker gone
#    at once (same machine) and gives the run to the other worker.
rc, _, err = mpirun(3, ["sweep", experiment("recover")], d, extra=["--enable-recovery"], timeout=120)
c.check(rc == 0, "with --enable-recovery: exit %d: %s" % (rc, err[-1500:]))
c.check("is lost (its process is gone); killer #1 goes to another worker" in err, "the loss is said: %r" % err[-1500:])
check_all_done("recover.db", [("killer", 0)], "--enable-recovery")

# 2. Without it, mpirun ends the job; the same command again finishes the sweep.
#    (How far the sweep got before mpirun ended it varies; no run may have
#    failed for it: the runs under way went back to the plan.)
rc, _, err = mpirun(3, ["sweep", experiment("abort")], d, timeout=120)
c.check(rc != 0, "without --enable-recovery the job ends: exit %d" % rc)
failed = rows(os.path.join(d, "abort.db"), "SELECT variant, repeat, error FROM runs WHERE status = 'failed'")
c.check(not failed, "runs stopped by the job's end were recorded failed: %r" % failed)
rc, _, err = mpirun(3, ["sweep", "abort.yaml"], d, timeout=120)
c.check(rc == 0, "the same command again: exit %d: %s" % (rc, err[-1500:]))
check_all_done("abort.db", [("killer", 0)], "resumed", also=1)

# 3. A worker that stops talking (SIGSTOP: alive, silent) is lost after
#    --worker-timeout and its run handed out again; then it is killed so the
#    job can end.
with open(os.path.join(d, "silent.yaml"), "w") as f:
    f.write("name: silent\npipeline: pipeline.yaml\nrepeats: 3\n"
            "variants:\n  - {name: slow, command: [sh, -c, \"sleep 1.5 # %s\"]}\n" % d)
job = subprocess.Popen([MPIEXEC, "--oversubscribe", "--enable-recovery", "-n", "3", BIN, "sweep", "silent.yaml",
                        "--worker-timeout", "2"], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def parent(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def busy_worker():
    """The worker rank (a child of mpirun) above a running command of this test."""
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if ("# " + d).encode() not in f.read():
                    continue
        except OSError:
            continue
        p = int(pid)
        while p > 1 and parent(p) != job.pid:
            p = parent(p)
        if p > 1:
            return p
    return None


stopped = wait_for(busy_worker, 60)
c.check(stopped is not None, "no worker was seen running a command")
if stopped:
    os.kill(stopped, signal.SIGSTOP)
    done = wait_for(lambda: len(rows(os.path.join(d, "silent.db"),
                                     "SELECT id FROM runs WHERE status = 'done'")) == 3, 90)
    c.check(done, "the sweep did not finish without the silent worker")
    os.kill(stopped, signal.SIGKILL)
err = finish(job, 60, c, "after the silent worker was killed")
c.check(job.returncode == 0, "silent worker: exit %d: %s" % (job.returncode, err[-1500:]))
c.check("is lost (silent for" in err, "the silence is said: %r" % err[-1500:])
runs = rows(os.path.join(d, "silent.db"), "SELECT repeat, status, attempts FROM runs")
c.check(sorted(r["attempts"] for r in runs) == [1, 1, 2] and all(r["status"] == "done" for r in runs),
        "silent: %r" % runs)

# 4. SIGTERM to a worker's run's processes and, at once, to the worker.
with open(os.path.join(d, "term.yaml"), "w") as f:
    f.write("name: term\npipeline: pipeline.yaml\nrepeats: 4\n"
            "variants:\n  - {name: slow, command: [sh, -c, \"sleep 1 # %s term\"]}\n" % d)
job = subprocess.Popen([MPIEXEC, "--oversubscribe", "-n", "3", BIN, "sweep", "term.yaml"], cwd=d,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def descendants(pid):
    children = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        children.setdefault(parent(int(p)), []).append(int(p))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def rank_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return None
    found = [int(e.split(b"=", 1)[1]) for e in env if e.startswith(b"OMPI_COMM_WORLD_RANK=")]
    return found[0] if found else None


termed = wait_for(busy_worker, 60)
c.check(termed is not None, "no worker was seen running a command")
termed_rank = rank_of(termed) if termed else None
if termed:
    # The run's processes first, the worker last: the run may end before the
    # worker has run its handler, and must still read as stopped, not failed.
    for pid in reversed(descendants(termed)):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
err = finish(job, 90, c, "after a worker was stopped")
c.check(job.returncode == 0, "SIGTERM to a worker and its run: exit %d: %s" % (job.returncode, err[-1500:]))
runs = rows(os.path.join(d, "term.db"), "SELECT repeat, status, attempts, error, result FROM runs")
c.check(len(runs) == 4 and all(r["status"] == "done" for r in runs) and
        sorted(r["attempts"] for r in runs) == [1, 1, 1, 2],
        "stopped worker: runs %r" % [(r["repeat"], r["status"], r["attempts"], r["error"]) for r in runs])
redone = [json.loads(r["result"])["machine"]["rank"] for r in runs if r["attempts"] == 2 and r["result"]]
c.check(termed_rank in (1, 2) and redone and termed_rank not in redone,
        "the stopped worker (rank %r) ran its run again: %r" % (termed_rank, redone))

sys.exit(c.close())
