"""`greentune measure --meter rapl` on a fake powercap tree whose counters the
measured command itself advances, marking tasks on the control channel as it
goes. Two sockets with dram zones; package 0 starts 1 J below its 10 J range,
so it wraps during the run (several times), and the 10 ms sampler must catch
every lap. Expected joules are this script's own sums."""
import json, os, subprocess, sys, tempfile

BIN = os.environ["GREENTUNE_BIN"]
failures = []

def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)

RANGE = 10_000_000  # µJ: every zone wraps at 10 J
ZONES = {"intel-rapl:0": "package-0", "intel-rapl:0/intel-rapl:0:0": "core",
         "intel-rapl:0/intel-rapl:0:2": "dram", "intel-rapl:1": "package-1",
         "intel-rapl:1/intel-rapl:1:0": "dram"}
START = {"intel-rapl:0": RANGE - 1_000_000}

HELPER = r'''
import os, sys, time
base, rng = sys.argv[1], int(sys.argv[2])
def read(z): return int(open(f"{base}/{z}/energy_uj").read())
def write(z, v):
    tmp = f"{base}/{z}/energy_uj.new"
    open(tmp, "w").write(f"{v % rng}\n")
    os.replace(tmp, f"{base}/{z}/energy_uj")
def burn(z, joules):  # in 0.5 J steps, 20 ms apart: far less than a lap between the sampler's reads
    left = int(joules * 1e6)
    while left > 0:
        step = min(left, 500_000)
        write(z, read(z) + step)
        left -= step
        time.sleep(0.02)
def control(line):
    with open(os.environ["GREENTUNE_CONTROL"], "a") as c: c.write(line + "\n")
    time.sleep(0.5)  # greentune reads the boundary long before we touch a counter again
burn("intel-rapl:0", 1.5)                       # before any task
control("start train")
burn("intel-rapl:0", 12.0)                      # wraps package 0 more than once
burn("intel-rapl:1", 3.0)
burn("intel-rapl:0/intel-rapl:0:2", 1.0)        # dram
burn("intel-rapl:0/intel-rapl:0:0", 5.0)        # core: part of the package, not added
control("stop train")
burn("intel-rapl:1", 2.0)                       # between tasks
control("start eval")
burn("intel-rapl:1/intel-rapl:1:0", 0.25)
burn("intel-rapl:0", 0.75)
control("stop eval")
'''

with tempfile.TemporaryDirectory() as tmp:
    base = os.path.join(tmp, "sys/class/powercap")
    for zone, name in ZONES.items():
        os.makedirs(os.path.join(base, zone))
        for f, v in (("name", name), ("max_energy_range_uj", RANGE), ("energy_uj", START.get(zone, 0))):
            open(os.path.join(base, zone, f), "w").write(f"{v}\n")
    helper = os.path.join(tmp, "helper.py")
    open(helper, "w").write(HELPER)
    out = os.path.join(tmp, "rapl.json")
    env = dict(os.environ, GREENTUNE_SYSFS_ROOT=os.path.join(tmp, "sys"),
               GREENTUNE_NVML_LIB="/nonexistent/libnvidia-ml.so.1")
    p = subprocess.run([BIN, "measure", "--meter", "rapl", "--interval-ms", "10", "--json", out, "--",
                        sys.executable, helper, base, str(RANGE)], env=env, capture_output=True, text=True,
                       timeout=120)
    check(p.returncode == 0, f"exit 0: {p.stderr}")
    j = json.load(open(out)) if p.returncode == 0 else {}
    if j:
        check(j["meter"] == "rapl" and j["estimated"] is False and j["scope"] == "machine", "real counters")
        c = j["components"]
        check(abs(c["cpu_j"] - (1.5 + 12.0 + 3.0 + 2.0 + 0.75)) < 1e-6, f"cpu_j 19.25: {c['cpu_j']}")
        check(abs(c["dram_j"] - 1.25) < 1e-6, f"dram_j 1.25: {c['dram_j']}")
        check(abs(j["energy_j"] - 20.5) < 1e-6, f"energy_j 20.5: {j['energy_j']}")
        train, ev = j["tasks"].get("train", {}), j["tasks"].get("eval", {})
        check(abs(train.get("energy_j", -1) - 16.0) < 1e-6, f"train 12 + 3 + 1 = 16 J: {train}")
        check(abs(train.get("components", {}).get("dram_j", -1) - 1.0) < 1e-6, "train dram 1 J")
        check(abs(ev.get("energy_j", -1) - 1.0) < 1e-6, f"eval 0.25 + 0.75 = 1 J: {ev}")
        check(train.get("estimated") is False, "tasks not estimated")
        check(j["peak_power_w"] > 0 and j["samples"] > 10, "the sampler ran")
        check("(estimated)" not in p.stderr, "the summary does not say estimated")

    # a counter that turns to garbage: one clear line naming the file, exit 1
    open(os.path.join(base, "intel-rapl:1/energy_uj"), "w").write("0x12\n")
    p = subprocess.run([BIN, "measure", "--meter", "rapl", "--", "true"], env=env, capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 1, f"garbage: exit 1, got {p.returncode}")
    check("intel-rapl:1/energy_uj: '0x12' is not a counter value" in p.stderr and p.stderr.count("\n") == 1,
          f"one clear line: {p.stderr!r}")

print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
sys.exit(1 if failures else 0)
