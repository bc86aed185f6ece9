"""Fine-tuning Hugging Face model directories (`model: {from: DIR}`): tiny bert
and modernbert directories written here with PyTorch and HF's parameter names
(tests/nn/torch_models.py: the models written from transformers' modeling
code), with WordPiece and byte-level BPE tokenizers from the fixtures.

Each fine-tunes on the tiny data set; the checkpoint it saves loads back into
the PyTorch model with load_state_dict(strict=True) (HF names and shapes), and
PyTorch's logits for the ids `greentune predict` used equal predict's. An
encoder without a classification head fine-tunes with fresh head weights and a
warning. Broken directories — weights that do not match config.json, a
truncated or hostile model.safetensors, a tokenizer.json of an unknown model
type, a tokenizer larger than the vocabulary, a label count that is not the
data set's — each fail with one line naming the file, exit 1, and leave no
checkpoint behind."""
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "nn"))
sys.path.insert(0, os.path.join(HERE, "..", "io"))
from pipeline_util import Checks, require, run, setup, texts, workdir  # noqa: E402

torch = require("torch")
import torch_models  # noqa: E402
from safetensors_spec import deserialize, serialize  # noqa: E402

FIXTURES = os.path.join(HERE, "..", "fixtures")
TOKENIZERS = {"bert": os.path.join(FIXTURES, "tokenizers", "wordpiece-tiny.json"),
              "modernbert": os.path.join(FIXTURES, "tokenizers", "bpe-tiny.json")}
PIPELINE = """\
data: {format: jsonl, path: data.jsonl, split: [0.5, 0.25, 0.25], seed: 1}
model: {from: %s, max_len: 32}
train: {epochs: 20, batch: 8, lr: 3.0e-3, seed: 1}
eval: {batch: 16}
system: {threads: 1, meter: estimate}
"""
c = Checks("test_hf_models")


def tokenizer_facts(path):
    t = json.load(open(path))
    ids = list(t["model"]["vocab"].values()) + [a["id"] for a in t["added_tokens"]]
    pad = next((a["id"] for a in t["added_tokens"] if a["content"] in ("[PAD]", "<|padding|>")), 0)
    return max(ids) + 1, pad


def model_config(arch):
    vocab, pad = tokenizer_facts(TOKENIZERS[arch])
    return torch_models.tiny_config(arch, vocab=vocab, pad_id=pad, num_labels=2, max_len=64)


def entries(state):
    return {name: ("F32", list(t.shape), t.detach().contiguous().float().numpy().tobytes())
            for name, t in state.items()}


def make_dir(path, arch, drop=()):
    """A HF model directory: config.json, model.safetensors (names from torch), tokenizer.json."""
    cfg = model_config(arch)
    torch.manual_seed(7)
    model = torch_models.build(cfg)
    state = {k: v for k, v in model.state_dict().items() if k not in drop}
    os.makedirs(path, exist_ok=True)
    config = torch_models.hf_config(cfg)
    config["id2label"] = {"0": "ham", "1": "spam"}
    json.dump(config, open(os.path.join(path, "config.json"), "w"), indent=2)
    open(os.path.join(path, "model.safetensors"), "wb").write(serialize(entries(state)))
    shutil.copy(TOKENIZERS[arch], os.path.join(path, "tokenizer.json"))
    return cfg, len(state)


def torch_logits(cfg, checkpoint, ids):
    """Logits of the saved checkpoint in PyTorch for one sequence of ids."""
    tensors = deserialize(open(os.path.join(checkpoint, "model.safetensors"), "rb").read())[0]
    state = {name: torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(shape)
             for name, (dtype, shape, data) in tensors.items()}
    model = torch_models.build(cfg)
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids]), torch.tensor([len(ids)]))
    return logits[0].tolist()


def fine_tune(arch):
    d = workdir("hf-" + arch)
    src = os.path.join(d, "pretrained")
    cfg, n_tensors = make_dir(src, arch)
    pipeline = setup(d, PIPELINE % "pretrained")
    out = os.path.join(d, "tuned")
    rc, so, se = run(["run", pipeline, "--out", out, "--json", os.path.join(d, "run.json"), "-q"])
    if not c.check(rc == 0, "%s: fine-tuning failed: %s" % (arch, se)):
        return
    r = json.load(open(os.path.join(d, "run.json")))
    m = r["model"]
    c.check(m["arch"] == arch and m["tensors_loaded"] == n_tensors and m["tensors_initialized"] == 0,
            "%s: model %r" % (arch, m))
    c.check(r["tokenize"]["model"] == ("WordPiece" if arch == "bert" else "BPE"), "%s tokenizer" % arch)
    c.check(r["metrics"]["mcc"] > 0.3, "%s did not learn: %r" % (arch, r["metrics"]))
    config = json.load(open(os.path.join(out, "config.json")))
    c.check(config["model_type"] == arch and config["id2label"] == {"0": "0", "1": "1"}, "%s config" % arch)

    sample = [t for t, _ in texts()[:4]]
    rc, so, se = run(["predict", out, "--json", os.path.join(d, "p.json")] + sum((["--text", t] for t in sample), []))
    if not c.check(rc == 0, "%s: predict failed: %s" % (arch, se)):
        return
    for p in json.load(open(os.path.join(d, "p.json")))["predictions"]:
        want = torch_logits(cfg, out, p["ids"])
        scale = max(1.0, max(abs(x) for x in want))
        c.check(max(abs(a - b) for a, b in zip(p["logits"], want)) < 1e-4 * scale,
                "%s: predict logits %r, PyTorch %r" % (arch, p["logits"], want))


