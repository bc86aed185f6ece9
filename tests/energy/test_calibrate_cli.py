"""`greentune calibrate` on a fake powercap tree and a fake /proc, driven by a
helper that advances the counters in proportion to load: the machine's busy
time in the fake /proc/stat is calibrate's own CPU time (read from the real
/proc), and the package counter grows by 8 W x seconds + 30 W x busy
seconds, so the one CPU draws P(u) = 8 + 30 u: the fit must find idle 8 W,
full load 38 W, exponent 1. DRAM: 2 W with 4 GB in use, 0.5 W/GB."""
import json, os, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish, write_atomic  # noqa: E402

BIN = os.environ["GREENTUNE_BIN"]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


with tempfile.TemporaryDirectory() as tmp:
    sysfs, proc = os.path.join(tmp, "sys"), os.path.join(tmp, "proc")
    pkg = os.path.join(sysfs, "class/powercap/intel-rapl:0")
    dram = os.path.join(pkg, "intel-rapl:0:0")
    os.makedirs(dram)
    os.makedirs(proc)
    for d, name in ((pkg, "package-0"), (dram, "dram")):
        open(os.path.join(d, "name"), "w").write(name + "\n")
        open(os.path.join(d, "max_energy_range_uj"), "w").write(f"{1 << 50}\n")
        write_atomic(os.path.join(d, "energy_uj"), "0\n")
    open(os.path.join(proc, "cpuinfo"), "w").write("processor\t: 0\nmodel name\t: Fake CPU 1000\nsiblings\t: 1\n")
    gb = 1024 * 1024
    open(os.path.join(proc, "meminfo"), "w").write(f"MemTotal: {16 * gb} kB\nMemAvailable: {12 * gb} kB\n")
    write_atomic(os.path.join(proc, "stat"), "cpu 0 0 0 0 0 0 0 0 0 0\n")
    out = os.path.join(tmp, "cal/calibration.json")
    env = dict(os.environ, GREENTUNE_SYSFS_ROOT=sysfs, GREENTUNE_PROC_ROOT=proc,
               GREENTUNE_NVML_LIB="/nonexistent/libnvidia-ml.so.1")

    p = subprocess.Popen([BIN, "calibrate", "--seconds", "0.8", "--levels", "5", "--out", out], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def helper():
        pkg_uj = dram_uj = 0.0
        t_last, busy_last = time.monotonic(), 0
        while not done.is_set():
            time.sleep(0.01)
            try:
                busy = cpu_ticks(p.pid)
            except (OSError, IndexError):
                break
            t = time.monotonic()
            dt, dbusy = t - t_last, (busy - busy_last) / TICK
            t_last, busy_last = t, busy
            pkg_uj += (8 * dt + 30 * dbusy) * 1e6
            dram_uj += 2 * dt * 1e6
            write_atomic(os.path.join(proc, "stat"), f"cpu {busy} 0 0 0 0 0 0 0 0 0\n")
            write_atomic(os.path.join(pkg, "energy_uj"), f"{int(pkg_uj)}\n")
            write_atomic(os.path.join(dram, "energy_uj"), f"{int(dram_uj)}\n")

    thread = threading.Thread(target=helper)
    thread.start()
    stdout, stderr = p.communicate(timeout=120)
    done.set()
    thread.join()
    check(p.returncode == 0, f"calibrate: {p.returncode} {stderr}")
    check("fit error" in stdout and "stored in" in stdout, f"prints the fit and its error: {stdout}")
    check(stderr.count("greentune: load ") == 5, f"a line per level: {stderr}")
    if os.path.exists(out):
        entry = json.load(open(out))["machines"][0]
        check(entry["cpu_model"] == "Fake CPU 1000" and entry["cpus"] == 1 and entry["meter"] == "rapl", f"{entry}")
        check(abs(entry["idle_w"] - 8) < 1.5, f"idle 8 W: {entry['idle_w']}")
        check(abs(entry["max_w"] - 38) < 3, f"full load 38 W: {entry['max_w']}")
        check(abs(entry["exponent"] - 1) < 0.4, f"exponent 1: {entry['exponent']}")
        check(abs(entry["dram_w_per_gb"] - 0.5) < 0.05, f"0.5 W/GB: {entry['dram_w_per_gb']}")
        check(entry["rmse_w"] < 2 and len(entry["points"]) == 5, "a small fit error over 5 points")
        loads = [pt[0] for pt in entry["points"]]
        # Only the spread is certain: on a busy machine the busy threads get fewer cycles at every level.
        check(loads[0] < 0.1 and max(loads) - loads[0] > 0.1, f"the sweep spans the loads: {loads}")

        # the estimate now uses it: an idle machine costs the fitted idle power
        res = os.path.join(tmp, "m.json")
        q = subprocess.run([BIN, "measure", "--meter", "estimate", "--scope", "machine", "--calibration", out,
                            "--json", res, "--", "sleep", "0.3"], env=env, capture_output=True, text=True, timeout=60)
        check(q.returncode == 0, f"measure with the calibration: {q.stderr}")
        j = json.load(open(res))
        check("calibrated against rapl" in j["meter_description"], j["meter_description"])
        check(abs(j["components"]["cpu_j"] - entry["idle_w"] * j["duration_s"]) < 1e-3 * j["components"]["cpu_j"],
              f"idle power x time: {j['components']['cpu_j']} vs {entry['idle_w']} x {j['duration_s']}")
        check(abs(j["components"]["dram_j"] - entry["dram_w_per_gb"] * 4 * j["duration_s"]) < 1e-3,
              "the fitted DRAM W/GB")

    # no counter: one clear line, exit 1
    q = subprocess.run([BIN, "calibrate", "--seconds", "0.1", "--out", out],
                       env=dict(env, GREENTUNE_SYSFS_ROOT=os.path.join(tmp, "none")), capture_output=True, text=True,
                       timeout=60)
    check(q.returncode == 1 and "no CPU energy counter on this machine" in q.stderr and q.stderr.count("\n") == 1,
          f"no counter: {q.returncode} {q.stderr!r}")
    q = subprocess.run([BIN, "calibrate", "--levels", "2"], env=env, capture_output=True, text=True, timeout=60)
    check(q.returncode == 2 and "out of range" in q.stderr, f"--levels 2: {q.stderr!r}")

finish()
