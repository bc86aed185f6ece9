#!/bin/bash
# scripts/fetch-spamassassin.sh without the network: a second run does nothing,
# a damaged archive is refused before anything is unpacked, and a machine
# without node / npm gets a clear message.
set -uo pipefail
script="$GREENTUNE_SOURCE_DIR/scripts/fetch-spamassassin.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. A complete copy (its marker matches the pinned version) is left alone.
stamp="$(sed -n 's/^PACKAGE="\(.*\)"$/\1/p' "$script")@$(sed -n 's/^VERSION="\(.*\)"$/\1/p' "$script") $(sed -n 's/^INTEGRITY="\(.*\)"$/\1/p' "$script")"
mkdir -p "$work/done"
echo "$stamp" >"$work/done/.greentune-complete"
out="$(sh "$script" "$work/done" 2>&1)" || fail "second run failed: $out"
grep -q "nothing to do" <<<"$out" || fail "second run did not say so: $out"

# 2. An archive whose sha512 is not the pinned one is refused; nothing appears.
echo "not the corpus" >"$work/fake.txt"
tar -czf "$work/fake.tgz" -C "$work" fake.txt
out="$(GREENTUNE_SPAM_TGZ="$work/fake.tgz" sh "$script" "$work/corpus" 2>&1)" && fail "a damaged archive was accepted"
grep -q "does not match the pinned" <<<"$out" || fail "no integrity message: $out"
[ ! -e "$work/corpus" ] || fail "a refused archive left $work/corpus behind"

# 3. No node (hence no npm): one line saying what to install.
mkdir -p "$work/bin"
for tool in cat sh mktemp rm dirname; do ln -s "$(command -v $tool)" "$work/bin/$tool"; done
out="$(PATH="$work/bin" sh "$script" "$work/corpus" 2>&1)" && fail "ran without node"
grep -q "node is not installed" <<<"$out" || fail "no missing-node message: $out"
echo "fetch script: idempotent, checks integrity, explains missing tools"
