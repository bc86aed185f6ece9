"""`greentune inspect` on the fixtures: what it reports is checked against the
files read independently in Python (safetensors_spec.py and json), and every bad
or hostile file gives exit status 1 and exactly one line on stderr."""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import check, summary  # noqa: E402
from safetensors_spec import deserialize, numel  # noqa: E402

BIN = os.environ["GREENTUNE_BIN"]
FIXTURES = os.path.join(os.environ["GREENTUNE_SOURCE_DIR"], "tests", "fixtures")
HF = os.path.join(FIXTURES, "hf")


def inspect(*args):
    return subprocess.run([BIN, "inspect", *args], capture_output=True, text=True)


def check_safetensors_report(report, path):
    with open(path, "rb") as f:
        blob = f.read()
    tensors, metadata = deserialize(blob)
    check(report["metadata"] == (metadata or {}), "%s: metadata" % path)
    by_name = {t["name"]: t for t in report["tensors"]}
    check(set(by_name) == set(tensors), "%s: tensor names" % path)
    for name, (dtype, shape, data) in tensors.items():
        t = by_name.get(name, {})
        check(t.get("dtype") == dtype and t.get("shape") == shape, "%s: %s dtype/shape" % (path, name))
        check(t.get("bytes") == len(data) and t.get("params") == numel(shape), "%s: %s sizes" % (path, name))
    total = report["total"]
    check(total["tensors"] == len(tensors), "%s: tensor count" % path)
    check(total["params"] == sum(numel(s) for _, s, _ in tensors.values()), "%s: parameter total" % path)
    check(total["bytes"] == sum(len(d) for _, _, d in tensors.values()), "%s: byte total" % path)
    check(report["header_bytes"] == int.from_bytes(blob[:8], "little"), "%s: header length" % path)


def check_config_report(report, path):
    with open(path) as f:
        config = json.load(f)
    for key in ("architectures", "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "vocab_size", "max_position_embeddings", "global_attn_every_n_layers",
                "local_attention", "global_rope_theta", "local_rope_theta"):
        if key in config:
            check(report.get(key) == config[key], "%s: %s = %r" % (path, key, report.get(key)))
        else:
            check(key not in report, "%s: %s reported but absent" % (path, key))
    check(report.get("num_labels") == len(config["id2label"]), "%s: num_labels" % path)


def check_tokenizer_report(report, path):
    with open(path) as f:
        tok = json.load(f)
    specials = [t["content"] for t in tok["added_tokens"] if t["special"]]
    check(report["model"] == tok["model"]["type"], "%s: model type" % path)
    check(report["vocab_size"] == len(tok["model"]["vocab"]), "%s: vocab size" % path)
    check(report["merges"] == len(tok["model"].get("merges") or []), "%s: merges" % path)
    check(report["added_tokens"] == len(tok["added_tokens"]), "%s: added tokens" % path)
    check(report["special_tokens"] == specials, "%s: special tokens %r" % (path, report["special_tokens"]))
    check(report["pre_tokenizer"] == tok["pre_tokenizer"]["type"], "%s: pre-tokenizer" % path)
    lowercase = tok["normalizer"].get("lowercase", False)
    check(report["lowercase"] == lowercase, "%s: lowercase" % path)
    truncation = tok["truncation"]["max_length"] if tok["truncation"] else None
    check(report["truncation_max_length"] == truncation, "%s: truncation" % path)


def test_model_directories():
    for name in ("tiny-bert", "tiny-modernbert"):
        d = os.path.join(HF, name)
        r = inspect("--json", d)
        check(r.returncode == 0 and r.stderr == "", "%s: exit %d, stderr %r" % (name, r.returncode, r.stderr))
        report = json.loads(r.stdout)
        check(report["path"] == d, "%s: path" % name)
        check(len(report["safetensors"]) == 1, "%s: one safetensors file" % name)
        check_safetensors_report(report["safetensors"][0], os.path.join(d, "model.safetensors"))
        check_config_report(report["config"], os.path.join(d, "config.json"))
        check_tokenizer_report(report["tokenizer"], os.path.join(d, "tokenizer.json"))


