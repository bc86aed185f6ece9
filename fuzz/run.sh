#!/bin/sh
# Runs fuzz targets one at a time:  fuzz/run.sh BUILD_DIR [NAME...]  (default: all)
#
#   FUZZ_SECONDS  how long each target runs (60)
#   FUZZ_NICE     its nice level (19: the machine may be measuring energy)
#   FUZZ_JOBS     libFuzzer workers per target (1)
#
# Seeds: fuzz/corpus/NAME and fuzz/regressions/NAME (read only). New inputs go
# to BUILD_DIR/fuzz-corpus/NAME, crashes to BUILD_DIR/fuzz-artifacts/NAME/.
# One line per target: executions, seconds, corpus entries, result. Exits
# non-zero when any target crashed, leaked, timed out or broke an invariant.
set -u
build=${1:?usage: fuzz/run.sh BUILD_DIR [NAME...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-60}
nice_level=${FUZZ_NICE:-19}
jobs=${FUZZ_JOBS:-1}
if [ $# -eq 0 ]; then
    set -- $(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi
failed=0
for name in "$@"; do
    binary="$build/fuzz_$name"
    if [ ! -x "$binary" ]; then
        echo "fuzz: $binary is not built (make build-fuzz)" >&2
        failed=1
        continue
    fi
    corpus="$build/fuzz-corpus/$name"
    artifacts="$build/fuzz-artifacts/$name"
    log="$build/fuzz-logs/$name.log"
    mkdir -p "$corpus" "$artifacts" "$build/fuzz-logs"
    # The options are built in "$@" (sh has no arrays); the loop's list of
    # names was expanded when the loop began.
    set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$artifacts/"
    case $name in
        tokenizer_json | hf_facts) dict=tokenizer ;;
        config_json | store_run | jsonl | json_array | spamassassin) dict=json ;;
        config_yaml | config_set) dict=yaml ;;
        csv | grid_csv) dict=csv ;;
        *) dict=$name ;;
    esac
    [ -f "$here/dict/$dict.dict" ] && set -- "$@" -dict="$here/dict/$dict.dict"
    [ "$jobs" -gt 1 ] && set -- "$@" -fork="$jobs"
    seeds="$here/corpus/$name"
    [ -d "$here/regressions/$name" ] && seeds="$seeds $here/regressions/$name"
    # shellcheck disable=SC2086
    nice -n "$nice_level" "$binary" "$@" "$corpus" $seeds >"$log" 2>&1
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    entries=$(ls "$corpus" | wc -l)
    if [ $status -eq 0 ]; then
        echo "fuzz $name: ${execs:-?} executions in ${seconds} s, $entries new corpus entries, no crash"
    else
        failed=1
        found=$(ls -t "$artifacts" 2>/dev/null | head -n 1)
        echo "fuzz $name: FAILED (exit $status) after ${execs:-?} executions; log $log"
        [ -n "$found" ] && echo "  input: $artifacts/$found — reproduce with $binary $artifacts/$found," \
            "then add it to fuzz/regressions/$name/ and fix the parser"
        grep -m 3 -E 'ERROR: |runtime error|invariant broken' "$log" | sed 's/^/  /'
    fi
done
exit $failed
