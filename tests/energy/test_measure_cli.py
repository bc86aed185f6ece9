"""`greentune measure` end to end: exit statuses, signals, the control channel,
metrics, outputs (JSON, CodeCarbon CSV, trace) and bad command lines.

The estimate meter is forced (empty sysfs, no NVML) unless a test says
otherwise, so results do not depend on the machine."""
import csv, json, os, signal, subprocess, sys, tempfile, time

BIN = os.environ["GREENTUNE_BIN"]
PY = sys.executable
failures = []
TMP = tempfile.mkdtemp(prefix="greentune-measure-")


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def env(**extra):
    e = dict(os.environ, GREENTUNE_SYSFS_ROOT=os.path.join(TMP, "no-sysfs"),
             GREENTUNE_NVML_LIB="/nonexistent/libnvidia-ml.so.1")
    e.update(extra)
    return e


def path(name):
    return os.path.join(TMP, name)


def run(*args, environ=None, timeout=60):
    return subprocess.run([BIN, "measure", *args], env=environ or env(), capture_output=True, text=True,
                          timeout=timeout)


def load(name):
    with open(path(name)) as f:
        return json.load(f)


def siblings_and_cpus():
    siblings = 0
    cpus = 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("siblings") and not siblings:
                siblings = int(line.split(":")[1])
            if line.startswith("processor"):
                cpus += 1
    return siblings or cpus, cpus


def test_sleep_is_an_honest_estimate():
    p = run("--json", path("sleep.json"), "--", "sleep", "0.3")
    check(p.returncode == 0, f"sleep: exit 0 ({p.stderr})")
    j = load("sleep.json")
    for key in ("command", "exit_code", "duration_s", "meter", "estimated", "energy_j", "components",
                "avg_power_w", "emissions_g", "carbon_intensity_g_per_kwh", "tasks"):
        check(key in j, f"contract key {key}")
    check(j["command"] == ["sleep", "0.3"] and j["exit_code"] == 0, "command and exit code")
    check(j["meter"] == "estimate" and j["estimated"] is True, "estimate meter, labelled")
    check(j["scope"] == "machine", "the headline figure is the machine's")
    check(0.3 <= j["duration_s"] < 10, f"duration {j['duration_s']}")
    c = j["components"]
    check(abs(c["cpu_j"] + c["dram_j"] + c["gpu_j"] - j["energy_j"]) <= 1e-5 * j["energy_j"] + 1e-9,
          "components add up")
    check("(estimated)" in p.stderr, "the summary says estimated")
    check(any("rapl" in n for n in j["notes"]), "notes say why RAPL was not used")
    proc = j.get("process", {})
    check(proc.get("estimated") is True and "cpu-time share" in proc.get("method", {}).get("cpu", ""),
          f"the process share is labelled, with its method: {proc}")
    check(proc.get("pid", 0) > 0 and proc.get("energy_j", 1e9) < 0.2 * j["energy_j"],
          f"sleep's own share is small next to the machine's: {proc.get('energy_j')} of {j['energy_j']}")
    check("process" in p.stderr, "the summary shows the process share beside the machine's")


def test_sleep_on_a_whole_machine_is_not_zero():
    """The CPUs' idle power counts: at least --idle-watts x time, at most full load x time."""
    siblings, cpus = siblings_and_cpus()
    p = run("--cpu-tdp", "40", "--idle-watts", "2", "--scope", "machine", "--json", path("idle-floor.json"), "--",
            "sleep", "0.5")
    check(p.returncode == 0, f"sleep: {p.stderr}")
    j = load("idle-floor.json")
    d = j["duration_s"]
    check(j["components"]["cpu_j"] >= 2 * d * 0.98, f"cpu_j {j['components']['cpu_j']} >= 2 W x {d} s")
    check(j["components"]["cpu_j"] <= 40.0 / siblings * cpus * d * 1.02, "cpu_j <= full load x time")
    check("process" not in j, "--scope machine: no process share")
    p = run("--cpu-tdp", "40", "--idle-watts", "1000", "--", "true")
    check(p.returncode == 1 and "--idle-watts 1000: not below" in p.stderr, f"idle above full load: {p.stderr!r}")


