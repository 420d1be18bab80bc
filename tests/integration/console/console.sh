#!/usr/bin/env bash
# console.sh - the web console in a real browser: a daemon with an auth
# token and a sink on loopback, then console.js drives headless Chromium
# (Debian's chromium, through npm playwright-core) against it. The screenshot of the
# query chart is kept in $NEOEDGE_BUILD/test-output/console/console.png.
. "$(dirname "$0")/../lib.sh"
it_setup

src=${NEOEDGE_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
chromium=${NEOEDGE_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  it_fail "$chromium not found: install Debian's chromium (scripts/deps.sh lists it)"
  it_done
fi
if [ ! -d "$src/tests/js/node_modules/playwright-core" ]; then
  it_fail "playwright-core missing: npm install --prefix $src/tests/js"
  it_done
fi

# An S3 sink whose endpoint refuses connections: its backlog shows.
token=console-test-token
dead_port=$(it_free_port tcp)
cat >"$IT_DIR/neoedge.yaml" <<YAML
data_dir: $IT_DIR/data
http:
  auth_token: $token
mqtt:
  enabled: false
coap:
  enabled: false
sinks:
  - name: archive
    type: s3
    endpoint: http://127.0.0.1:$dead_port
    bucket: console-archive
    path_style: true
    region: us-east-1
    access_key: AKIDCONSOLE
    secret_key: console-secret
YAML
it_start_neoedge --config "$IT_DIR/neoedge.yaml"
it_wait_health
base="http://127.0.0.1:$HTTP_PORT"

# The page as served: embedded, self-contained, not cached, strict CSP.
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$base/")
it_eq "GET / redirects to the console" "$code" "302 $base/console"
curl -s -D "$IT_DIR/headers" -o "$IT_DIR/page.html" "$base/console"
it_contains "the console is HTML" "$(cat "$IT_DIR/headers")" "Content-Type: text/html; charset=utf-8"
it_contains "the page may only talk to this daemon" "$(cat "$IT_DIR/headers")" "connect-src 'self'"
it_expect "the page loads nothing from elsewhere" \
  bash -c "! grep -Eq '(src|href)=\"(https?:)?//' '$IT_DIR/page.html'"
it_eq "/api/v1/status wants the token" \
  "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/status")" "401"

out=${NEOEDGE_BUILD:-$IT_DIR}/test-output/console
mkdir -p "$out"
IT_CHECKS=$((IT_CHECKS + 1))
if NEOEDGE_SRC=$src node "$(dirname "$0")/console.js" --url "$base" --token "$token" \
  --chromium "$chromium" --screenshot "$out/console.png"; then
  echo "ok - the console works in Chromium" >&2
else
  it_fail "the console in Chromium (see above)"
fi
it_done
