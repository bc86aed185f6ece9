"""`greentune report` on the fixture experiment (tests/fixtures/report/): the
JSON keys of design.md's report contract, every number recomputed here from
the fixture's run records with NumPy/SciPy, CSV and Markdown agreeing with it,
the HTML page self-contained, and one clear error line for bad input."""
import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiment"))
import gtlib  # noqa: E402

check, close = gtlib.check, gtlib.close
BIN = os.environ["GREENTUNE_BIN"]
FIXTURE = os.environ["GREENTUNE_REPORT_FIXTURE"]
tmp = tempfile.mkdtemp(prefix="greentune-report-")
DB = os.path.join(tmp, "fixture.db")
subprocess.run([os.environ["GREENTUNE_FIXTURE_DB"], FIXTURE, DB], check=True)
with open(FIXTURE) as f:
    fixture = json.load(f)


def greentune(*args, timeout=60):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def report(fmt, *extra):
    r = greentune("report", DB, "--format", fmt, *extra)
    check(r.returncode == 0, f"report --format {fmt}: exit {r.returncode}: {r.stderr}")
    return r.stdout


# --- the fixture's numbers, recomputed from its run records -------------------

def records(variant):
    return [r["record"] for r in fixture["runs"] if r["variant"] == variant and "record" in r]


def total_energy(rec):
    return rec["total"]["energy_j"] if "total" in rec else rec["energy_j"]


def stage(rec, name, key):
    return (rec.get("stages") or rec.get("tasks"))[name][key]


def values(variant, what):
    out = []
    for rec in records(variant):
        if what == "energy":
            out.append(total_energy(rec))
        elif what == "time":
            out.append(rec["total"]["duration_s"] if "total" in rec else rec["duration_s"])
        elif what in ("eval_energy", "eval_time"):
            out.append(stage(rec, "eval", "energy_j" if what == "eval_energy" else "duration_s"))
        elif "metrics" in rec:
            out.append(rec["metrics"][what])
    return np.array(out, dtype=float)


def ci95(x):
    if len(x) < 2:
        return None
    half = stats.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x))
    return [np.mean(x) - half, np.mean(x) + half]


def welch_p(x, b):
    if len(x) < 2 or len(b) < 2:
        return None
    if np.var(x) == 0 and np.var(b) == 0:
        return 1.0 if np.mean(x) == np.mean(b) else 0.0
    return stats.ttest_ind(x, b, equal_var=False).pvalue


def same(got, want, what, rel=1e-7, abs_tol=1e-9):
    if want is None:
        check(got is None, f"{what}: {got} where none is expected")
    elif isinstance(want, list):
        check(isinstance(got, list) and len(got) == 2 and all(close(g, w, rel, abs_tol) for g, w in zip(got, want)),
              f"{what}: {got} vs {want}")
    else:
        check(got is not None and close(got, want, rel, abs_tol), f"{what}: {got} vs {want}")


# --- the JSON contract ----------------------------------------------------------

# design.md, "report (greentune report DB --format json)": these keys are binding.
TOP_KEYS = ["experiment", "meter", "estimated", "baseline", "variants", "bundles", "pareto"]
VARIANT_KEYS = ["name", "runs", "failed", "energy_j", "stages", "delta_energy_pct", "delta_time_pct",
                "delta_eval_time_pct", "f1", "delta_f1", "p_value", "significant"]
BUNDLE_KEYS = ["name", "knobs", "expected_saving_pct", "measured_saving_pct", "interaction"]

doc = json.loads(report("json"))


def test_json_has_the_contract_keys():
    for k in TOP_KEYS:
        check(k in doc, f"top-level key {k}")
    check(doc["experiment"] == "fixture" and doc["meter"] == "estimate" and doc["estimated"] is True,
          "experiment, meter, estimated")
    check(doc["baseline"] == "V0", "baseline")
    for v in doc["variants"]:
        for k in VARIANT_KEYS:
            check(k in v, f"variant {v.get('name')}: key {k}")
        for k in ("mean", "std", "ci95"):
            check(k in v["energy_j"], f"variant {v['name']}: energy_j.{k}")
        for name in ("data", "tokenize", "load", "train", "save", "eval"):
            check("mean" in v["stages"][name]["energy_j"] and "mean" in v["stages"][name]["duration_s"],
                  f"variant {v['name']}: stages.{name}")
    for b in doc["bundles"]:
        for k in BUNDLE_KEYS:
            check(k in b, f"bundle {b.get('name')}: key {k}")
    check(isinstance(doc["pareto"], list) and all(isinstance(n, str) for n in doc["pareto"]), "pareto names")


