"""greentune's metrics (src/pipeline/metrics.c) against scikit-learn, the
library whose definitions the paper's numbers use: accuracy_score,
precision/recall/f1_score (binary of class 1 with two classes, macro over all
the classes with more), f1_score(average="weighted"), matthews_corrcoef and
confusion_matrix, on random cases and on the corner cases where a ratio has a
zero denominator (a class never predicted, a single predicted class)."""
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_util import require  # noqa: E402

skm = require("sklearn.metrics")
DRIVER = os.environ["GREENTUNE_METRICS_DRIVER"]


def cases():
    rng = random.Random(7)
    out = []
    # Textbook-shaped binary cases and every corner of the 2x2 matrix.
    out.append((2, [0] * 60 + [1] * 40, [0] * 50 + [1] * 10 + [0] * 5 + [1] * 35))
    out.append((2, [0, 0, 1, 1], [0, 0, 0, 0]))          # majority class only: the paper's LoRA failure
    out.append((2, [0, 0, 1, 1], [1, 1, 1, 1]))          # positive class only
    out.append((2, [0, 0, 0, 0], [0, 0, 0, 0]))          # no positives at all
    out.append((2, [1, 1, 1], [1, 1, 1]))
    out.append((2, [0, 1, 0, 1], [1, 0, 1, 0]))          # all wrong: mcc -1
    out.append((2, [0], [1]))
    out.append((3, [0, 1, 2, 2, 1, 0], [0, 2, 2, 2, 1, 0]))
    out.append((4, [0, 1, 2, 0, 1, 2], [0, 1, 1, 0, 2, 2]))  # class 3 never occurs
    for _ in range(300):
        k = rng.choice([2, 2, 2, 3, 5, 16])
        n = rng.randint(1, 200)
        labels = [rng.randrange(k) for _ in range(n)]
        skill = rng.random()
        preds = [y if rng.random() < skill else rng.randrange(k) for y in labels]
        if rng.random() < 0.1:
            preds = [rng.randrange(k)] * n
        out.append((k, labels, preds))
    return out


def expected(k, y, p):
    labels = list(range(k))
    avg = "binary" if k == 2 else "macro"
    kw = dict(zero_division=0)
    if k == 2:
        kw["pos_label"] = 1
    else:
        kw["labels"] = labels
    return {
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p, average=avg, **kw),
        "recall": skm.recall_score(y, p, average=avg, **kw),
        "f1": skm.f1_score(y, p, average=avg, **kw),
        "f1_weighted": skm.f1_score(y, p, average="weighted", labels=labels, zero_division=0),
        "mcc": skm.matthews_corrcoef(y, p),
        "confusion": skm.confusion_matrix(y, p, labels=labels).tolist(),
    }


def main():
    all_cases = cases()
    text = "".join("%d %d\n%s\n%s\n" % (k, len(y), " ".join(map(str, y)), " ".join(map(str, p)))
                   for k, y, p in all_cases)
    # Bad input: a label outside the classes, and too many classes.
    text += "2 2\n0 2\n0 1\n17 1\n0\n0\n"
    out = subprocess.run([DRIVER], input=text, capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == len(all_cases) + 2, "driver printed %d lines for %d cases" % (len(out), len(all_cases) + 2)
    failures = 0
    for (k, y, p), line in zip(all_cases, out):
        got = json.loads(line)
        want = expected(k, y, p)
        for key, value in want.items():
            if key == "confusion":
                ok = got[key] == value
            else:
                ok = abs(got[key] - value) <= 1e-12
            if not ok:
                failures += 1
                print("FAIL k=%d y=%s p=%s: %s = %r, sklearn %r" % (k, y[:12], p[:12], key, got[key], value))
        single = sorted(set(p))
        want_single = single[0] if len(single) == 1 else -1
        if got["single_class"] != want_single:
            failures += 1
            print("FAIL single_class %r, expected %r for p=%s" % (got["single_class"], want_single, p[:12]))
    bad = [json.loads(line) for line in out[len(all_cases):]]
    for b in bad:
        if "error" not in b:
            failures += 1
            print("FAIL: bad input accepted: %r" % b)
    for b, words in zip(bad, ("sample 1: label 2", "17 classes")):
        if words not in b.get("error", ""):
            failures += 1
            print("FAIL: error %r does not say %r" % (b.get("error"), words))
    print("%d cases compared with scikit-learn %s, %d failures" % (len(all_cases), skm.__name__, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