def headless(arch):
    """A pretrained encoder without the classification head: fresh head weights, a warning."""
    d = workdir("hf-headless-" + arch)
    make_dir(os.path.join(d, "pretrained"), arch, drop=("classifier.weight", "classifier.bias"))
    pipeline = setup(d, PIPELINE % "pretrained")
    rc, so, se = run(["run", pipeline, "--json", os.path.join(d, "run.json"), "-q"])
    if c.check(rc == 0, "%s headless: %s" % (arch, se)):
        r = json.load(open(os.path.join(d, "run.json")))
        c.check(r["model"]["tensors_initialized"] == 2, "%s headless: %r" % (arch, r["model"]))
        c.check(any("start from fresh weights" in w for w in r["warnings"]), "%s: no warning" % arch)


def broken(name, arch, damage, words, predict_fails=True):
    d = workdir("hf-bad-" + name)
    src = os.path.join(d, "pretrained")
    make_dir(src, arch)
    damage(src)
    pipeline = setup(d, PIPELINE % "pretrained")
    out = os.path.join(d, "tuned")
    rc, so, se = run(["run", pipeline, "--out", out, "-q"])
    lines = se.strip().splitlines()
    c.check(rc == 1, "%s: exit %d, stderr %r" % (name, rc, se))
    c.check(len(lines) == 1 and lines[0].startswith("greentune: ") and all(w in se for w in words),
            "%s: stderr %r lacks %r" % (name, se, words))
    c.check(not os.path.exists(out) and not [f for f in os.listdir(d) if ".tmp-" in f],
            "%s: a checkpoint was left behind: %r" % (name, os.listdir(d)))
    if not predict_fails:
        return
    rc, so, se = run(["predict", src, "--text", "free money"])
    c.check(rc == 1 and len(se.strip().splitlines()) == 1, "%s: predict %d %r" % (name, rc, se))


def edit_config(key, value):
    def damage(path):
        f = os.path.join(path, "config.json")
        config = json.load(open(f))
        config[key] = value
        json.dump(config, open(f, "w"))
    return damage


def truncate(path):
    f = os.path.join(path, "model.safetensors")
    blob = open(f, "rb").read()
    open(f, "wb").write(blob[:len(blob) // 2])


def header_past_end(path):
    f = os.path.join(path, "model.safetensors")
    blob = open(f, "rb").read()
    open(f, "wb").write(struct.pack("<Q", len(blob) * 4) + blob[8:])


def overlapping(path):
    f = os.path.join(path, "model.safetensors")
    tensors = deserialize(open(f, "rb").read())[0]
    n = struct.unpack("<Q", open(f, "rb").read(8))[0]
    header = json.loads(open(f, "rb").read()[8:8 + n])
    names = sorted(k for k in header if k != "__metadata__")
    a, b = header[names[0]], header[names[1]]
    b["data_offsets"] = [a["data_offsets"][0], a["data_offsets"][0] + (b["data_offsets"][1] - b["data_offsets"][0])]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    data = open(f, "rb").read()[8 + n:]
    open(f, "wb").write(struct.pack("<Q", len(text)) + text + data)
    assert tensors


def unknown_tokenizer(path):
    shutil.copy(os.path.join(FIXTURES, "hf", "bad", "unknown-model", "tokenizer.json"),
                os.path.join(path, "tokenizer.json"))


def main():
    for arch in ("bert", "modernbert"):
        fine_tune(arch)
        headless(arch)
    dim_tensor = "bert.embeddings.word_embeddings.weight"
    broken("mismatch", "bert", edit_config("hidden_size", 48), ["model.safetensors", dim_tensor, "[", "48]", "32]"])
    broken("mismatch-modernbert", "modernbert", edit_config("intermediate_size", 32),
           ["model.safetensors", "mlp.Wi.weight", "has shape"])
    broken("truncated", "bert", truncate, ["model.safetensors"])
    broken("header-past-end", "bert", header_past_end, ["model.safetensors", "header"])
    broken("overlapping", "modernbert", overlapping, ["model.safetensors"])
    broken("unknown-tokenizer", "bert", unknown_tokenizer, ["tokenizer.json"])
    broken("small-vocab", "bert", edit_config("vocab_size", 100), ["vocab_size is 100", "tokenizer"])
    broken("labels", "bert", edit_config("id2label", {"0": "a", "1": "b", "2": "c"}),
           ["config.json", "3 labels", "2 classes"], predict_fails=False)
    return c.close()


if __name__ == "__main__":
    sys.exit(main())