def test_json_numbers_match_an_independent_computation():
    base = {w: values("V0", w) for w in ("energy", "time", "eval_energy", "eval_time", "f1")}
    names = [v["name"] for v in fixture["variants"]]
    check([v["name"] for v in doc["variants"]] == names, "variants in experiment order")
    for v in doc["variants"]:
        name = v["name"]
        e = values(name, "energy")
        check(v["runs"] == len(e), f"{name}: runs")
        same(v["energy_j"]["mean"], float(np.mean(e)), f"{name}: energy mean")
        same(v["energy_j"]["std"], float(np.std(e, ddof=1)) if len(e) > 1 else None, f"{name}: energy std")
        same(v["energy_j"]["ci95"], ci95(e), f"{name}: energy ci95")
        same(v["stages"]["eval"]["energy_j"]["mean"], float(np.mean(values(name, "eval_energy"))),
             f"{name}: eval energy")
        for key, what in (("energy", "energy"), ("time", "time"), ("eval_time", "eval_time")):
            x = values(name, what)
            same(v[f"delta_{key}_pct"], 100 * (np.mean(x) / np.mean(base[what]) - 1), f"{name}: delta_{key}_pct")
            if name != "V0" and len(x) > 1 and np.var(x) > 0:
                same(v[f"delta_{key}_ci95"], list(gtlib.fieller(x, base[what])[1:]), f"{name}: delta_{key}_ci95",
                     rel=1e-6)
        same(v["p_value"], welch_p(e, base["energy"]), f"{name}: p_value", rel=1e-6, abs_tol=1e-12)
        p = welch_p(e, base["energy"])
        check(v["significant"] == (p is not None and p < 0.05), f"{name}: significant")
        f1 = values(name, "f1")
        if len(f1):
            same(v["f1"], float(np.mean(f1)), f"{name}: f1")
            same(v["delta_f1"], 100 * (np.mean(f1) / np.mean(base["f1"]) - 1), f"{name}: delta_f1")
        else:
            check(v["f1"] is None and v["delta_f1"] is None, f"{name}: no metrics, no f1")


def test_hand_computed_values():
    by = {v["name"]: v for v in doc["variants"]}
    same(by["V0"]["energy_j"]["mean"], 100, "V0 energy")              # 100, 102.5, 97.5
    same(by["V0"]["energy_j"]["std"], 2.5, "V0 std")
    same(by["V1"]["delta_energy_pct"], -46, "V1: 54 J vs 100 J")
    same(by["V1"]["delta_eval_time_pct"], -50, "V1: eval 0.5 s vs 1 s")
    check(by["V8"]["runs"] == 1 and by["V8"]["failed"] == 1 and by["V8"]["pending"] == 1, "V8 counts")
    check(by["V8"]["energy_j"]["ci95"] is None and by["V8"]["p_value"] is None, "V8: one run, no CI, no test")
    check(by["V7"]["single_class_runs"] == 2, "V7 single class")
    check(any("single class" in w for w in by["V7"]["warnings"]), "V7 warning")
    check(by["V3"]["quadrant"] == "mixed" and by["V8"]["quadrant"] == "both worse"
          and by["V4"]["quadrant"] == "both better" and by["V0"]["quadrant"] is None, "quadrants")
    bundles = {b["name"]: b for b in doc["bundles"]}
    check(sorted(bundles) == ["V4", "V5", "V6", "V7"], f"bundles {sorted(bundles)}")
    same(bundles["V4"]["expected_saving_pct"], 100 * (1 - 0.54 * 0.775), "V4 expected")
    same(bundles["V4"]["measured_saving_pct"], 65, "V4 measured")
    check(bundles["V4"]["knobs"] == ["seq_trim", "prune_layers"], "V4 knobs")
    check([b["interaction"] for b in (bundles[n] for n in ("V4", "V5", "V6", "V7"))]
          == ["synergistic", "antagonistic", "additive", "unknown"], "interactions")
    check(bundles["V7"]["missing_single"] == ["lora(rank=8)"], f"V7 missing {bundles['V7']['missing_single']}")
    check(doc["pareto"] == ["V7", "V4", "V5", "V6"], f"pareto {doc['pareto']}")
    check(doc["best_bundle"] == "V7", "best bundle")
    same(doc["idle"]["power_w"], 5, "idle power")


