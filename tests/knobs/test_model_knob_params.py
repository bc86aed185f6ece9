"""Bad parameters and conflicts of the model- and inference-phase knobs (and
grad_ckpt, fused): each is one line on stderr naming the knob and the problem,
exit status 2, whether checked by `greentune knobs` or `greentune run`; and the
dry run (`greentune knobs --knob ...`) says what each knob would change."""
import os
import subprocess
import sys
import tempfile

BIN = os.environ["GREENTUNE_BIN"]
failures = []

# (spec(s), words the one line must contain)
BAD = [
    (["lora=0"], ["lora", "rank 0", "out of range"]),
    (["lora={targets: [q, x]}"], ["lora", "targets \"x\"", "q, k, v, o, ffn"]),
    (["lora={targets: []}"], ["lora", "targets is empty"]),
    (["lora={alpha: -1}"], ["lora", "alpha -1"]),
    (["lora={dropout: 1}"], ["lora", "dropout 1"]),
    (["lora={min_share: 2}"], ["lora", "min_share 2"]),
    (["lora={rank: two}"], ["lora", "rank", "integer"]),
    (["attention={block: 8}"], ["attention", "block 8", "[16, 256]"]),
    (["attention=magic"], ["attention", "\"magic\"", "naive, fused, flash"]),
    (["prune_layers"], ["prune_layers", "give n"]),
    (["prune_layers={n: 2, fraction: 0.5}"], ["prune_layers", "not both"]),
    (["prune_layers={n: 1, from: middle}"], ["prune_layers", "\"middle\"", "top, bottom"]),
    (["prune_layers={fraction: 1.5}"], ["prune_layers", "fraction 1.5"]),
    (["distill={temperature: 0}"], ["distill", "temperature 0"]),
    (["distill={alpha: 2}"], ["distill", "alpha 2"]),
    (["distill={precision: fp16}"], ["distill", "\"fp16\""]),
    (["activation=swish"], ["activation", "\"swish\"", "relu, gelu, gelu_tanh"]),
    (["grad_ckpt=0"], ["grad_ckpt", "every 0"]),
    (["infer_engine=fp16"], ["infer_engine", "\"fp16\""]),
    (["infer_engine={bucket: maybe}"], ["infer_engine", "bucket", "true or false"]),
    (["int8=4"], ["int8"]),
    (["attention", "fused"], ["\"attention\" and \"fused\" conflict"]),
    (["lora", "distill"], ["\"lora\" and \"distill\" conflict"]),
    (["int8", "infer_engine=fp32"], ["\"int8\" and \"infer_engine\"", "conflict"]),
    (["prune_layers=1", "distill={layers: 1}"], ["\"distill\"", "\"prune_layers\"", "conflict"]),
    (["lora", "lora=4"], ["lora", "given twice"]),
]

# (spec, what the dry run must say)
PLANS = [
    ("lora={rank: 4, targets: [q, v]}", "rank-4 adapters"),
    ("int8", "int8 (per-channel scales)"),
    ("attention=naive", "(T, T) probability"),
    ("attention=flash", "online-softmax"),
    ("prune_layers={n: 2, from: bottom}", "2 fewer layers, removed from the bottom"),
    ("distill=/some/teacher", "/some/teacher"),
    ("activation=gelu_tanh", "gelu_tanh in every FFN"),
    ("grad_ckpt=2", "l % 2 == 0"),
    ("fused", "residual + LayerNorm"),
    ("infer_engine=fp32", "fp32 prepacked weights"),
]


def run(*args):
    env = dict(os.environ, GREENTUNE_STATE_DIR=tempfile.mkdtemp(prefix="greentune-state-"))
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


def knob_args(specs):
    return [a for s in specs for a in ("--knob", s)]


for specs, words in BAD:
    code, _, err = run("knobs", *knob_args(specs))
    lines = [line for line in err.splitlines() if line.strip()]
    if code != 2 or len(lines) != 1 or not lines[0].startswith("greentune: "):
        failures.append("%s: exit %d, stderr %r (want exit 2 and one line)" % (specs, code, err))
    elif not all(w in lines[0] for w in words):
        failures.append("%s: %r lacks %r" % (specs, lines[0], words))

for spec, words in PLANS:
    code, out, err = run("knobs", "--knob", spec)
    if code != 0 or words not in out or "effect: applied by the pipeline" not in out:
        failures.append("dry run of %s: exit %d, %r (want %r)" % (spec, code, out + err, words))

for f in failures:
    print("FAIL", f)
print("test_model_knob_params: %s" % ("ok" if not failures else "%d failures" % len(failures)))
sys.exit(1 if failures else 0)
