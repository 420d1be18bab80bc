#!/bin/bash
# Imports S1 (bench/data/s1.lp, generated when missing) into a temp store
# with `neoedge import`, then prints the full-decode scan table: one thread,
# then two threads splitting the series.
#   bench/scan/run.sh [BUILD_DIR]      (default: build)
# Another file: S1_FILE=bench/data/s1-q5m.lp bench/scan/run.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
gen=${GEN_IOT:-$src/../shared/bench/gen_iot.py}
s1f=${S1_FILE:-$src/bench/data/s1.lp}
if [ ! -s "$s1f" ]; then
    mkdir -p "$(dirname "$s1f")"
    /usr/bin/python3 "$gen" --shape sensors --devices 1000 --duration 1h --interval 1s \
        --seed 1 > "$s1f.tmp"
    mv "$s1f.tmp" "$s1f"
fi
ne=$(find "$build" -name neoedge -type f -perm -u+x | head -n 1)
bin=$(find "$build" -name bench_scan -type f -perm -u+x | head -n 1)
[ -n "$ne" ] && [ -n "$bin" ] || { echo "neoedge or bench_scan not built in $build" >&2; exit 1; }
dir=$(mktemp -d /tmp/neoedge-bench-scan.XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$ne" import --db s1 --data-dir "$dir" "$s1f" >/dev/null 2>&1
"$ne" flush --data-dir "$dir" >/dev/null 2>&1
"$bin" -r 5 "$dir" s1 env
echo
"$bin" -r 5 -t 2 "$dir" s1 env