def test_interaction_interval_recomputed():
    """V6's label from the delta method written out here: log Q's variance is
    the sum of the relative variances of the means, the baseline's once
    (k - 1 = 1), t at the Welch-Satterthwaite df."""
    b = next(b for b in doc["bundles"] if b["name"] == "V6")
    samples = [values("V6", "energy"), values("V0", "energy"), values("V2", "energy"), values("V3", "energy")]
    terms = [np.var(x, ddof=1) / len(x) / np.mean(x) ** 2 for x in samples]
    var = sum(terms)
    df = var ** 2 / sum(t * t / (len(x) - 1) for t, x in zip(terms, samples))
    q = np.mean(samples[0]) * np.mean(samples[1]) / (np.mean(samples[2]) * np.mean(samples[3]))
    half = stats.t.ppf(0.975, df) * math.sqrt(var)
    same(b["interaction_ratio"], q, "V6 Q")
    same(b["interaction_ratio_ci95"], [q * math.exp(-half), q * math.exp(half)], "V6 Q interval")


def test_csv_agrees_with_json():
    rows = list(csv.DictReader(io.StringIO(report("csv"))))
    check(len(rows) == len(doc["variants"]), f"csv rows {len(rows)}")
    for row, v in zip(rows, doc["variants"]):
        check(row["variant"] == v["name"], "csv variant order")
        same(float(row["energy_j_mean"]), v["energy_j"]["mean"], f"csv {v['name']} energy")
        same(float(row["train_energy_j_mean"]), v["stages"]["train"]["energy_j"]["mean"], f"csv {v['name']} train")
        if v["p_value"] is None:
            check(row["delta_energy_p_value"] == "" and row["delta_energy_significant"] == "", "csv: untested")
        else:
            same(float(row["delta_energy_p_value"]), v["p_value"], f"csv {v['name']} p")
            check(row["delta_energy_significant"] == ("yes" if v["significant"] else "no"), "csv significant")
        check(row["estimated"] == "yes" and row["meter"] == "estimate", "csv: source on every row")
    check(rows[8]["warnings"].count(";") >= 2, "csv: V8's warnings")


def test_markdown_table_one():
    md = report("md")
    lines = [line for line in md.splitlines() if re.match(r"\| V\d", line)]
    check(len(lines) == 10 + 4, f"markdown rows: {len(lines)} (10 variants + 4 bundles)")
    v1 = next(line for line in lines if line.startswith("| V1 |"))
    check("-46.0 [" in v1 and "54.0 ± 3.1" in v1, f"V1 row: {v1}")
    check("†" in md and "‡" in md, "non-significant and untested marks")
    check("ESTIMATED" in md and "not measured" in md, "the source in the caption")
    check("- both better: V1" in md, "quadrants in words")


