#!/usr/bin/env bash
# deps.sh - the one list of Debian 12 packages neoedge builds and tests with.
# Sourced by scripts/test.sh and scripts/demo.sh:
#   . scripts/deps.sh && ne_install_deps
# Installs only what is missing, so a second run costs one dpkg query.

NE_DEPS=(
  cmake ninja-build pkg-config gcc clang git
  libyaml-dev liburing-dev libpaho-mqtt-dev libcoap3-dev libcoap3-bin
  libmbedtls-dev libzstd-dev libcurl4-openssl-dev libmicrohttpd-dev zlib1g-dev
  mosquitto mosquitto-clients python3 python3-paho-mqtt curl procps iproute2 util-linux
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
