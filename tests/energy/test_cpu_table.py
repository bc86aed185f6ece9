"""The CPU table (src/energy/cpu_tdp.csv): every row sane, the documented
table in docs/energy-model.md equal to it, a few rows against the vendors'
published figures typed in here, and the compiled-in copy used end to end."""
import csv, json, os, re, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402

SRC = os.environ["GREENTUNE_SOURCE_DIR"]
BIN = os.environ["GREENTUNE_BIN"]
with open(os.path.join(SRC, "src/energy/cpu_tdp.csv")) as f:
    text = f.read()
check("ark.intel.com" in text and "amd.com" in text, "the CSV names its sources")
rows = list(csv.DictReader(l for l in text.splitlines() if not l.startswith("#")))
check(len(rows) > 200, f"a table of common parts: {len(rows)} rows")
patterns = [r["pattern"] for r in rows]
check(len(patterns) == len(set(patterns)), "patterns are unique")
for r in rows:
    tdp, threads = float(r["tdp_w"]), int(r["threads"])
    check(5 <= tdp <= 600 and 4 <= threads <= 512, f"{r['pattern']}: {tdp} W, {threads} threads")
    check(0.5 <= tdp / threads <= 20, f"{r['pattern']}: {tdp / threads:.2f} W per thread")
for vendor in ("EPYC", "Ryzen", "Xeon(R)", "Core(TM)"):
    check(sum(p.startswith(vendor) or p.startswith(vendor.split("(")[0]) for p in patterns) >= 20,
          f"many {vendor} parts")
families = {r["pattern"]: r for r in rows if r["represents"]}
check(set(families) == {"EPYC", "Ryzen", "Threadripper", "Xeon(R)", "Core(TM)"}, f"family rows: {sorted(families)}")
for fam in families.values():  # a family row repeats its representative part's figures
    part = [r for r in rows if not r["represents"] and fam["represents"].endswith(r["pattern"].split(")")[-1].strip())]
    check(any((p["tdp_w"], p["threads"]) == (fam["tdp_w"], fam["threads"]) for p in part), f"family {fam['pattern']}")

# published figures (vendor spec pages), typed in independently of the CSV
known = {"EPYC 7763": (280, 128), "EPYC 9654": (360, 192), "Ryzen 9 7950X": (170, 32),
         "Xeon(R) Platinum 8380": (270, 80), "Xeon(R) Gold 6248": (150, 40), "Core(TM) i9-13900K": (125, 32),
         "Core(TM) i7-1165G7": (28, 8), "Xeon(R) Platinum 8480+": (350, 112)}
by = {r["pattern"]: r for r in rows}
for p, (tdp, threads) in known.items():
    check(p in by and (float(by[p]["tdp_w"]), int(by[p]["threads"])) == (tdp, threads), f"{p}: {tdp} W, {threads}")

# the documented table is the CSV
with open(os.path.join(SRC, "docs/energy-model.md")) as f:
    doc = f.read()
documented = {}
for m in re.finditer(r"^\| ([^|]+?) \| (\d+) \| (\d+) \| [\d.]+ \|$", doc, re.M):
    documented[m.group(1)] = (m.group(2), m.group(3))
for m in re.finditer(r"^\| ([^|]+?) \| ([^|]+?) \| (\d+) \| (\d+) \|$", doc, re.M):
    documented[m.group(1)] = (m.group(3), m.group(4))
csv_rows = {r["pattern"]: (r["tdp_w"], r["threads"]) for r in rows}
check(documented == csv_rows, f"docs/energy-model.md and the CSV differ: "
      f"{sorted(set(documented.items()) ^ set(csv_rows.items()))[:6]}")

# end to end: a fake /proc with a Gold 6338, 4 logical CPUs of it, idle
with tempfile.TemporaryDirectory() as tmp:
    open(os.path.join(tmp, "cpuinfo"), "w").write("".join(
        f"processor\t: {i}\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\nsiblings\t: 4\n\n" for i in range(4)))
    open(os.path.join(tmp, "stat"), "w").write("cpu 10 0 10 1000 0 0 0 0 0 0\n")
    open(os.path.join(tmp, "meminfo"), "w").write("MemTotal: 1048576 kB\nMemAvailable: 1048576 kB\n")
    out = os.path.join(tmp, "m.json")
    p = subprocess.run([BIN, "measure", "--meter", "estimate", "--scope", "machine", "--calibration", "none",
                        "--json", out, "--", "sleep", "0.2"],
                       env=dict(os.environ, GREENTUNE_PROC_ROOT=tmp), capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"measure: {p.stderr}")
    j = json.load(open(out)) if p.returncode == 0 else {"meter_description": "", "components": {}, "duration_s": 0}
    check("Gold 6338: 205 W / 64 threads" in j["meter_description"], j["meter_description"])
    idle = 0.1 * 205 / 64 * 4  # no load: the idle tenth of 4 threads' full-load power
    check(abs(j["components"].get("cpu_j", 0) - idle * j["duration_s"]) < 1e-4, f"idle power: {j['components']}")

finish()
