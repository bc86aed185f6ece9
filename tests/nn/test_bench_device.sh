#!/bin/bash
# greentune bench --device: the GPU options on a machine without one — one
# clear line where a GPU is needed, usage errors for GPU-only options on the
# CPU — and the cuda path end to end on the host backend
# (GREENTUNE_CUDA_EMULATE=1): its JSON record names the device and says the
# run was emulated, with the same FLOP count as the CPU's.
set -u
BIN=${GREENTUNE_BIN:?run through ctest}
PY=${GREENTUNE_PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CACHE_HOME=$TMP/cache
fail=0
bad() { echo "FAIL: $*"; fail=1; }
SHAPE="--layers 1 --dim 32 --heads 2 --ffn 64 --seq 16 --batch 2 --vocab 100 --steps 2 --threads 1"

# a usage error (exit 2) whose one line names the option
refuse() { # words... -- args...
    local words=() args
    while [ "$1" != "--" ]; do words+=("$1"); shift; done
    shift
    args=("$@")
    err=$("$BIN" bench $SHAPE "${args[@]}" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] || bad "bench ${args[*]}: exit $rc, expected 2 ($err)"
    [ "$(wc -l <<<"$err")" -eq 1 ] || bad "bench ${args[*]}: not one line: $err"
    for w in "${words[@]}"; do grep -qF -- "$w" <<<"$err" || bad "bench ${args[*]}: '$err' lacks '$w'"; done
}
refuse "--precision tf32" "GPU only" "--device cuda" -- --precision tf32
refuse "--profile" "--device cuda" -- --profile
refuse "--device" "use cpu or cuda" -- --device gpu
refuse "--attention" "standard or fused" -- --attention flash

# without a usable GPU: exit 1 and one line that says why and what to do —
# a build without nvcc says so, a CUDA build names what the driver answered
unset GREENTUNE_CUDA_EMULATE
err=$("$BIN" bench $SHAPE --device cuda 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ]; then
    [ $rc -eq 1 ] || bad "--device cuda without a GPU: exit $rc"
    [ "$(wc -l <<<"$err")" -eq 1 ] && grep -q "^greentune: device cuda: " <<<"$err" && grep -q "device cpu" <<<"$err" ||
        bad "--device cuda without a GPU: '$err'"
    if [ "${GREENTUNE_HAVE_CUDA:-0}" = 1 ]; then
        grep -q "built without CUDA" <<<"$err" && bad "a CUDA build says it has none: '$err'"
    else
        grep -q "built without CUDA" <<<"$err" || bad "a build without CUDA does not say so: '$err'"
    fi
fi

# emulated: the record of the cuda path
for args in "--precision bf16" "--precision fp16 --attention fused" "--precision int8 --mode infer" "--precision tf32"; do
    out=$(GREENTUNE_CUDA_EMULATE=1 "$BIN" bench $SHAPE --device cuda $args --json "$TMP/r.json" 2>&1) ||
        { bad "emulated bench $args: $out"; continue; }
    grep -q "emulated" <<<"$out" || bad "emulated bench $args: the summary does not say it was emulated: $out"
    "$PY" - "$TMP/r.json" "$args" <<'PYEOF' || bad "emulated bench $args: record"
import json, sys
r = json.load(open(sys.argv[1]))
want_mode = "infer" if "infer" in sys.argv[2] else "train"
errors = []
if (r.get("device"), r.get("emulated"), r.get("mode")) != ("cuda", True, want_mode):
    errors.append("device %r emulated %r mode %r" % (r.get("device"), r.get("emulated"), r.get("mode")))
if r["attention"] != ("fused" if "fused" in sys.argv[2] else "standard"):
    errors.append("attention %r" % r["attention"])
N, C, F, T, B = 32, 32, 64, 16, 2
forward = 2 * N * (C * 3 * C + C * C + C * F + F * C) + 2 * B * C * (C + 2) + 4 * B * C * T * T
flops = forward if want_mode == "infer" else 3 * forward
if abs(r["gflop_per_step"] * 1e9 - flops) > 1e-6 * flops:
    errors.append("gflop_per_step %r" % r["gflop_per_step"])
if r["peak_gflops"] != 0 or r["mfu"] != 0:
    errors.append("an emulated run has no GPU peak: %r %r" % (r["peak_gflops"], r["mfu"]))
sys.exit("; ".join(errors) if errors else 0)
PYEOF
done
GREENTUNE_CUDA_EMULATE=1 "$BIN" bench $SHAPE --device cuda --profile >"$TMP/p.txt" 2>&1 || bad "emulated --profile: $(cat "$TMP/p.txt")"
grep -q "device time by kind of op" "$TMP/p.txt" || bad "--profile: no table: $(cat "$TMP/p.txt")"
exit $fail
