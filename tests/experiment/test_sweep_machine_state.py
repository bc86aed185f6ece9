"""Machine state a knob changed is put back however a run ends: when the
sweep itself is killed with SIGKILL (its run process gets SIGTERM and
restores on its way out), and when the run process is killed with SIGKILL
(the sweep replays the knob's journal, records the run failed with the
signal, and goes on). power_cap on a fake sysfs tree (GREENTUNE_SYSFS_ROOT),
the journal in the test's own state directory (GREENTUNE_STATE_DIR)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweeplib import Checks, processes_with, run, runs, setup, start, wait_gone  # noqa: E402

c = Checks("test_sweep_machine_state")

EXPERIMENT = "name: cap\npipeline: pipeline.yaml\nvariants:\n  - {name: C, knobs: {power_cap: 100}}\n"
ORIGINAL = "125000000"

d, path = setup("machine", EXPERIMENT, epochs=400)
db = os.path.join(d, "experiment.db")
root = os.path.join(d, "sys")
limits = []
for p in (0, 1):
    zone = os.path.join(root, "class", "powercap", "intel-rapl:%d" % p)
    os.makedirs(zone)
    for name, value in (("constraint_0_power_limit_uw", ORIGINAL), ("constraint_0_max_power_uw", "150000000"),
                        ("enabled", "1"), ("name", "package-%d" % p)):
        with open(os.path.join(zone, name), "w") as f:
            f.write(value + "\n")
    limits.append(os.path.join(zone, "constraint_0_power_limit_uw"))
os.environ["GREENTUNE_SYSFS_ROOT"] = root
os.environ["GREENTUNE_STATE_DIR"] = os.path.join(d, "state")


def values():
    return [open(f).read().strip() for f in limits]


def wait_until(predicate, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


# 1. The sweep is killed while the cap is on: the run process restores it.
p = start(["sweep", path, "-q"])
c.check(wait_until(lambda: values() == ["100000000"] * 2), "the cap was never applied: %r" % values())
p.send_signal(signal.SIGKILL)
p.communicate()
c.check(not wait_gone(d), "the run process outlived the killed sweep")
c.check(values() == [ORIGINAL] * 2, "after kill -9 of the sweep: %r, want the original back" % values())

# 2. The run process is killed while the cap is on: the sweep restores it from
#    the journal, records the run failed and ends normally.
p = start(["sweep", path])
c.check(wait_until(lambda: values() == ["100000000"] * 2), "the cap was never applied again: %r" % values())
children = [pid for pid in processes_with(d) if pid != p.pid]
c.check(len(children) == 1, "one run process expected, found %r" % children)
for pid in children:
    os.kill(pid, signal.SIGKILL)
out, err = p.communicate(timeout=120)
c.check(p.returncode == 1, "sweep exit %d, want 1 (its run failed): %s" % (p.returncode, err[-500:]))
c.check(values() == [ORIGINAL] * 2, "after kill -9 of the run: %r, want the original back" % values())
r = runs(db)
c.check(len(r) == 1 and r[0]["status"] == "failed" and "signal 9" in (r[0]["error"] or ""),
        "the killed run: %r" % [(x["status"], x["error"]) for x in r])
c.check("restored" in (r[0]["error"] or "").lower() if r else False,
        "the error should say what was put back: %r" % (r[0]["error"] if r else None))

# 3. Retried, the run completes; the cap is off afterwards.
rc, out, err = run(["sweep", path, "-q", "--retry-failed"], timeout=600)
r = runs(db)
c.check(rc == 0 and r[0]["status"] == "done" and r[0]["attempts"] == 3, "retry: %d %r %s" % (
    rc, [(x["status"], x["attempts"]) for x in r], err[-300:]))
c.check(values() == [ORIGINAL] * 2, "after the run: %r" % values())

sys.exit(c.close())
