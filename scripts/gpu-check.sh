#!/usr/bin/env bash
# Every GPU check of greentune in one go, on a machine with an NVIDIA GPU:
#   1. builds with CUDA (build-gpu/, -DGREENTUNE_CUDA=ON, all cores);
#   2. runs the GPU tests (ctest -L gpu): CUDA vs CPU parity of the tiny bert
#      and modernbert (logits, loss, gradients, an AdamW step, inference, in
#      fp32, tf32, bf16, fp16, int8), every kernel against the CPU ops, the
#      NVML energy counter against integrated power samples, bench on the GPU;
#   3. power_cap device=gpu: a dry run that reads the limits and changes
#      nothing — the real round trip (set, read back, restore, SIGTERM) only
#      with --allow-power-cap, where changing the card's settings is allowed
#      (never on the lent device machines);
#   4. greentune bench --device cuda at the reference shape and at a
#      ModernBERT-base shape (22 layers, 768 hidden, 12 heads, GeGLU ffn 1152,
#      seq 512), bf16 with the time per kind of op, plus tf32/fp32 and inference;
#   5. writes a Markdown summary to SUMMARY (for docs/gpu.md), logs and JSON
#      records in SUMMARY.d/ (and in $OUT when set: the device tool brings it back).
#
# usage: scripts/gpu-check.sh SUMMARY.md [--allow-power-cap]
# Exit: 0 every check passed, 1 a check failed, 2 bad usage, 3 no GPU here.
# GPU_CHECK_JOBS (build jobs, default all cores), GPU_CHECK_BUILD (build folder),
# GPU_CHECK_DRY_RUN=1 (go through every step without a GPU: tests the script;
# the GPU tests then report themselves skipped).
#
# Build dependencies (oneDNN, cJSON, libyaml, SQLite, pkg-config) come from the
# machine, else from .gpu-deps/debs (scripts/gpu-deps.sh), unpacked here
# (GPU_CHECK_DEPS=bundled uses those even where the machine has its own).
# With $OUT set (the device tool), the summary and a tarball of the logs are
# copied there after every step: give SUMMARY a path outside $OUT.
set -u -o pipefail

usage() { echo "usage: scripts/gpu-check.sh SUMMARY.md [--allow-power-cap]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
summary=$1
allow_cap=0
if [ $# -eq 2 ]; then [ "$2" = --allow-power-cap ] && allow_cap=1 || usage; fi
case $summary in -*) usage ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
build=${GPU_CHECK_BUILD:-$root/build-gpu}
jobs=${GPU_CHECK_JOBS:-$(nproc)}
logs=$summary.d
mkdir -p "$logs" || { echo "gpu-check: cannot create $logs" >&2; exit 2; }
: >"$summary" || { echo "gpu-check: cannot write $summary" >&2; exit 2; }
t_start=$(date +%s)
failed=0
note() { echo "gpu-check: $*" | tee -a "$logs/steps.log"; }
elapsed() { echo $(($(date +%s) - t_start)); }
# What was made so far, where the device tool fetches it (two files), after every step.
keep() {
    if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
        cp "$summary" "$OUT/gpu-check.md" 2>/dev/null
        tar czf "$OUT/gpu-check-logs.tgz" -C "$(dirname "$logs")" "$(basename "$logs")" 2>/dev/null || true
    fi
}
trap keep EXIT

# --- 0. is there a GPU? -----------------------------------------------------------
gpu=""
if command -v nvidia-smi >/dev/null 2>&1 && gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv,noheader 2>&1) && [ -n "$gpu" ]; then
    note "GPU: $gpu"
else
    why=${gpu:-nvidia-smi not found}
    note "no NVIDIA GPU here ($(head -1 <<<"$why")); nothing to measure — run this on a machine with one"
    printf '# GPU check: not run\n\n%s: no NVIDIA GPU on %s (%s).\n' "$(date -u +%F)" "$(hostname)" \
        "$(head -1 <<<"$why")" >"$summary"
    [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ] || exit 3
    note "GPU_CHECK_DRY_RUN=1: going through every step anyway (the GPU tests will report themselves skipped)"
fi

