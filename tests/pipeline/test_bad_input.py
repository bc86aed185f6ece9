"""Bad input to `greentune run`: each gives one line on stderr that names the
file (or key, or knob) and the problem, a non-zero exit (2: nothing ran,
1: the run failed), no crash, and no checkpoint left behind. Also the inputs
that are repaired rather than refused: non-UTF-8 text (replaced, counted,
reported) and string labels with a mapping; a model that predicts one class
is run to the end but warned about loudly; Ctrl-C stops a run with 130."""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_util import BIN, TINY_PIPELINE, Checks, run, setup, workdir  # noqa: E402

c = Checks("test_bad_input")


def one_line_failure(name, args, code, words, cwd, out=None):
    rc, so, se = run(args, cwd=cwd)
    lines = se.strip().splitlines()
    c.check(rc == code, "%s: exit %d (wanted %d): %r" % (name, rc, code, se))
    c.check(len(lines) == 1 and lines[0].startswith("greentune: "), "%s: not one line: %r" % (name, se))
    for w in words:
        c.check(w in se, "%s: %r lacks %r" % (name, se.strip(), w))
    c.check("Sanitizer" not in se and "runtime error" not in se, "%s: sanitizer report" % name)
    if out:
        c.check(not os.path.exists(os.path.join(cwd, out)), "%s: %s was created" % (name, out))
    c.check(not [f for f in os.listdir(cwd) if ".tmp-" in f or f.startswith("greentune-checkpoint")],
            "%s: temporary files left: %r" % (name, os.listdir(cwd)))


def write(d, name, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(d, name), mode) as f:
        f.write(data)


def jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


def data_problems(d, pipeline):
    runs = ["run", pipeline, "--out", "model"]
    write(d, "empty.jsonl", "")
    write(d, "one-class.jsonl", jsonl({"text": "t %d" % i, "label": 0} for i in range(20)))
    write(d, "strings.jsonl", jsonl({"text": "t %d" % i, "label": ["ham", "spam"][i % 2]} for i in range(20)))
    write(d, "three.jsonl", jsonl({"text": "t %d" % i, "label": i % 3} for i in range(20)))
    write(d, "broken.csv", 'text,label\n"free money, 1\nhello,0\n')
    cases = [
        ("missing data", ["--set", "data.path=absent.jsonl"], 1, ["absent.jsonl", "No such file"]),
        ("missing corpus", ["--set", "data.format=spamassassin", "--set", "data.path=nowhere"], 1,
         ["nowhere", "make data"]),
        ("empty data set", ["--set", "data.path=empty.jsonl"], 1, ["empty.jsonl", "empty"]),
        ("class without samples", ["--set", "data.path=one-class.jsonl"], 1, ["one-class.jsonl", "no samples"]),
        ("string labels", ["--set", "data.path=strings.jsonl"], 1, ["strings.jsonl", "\"ham\"", "labels: {"]),
        ("label 2", ["--set", "data.path=three.jsonl"], 1, ["three.jsonl", "line 3", "\"2\""]),
        ("broken quote", ["--set", "data.path=broken.csv", "--set", "data.format=csv"], 1,
         ["broken.csv", "line 2", "never closed"]),
        ("unknown key", ["--set", "trian.epochs=1"], 2, ["trian", "did you mean \"train\""]),
        ("bad value", ["--set", "train.lr=fast"], 2, ["train.lr", "expected a number"]),
        ("unknown knob", ["--knob", "seq_trm=16"], 2, ["seq_trm", "did you mean \"seq_trim\""]),
        ("knob that cannot apply", ["--knob", "seq_trim=64"], 1, ["seq_trim", "is not below", "nothing to trim"]),
        ("bad knob value", ["--knob", "threads=zero"], 2, ["threads"]),
    ]
    for name, extra, code, words in cases:
        one_line_failure(name, runs + extra, code, words, d, out="model")
    one_line_failure("no pipeline file", ["run", "absent.yaml"], 2, ["absent.yaml"], d)
    write(d, "knob-in-file.yaml", TINY_PIPELINE + "knobs: {prune_layer: 1}\n")
    one_line_failure("unknown knob in the file", ["run", "knob-in-file.yaml"], 2,
                     ["knob-in-file.yaml:7:", "did you mean \"prune_layers\""], d)
    os.makedirs(os.path.join(d, "occupied"))
    write(d, "occupied/notes.txt", "mine")
    one_line_failure("--out holds other files", runs[:2] + ["--out", "occupied"], 1, ["occupied", "notes.txt"], d)
    c.check(os.listdir(os.path.join(d, "occupied")) == ["notes.txt"], "--out's files were touched")


