#!/usr/bin/env bash
# test.sh - the one command that runs every test on a fresh Debian 12.
#
# Installs the build and test dependencies (scripts/deps.sh), configures
# build/test with AddressSanitizer and UndefinedBehaviorSanitizer, builds
# with every core and runs ctest. Exits non-zero on any failure.
#
# By default the labels unit, integration, crash, fuzz and soak_short (a
# three-minute soak) run; the long soak (label soak) and
# other long runs only with NEOEDGE_LONG=1. Extra arguments go to ctest,
# e.g. scripts/test.sh -R integration_http.
# NEOEDGE_TSAN=1 runs the ThreadSanitizer job instead: a separate build
# (build/tsan) and the unit tests of the threaded parts (store, sync,
# sharding, ingest) under TSan.
# Tests start their own brokers and servers on free loopback ports: a
# system mosquitto on 1883 is neither needed nor touched.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
ne_install_deps
ne_install_js_deps

build=${NEOEDGE_TEST_BUILD:-build/test}
jobs=$(nproc 2>/dev/null || echo 2)

if [ "${NEOEDGE_TSAN:-0}" = "1" ]; then
  build=${NEOEDGE_TEST_BUILD:-build/tsan}
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNE_TSAN=ON -DNE_TESTS=ON
  cmake --build "$build" -j "$jobs"
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
  exec ctest --test-dir "$build" --output-on-failure -j2 -L unit \
    -R '(store|engine|sync|sink|shard|swim|member|transport|ingest|mqtt|coap|http)' "$@"
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNE_ASAN=ON -DNE_UBSAN=ON -DNE_TESTS=ON
cmake --build "$build" -j "$jobs"

labels='unit|integration|crash|fuzz|soak_short'
exclude=(-LE '^(soak|long)$')
if [ "${NEOEDGE_LONG:-0}" = "1" ]; then
  labels="$labels|soak|long"
  exclude=()
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j2 -L "$labels" "${exclude[@]}" "$@"
