#!/usr/bin/env bash
# neoedge beside InfluxDB 1.6 on the same data, in one command.
#
#   bench/compare.sh [--quick] [--keep-data] [--ingest-rounds N]
#
# Installs what is missing (apt: the build dependencies of scripts/deps.sh,
# influxdb, mosquitto, mosquitto-clients, gnuplot-nox, python3), builds
# neoedge Release in build/release, generates the datasets into bench/data/
# (cached), then runs bench/compare/run.py: both engines, alternating, on
# loopback. Prints the table and writes bench/results/latest.md and PNGs.
# --quick uses small datasets (a few minutes in all); --keep-data keeps the
# engines' data dirs under bench/results/tmp/; --ingest-rounds N (default
# 3) ingests each dataset N times per engine, the engines alternating, and
# reports the medians. Exits non-zero only when a step failed to run;
# figures never decide the exit status.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick | --keep-data) ARGS+=("$1") ;;
    --ingest-rounds)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "--ingest-rounds needs a count of 1 or more" >&2; exit 2; }
      ARGS+=("$1" "$2")
      shift ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

install_bench_deps() {
  local missing=() p status sudo=""
  for p in influxdb mosquitto mosquitto-clients gnuplot-nox python3 python3-paho-mqtt; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing: ${missing[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

# shellcheck source=scripts/deps.sh
. "$ROOT/scripts/deps.sh"
ne_install_deps
install_bench_deps
# The Debian package starts influxd and mosquitto as services on the default
# ports; the benchmark starts its own instances on free ports, so they do not
# collide, but stop them to keep them off the CPU while measuring.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet influxdb 2>/dev/null; then
  systemctl stop influxdb 2>/dev/null || true
fi

cmake -S "$ROOT" -B "$ROOT/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DNE_TESTS=OFF >/dev/null
cmake --build "$ROOT/build/release" >/dev/null
BIN="$ROOT/build/release/agent/neoedge"
[ -x "$BIN" ] || { echo "no neoedge binary at $BIN" >&2; exit 1; }

export PYTHONDONTWRITEBYTECODE=1
exec "$PY" "$ROOT/bench/compare/run.py" --neoedge "$BIN" "${ARGS[@]}"
