"""`greentune monitor --prometheus`: scraped with curl on localhost. The meter
is a host-provided file the test moves by known joules, so every counter has
an exact expected value; the exposition is checked against the Prometheus
text format with a small independent parser."""
import os, re, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish, write_atomic  # noqa: E402

BIN = os.environ["GREENTUNE_BIN"]
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(?:,|$)')


def parse(text):
    """{(name, frozenset(labels)): value}; checks the text format as it goes."""
    types, samples = {}, {}
    check(text.endswith("\n"), "exposition ends with a newline")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            check(kind in ("counter", "gauge") and name not in types, f"TYPE line {line!r}")
            check(kind != "counter" or name.endswith("_total"), f"counter {name} ends in _total")
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if not check(m is not None, f"sample line {line!r}"):
            continue
        name, labels, value = m.groups()
        check(name in types, f"{name} has a TYPE before its samples")
        pairs = LABEL.findall(labels or "")
        check(",".join(f'{k}="{v}"' for k, v in pairs) == (labels or ""), f"labels {labels!r}")
        samples[(name, frozenset(pairs))] = float(value)
    return samples


def value(samples, name, **labels):
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    check(len(found) == 1, f"one sample {name} {labels}: {len(found)}")
    return found[0] if found else None


def curl(port, path="/metrics", *extra):
    p = subprocess.run(["curl", "-s", "-S", "--max-time", "10", "-w", "\n%{http_code}", *extra,
                        f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=30)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body


with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ, GREENTUNE_NVML_LIB="/nonexistent/libnvidia-ml.so.1",
               GREENTUNE_AMDSMI_LIB="/nonexistent/a.so", GREENTUNE_ROCM_SMI_LIB="/nonexistent/r.so")
    meter, fifo = os.path.join(tmp, "host-energy"), os.path.join(tmp, "control")
    write_atomic(meter, "cpu 100 J\n")
    mon = subprocess.Popen([BIN, "monitor", "--prometheus", "127.0.0.1:0", "--interval-ms", "50", "--meter",
                            f"file:{meter}", "--control", fifo, "--carbon-intensity", "360", "--pid", str(os.getpid())],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = mon.stderr.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line)
    if check(m is not None, f"it says where it serves: {line!r}"):
        port = int(m.group(1))
        # bound to 127.0.0.1 only: /proc/net/tcp lists it as 0100007F:port, listening (0A)
        with open("/proc/net/tcp") as f:
            entries = [l.split() for l in f.readlines()[1:]]
        check(any(e[1] == f"0100007F:{port:04X}" and e[3] == "0A" for e in entries), "listening on 127.0.0.1")
        check(not any(e[1] == f"00000000:{port:04X}" for e in entries), "not on every address")

        write_atomic(meter, "cpu 130 J\n")
        time.sleep(0.3)
        code, body = curl(port)
        check(code == 200, f"/metrics: {code}")
        s = parse(body)
        check(value(s, "greentune_energy_joules_total", component="cpu", source="file", estimated="false") == 30,
              "30 J on the cpu")
        check(value(s, "greentune_power_watts", component="cpu") is not None, "a power gauge")
        check(abs(value(s, "greentune_emissions_grams_total") - 30 / 3.6e6 * 360) < 1e-12, "emissions")
        check(value(s, "greentune_info", meter="file") == 1, "the meter is named")
        share = value(s, "greentune_process_energy_joules_total", component="cpu")
        check(share is not None and 0 <= share <= 30, f"this test's share of the 30 J (--pid): {share}")

        with open(fifo, "w") as c:
            c.write("start train\n")
        time.sleep(0.3)
        write_atomic(meter, "cpu 145 J\n")
        time.sleep(0.3)
        s = parse(curl(port)[1])
        check(value(s, "greentune_task_energy_joules_total", task="train", component="cpu") == 15, "train: 15 J so far")
        check(value(s, "greentune_task_running", task="train") == 1, "train is running")
        check(value(s, "greentune_task_runs_total", task="train") == 0, "no run completed yet")
        with open(fifo, "w") as c:
            c.write("start step\nstop step\nstop train\n")
        time.sleep(0.3)
        s = parse(curl(port)[1])
        check(value(s, "greentune_task_runs_total", task="train") == 1, "train ran once")
        check(value(s, "greentune_task_running", task="step", parent="train") == 0, "step nested in train")

        check(curl(port, "/nope")[0] == 404, "404 elsewhere")
        check(curl(port, "/metrics", "-I")[0] == 200, "HEAD")
        check(curl(port, "/metrics", "-X", "POST")[0] == 405, "POST refused")
        # a client that sends nothing must not hang the server for long
        import socket
        idle = socket.create_connection(("127.0.0.1", port))
        t0 = time.time()
        code, _ = curl(port)
        idle.close()
        check(code == 200 and time.time() - t0 < 8, "a silent client delays others by the timeout at most")
    mon.send_signal(signal.SIGTERM)
    out, err = mon.communicate(timeout=30)
    check(mon.returncode == 0 and "monitored" in err, f"stops cleanly on SIGTERM: {mon.returncode} {err!r}")
    check(not os.path.exists(fifo), "the control FIFO is removed")

    # without --prometheus: a line a second
    p = subprocess.run([BIN, "monitor", "--meter", f"file:{meter}", "--duration", "1.6"], env=env,
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0 and p.stdout.count("total") == 1 and " W " in p.stdout, f"one line: {p.stdout!r}")
    for args, words in ((["--prometheus", "1.2.3:80"], "not an IPv4 address"),
                        (["--prometheus", "127.0.0.1:99999"], "out of range"),
                        (["--interval-ms", "0"], "needs its sampler"),
                        (["extra"], "unexpected argument")):
        p = subprocess.run([BIN, "monitor", *args], env=env, capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and words in p.stderr, f"{args}: exit 2 with '{words}': {p.stderr!r}")

finish()
