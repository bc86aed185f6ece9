"""`greentune measure --thermal-gate` on a fake hwmon tree, cooled by a writer
process in real time; the idle reference comes from an earlier `--idle` run
(kept in GREENTUNE_STATE_DIR) or from --idle-temp."""
import json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish, write_atomic  # noqa: E402

BIN = os.environ["GREENTUNE_BIN"]
with tempfile.TemporaryDirectory() as tmp:
    hwmon = os.path.join(tmp, "sys/class/hwmon/hwmon3")
    os.makedirs(hwmon)
    open(os.path.join(hwmon, "name"), "w").write("coretemp\n")
    sensor = os.path.join(hwmon, "temp1_input")
    write_atomic(sensor, "41000\n")
    env = dict(os.environ, GREENTUNE_SYSFS_ROOT=os.path.join(tmp, "sys"), GREENTUNE_STATE_DIR=os.path.join(tmp, "state"),
               GREENTUNE_NVML_LIB="/nonexistent/libnvidia-ml.so.1")

    def measure(*args, timeout=60):
        return subprocess.run([BIN, "measure", *args], env=env, capture_output=True, text=True, timeout=timeout)

    # no reference yet: a clear line, exit 2, the command not run
    p = measure("--thermal-gate", "2", "--", "true")
    check(p.returncode == 2 and "no idle temperature known" in p.stderr, f"no reference: {p.stderr!r}")

    # an idle run at 41 C remembers it
    p = measure("--idle", "0.2", "--", "true")
    check(p.returncode == 0, f"idle run: {p.stderr}")
    ref = json.load(open(os.path.join(tmp, "state/idle.json")))
    check(ref.get("cpu_c") == 41 and ref.get("gpu_c") is None and ref.get("idle_w", -1) > 0, f"reference {ref}")

    # hot now (55 C); a writer cools the sensor 2 C every 0.2 s: within 41 + 3 C after 1.2 s
    write_atomic(sensor, "55000\n")
    writer = subprocess.Popen([sys.executable, "-c", f'''
import os, time
for c in range(53, 30, -2):
    time.sleep(0.2)
    open({sensor!r} + ".n", "w").write(f"{{c * 1000}}\\n"); os.replace({sensor!r} + ".n", {sensor!r})
'''])
    out = os.path.join(tmp, "gate.json")
    t0 = time.time()
    p = measure("--thermal-gate", "3", "--json", out, "--", "true")
    writer.wait()
    check(p.returncode == 0, f"gate: {p.stderr}")
    j = json.load(open(out)) if p.returncode == 0 else {}
    t = j.get("thermal", {})
    # start: the first reading, 55 C or a step or two cooler when the machine was slow to start measure
    check(t.get("idle", {}).get("cpu_c") == 41 and 44 < t.get("start", {}).get("cpu_c", 0) <= 55,
          f"idle and start: {t}")
    check(t.get("end", {}).get("cpu_c", 99) <= 44 and t.get("timed_out") is False, f"ended within the band: {t}")
    check(0.5 <= t.get("waited_s", 0) <= 8 and time.time() - t0 >= 1.0, f"waited for the cooling: {t}")
    check("thermal    waited" in p.stderr, "the summary reports the wait")

    # never cools: gives up after the timeout, runs the command anyway
    write_atomic(sensor, "70000\n")
    p = measure("--thermal-gate", "3", "--thermal-timeout", "0.5", "--idle-temp", "40", "--json", out, "--",
                "sh", "-c", "exit 4")
    check(p.returncode == 4, f"the command still runs: {p.returncode}")
    j = json.load(open(out))
    check(j["thermal"]["timed_out"] is True and j["thermal"]["idle"]["cpu_c"] == 40, f"timed out: {j['thermal']}")
    check("running anyway" in p.stderr, f"warned: {p.stderr!r}")

    # a GPU reference on a machine without a GPU sensor: one clear line, exit 1
    p = measure("--thermal-gate", "3", "--idle-temp", "40,50", "--", "true")
    check(p.returncode == 1 and "no GPU temperature" in p.stderr and p.stderr.count("\n") == 1,
          f"no GPU sensor: {p.stderr!r}")
    p = measure("--thermal-gate", "3", "--idle-temp", "hot", "--", "true")
    check(p.returncode == 2 and "not a number" in p.stderr, f"bad --idle-temp: {p.stderr!r}")

finish()
