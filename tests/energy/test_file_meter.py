"""--meter file:PATH, a host-provided meter, fed by writer processes.

1. The measured command is the writer: it moves a cumulative-joules counter
   in known steps (with a restart of the counter from zero) and marks tasks
   between them, so every expected figure is this script's own sum.
2. A separate writer process keeps writing constant powers (watts): the
   trapezoid of a constant is exact, so cpu_j = 40 W x duration.
3. Bad files: one clear line, exit 1 (or 2 for a bad spec)."""
import json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish, write_atomic  # noqa: E402

BIN = os.environ["GREENTUNE_BIN"]
def write_atomic(path, text):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


WRITER_COMMAND = r'''
import os, sys, time
path = sys.argv[1]
def put(text):  # then wait: the 20 ms sampler must see each value before the next
    with open(path + ".new", "w") as f: f.write(text)
    os.replace(path + ".new", path)
    time.sleep(0.4)
def control(line):
    with open(os.environ["GREENTUNE_CONTROL"], "a") as c: c.write(line + "\n")
    time.sleep(0.5)  # greentune reads the counter at the boundary before we move it again
put("1003.5 J\n"); time.sleep(0.3)     # +3.5 J before any task
control("start a")
put("1010 J\n")                         # +6.5 J in a
put("2 J\n")                            # the host meter restarted: +2 J from zero
put("4500 mJ\n")                        # +2.5 J
control("stop a")
put("0.000002 kWh\n")                   # 7.2 J: up by 2.7 J
'''


def run(args, env, timeout=60):
    return subprocess.run([BIN, "measure", *args], env=env, capture_output=True, text=True, timeout=timeout)


with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ, GREENTUNE_SYSFS_ROOT=os.path.join(tmp, "no-sysfs"),
               GREENTUNE_NVML_LIB="/nonexistent/libnvidia-ml.so.1",
               GREENTUNE_AMDSMI_LIB="/nonexistent/a.so", GREENTUNE_ROCM_SMI_LIB="/nonexistent/r.so")
    meter = os.path.join(tmp, "vm-energy")

    # 1. cumulative joules, the command writing them
    write_atomic(meter, "1000 J\n")
    script = os.path.join(tmp, "writer.py")
    open(script, "w").write(WRITER_COMMAND)
    out = os.path.join(tmp, "joules.json")
    p = run(["--meter", f"file:{meter}", "--interval-ms", "20", "--json", out, "--", sys.executable, script, meter],
            env)
    check(p.returncode == 0, f"joules run: {p.stderr}")
    if p.returncode == 0:
        j = json.load(open(out))
        check(j["meter"] == "file" and j["estimated"] is False and j["sources"]["cpu"] == "file", "the file meter")
        check(abs(j["energy_j"] - (3.5 + 6.5 + 2 + 2.5 + 2.7)) < 1e-6, f"17.2 J in all: {j['energy_j']}")
        check(abs(j["components"]["cpu_j"] - j["energy_j"]) < 1e-9, "booked as cpu")
        a = j["tasks"].get("a", {})
        check(abs(a.get("energy_j", -1) - 11.0) < 1e-6, f"task a: 6.5 + 2 + 2.5 = 11 J: {a}")
        check("host-provided meter" in j["meter_description"], "described")

    # 2. watts, from a separate writer process
    writer = subprocess.Popen([sys.executable, "-c", f'''
import os, time
while True:
    with open({meter!r} + ".w", "w") as f: f.write("cpu 40 W\\ngpu 10000 mW\\n")
    os.replace({meter!r} + ".w", {meter!r})
    time.sleep(0.01)
'''])
    try:
        time.sleep(0.2)
        out = os.path.join(tmp, "watts.json")
        p = run(["--meter", f"file:{meter}", "--json", out, "--", "sleep", "0.5"], env)
        check(p.returncode == 0, f"watts run: {p.stderr}")
        if p.returncode == 0:
            j = json.load(open(out))
            d = j["duration_s"]
            check(abs(j["components"]["cpu_j"] - 40 * d) <= 1e-4 * 40 * d, f"cpu_j = 40 W x {d} s: {j['components']}")
            check(abs(j["components"]["gpu_j"] - 10 * d) <= 1e-4 * 10 * d, "gpu_j = 10 W x d")
            check(j["sources"]["gpu"] == "file" and j["sources"]["dram"] is None, "components as the file names them")
            check("process" in j and j["process"]["method"]["gpu"].startswith("not attributed"),
                  f"the file's GPU figure cannot be shared by process: {j.get('process')}")
    finally:
        writer.kill()
        writer.wait()

    # 3. bad files and specs
    cases = [("12 bananas\n", "unit 'bananas' is not one of"),
             ("cpu 1 J\ncpu 2 J\n", "a second cpu line"),
             ("-5 J\n", "expected '[cpu|dram|gpu] NUMBER"),
             ("", "empty; the host meter writes lines")]
    for text, words in cases:
        write_atomic(meter, text)
        p = run(["--meter", f"file:{meter}", "--", "true"], env)
        check(p.returncode == 1 and words in p.stderr and p.stderr.count("\n") == 1,
              f"{text!r}: one clear line with '{words}': {p.returncode} {p.stderr!r}")
    p = run(["--meter", f"file:{os.path.join(tmp, 'missing')}", "--", "true"], env)
    check(p.returncode == 1 and "missing" in p.stderr and "No such file" in p.stderr, f"missing file: {p.stderr!r}")
    p = run(["--meter", "file:", "--", "true"], env)
    check(p.returncode == 2 and "file: needs a path" in p.stderr, f"file: without a path: {p.stderr!r}")
    p = run(["--meter", "rapl+file:/x", "--", "true"], env)
    check(p.returncode == 2 and "two sources" in p.stderr, f"rapl and a file both for the CPU: {p.stderr!r}")

finish()
