"""`system.device: cuda` in a pipeline file (or `--set system.device=cuda`).

Without a usable GPU the run stops before any stage with one line that names
the key and the reason. With GREENTUNE_CUDA_EMULATE=1 the GPU model code runs
on the host backend: the pipeline trains, saves, evaluates end to end through
the device path, its record says so, and its metrics and checkpoint match a
CPU run of the same pipeline (the same weights to rounding: the same
predictions, F1 within 0.02, logits within 1e-3)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_util import Checks, run, setup, workdir  # noqa: E402

c = Checks("test_device_cuda")
d = workdir("device")
pipeline = setup(d)

# 1. no GPU here (or a build without CUDA): one line, exit 1, nothing ran
env_emulate = os.environ.pop("GREENTUNE_CUDA_EMULATE", None)
rc, so, se = run(["run", pipeline, "--set", "system.device=cuda", "--out", os.path.join(d, "m")])
lines = se.strip().splitlines()
if rc == 0:
    print("note: a usable GPU is present; the refusal is not exercised here")
else:
    c.check(rc == 1, "no GPU: exit %d, wanted 1: %r" % (rc, se))
    c.check(len(lines) == 1 and lines[0].startswith("greentune: "), "no GPU: not one line: %r" % se)
    c.check("system.device" in se and "device cuda:" in se and "use device cpu" in se,
            "no GPU: the line lacks the key, the reason or the fix: %r" % se)
    c.check("stage" not in so and not os.path.exists(os.path.join(d, "m")), "no GPU: something ran: %r" % so)

rc, so, se = run(["run", pipeline, "--set", "system.device=tpu"])
c.check(rc == 2 and "system.device" in se and "cuda" in se, "unknown device: exit %d: %r" % (rc, se))

# 2. emulated: the device path end to end, against the CPU run
os.environ["GREENTUNE_CUDA_EMULATE"] = "1"
records = {}
for device in ("cpu", "cuda"):
    out = os.path.join(d, "model-" + device)
    rc, so, se = run(["run", pipeline, "--set", "system.device=" + device, "--out", out, "--json",
                      os.path.join(d, device + ".json"), "--predictions", os.path.join(d, device + ".jsonl"), "-q"])
    c.check(rc == 0, "%s run: exit %d: %s" % (device, rc, se))
    if rc == 0:
        with open(os.path.join(d, device + ".json")) as f:
            records[device] = json.load(f)
        c.check(os.path.exists(os.path.join(out, "model.safetensors")), "%s run: no checkpoint" % device)

if len(records) == 2:
    m = records["cuda"]["machine"]
    c.check(m.get("device") == "cuda" and "emulated" in m.get("gpu", ""), "record's machine: %r" % m)
    c.check(records["cpu"]["machine"].get("device") == "cpu", "cpu record: %r" % records["cpu"]["machine"])
    f1 = [records[k]["metrics"]["f1_weighted"] for k in ("cpu", "cuda")]
    c.check(abs(f1[0] - f1[1]) <= 0.02, "weighted F1 cpu %r vs cuda %r" % tuple(f1))
    preds = {}
    for device in ("cpu", "cuda"):
        with open(os.path.join(d, device + ".jsonl")) as f:
            preds[device] = [json.loads(line) for line in f]
    same = sum(a["predicted"] == b["predicted"] for a, b in zip(preds["cpu"], preds["cuda"]))
    c.check(same == len(preds["cpu"]) and same > 0, "predictions agree on %d of %d" % (same, len(preds["cpu"])))
    worst = max(abs(x - y) for a, b in zip(preds["cpu"], preds["cuda"]) for x, y in zip(a["logits"], b["logits"]))
    c.check(worst <= 1e-3, "logits differ by %g" % worst)

if env_emulate is not None:
    os.environ["GREENTUNE_CUDA_EMULATE"] = env_emulate
sys.exit(c.close())