def test_busy_child_gets_its_cpu_share():
    """The child's share of the CPU energy is its CPU time over the machine's busy
    time (read here from /proc/stat around the child), times the machine's CPU energy."""
    report = path("cpu.txt")
    code = ("import os,time\n"
            "def busy(): return sum(int(x) for i, x in enumerate(open('/proc/stat').readline().split()[1:8]) "
            "if i not in (3, 4))\n"
            "b0=busy(); t=time.time()\nwhile time.time()-t<0.6: pass\n"
            f"u=os.times(); b1=busy()\nopen({report!r},'w').write(f'{{u.user+u.system}} {{(b1-b0)/os.sysconf(\"SC_CLK_TCK\")}}')")
    p = run("--cpu-tdp", "40", "--json", path("busy.json"), "--", PY, "-c", code)
    check(p.returncode == 0, f"busy: {p.stderr}")
    j = load("busy.json")
    child_s, machine_s = (float(x) for x in open(report).read().split())
    share = min(1.0, child_s / machine_s) if machine_s > 0 else 1.0
    want = share * j["components"]["cpu_j"]
    got = j["process"]["components"]["cpu_j"]
    check(got <= j["components"]["cpu_j"] * 1.0001, "the share is at most the whole")
    check(abs(got - want) <= 0.35 * want, f"process cpu_j {got} vs {want} ({child_s} of {machine_s} busy s)")


def test_exit_status_is_propagated():
    check(run("--", "sh", "-c", "exit 3").returncode == 3, "exit 3")
    p = run("--json", path("killed.json"), "--", "sh", "-c", "kill -TERM $$")
    check(p.returncode == 128 + 15, f"killed by SIGTERM: {p.returncode}")
    j = load("killed.json")
    check(j["exit_code"] == 143 and j.get("signal") == 15, "JSON says killed by 15")


def test_missing_and_unrunnable_commands():
    p = run("--", "no-such-command-greentune")
    check(p.returncode == 127, f"missing command: 127, got {p.returncode}")
    check("no-such-command-greentune: command not found" in p.stderr and p.stderr.count("\n") == 1,
          f"one clear line: {p.stderr!r}")
    script = path("not-executable.sh")
    open(script, "w").write("echo hi\n")
    os.chmod(script, 0o644)
    p = run("--", script)
    check(p.returncode == 126, f"not executable: 126, got {p.returncode}")


def test_bad_command_lines():
    marker = path("ran")
    cases = [
        ([], "no command given"),
        (["--meter", "wattmeter", "--", "true"], "unknown"),
        (["--meter", "rapl+perf", "--", "true"], "same component"),
        (["--json", path("no/such/dir/out.json"), "--", "touch", marker], "does not exist"),
        (["--json", TMP, "--", "true"], "is not a file name"),
        (["--interval-ms", "-1", "--", "true"], "out of range"),
        (["--interval-ms", "ten", "--", "true"], "not an integer"),
        (["--scope", "galaxy", "--", "true"], "use process or machine"),
        (["--idle", "0", "--", "true"], "out of range"),
        (["--no-such-option", "--", "true"], "--help"),
    ]
    for args, words in cases:
        p = run(*args)
        check(p.returncode == 2, f"{args}: exit 2, got {p.returncode}")
        check(words in p.stderr, f"{args}: says '{words}': {p.stderr!r}")
        check(p.stderr.startswith("greentune: ") or args[0] == "--no-such-option", f"{args}: prefixed line")
    check(not os.path.exists(marker), "a bad --json path is found before the command runs")
    p = run("--help")
    check(p.returncode == 0 and "GREENTUNE_CONTROL" in p.stdout, "--help")