def test_html_is_self_contained():
    html = report("html")
    check(html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>"), "a whole page")
    check(html.count("<svg") == 4, f"four figures, {html.count('<svg')}")
    for banned in ("<script", "<link", "src=", "url(", "@import", "https://"):
        check(banned not in html, f"fetches nothing: {banned}")
    check(html.count("http://") == html.count('xmlns="http://www.w3.org/2000/svg"'), "only the SVG namespace")
    check("ESTIMATED" in html and "(estimated)" in html, "estimated in the caption and on the axes")


def test_out_writes_the_file_and_guesses_the_format():
    out = os.path.join(tmp, "out", "report.json")
    os.makedirs(os.path.dirname(out))
    r = greentune("report", DB, "--out", out)
    check(r.returncode == 0 and r.stdout == "", f"--out: {r.returncode} {r.stderr}")
    with open(out) as f:
        check(json.load(f)["experiment"] == "fixture", "--out wrote JSON")
    check(os.listdir(os.path.dirname(out)) == ["report.json"], "no temporary files left")


def one_line_error(r, code, needle, what):
    err = r.stderr.strip()
    check(r.returncode == code, f"{what}: exit {r.returncode}, want {code}")
    check(err.count("\n") == 0 and err.startswith("greentune: ") and needle in err, f"{what}: stderr {err!r}")


def test_bad_input_gives_one_clear_line():
    one_line_error(greentune("report", os.path.join(tmp, "absent.db")), 1, "greentune sweep", "missing file")
    garbage = os.path.join(tmp, "garbage.db")
    with open(garbage, "w") as f:
        f.write("not a database\n" * 100)
    one_line_error(greentune("report", garbage), 1, "not a greentune database", "garbage file")
    one_line_error(greentune("report", DB, "--format", "pdf"), 2, "md, csv, json or html", "bad format")
    one_line_error(greentune("report", DB, "--experiment", "nope"), 1, "no experiment named 'nope'", "experiment")
    one_line_error(greentune("report"), 2, "which database", "no database")
    one_line_error(greentune("report", DB, DB), 2, "one database", "two databases")
    r = greentune("report", DB, "--bogus")
    check(r.returncode == 2 and "greentune report --help" in r.stderr, "unknown option")
    check(greentune("report", "--help").returncode == 0, "--help")


def test_locked_database_gives_one_clear_line():
    """Another process holds the database exclusively: the report waits the
    busy timeout (5 s), then says so."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('PRAGMA locking_mode = EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE')\n"
         "print('locked', flush=True); time.sleep(30)\n", DB],
        stdout=subprocess.PIPE, text=True)
    try:
        check(holder.stdout.readline().strip() == "locked", "the holder took the lock")
        one_line_error(greentune("report", DB), 1, "locked by another process", "locked database")
    finally:
        holder.kill()
        holder.wait()


def test_experiment_without_finished_runs():
    """Only planned runs: a report with warnings, not a crash."""
    empty = dict(fixture, name="empty", runs=[{"variant": "V0", "repeat": 0, "planned": True}])
    path, db = os.path.join(tmp, "empty.json"), os.path.join(tmp, "empty.db")
    with open(path, "w") as f:
        json.dump(empty, f)
    subprocess.run([os.environ["GREENTUNE_FIXTURE_DB"], path, db], check=True)
    for fmt in ("md", "csv", "json", "html"):
        r = greentune("report", db, "--format", fmt)
        check(r.returncode == 0 and r.stdout, f"empty experiment, {fmt}: {r.returncode} {r.stderr}")
    d = json.loads(greentune("report", db, "--format", "json").stdout)
    check(d["meter"] == "none" and d["pareto"] == [] and any("no finished runs" in w for w in d["warnings"]),
          f"empty experiment: {d['meter']} {d['warnings']}")


def variant_fixture(name, edit):
    """A copy of the fixture with each run record passed through edit(i, record), as a database."""
    fx = json.loads(json.dumps(fixture))
    fx["name"] = name
    for i, r in enumerate(r for r in fx["runs"] if "record" in r):
        edit(i, r["record"])
    path, db = os.path.join(tmp, name + ".json"), os.path.join(tmp, name + ".db")
    with open(path, "w") as f:
        json.dump(fx, f)
    subprocess.run([os.environ["GREENTUNE_FIXTURE_DB"], path, db], check=True)
    return db


def test_the_source_is_told_as_it_is():
    def measured(i, rec):
        rec["meter"], rec["estimated"] = "rapl", False
    db = variant_fixture("measured", measured)
    md = greentune("report", db).stdout
    check('meter "rapl" — measured by hardware energy counters' in md and "ESTIMATED" not in md.split("Idle")[0],
          "a measured experiment says so")
    html = greentune("report", db, "--format", "html").stdout
    check("(estimated)</text>" not in html, "measured axes carry no (estimated)")

    def mixed(i, rec):
        if i % 2:
            rec["meter"], rec["estimated"] = "rapl", False
            rec["machine"] = {"hostname": "other-host", "cpu_model": "x", "cores": 4}
    d = json.loads(greentune("report", variant_fixture("mixed", mixed), "--format", "json").stdout)
    check(d["meter"] == "mixed" and d["estimated"] is True and d["hosts"] == 2, f"mixed: {d['meter']} {d['hosts']}")
    check(any("different meters" in w for w in d["warnings"]) and any("2 machines" in w for w in d["warnings"]),
          f"mixed warnings: {d['warnings']}")


for test in [test_the_source_is_told_as_it_is, test_json_has_the_contract_keys, test_json_numbers_match_an_independent_computation,
             test_hand_computed_values, test_interaction_interval_recomputed, test_csv_agrees_with_json,
             test_markdown_table_one, test_html_is_self_contained, test_out_writes_the_file_and_guesses_the_format,
             test_bad_input_gives_one_clear_line, test_locked_database_gives_one_clear_line,
             test_experiment_without_finished_runs]:
    test()
    print("ok" if gtlib.failures == 0 else "after failures:", test.__name__)
if gtlib.failures == 0:
    subprocess.run(["rm", "-rf", tmp])
sys.exit(1 if gtlib.failures else 0)
