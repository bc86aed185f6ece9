#!/bin/bash
# src/data/unicode_tables.c is generated: regenerating it must give the
# checked-in file (otherwise someone edited it by hand or the generator changed).
set -euo pipefail
src="$GREENTUNE_SOURCE_DIR"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
"$GREENTUNE_PYTHON" "$src/scripts/gen-unicode-tables.py" >"$out"
if ! cmp -s "$out" "$src/src/data/unicode_tables.c"; then
    echo "src/data/unicode_tables.c is stale: run /usr/bin/python3 scripts/gen-unicode-tables.py > src/data/unicode_tables.c" >&2
    diff "$out" "$src/src/data/unicode_tables.c" | head -20 >&2
    exit 1
fi
echo "unicode tables up to date"
