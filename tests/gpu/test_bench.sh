#!/bin/bash
# greentune bench --device cuda on the GPU, tiny shapes in every precision:
# the record names the GPU, the measured cuBLASLt peak is there, the numbers
# agree with each other (tokens/s, TFLOP/s, 0 < MFU < 1), and no real work
# falls back to the plain kernel (at most the classifier's 2-wide products,
# under 0.1 % of the step's FLOPs). Skipped (77) without a GPU.
set -u
BIN=${GREENTUNE_BIN:?run through ctest}
PY=${GREENTUNE_PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
unset GREENTUNE_CUDA_EMULATE
SHAPE="--layers 2 --dim 256 --heads 4 --ffn 1024 --seq 128 --batch 8 --vocab 1000 --steps 3"
if ! why=$("$BIN" bench $SHAPE --steps 1 --device cuda 2>&1 >/dev/null); then
    echo "skipped: $why"
    exit 77
fi
fail=0
for args in "--precision fp32" "--precision tf32" "--precision bf16" "--precision fp16 --attention fused" \
            "--precision int8 --mode infer" "--arch modernbert --precision bf16 --profile"; do
    if ! out=$("$BIN" bench $SHAPE --device cuda $args --json "$TMP/r.json" 2>&1); then
        echo "FAIL: bench $args: $out"; fail=1; continue
    fi
    echo "$out"
    "$PY" - "$TMP/r.json" <<'PYEOF' || { echo "FAIL: bench $args: record"; fail=1; }
import json, sys
r = json.load(open(sys.argv[1]))
errors = []
if r.get("device") != "cuda" or r.get("emulated") or not r.get("gpu"):
    errors.append("device %r gpu %r emulated %r" % (r.get("device"), r.get("gpu"), r.get("emulated")))
if not (r["peak_gflops"] > 0 and 0 < r["mfu"] < 1 and abs(r["mfu"] - r["gflops"] / r["peak_gflops"]) < 1e-9):
    errors.append("peak %r mfu %r gflops %r" % (r["peak_gflops"], r["mfu"], r["gflops"]))
if r.get("fallback_gflop", 0) > 1e-3 * r["gflop_per_step"] * 3:
    errors.append("%r GFLOP of matmuls on the plain kernel" % r["fallback_gflop"])
if "device_ms_by_kind" in r and not r["device_ms_by_kind"].get("gemm", 0) > 0:
    errors.append("profile without matmul time: %r" % r["device_ms_by_kind"])
sys.exit("; ".join(errors) if errors else 0)
PYEOF
done
exit $fail
