"""The shipped experiments/pipeline-spam.yaml on the real SpamAssassin corpus
(`make data`), cut down to seconds: 1000 mails, 64 tokens, 2 epochs. The file
parses, its relative data path resolves, the run learns (binary F1 of the spam
class at least 0.7; the full file reaches 0.95, see the README) and its
checkpoint classifies. Without data/spamassassin it reports itself skipped
(exit 77), never passed."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_util import SOURCE, Checks, run, workdir  # noqa: E402

SKIPPED = 77


def main():
    if not os.path.isdir(os.path.join(SOURCE, "data", "spamassassin")):
        print("skipped: data/spamassassin is not there — run `make data` to test the real corpus")
        return SKIPPED
    c = Checks("test_spam_real")
    d = workdir("spam")
    rc, so, se = run(["run", os.path.join(SOURCE, "experiments", "pipeline-spam.yaml"), "--set", "data.limit=1000",
                      "--set", "model.max_len=64", "--set", "train.epochs=2", "--json", os.path.join(d, "run.json"),
                      "--out", os.path.join(d, "model"), "-q"])
    if not c.check(rc == 0, "run failed: %s" % se):
        return c.close()
    r = json.load(open(os.path.join(d, "run.json")))
    c.check(r["data"]["samples"] == 6046 and sum(r["data"]["split"][p]["samples"] for p in r["data"]["split"]) == 1000,
            "data %r" % r["data"])
    c.check(r["metrics"]["f1"] >= 0.7, "binary F1 %.3f < 0.7: %r" % (r["metrics"]["f1"], r["metrics"]))
    total = sum(s["energy_j"] for s in r["stages"].values()) + r["other"]["energy_j"]
    c.check(abs(total - r["total"]["energy_j"]) <= 1e-9 * r["total"]["energy_j"], "stages do not add up")
    rc, so, se = run(["predict", os.path.join(d, "model"), "--text", "Subject: lunch on Friday?"])
    c.check(rc == 0 and so.split("\t")[1].strip() in ("ham", "spam"), "predict: %d %r %r" % (rc, so, se))
    return c.close("F1 %.3f in %.1f s" % (r["metrics"]["f1"], r["total"]["duration_s"]))


if __name__ == "__main__":
    sys.exit(main())