def repaired_inputs(d, pipeline):
    # String labels with a mapping: the class names reach config.json.
    rows = [{"text": "free money %d" % i if i % 2 else "energy data %d" % i, "label": ["ham", "spam"][i % 2]}
            for i in range(40)]
    write(d, "named.jsonl", jsonl(rows))
    rc, so, se = run(["run", pipeline, "-q", "--set", "data.path=named.jsonl", "--set",
                      "data.labels={ham: 0, spam: 1}", "--out", "named-model", "--json", "named.json"], cwd=d)
    if c.check(rc == 0, "labels mapping: %s" % se):
        config = json.load(open(os.path.join(d, "named-model", "config.json")))
        c.check(config["id2label"] == {"0": "ham", "1": "spam"}, "id2label %r" % config["id2label"])
        c.check(json.load(open(os.path.join(d, "named.json")))["data"]["classes"] == {"ham": 20, "spam": 20},
                "class names in the record")
    # Non-UTF-8 bytes: replaced, counted, reported in the record and on stderr.
    lines = [b"text,label\n"]
    for i in range(40):
        text = b"caf\xe9 \xff offer" if i % 10 == 0 else b"plain text %d" % i
        lines.append(b"%s,%d\n" % (text, i % 2))
    write(d, "latin1.csv", b"".join(lines))
    rc, so, se = run(["run", pipeline, "--set", "data.path=latin1.csv", "--set", "data.format=csv", "--json",
                      "latin1.json"], cwd=d)
    if c.check(rc == 0, "non-UTF-8: %s" % se):
        r = json.load(open(os.path.join(d, "latin1.json")))
        c.check(r["data"]["invalid_utf8"] == 8 and r["data"]["texts_with_invalid_utf8"] == 4,
                "invalid UTF-8 counts %r" % r["data"])
        c.check(any("invalid UTF-8" in w and "latin1.csv" in w for w in r["warnings"]), "warnings %r" % r["warnings"])
        c.check("8 invalid UTF-8 sequences in 4 texts replaced" in se, "stderr does not report it: %r" % se)
    # One text for every sample: the model can only predict one class, and says so loudly.
    write(d, "same.jsonl", jsonl({"text": "the same words", "label": i % 2} for i in range(40)))
    rc, so, se = run(["run", pipeline, "--set", "data.path=same.jsonl", "--json", "same.json"], cwd=d)
    if c.check(rc == 0, "single class: %s" % se):
        r = json.load(open(os.path.join(d, "same.json")))
        c.check(any("for all" in w and "test samples" in w for w in r["warnings"]), "warnings %r" % r["warnings"])
        c.check("WARNING   the model predicted class" in se, "summary lacks the warning: %r" % se[-600:])


def interrupted(d, pipeline):
    """Ctrl-C mid-training: exit 130, one line, nothing saved."""
    p = subprocess.Popen([BIN, "run", pipeline, "--set", "train.epochs=100000", "--out", "model-int"], cwd=d,
                         stderr=subprocess.PIPE, text=True)
    seen = ""
    for line in p.stderr:
        seen += line
        if line.startswith("train"):
            break
    p.send_signal(signal.SIGINT)
    rest = p.stderr.read()
    rc = p.wait(timeout=60)
    c.check(rc == 130, "interrupted run exited %d: %r" % (rc, seen + rest))
    c.check("interrupted" in rest and "nothing was saved" in rest, "stderr after SIGINT: %r" % rest)
    c.check(not os.path.exists(os.path.join(d, "model-int")), "an interrupted run left a checkpoint")
    c.check(not [f for f in os.listdir(d) if ".tmp-" in f], "temporary files left: %r" % os.listdir(d))


def main():
    d = workdir("bad-input")
    pipeline = setup(d)
    data_problems(d, pipeline)
    repaired_inputs(d, pipeline)
    interrupted(d, pipeline)
    return c.close()


if __name__ == "__main__":
    sys.exit(main())
