"""Emissions arithmetic and the grid-intensity table, checked against the
checked-in CSV read independently here (not through greentune's parser)."""
import csv, json, os, subprocess, sys, tempfile

BIN = os.environ["GREENTUNE_BIN"]
CSV = os.path.join(os.environ["GREENTUNE_SOURCE_DIR"], "src/energy/grid_intensity.csv")
failures = []

def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)

def table():
    with open(CSV) as f:
        rows = [line for line in f if not line.startswith("#")]
    return {r["iso3"]: r for r in csv.DictReader(rows)}

def measure(tmp, *args):
    out = os.path.join(tmp, "m.json")
    env = dict(os.environ, GREENTUNE_SYSFS_ROOT=os.path.join(tmp, "none"),
               GREENTUNE_NVML_LIB="/nonexistent/libnvidia-ml.so.1")
    p = subprocess.run([BIN, "measure", "-q", "--json", out, *args, "--", "true"],
                       env=env, capture_output=True, text=True)
    return p, (json.load(open(out)) if p.returncode == 0 else None)

rows = table()
# the table: every row well-formed, sources named, years plausible
check(len(rows) > 150, "table has more than 150 countries")
for iso, r in rows.items():
    check(len(iso) == 3 and iso.isupper(), f"{iso}: ISO3 code")
    check(0 <= float(r["g_co2e_per_kwh"]) < 1500, f"{iso}: intensity in range")
    check(2000 <= int(r["year"]) <= 2025, f"{iso}: year")
    check(r["source"] in ("owid", "ember-ger"), f"{iso}: known source")
check("WLD" in rows, "a world-average row")

with tempfile.TemporaryDirectory() as tmp:
    # every 10th country (and lower case) resolves to the CSV's figure
    for iso in sorted(rows)[::10] + ["fra"]:
        p, j = measure(tmp, "--country", iso)
        check(p.returncode == 0, f"--country {iso}: {p.stderr}")
        if j:
            g = float(rows[iso.upper()]["g_co2e_per_kwh"])
            check(abs(j["carbon_intensity_g_per_kwh"] - g) < 1e-6 * g + 1e-9, f"{iso}: intensity {g}")
            want = j["energy_j"] / 3.6e6 * g
            check(abs(j["emissions_g"] - want) <= 1e-5 * want + 1e-15, f"{iso}: emissions")
    # no country: the world average; PUE and an explicit intensity multiply in
    p, j = measure(tmp, "--pue", "1.5", "--carbon-intensity", "400")
    check(j and j["carbon_intensity_g_per_kwh"] == 400 and j["pue"] == 1.5, "explicit intensity and PUE")
    if j:
        want = j["energy_j"] / 3.6e6 * 400 * 1.5
        check(abs(j["emissions_g"] - want) <= 1e-5 * want + 1e-15, "emissions = J/3.6e6 x 400 x 1.5")
    p, j = measure(tmp)
    check(j and j["carbon_intensity_g_per_kwh"] == float(rows["WLD"]["g_co2e_per_kwh"]), "world average")
    # bad input: one clear line, exit 2
    for args, words in ((["--country", "XYZ"], "not in the grid-intensity table"),
                        (["--country", "FR"], "not an ISO 3166-1 alpha-3"),
                        (["--pue", "0.5"], "out of range"),
                        (["--carbon-intensity", "-3"], "out of range")):
        p, _ = measure(tmp, *args)
        check(p.returncode == 2, f"{args}: exit 2, got {p.returncode}")
        check(words in p.stderr and p.stderr.count("\n") == 1, f"{args}: one line with '{words}': {p.stderr!r}")

print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
sys.exit(1 if failures else 0)
