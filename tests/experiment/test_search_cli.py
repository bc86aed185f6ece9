"""`greentune search` from the command line on a tiny pipeline: --max-f1-drop
is required and read as points (1 or 1%), the result comes as a line for
people and as JSON with the run counts (new, used, exhaustive), and the
runs of the baseline and the singles are taken from the database when a
sweep already made them. The search's decisions are tested on a fake
executor in test_search.c."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweeplib import Checks, run, runs, setup  # noqa: E402

c = Checks("test_search_cli")

EXPERIMENT = """\
name: s
pipeline: pipeline.yaml
repeats: 2
baseline: V0
variants:
  - {name: V0}
  - {name: T1, knobs: {threads: 1}}
  - {name: PC, knobs: {pin_cores: compact}}
"""

d, path = setup("search", EXPERIMENT, epochs=3)
db = os.path.join(d, "experiment.db")

for args, words in ((["search", path], "--max-f1-drop PCT is required"),
                    (["search", path, "--max-f1-drop", "abc"], "--max-f1-drop"),
                    (["search", path, "--max-f1-drop", "1", "--budget", "0"], "--budget")):
    rc, out, err = run(args)
    c.check(rc == 2 and words in err, "%r: exit %d: %r" % (args, rc, err))

# A sweep first: the search then needs no new run.
rc, out, err = run(["sweep", path, "-q"])
c.check(rc == 0, "sweep: %d %s" % (rc, err))
out_json = os.path.join(d, "search.json")
rc, out, err = run(["search", path, "--max-f1-drop", "1%", "--json", out_json, "-q"])
c.check(rc == 0, "search: exit %d: %s" % (rc, err))
r = json.load(open(out_json)) if os.path.exists(out_json) else {}
for key in ("best", "found", "knobs", "saving_pct", "saving_ci_lo", "saving_ci_hi", "f1_drop_points",
            "f1_drop_ci_lo", "f1_drop_ci_hi", "runs_new", "runs_used", "runs_exhaustive", "stopped"):
    c.check(key in r, "search JSON lacks %r" % key)
c.check(r.get("max_f1_drop_points") == 1, "1%% read as %r points" % r.get("max_f1_drop_points"))
c.check(r.get("runs_new") == 0, "runs_new %r: the sweep's runs were not reused" % r.get("runs_new"))
c.check(r.get("runs_used") == 6, "runs_used %r, want 6 (baseline and two singles, 2 repeats)" % r.get("runs_used"))
c.check(r.get("runs_exhaustive") == 6, "runs_exhaustive %r, want (2^2 - 1) x 2" % r.get("runs_exhaustive"))
c.check(r.get("bundles_tried") == 0, "threads and pin_cores both set the hardware of the system phase: "
        "never combined, yet %r bundles were tried" % r.get("bundles_tried"))
c.check(r.get("best") in ("V0", "T1", "PC"), "best %r" % r.get("best"))
c.check("runs" in out and "every combination" in out, "the runs line: %r" % out)
c.check(len(runs(db)) == 6, "the search added runs: %d" % len(runs(db)))

sys.exit(c.close())
