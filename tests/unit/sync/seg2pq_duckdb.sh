#!/usr/bin/env bash
# Builds the seg2pq data set in a store, converts its segment to Parquet
# objects with seg2pq_gen and reads them back with DuckDB (npm
# @duckdb/node-api in tests/js, installed with `npm install` when missing).
# Usage: seg2pq_duckdb.sh PATH/TO/seg2pq_gen
set -euo pipefail
gen=$1
src=${NEOEDGE_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
export NEOEDGE_SRC=$src

command -v node >/dev/null || { echo "node is required (Debian: nodejs npm)" >&2; exit 1; }
if [ ! -d "$src/tests/js/node_modules/@duckdb/node-api" ]; then
  npm install --prefix "$src/tests/js" --no-audit --no-fund
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/neoedge-seg2pq-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp"
node "$src/tests/unit/sync/seg2pq_duckdb.mjs" "$tmp"