# --- 1. build dependencies and the build ---------------------------------------------
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DGREENTUNE_CUDA=ON)
have_deps() {
    [ "${GPU_CHECK_DEPS:-}" != bundled ] || return 1
    command -v pkg-config >/dev/null || return 1
    pkg-config --exists libcjson yaml-0.1 sqlite3 2>/dev/null || return 1
    [ -e /usr/include/dnnl.h ] || [ -e /usr/local/include/dnnl.h ]
}
unpack() { # deb folder: dpkg-deb, or ar and tar where there is no dpkg
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$2"; return; fi
    local tmp
    tmp=$(mktemp -d) && (cd "$tmp" && ar x "$1" && tar xf data.tar.* -C "$2") && rm -rf "$tmp"
}
if ! have_deps; then
    debs=("$root"/.gpu-deps/debs/*.deb)
    if [ ! -e "${debs[0]}" ]; then
        note "the build needs oneDNN, cJSON, libyaml, SQLite and pkg-config; none here and no .gpu-deps/debs " \
             "(run scripts/install-deps.sh, or scripts/gpu-deps.sh on a Debian machine and carry .gpu-deps)"
        exit 1
    fi
    deps=$build/deps-root
    mkdir -p "$deps"
    for d in "${debs[@]}"; do unpack "$d" "$deps" || { note "cannot unpack $d"; exit 1; }; done
    lib=$deps/usr/lib/x86_64-linux-gnu
    export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$deps/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$deps
    command -v pkg-config >/dev/null || cmake_args+=(-DPKG_CONFIG_EXECUTABLE="$deps/usr/bin/pkgconf")
    cmake_args+=(-DCMAKE_PREFIX_PATH="$deps/usr")
    note "build dependencies from .gpu-deps ($(ls "${debs[@]}" | wc -l) packages) unpacked in $deps"
fi
command -v ninja >/dev/null && [ ! -e "$build/CMakeCache.txt" ] && cmake_args+=(-G Ninja)
note "configuring and building with $jobs jobs in $build"
targets=(greentune_cli nn_test_gpu_model nn_test_dev_ops gpu_test_nvml_counter gpu_test_power_cap)
if ! { cmake -S "$root" -B "$build" "${cmake_args[@]}" && cmake --build "$build" -j "$jobs" --target "${targets[@]}"; } \
        >"$logs/build.log" 2>&1; then
    note "the build failed (last lines of $logs/build.log):"
    tail -20 "$logs/build.log"
    exit 1
fi
build_s=$(elapsed)
note "built in ${build_s} s"
keep
bin=$build/greentune

# --- 2. the GPU tests -------------------------------------------------------------------
[ $allow_cap = 1 ] && export GREENTUNE_GPU_POWER_CAP_TEST=1
(cd "$build" && ctest -L gpu -V --timeout 300) >"$logs/ctest.log" 2>&1 || failed=1
note "GPU tests: $(grep -E 'tests passed|tests failed' "$logs/ctest.log" | tail -1)"
keep

# --- 3. power_cap on the GPU: the dry run (read only) ------------------------------------
limit=$(nvidia-smi --query-gpu=power.limit --format=csv,noheader,nounits 2>/dev/null | head -1 | cut -d. -f1)
"$bin" knobs --knob "power_cap={watts: $(( ${limit:-300} * 9 / 10 )), device: gpu}" >"$logs/power-cap-plan.txt" 2>&1
note "power_cap dry run: $(grep -E 'would set|cannot apply' "$logs/power-cap-plan.txt" | head -1 | sed 's/^ *//')"

# --- 4. benchmarks ------------------------------------------------------------------------
REF="--arch bert --layers 4 --dim 256 --heads 4 --ffn 1024 --seq 256 --batch 16 --vocab 8192"
MBERT="--arch modernbert --layers 22 --dim 768 --heads 12 --ffn 1152 --seq 512 --batch 32 --vocab 50368"
benches=(
    "ref-bf16|$REF --precision bf16 --steps 20"
    "ref-tf32|$REF --precision tf32 --steps 10"
    "ref-fp32|$REF --precision fp32 --steps 10"
    "modernbert-bf16-train|$MBERT --precision bf16 --steps 10 --profile"
    "modernbert-bf16-train-fused|$MBERT --precision bf16 --steps 2 --attention fused"
    "modernbert-bf16-infer|$MBERT --precision bf16 --mode infer --steps 10"
    "modernbert-int8-infer|$MBERT --precision int8 --mode infer --steps 10"
)
for b in "${benches[@]}"; do
    name=${b%%|*}
    args=${b#*|}
    if timeout 300 "$bin" bench --device cuda $args --json "$logs/$name.json" >"$logs/$name.txt" 2>&1; then
        note "bench $name: $(grep -E '^  (rate|peak)' "$logs/$name.txt" | tr -s ' ' | paste -sd';')"
    else
        note "bench $name failed: $(tail -1 "$logs/$name.txt")"
        rm -f "$logs/$name.json"
        [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ] || failed=1
    fi
    keep
done

# --- 5. the summary ---------------------------------------------------------------------------
python3 - "$summary" "$logs" "$gpu" "$build_s" "$(elapsed)" "$allow_cap" <<'EOF' || failed=1
import glob, json, os, re, sys, datetime
out, logs, gpu, build_s, total_s, allow_cap = sys.argv[1:]
ctest = open(os.path.join(logs, "ctest.log"), errors="replace").read()
lines = ["# GPU check, %s" % datetime.date.today().isoformat(), "",
         "GPU: %s. Build with CUDA: %s s; the whole check: %s s." % (gpu or "none", build_s, total_s), "",
         "## Tests (`ctest -L gpu`)", "", "| test | result | time |", "| --- | --- | --- |"]
for m in re.finditer(r"Test +#\d+: (\S+) \.+ *(\*+\w+|Passed|\w+)[^\n]*?([\d.]+) sec", ctest):
    lines.append("| %s | %s | %s s |" % (m.group(1), m.group(2).strip("*"), m.group(3)))
skips = re.findall(r"^\d+: skipped: (.*)$", ctest, re.M)
for s in sorted(set(skips)):
    lines.append("")
    lines.append("skipped: " + s)
nvml = re.findall(r"^\d+: (nvml .*)$", ctest, re.M)
if nvml:
    lines += ["", "NVML counter vs integrated power:", ""] + ["    " + n for n in nvml]
plan = open(os.path.join(logs, "power-cap-plan.txt"), errors="replace").read()
lines += ["", "## power_cap device=gpu", "",
          "Round trip (set, read back, restore, SIGTERM): %s." % ("run (see gpu_test_power_cap above)" if allow_cap == "1"
          else "not run — it changes the card's settings (`--allow-power-cap` where that is allowed)"),
          "Dry run (reads the limits, changes nothing):", ""] + [
          "    " + l.strip() for l in plan.splitlines() if "would set" in l or "cannot apply" in l]
lines += ["", "## greentune bench --device cuda", "",
          "| run | precision | mode | attention | step ms | tokens/s | TFLOP/s | peak TFLOP/s | MFU |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
records = {}
for path in sorted(glob.glob(os.path.join(logs, "*.json"))):
    r = json.load(open(path))
    name = os.path.basename(path)[:-5]
    records[name] = r
    lines.append("| %s | %s | %s | %s | %.2f | %.0f | %.1f | %.1f | %.1f %% |" % (
        name, r["precision"], r["mode"], r["attention"], r["step_ms"], r["tokens_per_s"], r["gflops"] / 1e3,
        r["peak_gflops"] / 1e3, 100 * r["mfu"]))
t = records.get("modernbert-bf16-train")
if t:
    lines += ["", "ModernBERT-base bf16 training step: %.1f %% of the measured bf16 cuBLASLt peak (%.0f TFLOP/s, %s) — "
              "target >= 40 %%: %s." % (100 * t["mfu"], t["peak_gflops"] / 1e3, t["peak_impl"],
                                        "met" if t["mfu"] >= 0.40 else "NOT met")]
    prof = t.get("device_ms_by_kind", {})
    total = sum(prof.values())
    if total > 0:
        lines += ["", "Where its step time goes (device time per step, CUDA events around every op; %d matmuls, %.3f "
                  "GFLOP, on the plain kernel):" % (t.get("fallback_matmuls", 0), t.get("fallback_gflop", 0)), "",
                  "| kind | ms | share |", "| --- | --- | --- |"]
        for k, v in sorted(prof.items(), key=lambda kv: -kv[1]):
            lines.append("| %s | %.2f | %.1f %% |" % (k, v, 100 * v / total))
open(out, "w").write("\n".join(lines) + "\n")
EOF
note "summary in $summary (logs in $logs), $(elapsed) s in all"
[ $failed = 0 ] || note "some checks failed: see $logs"
exit $failed
