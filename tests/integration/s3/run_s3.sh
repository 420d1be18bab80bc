#!/usr/bin/env bash
# run_s3.sh PROGRAM [ARGS...] - runs PROGRAM against a private s3rver behind
# the SigV4-verifying proxy (proxy.js), all on loopback.
#
# Starts `node proxy.js` with its data in a fresh temporary directory,
# waits for its ports, exports S3_IT_PROXY_PORT, S3_IT_ADMIN_PORT,
# S3_IT_BUCKET, S3_IT_ACCESS, S3_IT_SECRET, S3_IT_TOKEN and S3_IT_TMP
# (and S3_IT_TLS_PORT, S3_IT_CA for the HTTPS listener with a
# self-signed certificate, when openssl is there), runs
# PROGRAM, and on exit stops the proxy (by pid) and removes the directory.
# Installs the npm dependencies (tests/js) when they are missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${NEOEDGE_SRC:-$(cd "$here/../../.." && pwd)}
js="$src/tests/js"
py=/usr/bin/python3
[ -x "$py" ] || py=python3

command -v node >/dev/null || { echo "node is not installed" >&2; exit 1; }
if [ ! -d "$js/node_modules/s3rver" ] || [ ! -d "$js/node_modules/@aws-sdk/signature-v4" ] ||
   [ ! -d "$js/node_modules/@aws-crypto/sha256-js" ]; then
  npm install --prefix "$js" --no-audit --no-fund >&2 || { echo "npm install failed" >&2; exit 1; }
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/neoedge-s3-XXXXXX")
proxy_pid=""
cleanup() {
  if [ -n "$proxy_pid" ]; then
    kill -TERM "$proxy_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$proxy_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

export S3_IT_BUCKET=neoedge-it
export S3_IT_ACCESS=AKIDNEOEDGETEST
export S3_IT_SECRET='neoedge/test+secret/key'
export S3_IT_TOKEN='session/token+abc=='
export S3_IT_TMP="$tmp"
# A self-signed certificate for localhost/127.0.0.1, for the TLS cases.
tls_args=()
if command -v openssl >/dev/null &&
   openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
     -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
     -keyout "$tmp/tls.key" -out "$tmp/tls.pem" >/dev/null 2>&1; then
  tls_args=(--tls-cert "$tmp/tls.pem" --tls-key "$tmp/tls.key")
  export S3_IT_CA="$tmp/tls.pem"
fi
node "$here/proxy.js" --dir "$tmp/data" --bucket "$S3_IT_BUCKET" --access "$S3_IT_ACCESS" \
  --secret "$S3_IT_SECRET" --token "$S3_IT_TOKEN" "${tls_args[@]}" --ready "$tmp/ready" \
  >"$tmp/proxy.log" 2>&1 &
proxy_pid=$!

for _ in $(seq 1 200); do
  [ -f "$tmp/ready" ] && break
  kill -0 "$proxy_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -f "$tmp/ready" ]; then
  echo "proxy did not start:" >&2
  cat "$tmp/proxy.log" >&2
  exit 1
fi
read -r S3_IT_PROXY_PORT S3_IT_ADMIN_PORT S3_IT_TLS_PORT < <("$py" -c '
import json, sys
p = json.load(open(sys.argv[1]))
print(p["proxy"], p["admin"], p.get("tls", 0))' "$tmp/ready")
export S3_IT_PROXY_PORT S3_IT_ADMIN_PORT S3_IT_TLS_PORT

"$@"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "--- proxy log ---" >&2
  tail -n 40 "$tmp/proxy.log" >&2
fi
exit "$rc"
