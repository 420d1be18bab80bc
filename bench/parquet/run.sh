#!/usr/bin/env bash
# Parquet writer benchmark on S1-like data (1,000 sensors, 10 minutes at 1 s):
# prints bench_parquet's table, then DuckDB's own Parquet size for the same
# rows. Usage: bench/parquet/run.sh [BUILD_DIR]   (a non-sanitizer build)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
export NEOEDGE_SRC=$src
tmp=$(mktemp -d "${TMPDIR:-/tmp}/neoedge-bench-parquet-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

/usr/bin/python3 "$src/../shared/bench/gen_iot.py" --shape sensors --devices 1000 --duration 10m \
  --seed 1 > "$tmp/s1.lp"
out=$("$build/bench/bench_parquet" -r 5 -o "$tmp/neoedge.parquet" "$tmp/s1.lp")
echo "$out"
values=$(echo "$out" | awk -F'|' 'NR==3 {gsub(/ /, "", $3); print $3}')

if [ ! -d "$src/tests/js/node_modules/@duckdb/node-api" ]; then
  npm install --prefix "$src/tests/js" --no-audit --no-fund
fi
node "$src/bench/parquet/duckdb_compare.mjs" "$tmp/neoedge.parquet" "$tmp/duckdb.parquet" "$values"
