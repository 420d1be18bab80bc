#!/bin/bash
# Generates the standard S1 and I1 line-protocol datasets (bench/data/,
# reused when present) and prints the decoder's per-core throughput table.
#   bench/decode/run.sh [BUILD_DIR]      (default: build)
# Smaller runs: S1_DURATION=10m I1_DURATION=1h bench/decode/run.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
gen=${GEN_IOT:-$src/../shared/bench/gen_iot.py}
data=$src/bench/data
s1=${S1_DURATION:-1h}
i1=${I1_DURATION:-6h}
mkdir -p "$data"
s1f=$data/s1_$s1.lp
i1f=$data/i1_$i1.lp
[ -s "$s1f" ] || /usr/bin/python3 "$gen" --shape sensors --devices 1000 --duration "$s1" \
    --interval 1s --seed 1 > "$s1f"
[ -s "$i1f" ] || /usr/bin/python3 "$gen" --shape iot --devices 1000 --duration "$i1" \
    --interval 10s --seed 1 > "$i1f"
bin=$(find "$build" -name bench_decode -type f -perm -u+x | head -n 1)
[ -n "$bin" ] || { echo "bench_decode not built in $build" >&2; exit 1; }
"$bin" -r 3 S1="$s1f" I1="$i1f"
