#!/usr/bin/env bash
# deps.sh - the one list of Debian 12 packages neoedge builds and tests with.
# Sourced by scripts/test.sh and scripts/demo.sh:
#   . scripts/deps.sh && ne_install_deps
# Installs only what is missing, so a second run costs one dpkg query.

NE_DEPS=(
  cmake ninja-build pkg-config gcc clang git
  libyaml-dev liburing-dev libpaho-mqtt-dev libcoap3-dev libcoap3-bin
  libmbedtls-dev libzstd-dev libcurl4-openssl-dev libmicrohttpd-dev zlib1g-dev
  mosquitto mosquitto-clients python3 python3-paho-mqtt python3-cryptography curl procps iproute2 util-linux
  influxdb openssl dpkg-dev binutils groff man-db
  chromium
)

# Prints the packages of NE_DEPS that are not installed.
ne_missing_deps() {
  local p status
  for p in "${NE_DEPS[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || echo "$p"
  done
}

# Installs the missing packages (as root, or through sudo).
ne_install_deps() {
  local missing
  missing=$(ne_missing_deps)
  if [ -z "$missing" ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "installing: $(echo $missing | tr '\n' ' ')" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}

# Installs the npm packages the tests use (DuckDB, s3rver, the AWS SigV4
# signer, playwright-core driving chromium for the console test) into
# tests/js/node_modules, following tests/js/package-lock.json.
# Node.js comes from Debian (nodejs, npm) when the machine has none.
ne_install_js_deps() {
  local root sudo=""
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "installing: nodejs npm" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
  fi
  local js="$root/tests/js"
  # npm install, not npm ci: npm 11 leaves other platforms' optional DuckDB
  # bindings out of the lock file and ci then refuses it; install follows
  # the lock for everything it lists.
  if [ ! -d "$js/node_modules" ] || [ "$js/package.json" -nt "$js/node_modules/.package-lock.json" ] ||
    [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
    npm install --prefix "$js" --no-audit --no-fund --loglevel=error
  fi
}
