#!/bin/bash
# greentune bench: --help, the JSON record (design.md's keys, numbers that
# agree with each other and with the FLOP count worked out here), every
# precision and mode on a tiny shape, and one clear line for each bad option.
set -u
BIN=${GREENTUNE_BIN:?run through ctest}
PY=${GREENTUNE_PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# a private peak cache: measured once here, then reused by the later runs
export XDG_CACHE_HOME=$TMP/cache
fail=0
bad() { echo "FAIL: $*"; fail=1; }

out=$("$BIN" bench --help) || bad "--help exits non-zero"
grep -q "usage: greentune bench" <<<"$out" || bad "--help: no usage line"
grep -q -- "--precision" <<<"$out" || bad "--help: no --precision"

SHAPE="--layers 1 --dim 32 --heads 2 --ffn 64 --seq 16 --batch 2 --vocab 100 --steps 3 --threads 2"

# JSON record of a run; the checks below recompute what they can.
check_json() { # file arch precision mode
    "$PY" - "$@" <<'EOF'
import json, sys
path, arch, precision, mode = sys.argv[1:]
r = json.load(open(path))
errors = []
for key in ("arch", "precision", "mode", "threads", "tokens_per_s", "step_ms", "gflops", "peak_gflops", "mfu",
            "shape", "attention", "fused_kernels", "steps", "warmup_steps", "gflop_per_step"):
    if key not in r:
        errors.append("missing key " + key)
if errors:
    sys.exit("; ".join(errors))
if (r["arch"], r["precision"], r["mode"], r["threads"]) != (arch, precision, mode, 2):
    errors.append("record says %s %s %s %s" % (r["arch"], r["precision"], r["mode"], r["threads"]))
s = r["shape"]
if (s["layers"], s["dim"], s["heads"], s["ffn"], s["seq"], s["batch"], s["vocab"]) != (1, 32, 2, 64, 16, 2, 100):
    errors.append("shape %s" % s)
# FLOPs of one step, from the shapes: linear layers 2 N in out, attention 4 D per key-query pair and head
N, C, F, T, B = 32, 32, 64, 16, 2
ffn_in = 2 * F if arch == "modernbert" else F
forward = 2 * N * (C * 3 * C + C * C + C * ffn_in + F * C) + 2 * B * C * (C + 2) + 4 * B * C * T * T
flops = 3 * forward if mode == "train" else forward
if abs(r["gflop_per_step"] * 1e9 - flops) > 1e-6 * flops:
    errors.append("gflop_per_step %r, expected %r" % (r["gflop_per_step"], flops / 1e9))
step_s = r["step_ms"] / 1e3
if not step_s > 0:
    errors.append("step_ms %r" % r["step_ms"])
else:
    if abs(r["tokens_per_s"] - B * T / step_s) > 1e-6 * r["tokens_per_s"]:
        errors.append("tokens_per_s %r vs batch * seq / step %r" % (r["tokens_per_s"], B * T / step_s))
    if abs(r["gflops"] - flops / step_s / 1e9) > 1e-6 * r["gflops"]:
        errors.append("gflops %r vs FLOPs / step %r" % (r["gflops"], flops / step_s / 1e9))
if not r["peak_gflops"] > 0 or abs(r["mfu"] - r["gflops"] / r["peak_gflops"]) > 1e-9:
    errors.append("mfu %r vs gflops / peak %r / %r" % (r["mfu"], r["gflops"], r["peak_gflops"]))
if r["steps"] != 3 or r["warmup_steps"] != 2 or r["step_ms_best"] > r["step_ms"]:
    errors.append("steps %r warmup %r best %r" % (r["steps"], r["warmup_steps"], r["step_ms_best"]))
if mode == "train" and not r["loss_last"] > 0:
    errors.append("loss_last %r" % r.get("loss_last"))
sys.exit("; ".join(errors) if errors else 0)
EOF
}

run_ok() { # arch precision mode
    local json=$TMP/$1-$2-$3.json
    out=$("$BIN" bench --arch "$1" --precision "$2" --mode "$3" $SHAPE --json "$json" 2>"$TMP/err") \
        || { bad "bench $1 $2 $3 exits non-zero: $(cat "$TMP/err")"; return; }
    grep -q "tokens/s" <<<"$out" || bad "bench $1 $2 $3: no tokens/s line"
    grep -q "MFU" <<<"$out" || bad "bench $1 $2 $3: no MFU"
    check_json "$json" "$1" "$2" "$3" || bad "bench $1 $2 $3: JSON record wrong"
}

run_ok bert fp32 train
run_ok bert fp32 infer
run_ok modernbert fp32 train
run_ok bert int8 infer
if grep -q -w -E "avx512_bf16|amx_bf16" /proc/cpuinfo; then
    run_ok bert bf16 train
    run_ok modernbert bf16 infer
else
    "$BIN" bench --precision bf16 $SHAPE 2>"$TMP/err" >/dev/null
    [ $? -eq 1 ] || bad "bf16 without bf16 instructions: expected exit 1"
    grep -q "bf16" "$TMP/err" || bad "bf16 refusal does not say why"
fi

# Bad options: exit 2 and one line naming the option.
refuse() { # expected-substring args...
    local want=$1
    shift
    "$BIN" bench "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ $rc -eq 2 ] || bad "bench $*: exit $rc, expected 2"
    grep -q -- "$want" "$TMP/err" || bad "bench $*: stderr lacks '$want': $(cat "$TMP/err")"
    [ "$(grep -c '^greentune: ' "$TMP/err")" -ge 1 ] || bad "bench $*: no 'greentune:' line"
    [ ! -s "$TMP/out" ] || bad "bench $*: printed to stdout"
}
refuse "inference only" --precision int8 $SHAPE
refuse "must divide" --dim 32 --heads 3
refuse "unknown (use bert or modernbert)" --arch gpt2
refuse "--steps" --steps 0
refuse "--seq" --seq 0
refuse "--precision" --precision fp16
refuse "--mode" --mode eval
refuse "even head size" --arch modernbert --dim 30 --heads 2
refuse "unexpected argument" extra
refuse "see 'greentune bench --help'" --no-such-option
[ "$(wc -l <"$TMP/err")" -le 2 ] || bad "unknown option: more than two lines"

[ $fail -eq 0 ] && echo "all checks passed"
exit $fail
