"""The registry matches the catalog, and `greentune knobs` shows it.

docs/knob-catalog.md is the specification: every knob of its table must be
registered (a new row without a registry entry fails here) with the same
phase, resource, paper variant and parameters, and nothing may be registered
that the table lacks. The registry is read through `greentune knobs --json`, so
the JSON output is checked on the way; `--markdown` must match docs/knobs.md,
and bad `--knob` values must give one line and exit 2.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ["GREENTUNE_BIN"]
SOURCE = os.environ["GREENTUNE_SOURCE_DIR"]
CATALOG = os.environ.get("GREENTUNE_KNOB_CATALOG", os.path.join(SOURCE, "docs", "knob-catalog.md"))
MACHINE_KNOBS = {"power_cap", "cpu_freq", "threads", "pin_cores", "carbon_aware"}
STAGES = {"data", "tokenize", "load", "train", "save", "eval"}

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


STATE_DIR = tempfile.mkdtemp(prefix="greentune-state-")


def run(*args, env_extra=None):
    env = dict(os.environ, GREENTUNE_STATE_DIR=STATE_DIR)
    env.update(env_extra or {})
    p = subprocess.run([BIN, "knobs", *args], capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout, p.stderr


def catalog_rows(path):
    """(names with their parenthesized words, phase set, resource set, paper) per table row."""
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    in_table = False
    for line in lines:
        if line.startswith("| knob |"):
            in_table = True
            continue
        if not in_table:
            continue
        if not line.startswith("|"):
            break
        if set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        names = re.findall(r"`([a-z0-9_]+)`\s*(?:\(([^)]*)\))?", cells[0])
        # "compute/memory" is two resources, "I/O" one.
        resources = {r.replace("I\0O", "I/O") for r in cells[2].replace("I/O", "I\0O").split("/")}
        rows.append((names, set(cells[1].split("/")), resources, cells[3]))
    return rows


def param_words(text):
    """'n, from=top/bottom' -> n, from, top, bottom; 'governor or max kHz' -> governor, max kHz."""
    words = re.split(r",|/|=| or ", text)
    return [w.strip() for w in words if w.strip()]


def word_is_known(word, knob):
    names = {p["name"] for p in knob["params"]}
    choices = {c for p in knob["params"] for c in p.get("choices", [])}
    normalized = word.lower().replace(" ", "_")
    return normalized in names or normalized in choices or word.split()[0].lower() in names


def check_registry_matches_catalog(registry):
    rows = catalog_rows(CATALOG)
    check(len(rows) >= 25, f"catalog table has only {len(rows)} rows; parser broken?")
    listed = set()
    for names, phases, resources, paper in rows:
        for name, params in names:
            listed.add(name)
            knob = registry.get(name)
            check(knob is not None, f"catalog knob {name} is not registered")
            if knob is None:
                continue
            check(set(knob["phase"]) == phases, f"{name}: phase {knob['phase']} != catalog {sorted(phases)}")
            check(set(knob["resource"]) == resources,
                  f"{name}: resource {knob['resource']} != catalog {sorted(resources)}")
            check(knob["paper"] == paper, f"{name}: paper {knob['paper']!r} != catalog {paper!r}")
            for word in param_words(params or ""):
                check(word_is_known(word, knob), f"{name}: catalog parameter {word!r} is not a parameter or choice")
    for name in registry:
        check(name in listed, f"registered knob {name} is not in the catalog")


def check_param_defaults(knob):
    for p in knob["params"]:
        where = f"{knob['name']}.{p['name']}"
        d = p["default"]
        if p["required"]:
            check(d is None, f"{where}: required but has a default")
            continue
        if d is None:
            continue  # optional without a default
        t = p["type"]
        if t in ("int", "float", "duration"):
            check(isinstance(d, (int, float)) and not isinstance(d, bool), f"{where}: default {d!r} not a number")
            check(p["min"] <= d <= p["max"], f"{where}: default {d} outside [{p['min']}, {p['max']}]")
            if t == "int":
                check(float(d).is_integer(), f"{where}: default {d} not an integer")
        elif t == "bool":
            check(isinstance(d, bool), f"{where}: default {d!r} not a bool")
        elif t == "enum":
            check(d in p["choices"], f"{where}: default {d!r} not in {p['choices']}")
        elif t == "list":
            check(isinstance(d, list) and set(d) <= set(p["choices"]), f"{where}: default {d!r} not a subset")
        elif t == "string":
            check(isinstance(d, str) and d, f"{where}: default {d!r} not a string")
        else:
            check(False, f"{where}: unknown type {t}")


def check_json_shape(registry):
    for name, knob in registry.items():
        check(knob["summary"] and "\n" not in knob["summary"], f"{name}: summary must be one line")
        check(len(knob["evidence"]) >= 1, f"{name}: records no evidence")
        check(set(knob["stages"]) <= STAGES, f"{name}: unknown stages {knob['stages']}")
        check(knob["stages"] or name == "carbon_aware", f"{name}: changes no stage")
        expected = "machine" if name in MACHINE_KNOBS else "pending"
        check(knob["effect"] in (expected, "pipeline"), f"{name}: effect {knob['effect']} (expected {expected})")
        check_param_defaults(knob)
        for c in knob["conflicts"]:
            other = registry.get(c["knob"])
            check(other is not None, f"{name}: conflicts with unknown knob {c['knob']}")
            if other is not None:
                check(any(back["knob"] == name for back in other["conflicts"]),
                      f"{name} conflicts with {c['knob']} but not the other way round")
            check(c["why"], f"{name}: conflict with {c['knob']} gives no reason")
    # The catalog's own example: two attention implementations conflict.
    check(any(c["knob"] == "fused" for c in registry["attention"]["conflicts"]), "attention/fused conflict missing")


def check_markdown_matches_docs():
    rc, out, err = run("--markdown")
    check(rc == 0, f"--markdown failed: {err}")
    with open(os.path.join(SOURCE, "docs", "knobs.md"), encoding="utf-8") as f:
        docs = f.read()
    m = re.search(r"<!-- catalog: generated by `greentune knobs --markdown` -->\n(.*?)<!-- end of catalog -->", docs,
                  re.S)
    check(m is not None, "docs/knobs.md has no generated catalog block")
    if m:
        check(m.group(1) == out, "docs/knobs.md's catalog is stale: regenerate it with `greentune knobs --markdown`")


def check_table(registry):
    rc, out, err = run()
    check(rc == 0 and err == "", f"knobs table failed: {rc} {err}")
    first_words = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
    check(first_words == set(registry), f"table lists {sorted(first_words ^ set(registry))} differently")


def check_one_line_failure(args, code, expect, env_extra=None):
    rc, out, err = run(*args, env_extra=env_extra)
    check(rc == code, f"{args}: exit {rc}, expected {code} (stderr {err!r})")
    check(err.count("\n") == 1 and err.startswith("greentune: "), f"{args}: stderr is not one line: {err!r}")
    check(expect in err, f"{args}: stderr {err!r} lacks {expect!r}")


def check_cli_errors():
    rc, out, err = run("--knob", "seq_trimm")
    check(rc == 2 and err == 'greentune: knob "seq_trimm" is unknown (did you mean "seq_trim"?)\n',
          f"unknown knob: {rc} {err!r}")
    check_one_line_failure(["--knob", "seq_trim=4"], 2, 'knob "seq_trim": max_len 4 is out of range [8, 65536]')
    check_one_line_failure(["--knob", "attention", "--knob", "fused"], 2, 'knobs "attention" and "fused" conflict')
    check_one_line_failure(["--knob", "bf16", "--knob", "bf16"], 2, 'knob "bf16" is given twice')
    check_one_line_failure(["--knob", "prune_layers={n: 2, from: side}"], 2, 'from "side" is not one of top, bottom')
    check_one_line_failure(["--json", "--markdown"], 2, "give one of --json, --markdown or --knob")
    empty = tempfile.mkdtemp(prefix="greentune-sys-")
    check_one_line_failure(["--knob", "power_cap=100"], 1, "pick another knob", {"GREENTUNE_SYSFS_ROOT": empty})
    shutil.rmtree(empty)
    rc, out, err = run("--knob", "prune_layers={n: 2, from: bottom}", "--knob", "seq_trim=64")
    check(rc == 0 and "params: n=2, from=bottom" in out and "params: max_len=64" in out, f"dry run: {rc} {out!r}")
    rc, out, err = run("--help")
    check(rc == 0 and "--knob SPEC" in out, "--help")


def main():
    rc, out, err = run("--json")
    check(rc == 0 and err == "", f"--json failed: {rc} {err}")
    catalog = json.loads(out)
    registry = {k["name"]: k for k in catalog["knobs"]}
    check(len(registry) == len(catalog["knobs"]), "duplicate knob names in the registry")
    check_registry_matches_catalog(registry)
    check_json_shape(registry)
    check_table(registry)
    check_markdown_matches_docs()
    check_cli_errors()
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    if not failures:
        print(f"all checks passed ({len(registry)} knobs)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