def test_text_output():
    d = os.path.join(HF, "tiny-modernbert")
    r = inspect(d)
    check(r.returncode == 0, "text: exit %d" % r.returncode)
    out = r.stdout
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        tensors, _ = deserialize(f.read())
    params = sum(numel(s) for _, s, _ in tensors.values())
    check("model.safetensors: %d tensors, %s parameters" % (len(tensors), format(params, ",")) in out,
          "text: safetensors summary line")
    dtype, shape, data = tensors["model.layers.0.attn.Wqkv.weight"]
    row = r"model\.layers\.0\.attn\.Wqkv\.weight\s+%s\s+\[%s\]\s+%s\n" % (
        dtype, ", ".join(map(str, shape)), format(len(data), ","))
    check(re.search(row, out) is not None, "text: row of Wqkv")
    check(re.search(r"global_attn_every_n_layers\s+3\n", out) is not None, "text: ModernBERT global attention")
    check(re.search(r"local_attention\s+16\n", out) is not None, "text: ModernBERT local attention")
    check(re.search(r"model\s+BPE, 40 tokens, 8 merges \(\+5 added\)\n", out) is not None, "text: tokenizer model")
    check("  metadata:\n    format: pt\n" in out, "text: metadata")


def test_single_files():
    st = os.path.join(FIXTURES, "safetensors", "tiny.safetensors")
    r = inspect("--json", st)
    check(r.returncode == 0, "tiny.safetensors: exit %d" % r.returncode)
    report = json.loads(r.stdout)
    check(set(report) == {"path", "safetensors"}, "single file: only its own part")
    check_safetensors_report(report["safetensors"][0], st)
    # A safetensors file without the extension is recognised by its first bytes.
    with tempfile.TemporaryDirectory() as tmp:
        renamed = os.path.join(tmp, "weights.bin")
        with open(st, "rb") as f, open(renamed, "wb") as g:
            g.write(f.read())
        r = inspect("--json", renamed)
        check(r.returncode == 0 and "safetensors" in json.loads(r.stdout or "{}"), "safetensors by content")
    for part in ("config.json", "tokenizer.json"):
        path = os.path.join(HF, "tiny-bert", part)
        r = inspect("--json", path)
        check(r.returncode == 0, "%s: exit %d" % (part, r.returncode))
        key = "config" if part == "config.json" else "tokenizer"
        check(key in json.loads(r.stdout), "%s: reported as %s" % (part, key))


def expect_one_line_failure(args, phrase, code=1):
    r = inspect(*args)
    lines = r.stderr.splitlines()
    check(r.returncode == code, "%s: exit %d, expected %d" % (args, r.returncode, code))
    check(r.stdout == "", "%s: printed on stdout: %r" % (args, r.stdout[:100]))
    check(len(lines) == 1 and lines[0].startswith("greentune: "), "%s: stderr %r" % (args, r.stderr))
    check(phrase in r.stderr, "%s: expected %r in %r" % (args, phrase, r.stderr))


def test_bad_input():
    bad = os.path.join(FIXTURES, "safetensors", "bad")
    with open(os.path.join(bad, "EXPECTED")) as f:
        expected = [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]
    check(len(expected) >= 25, "hostile corpus listed")
    for name, phrase in expected:
        expect_one_line_failure([os.path.join(bad, name)], phrase)
    expect_one_line_failure([os.path.join(HF, "bad", "unknown-model")], "unknown tokenizer model type")
    expect_one_line_failure([os.path.join(HF, "bad", "truncated-config", "config.json")], "config.json:1:39: not valid JSON")
    expect_one_line_failure([os.path.join(HF, "bad", "not-a-model.json")], "neither a model config.json")
    expect_one_line_failure(["/nonexistent/model"], "/nonexistent/model: No such file or directory")
    with tempfile.TemporaryDirectory() as tmp:
        expect_one_line_failure([tmp], "no config.json, tokenizer.json or *.safetensors here")
        text = os.path.join(tmp, "notes.txt")
        with open(text, "w") as f:
            f.write("hello\n")
        expect_one_line_failure([text], "not a safetensors, config.json or tokenizer.json file")
        fifo = os.path.join(tmp, "config.json")
        os.mkfifo(fifo)
        expect_one_line_failure([tmp], "config.json: not a regular file")
        # A tensor name with a newline and an escape sequence cannot break the line.
        hostile = os.path.join(tmp, "evil.safetensors")
        with open(hostile, "wb") as f:
            header = b'{"a\\n\\u001b[31m":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}'
            f.write(len(header).to_bytes(8, "little") + header + bytes(8))
        expect_one_line_failure([hostile], "hold 8 bytes, but F32 with 1 values needs 4")
    expect_one_line_failure([], "expected one FILE or DIR", code=2)


def main():
    test_model_directories()
    test_text_output()
    test_single_files()
    test_bad_input()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
