#!/bin/sh
# make demo: the demo sweep (experiments/demo.yaml) into demo/demo.db, then its
# report as demo/report.html and demo/report.md. `make demo` first installs the
# dependencies, fetches SpamAssassin and builds.
#
#   scripts/demo.sh [BUILD_DIR]
#
# Stopped midway (Ctrl-C, a crash), it resumes: the runs already done are kept.
# Failed runs are retried on every call, so a knob fixed since is measured then.
set -eu

BUILD="${1:-build}"
GT="$BUILD/greentune"
DB=demo/demo.db
say() { echo "demo: $*"; }

[ -x "$GT" ] || { echo "demo: $GT: not built — run make demo (or make build)" >&2; exit 1; }
mkdir -p demo
# Sleeping OpenMP waits: on a busy machine spinning threads cost more than they save.
OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
export OMP_WAIT_POLICY

start=$(date +%s)
set +e
"$GT" sweep experiments/demo.yaml --db "$DB" --retry-failed
rc=$?
set -e
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
    [ "$rc" -eq 130 ] && say "stopped; make demo continues where it stopped"
    [ "$rc" -ne 130 ] && say "the sweep could not run (above); rm -r demo to start over"
    exit "$rc"
fi
"$GT" report "$DB" --out demo/report.html
"$GT" report "$DB" --out demo/report.md
took=$(( $(date +%s) - start ))
say "sweep and report took $((took / 60)) min $((took % 60)) s"
say "wrote $(pwd)/demo/report.html (open it in a browser) and $(pwd)/demo/report.md"
if [ "$rc" -eq 1 ]; then
    say "some runs failed — their errors are in the report's warnings; make demo retries them"
fi
