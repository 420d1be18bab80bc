#!/usr/bin/env bash
# Segment to Parquet export benchmark on the standard datasets S1 and I1
# (see /work/shared/bench/README.md): for each, flush segments as the sink
# ships them and, with --compact, compacted segments; then DuckDB's own
# zstd Parquet size for the same rows.
# Usage: bench/export/run.sh [BUILD_DIR]   (a Release build:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target bench_seg2pq)
# Datasets: $S1 / $I1, else bench/data/{s1,i1}.lp, else generated into a temp dir.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
export NEOEDGE_SRC=$src
tmp=$(mktemp -d "${TMPDIR:-/tmp}/neoedge-bench-seg2pq-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gen=$src/../shared/bench/gen_iot.py
[ -f "$gen" ] || gen=/work/shared/bench/gen_iot.py

dataset() { # name file shape-args...
  local name=$1 file=$2; shift 2
  if [ ! -f "$file" ]; then
    file=$tmp/$name.lp
    /usr/bin/python3 "$gen" "$@" --seed 1 > "$file"
  fi
  echo "$file"
}
s1=$(dataset s1 "${S1:-$src/bench/data/s1.lp}" --shape sensors --devices 1000 --duration 1h --interval 1s)
i1=$(dataset i1 "${I1:-$src/bench/data/i1.lp}" --shape iot --devices 1000 --duration 6h --interval 10s)

if [ ! -d "$src/tests/js/node_modules/@duckdb/node-api" ]; then
  npm install --prefix "$src/tests/js" --no-audit --no-fund
fi

bench=$build/bench/bench_seg2pq
rows=()
first=--header
for ds in "S1 $s1" "I1 $i1"; do
  set -- $ds
  for mode in flush compact; do
    keep=$tmp/obj-$1-$mode
    extra=(); [ $mode = compact ] && extra=(--compact)
    "$bench" --file "$2" --name "$1 ($mode)" "${extra[@]}" --repeat 3 --keep "$keep" $first
    first=
    rows+=("$(node "$src/bench/export/duckdb_compare.mjs" "$keep" "$1 ($mode)")")
    rm -rf "$keep"
  done
done
echo
echo "| data | writer | files | bytes | B/value |"
echo "|---|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
