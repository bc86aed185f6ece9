"""python/greentune.py under `greentune measure`: nested stages, progress and
its forecast, the sync hook, metrics; an exception still ends its stage; and
without greentune the module does nothing."""
import json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402

BIN = os.environ["GREENTUNE_BIN"]
MODULE_DIR = os.path.join(os.environ["GREENTUNE_SOURCE_DIR"], "python")


SCRIPT = r'''
import sys, time
import greentune
calls = []
sync = lambda: calls.append(1)
with greentune.stage("train", sync=sync):
    for epoch in range(2):
        with greentune.stage(f"epoch-{epoch}", sync=sync):
            t = time.time()
            while time.time() - t < 0.15: pass
        greentune.progress("train", (epoch + 1) / 2)
try:
    with greentune.stage("eval"):
        raise RuntimeError("boom")
except RuntimeError:
    pass
try:
    greentune.stage("two words").__enter__()
except ValueError as e:
    print("refused:", e)
greentune.metrics({"f1": 0.5, "enabled": greentune.enabled()})
open(sys.argv[1], "w").write(str(len(calls)))
'''

with tempfile.TemporaryDirectory() as tmp:
    script = os.path.join(tmp, "train.py")
    open(script, "w").write(SCRIPT)
    env = dict(os.environ, PYTHONPATH=MODULE_DIR, GREENTUNE_NVML_LIB="/nonexistent/libnvidia-ml.so.1")
    out, calls = os.path.join(tmp, "run.json"), os.path.join(tmp, "calls.txt")
    p = subprocess.run([BIN, "measure", "--json", out, "--", sys.executable, script, calls], env=env,
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"run: {p.stderr}")
    j = json.load(open(out))
    t = j["tasks"]
    check(set(t) == {"train", "epoch-0", "epoch-1", "eval"}, f"tasks: {sorted(t)}")
    check(t.get("epoch-0", {}).get("parent") == "train" and t.get("epoch-1", {}).get("parent") == "train",
          "epochs nest in train")
    check("parent" not in t.get("train", {}) and t.get("eval", {}).get("runs") == 1, "train top level; eval ended")
    train = t.get("train", {})
    check(train.get("progress") == 1 and train.get("forecast", {}).get("fraction") == 0.5,
          f"progress and the forecast at 50 %: {train.get('forecast')}")
    f = train.get("forecast", {})
    check(f.get("task_energy_j", 0) > 0 and "energy_error_pct" in f, f"a scored forecast: {f}")
    check("forecast train at 50 %" in p.stderr, "the forecast line is shown")
    check(open(calls).read() == "6", "sync ran at each of the six boundaries")
    check(j.get("metrics") == {"f1": 0.5, "enabled": True}, f"metrics: {j.get('metrics')}")
    check("refused: greentune: stage name 'two words'" in p.stdout, "bad names are refused early")
    check(j["warnings"] == [], f"no malformed lines: {j['warnings']}")

    # on its own: everything is a no-op
    env_plain = {k: v for k, v in env.items() if k not in ("GREENTUNE_CONTROL", "GREENTUNE_METRICS")}
    q = subprocess.run([sys.executable, script, calls], env=env_plain, capture_output=True, text=True, timeout=60)
    check(q.returncode == 0 and open(calls).read() == "0", f"without greentune: {q.returncode} {q.stderr}")

finish()
