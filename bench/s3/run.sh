#!/bin/bash
# Upload throughput of the S3 client to s3rver on loopback, through the
# SigV4-verifying proxy (tests/integration/s3/proxy.js), as a table.
#   bench/s3/run.sh [BUILD_DIR]      (default: build)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
bin=$(find "$build" -name bench_s3 -type f -perm -u+x | head -n 1)
[ -n "$bin" ] || { echo "bench_s3 not built in $build" >&2; exit 1; }
NEOEDGE_SRC=$src exec bash "$src/tests/integration/s3/run_s3.sh" "$bin"
