#!/usr/bin/env bash
# Cloud sync upload benchmark: S3 upload throughput and CPU per GB, with
# and without encryption at rest, against s3rver on loopback behind the
# SigV4-verifying proxy (tests/integration/s3/run_s3.sh). Prints a table.
#
#   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DNE_BENCH=ON
#   cmake --build build-rel --target bench_sync
#   bench/sync/run.sh build-rel          (BUILD_DIR; default: build)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
bin=$build/bench/bench_sync
[ -x "$bin" ] || { echo "bench_sync is not built in $build (see the top of this file)" >&2; exit 1; }
NEOEDGE_SRC=$src exec bash "$src/tests/integration/s3/run_s3.sh" "$bin"
