"""experiments/paper.yaml holds the paper's 31 variants of Table I, checked by
`greentune sweep --dry-run` (every variant loads through the knob registry),
with the layer pruning scaled to the model: the paper's 4/8/12/16/20 of 22
layers are the same fractions of the file's 11 layers, 2/4/6/8/10, top and
bottom in turn. docs/knobs.md's mapping table names every variant with the
knobs the file gives it."""
import json
import os
import re
import subprocess
import sys
import tempfile

BIN = os.environ["GREENTUNE_BIN"]
SOURCE = os.environ["GREENTUNE_SOURCE_DIR"]
PAPER = os.path.join(SOURCE, "experiments", "paper.yaml")
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


def variants_of_dry_run():
    db = os.path.join(tempfile.mkdtemp(prefix="greentune-paper-"), "paper.db")
    p = subprocess.run([BIN, "sweep", PAPER, "--dry-run", "--db", db], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0 and p.stderr == "", "dry run: exit %d, %s" % (p.returncode, p.stderr))
    check(not os.path.exists(db), "the dry run wrote the database")
    found = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^  (V\d+)\s+(\{.*\}|\(no knobs\))$", line)
        if m:
            found[m.group(1)] = {} if m.group(2) == "(no knobs)" else json.loads(m.group(2))
    return found


def main():
    variants = variants_of_dry_run()
    check(list(variants) == ["V%d" % i for i in range(31)], "variants: %s" % list(variants))
    with open(PAPER) as f:
        text = f.read()
    m = re.search(r"model\.layers:\s*(\d+)", text)
    layers = int(m.group(1)) if m else 0
    check(layers == 11, "paper.yaml sets model.layers to %d, not 11" % layers)
    for k, pruned in enumerate((4, 8, 12, 16, 20)):
        for side, name in (("top", "V%d" % (13 + 2 * k)), ("bottom", "V%d" % (14 + 2 * k))):
            p = variants.get(name, {}).get("prune_layers", {})
            fraction = p.get("fraction", 0)
            check(p.get("from") == side, "%s prunes from %s" % (name, p.get("from")))
            check(abs(fraction - pruned / 22) < 1e-3, "%s: fraction %s, paper %d/22" % (name, fraction, pruned))
            check(round(fraction * layers) == pruned * layers // 22,
                  "%s: %s x %d layers rounds to %d, not %d" % (name, fraction, layers, round(fraction * layers),
                                                               pruned * layers // 22))
    # The paper's Prune12B in V26 and V28 is V18's.
    for name in ("V26", "V28"):
        check(variants.get(name, {}).get("prune_layers") == variants.get("V18", {}).get("prune_layers"),
              "%s prunes differently from V18" % name)
    with open(os.path.join(SOURCE, "docs", "knobs.md")) as f:
        docs = f.read()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (V\d+) \| [^|]+ \| ([^|]+) \|", docs, re.M)}
    for name, knobs in variants.items():
        row = rows.get(name)
        check(row is not None, "docs/knobs.md has no row for %s" % name)
        for knob in knobs:
            check(row is not None and "`%s" % knob in row, "docs/knobs.md's %s row lacks %s" % (name, knob))
    for f in failures:
        print("FAIL", f)
    print("test_paper_variants: %s (%d variants)" % ("ok" if not failures else "%d failures" % len(failures),
                                                     len(variants)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
