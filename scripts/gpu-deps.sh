#!/usr/bin/env bash
# Fetches the Debian packages greentune builds against — oneDNN (and the
# OpenCL loader its library links), cJSON, libyaml, SQLite, and pkgconf — into
# .gpu-deps/debs/, for a GPU machine that has CUDA, CMake and a compiler but
# none of these and no network (the lent device machines: carry .gpu-deps).
# scripts/gpu-check.sh unpacks them there into its build folder when the
# machine's own pkg-config does not find them. Run on Debian 12 (apt-get
# download needs no root); about 9 MB.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/.gpu-deps/debs
mkdir -p "$dir"
cd "$dir"
rm -f ./*.deb
apt-get download libdnnl2 libdnnl-dev ocl-icd-libopencl1 libcjson1 libcjson-dev libyaml-0-2 libyaml-dev \
    libsqlite3-0 libsqlite3-dev pkgconf pkgconf-bin libpkgconf3
echo "gpu-deps: $(ls ./*.deb | wc -l) packages, $(du -sh . | cut -f1) in $dir"
