"""A sweep survives anything: killed with SIGKILL at random moments, again and
again, it resumes each time with nothing lost and nothing counted twice —
finished runs keep their results, the interrupted run is redone, the planned
order never changes, and the killed sweep's run process does not outlive it.
SIGINT and SIGTERM stop cleanly: the run under way goes back to the plan."""
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweeplib import Checks, SANITIZE, rows, run, runs, setup, start, wait_gone  # noqa: E402

c = Checks("test_sweep_resume")

EXPERIMENT = """\
name: resume
pipeline: pipeline.yaml
repeats: 3
seed: 9
idle_s: 0.05
variants:
  - {name: V0}
  - {name: T1, knobs: {threads: 1}}
  - {name: E2, set: {train.epochs: 2}}
  - {name: L5, set: {data.limit: 60}}
"""
TOTAL = 12
# About 0.3 s a run either way: the sanitizer build runs the pipeline ~6x slower.
EPOCHS = 35 if SANITIZE else 200
STOP_EXPERIMENT = "name: stop\npipeline: pipeline.yaml\nrepeats: 2\nvariants: [{name: V0}, {name: T1, knobs: {threads: 1}}]\n"


def check_invariants(db, when, first_order, done_before):
    """What must hold after any kill."""
    if not os.path.exists(db):
        return {}
    try:
        r = runs(db)
    except Exception as e:  # noqa: BLE001 - an unreadable store is the failure this test looks for
        c.check(False, "%s: the database cannot be read: %s" % (when, e))
        return {}
    if not r:
        return {}
    keys = [(x["variant"], x["repeat"]) for x in r]
    c.check(len(r) == TOTAL and len(set(keys)) == TOTAL, "%s: %d runs, %d distinct" % (when, len(r), len(set(keys))))
    c.check(sum(x["status"] == "running" for x in r) <= 1, "%s: more than one run 'running'" % when)
    c.check(not any(x["status"] == "failed" for x in r), "%s: failed runs: %r" % (
        when, [x["error"] for x in r if x["status"] == "failed"]))
    done = {}
    for x in r:
        k = (x["variant"], x["repeat"])
        if first_order.setdefault(k, x["planned_order"]) != x["planned_order"]:
            c.check(False, "%s: %s moved in the plan" % (when, k))
        if x["status"] == "done":
            c.check(x["energy_j"] > 0 and x["result"], "%s: done run %s without a result" % (when, k))
            stages = rows(db, "SELECT count(*) AS n FROM stages WHERE run_id = ?", (x["id"],))[0]["n"]
            c.check(stages == 6, "%s: done run %s has %d stages" % (when, k, stages))
            done[k] = (x["energy_j"], x["finished"], x["attempts"])
    for k, v in done_before.items():
        c.check(done.get(k) == v, "%s: the finished run %s changed: %r -> %r" % (when, k, v, done.get(k)))
    return done


def kill_test(seed):
    d, path = setup("resume", EXPERIMENT, epochs=EPOCHS)
    db = os.path.join(d, "experiment.db")
    rng = random.Random(seed)
    first_order, done = {}, {}
    scale = 1.5 if SANITIZE else 1
    kills = 0
    for attempt in range(8):
        p = start(["sweep", path, "-q"])
        time.sleep(rng.uniform(0.02, 0.8) * scale)
        if p.poll() is not None:
            break
        p.send_signal(signal.SIGKILL)
        p.communicate()
        kills += 1
        left = wait_gone(d)
        c.check(not left, "kill %d: run processes outlived the sweep: %r" % (attempt + 1, left))
        done = check_invariants(db, "after kill %d" % (attempt + 1), first_order, done)
    c.check(kills >= 5, "only %d kills landed before the sweep ended; make the runs longer" % kills)
    rc, out, err = run(["sweep", path, "-q"], timeout=600)
    c.check(rc == 0, "final sweep: exit %d: %s" % (rc, err[-1000:]))
    done = check_invariants(db, "at the end", first_order, done)
    r = runs(db)
    c.check(all(x["status"] == "done" for x in r), "not all done: %r" % [(x["variant"], x["status"]) for x in r])
    c.check(len(done) == TOTAL, "%d runs done, want %d" % (len(done), TOTAL))
    attempts = sum(x["attempts"] for x in r)
    c.check(attempts >= TOTAL, "attempts %d" % attempts)
    print("kill -9 x %d: %d runs, %d attempts (interrupted ones redone)" % (kills, TOTAL, attempts))


def wait_for(db, predicate, timeout=120):
    """The runs as soon as predicate(runs) holds, or None after timeout."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            if os.path.exists(db):
                r = runs(db)
                if predicate(r):
                    return r
        except Exception:  # noqa: BLE001 - the file may be half-created still
            pass
        time.sleep(0.02)
    return None


def stop_once(sig, attempt):
    """Stops a sweep with sig while a run is in flight. Returns True when the
    signal landed while that run was still working (it must then be back to
    planned with its attempt counted), False when the run finished in the
    moment between looking and signalling (then it must simply be done)."""
    d, path = setup("stop-%s-%d" % (sig.name, attempt), STOP_EXPERIMENT, epochs=EPOCHS * 4)
    db = os.path.join(d, "experiment.db")
    p = start(["sweep", path])
    seen = wait_for(db, lambda r: any(x["status"] == "done" for x in r) and
                    any(x["status"] == "running" for x in r))
    c.check(seen is not None, "%s: never saw a run in flight" % sig.name)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    c.check(p.returncode == 130, "%s: exit %d, want 130: %s" % (sig.name, p.returncode, err[-500:]))
    c.check("stopped" in err and "run the same command again" in err, "%s: %r" % (sig.name, err[-300:]))
    c.check(not wait_gone(d), "%s: a run process outlived the sweep" % sig.name)
    r = runs(db)
    c.check(not any(x["status"] == "running" for x in r), "%s: a run left 'running'" % sig.name)
    in_flight = [x["id"] for x in (seen or []) if x["status"] == "running"]
    after = {x["id"]: x for x in r}
    landed = False
    for run_id in in_flight:
        x = after[run_id]
        landed = x["status"] == "planned"
        c.check((x["status"] == "planned" and x["attempts"] == 1) or (x["status"] == "done" and x["attempts"] == 1),
                "%s: the stopped run should be back to planned with its attempt counted (or done, if it finished "
                "first): %r" % (sig.name, (x["variant"], x["status"], x["attempts"])))
    others = [x for x in r if x["id"] not in in_flight and x["status"] != "done"]
    c.check(all(x["status"] == "planned" and x["attempts"] == 0 for x in others),
            "%s: a run was started after the signal: %r" % (sig.name, [(x["variant"], x["status"], x["attempts"])
                                                                    for x in others]))
    rc, out, err = run(["sweep", path, "-q"], timeout=600)
    c.check(rc == 0 and all(x["status"] == "done" for x in runs(db)), "%s: resume after the stop: %d %s" % (
        sig.name, rc, err[-300:]))
    return landed


def stop_test(sig):
    """Tries up to three times to land the signal inside a run, since a loaded
    machine can finish the run between the look and the signal."""
    for attempt in range(3):
        if stop_once(sig, attempt):
            return
    c.check(False, "%s: three tries and the signal never landed inside a run; make the runs longer" % sig.name)


kill_test(seed=int(os.environ.get("GT_TEST_SEED", "7")))
stop_test(signal.SIGINT)
stop_test(signal.SIGTERM)
sys.exit(c.close())
