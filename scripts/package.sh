#!/usr/bin/env bash
# package.sh - builds neoedge in Release and makes the Debian package.
#   scripts/package.sh [BUILD_DIR]     (default: build-rel)
# Prints the path of neoedge_<version>_<arch>.deb. Needs dpkg-dev (for
# dpkg-shlibdeps) besides the build dependencies of scripts/deps.sh.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-rel}
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNE_TESTS=OFF -DNE_BENCH=OFF \
  -DNE_ASAN=OFF -DNE_UBSAN=OFF -DNE_TSAN=OFF -DNE_FUZZ=OFF
cmake --build "$build"
(cd "$build" && cpack -G DEB)
ls "$build"/neoedge_*.deb