def test_explicit_meter_failure():
    p = run("--meter", "rapl", "--", "true")
    check(p.returncode == 1, f"--meter rapl without RAPL: exit 1, got {p.returncode}")
    check("powercap is not present" in p.stderr, f"says why: {p.stderr!r}")


def wait_for(file, seconds=20):
    end = time.time() + seconds
    while time.time() < end and not os.path.exists(file):
        time.sleep(0.02)
    return os.path.exists(file)


def test_signals_are_forwarded():
    for sig in (signal.SIGTERM, signal.SIGINT):
        ready, got = path(f"ready-{sig}"), path(f"got-{sig}")
        code = ("import os,signal,sys,time\n"
                f"def h(s,f): open({got!r},'w').write(str(s)); sys.exit(7)\n"
                "signal.signal(signal.SIGTERM,h); signal.signal(signal.SIGINT,h)\n"
                f"open({ready!r},'w').close()\ntime.sleep(30)\n")
        p = subprocess.Popen([BIN, "measure", "-q", "--json", path(f"sig-{sig}.json"), "--", PY, "-c", code],
                             env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not check(wait_for(ready), f"child of signal test {sig} started"):
            p.kill()
            continue
        os.kill(p.pid, sig)
        out, err = p.communicate(timeout=30)
        check(p.returncode == 7, f"{sig}: greentune returns the child's 7, got {p.returncode} ({err})")
        check(os.path.exists(got) and open(got).read() == str(int(sig)), f"{sig}: child received it")
        check(load(f"sig-{sig}.json")["exit_code"] == 7, f"{sig}: result written after the signal")


def test_control_channel_with_hostile_lines():
    script = path("control.sh")
    open(script, "w").write(r'''
c="$GREENTUNE_CONTROL"
echo "start train" >> "$c"
sleep 0.1
echo "stop train" >> "$c"
echo "start train" >> "$c"
echo "stop train" >> "$c"
echo "frobnicate x" >> "$c"
echo "frobnicate y" >> "$c"
echo "stop never-started" >> "$c"
printf 'start \001\002\377\n' >> "$c"
head -c 100000 /dev/zero | tr '\0' 'A' >> "$c"; echo >> "$c"
echo "start" >> "$c"
echo "start two words" >> "$c"
printf 'start eval\r\n' >> "$c"
''')
    p = run("--json", path("control.json"), "--", "sh", script)
    check(p.returncode == 0, f"hostile lines are never fatal: {p.returncode} {p.stderr}")
    j = load("control.json")
    tasks = j["tasks"]
    check(set(tasks) == {"train", "eval"}, f"tasks: {sorted(tasks)}")
    if "train" in tasks:
        # a loaded machine may read both lines of a run at once: the 0.1 s is not promised
        check(tasks["train"]["runs"] == 2 and 0 <= tasks["train"]["duration_s"] <= j["duration_s"], "train ran twice")
        check(tasks["train"]["estimated"] is True, "tasks are labelled estimated")
    if "eval" in tasks:
        check(tasks["eval"].get("open_at_finish") is True, "eval closed at the end")
    w = " | ".join(j["warnings"])
    for words in ("unknown command", "stop without a start", "non-text bytes", "longer than 256 bytes",
                  "bad task name", "line(s) ignored in all"):
        check(words in w, f"warning about '{words}': {w}")
    check(p.stderr.count("unknown command") == 1, "each kind of problem is reported once")
    # five kinds of problem, one warning each, then the count of all seven bad lines
    check(p.stderr.count("warning: control:") == 6, f"six warnings: {p.stderr}")
    check("7 line(s) ignored" in w, f"all seven bad lines counted: {w}")


def test_metrics_file():
    code = 'echo \'{"f1": 0.93, "confusion": [[1, 2], [3, 4]]}\' > "$GREENTUNE_METRICS"'
    p = run("--json", path("metrics.json"), "--", "sh", "-c", code)
    check(p.returncode == 0, "metrics run")
    check(load("metrics.json").get("metrics") == {"f1": 0.93, "confusion": [[1, 2], [3, 4]]}, "metrics land")
    p = run("--json", path("badmetrics.json"), "--", "sh", "-c", 'echo "[1, 2" > "$GREENTUNE_METRICS"')
    j = load("badmetrics.json")
    check(p.returncode == 0 and "metrics" not in j, "bad metrics are dropped")
    check(any("not a JSON object" in w for w in j["warnings"]), "with a warning")


CODECARBON_COLUMNS = (
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,"
    "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,country_name,country_iso_code,"
    "region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,"
    "gpu_model,longitude,latitude,ram_total_size,tracking_mode,cpu_utilization_percent,"
    "gpu_utilization_percent,ram_utilization_percent,ram_used_gb,on_cloud,pue,wue").split(",")


def test_codecarbon_csv_and_trace():
    out = path("emissions.csv")
    for i in range(2):
        p = run("--csv", out, "--json", path(f"csv{i}.json"), "--country", "DEU", "--trace", path("trace.csv"),
                "--interval-ms", "20", "--", PY, "-c", "import time; time.sleep(0.2); print('a,\"b\"')")
        check(p.returncode == 0, f"csv run {i}: {p.stderr}")
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    check(rows[0][:len(CODECARBON_COLUMNS)] == CODECARBON_COLUMNS, "CodeCarbon 3.x columns, in order")
    check(rows[0][len(CODECARBON_COLUMNS):] ==
          ["meter", "estimated", "carbon_intensity_g_per_kwh", "exit_code", "command", "idle_w", "idle_subtracted",
           "process_energy"], "then greentune's")
    check(len(rows) == 3 and all(len(r) == len(rows[0]) for r in rows), "two full rows")
    row = dict(zip(rows[0], rows[2]))
    j = load("csv1.json")
    check(abs(float(row["energy_consumed"]) - j["energy_j"] / 3.6e6) <= 1e-5 * j["energy_j"] / 3.6e6 + 1e-15,
          "energy_consumed is kWh")
    check(abs(float(row["emissions"]) - j["emissions_g"] / 1000) <= 1e-5 * j["emissions_g"] / 1000 + 1e-18,
          "emissions are kg")
    check(abs(float(row["cpu_energy"]) - j["components"]["cpu_j"] / 3.6e6) <= 1e-15 + 1e-5 * float(row["cpu_energy"]),
          "cpu_energy is kWh")
    check(abs(float(row["duration"]) - j["duration_s"]) < 1e-3, "duration")
    check(row["country_iso_code"] == "DEU" and row["country_name"] == "Germany", "country columns")
    check(row["estimated"] == "true" and row["meter"] == "estimate", "estimated in the CSV")
    check(row["tracking_mode"] == "machine" and row["project_name"] == "greentune", "mode and project")
    check(abs(float(row["process_energy"]) - j["process"]["energy_j"] / 3.6e6) <= 1e-5 * float(row["process_energy"])
          + 1e-15, "process_energy is the process share in kWh")
    check(len(row["run_id"]) == 36 and rows[1][2] != rows[2][2], "a fresh UUID per run")
    with open(path("trace.csv"), newline="") as f:
        trace = list(csv.DictReader(f))
    check(len(trace) >= 3, f"trace has points: {len(trace)}")
    check(all(t["estimated"] == "true" for t in trace), "trace rows are labelled estimated")
    check(abs(float(trace[-1]["cpu_j"]) + float(trace[-1]["dram_j"]) - j["energy_j"]) <=
          1e-4 * j["energy_j"] + 1e-9, "the trace ends at the total")
    # a CSV with someone else's header is refused before running
    foreign = path("foreign.csv")
    open(foreign, "w").write("a,b,c\n1,2,3\n")
    p = run("--csv", foreign, "--", "true")
    check(p.returncode == 2 and "header" in p.stderr, "foreign CSV refused")


def test_idle_power():
    p = run("--idle", "0.3", "--scope", "machine", "--json", path("idle.json"), "--", "true")
    check(p.returncode == 0, f"idle: {p.stderr}")
    j = load("idle.json")
    check(j.get("idle_w", -1) > 0 and abs(j.get("idle_s", 0) - 0.3) < 0.2, "idle_w and idle_s")
    check(j.get("idle_subtracted") is False and j.get("idle_estimated") is True, "not subtracted, labelled")
    want = j["energy_j"] - j["idle_w"] * j["duration_s"]
    # each JSON number has 6 significant digits: the difference is as exact as its terms
    tolerance = 1e-5 * (j["energy_j"] + j["idle_w"] * j["duration_s"])
    check(abs(j.get("energy_above_idle_j", 1e9) - want) <= tolerance, f"energy_above_idle_j {j.get('energy_above_idle_j')}")
    check("idle" in p.stderr, "the summary reports idle power")


def test_subtract_idle():
    out = path("above.csv")
    p = run("--idle", "0.3", "--subtract-idle", "--json", path("above.json"), "--csv", out, "--",
            "sh", "-c", "echo 'start t' > $GREENTUNE_CONTROL; sleep 0.2; echo 'stop t' > $GREENTUNE_CONTROL")
    check(p.returncode == 0, f"subtract: {p.stderr}")
    j = load("above.json")
    with open(out, newline="") as f:
        row = list(csv.DictReader(f))[0]
    check(j["idle_subtracted"] is True and row["idle_subtracted"] == "true", "subtracted")
    check(abs(float(row["energy_consumed"]) - j["energy_above_idle_j"] / 3.6e6) <= 1e-4 * abs(float(row["energy_consumed"]))
          + 1e-15, "the CSV's energy is above idle")
    check(abs(float(row["idle_w"]) - j["idle_w"]) <= 1e-5 * j["idle_w"], "idle_w column")
    t = j["tasks"]["t"]
    check(abs(t["energy_above_idle_j"] - (t["energy_j"] - j["idle_w"] * t["duration_s"])) <=
          1e-5 * (t["energy_j"] + j["idle_w"] * t["duration_s"]), "per task too")
    check("(the figure below)" in p.stderr, "the summary says which figure it shows")
    p = run("--subtract-idle", "--", "true")
    check(p.returncode == 2 and "add --idle N" in p.stderr, f"nothing to subtract: {p.stderr!r}")


def test_nvml_through_the_cli():
    state = path("gpus.txt")
    open(state, "w").write("counter 1\n1000 25000\n")
    e = env(GREENTUNE_NVML_LIB=os.environ["FAKE_NVML_LIB"], FAKE_NVML_STATE=state)
    p = run("--meter", "estimate+nvml", "--json", path("gpu.json"), "--",
            "sh", "-c", f'printf "counter 1\\n6000 25000\\n" > {state}', environ=e)
    check(p.returncode == 0, f"nvml run: {p.stderr}")
    j = load("gpu.json")
    check(j["meter"] == "estimate+nvml" and j["sources"]["gpu"] == "nvml", "GPU from nvml")
    check(abs(j["components"]["gpu_j"] - 5.0) < 1e-9, f"5 J on the GPU: {j['components']['gpu_j']}")
    check(j["estimated"] is True, "still estimated: the CPU part is")


def test_auto_on_this_machine():
    p = run("--json", path("auto.json"), "--", "true", environ=dict(os.environ))
    check(p.returncode == 0, f"auto: {p.stderr}")
    j = load("auto.json")
    check(j["estimated"] == ("estimate" in j["meter"]), f"estimated flag matches meter {j['meter']}")


for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        try:
            fn()
        except Exception as e:  # a crash in one test is a failure, not the end
            check(False, f"{name}: {type(e).__name__}: {e}")

print("all checks passed" if not failures else f"{len(failures)} check(s) failed; files in {TMP}")
if not failures:
    subprocess.run(["rm", "-rf", TMP])
sys.exit(1 if failures else 0)
