#!/usr/bin/env bash
# http_write.sh - InfluxDB HTTP writes end to end with curl: 204, a 400
# partial write, 413 (declared and chunked), 401 without the token; the
# accepted points are counted and survive a restart (flush + store).
. "$(dirname "$0")/lib.sh"
it_setup

cat >neoedge.yaml <<'YAML'
data_dir: ./data
mqtt:
  enabled: false
coap:
  enabled: false
http:
  max_body_bytes: 4KiB
YAML
it_start_neoedge --config neoedge.yaml
it_wait_health
url="http://127.0.0.1:$HTTP_PORT"
now=$(date +%s)

code=$(it_http_code -X POST "$url/write?db=test&precision=s" --data-binary "room,site=a temp=21.5,hum=40i $now
room,site=b temp=19.0,hum=42i $now")
it_eq "a good write answers 204" "$code" 204

code=$(it_http_code -X POST "$url/api/v2/write?bucket=test&precision=s" --data-binary "room,site=c temp=18.0 $now")
it_eq "a v2 write answers 204" "$code" 204

code=$(it_http_code -X POST "$url/write?db=test&precision=s" --data-binary "room,site=d temp=17.0 $now
room,site=e temp=oops $now")
it_eq "a partly bad write answers 400" "$code" 400
it_contains "the answer says partial write" "$(cat "$IT_DIR/body")" "partial write"

code=$(it_http_code -X POST "$url/write" --data-binary "room temp=1 $now")
it_eq "a write without db answers 400" "$code" 400

# Over max_body_bytes (4 KiB): with a Content-Length and chunked.
head -c 8192 /dev/zero | tr '\0' 'x' >big.txt
code=$(it_http_code -X POST "$url/write?db=test" --data-binary @big.txt)
it_eq "a body over the limit answers 413" "$code" 413
code=$(it_http_code -X POST -H 'Transfer-Encoding: chunked' "$url/write?db=test" --data-binary @big.txt)
it_eq "a chunked body over the limit answers 413" "$code" 413
code=$(it_http_code "$url/ping")
it_eq "the server still answers after 413s" "$code" 204
it_eq "both 413s are counted as rejected payloads" \
  "$(it_metric neoedge_payloads_rejected_total 'source="http",reason="too_large"')" 2
code=$(it_http_code -X POST -H 'Content-Encoding: br' "$url/write?db=test" --data-binary "room temp=1 $now")
it_eq "an unknown Content-Encoding answers 415" "$code" 415
it_eq "the 415 is counted as a rejected payload" \
  "$(it_metric neoedge_payloads_rejected_total 'source="http",reason="unsupported_encoding"')" 1

code=$(it_http_code "$url/write?db=test")
it_eq "GET /write answers 405" "$code" 405

# 4 points were accepted (2 + 1 + 1 from the partial write).
n=$(it_metric neoedge_http_requests_total 'path="/write"')
it_expect "requests to /write are counted ($n)" test "$n" -ge 5
it_eq "4 points accepted over HTTP" "$(it_metric neoedge_points_accepted_total 'source="http"')" 4
it_eq "the bad line is counted" "$(it_metric neoedge_points_rejected_total 'source="http"')" 1
code=$(it_http_code -X POST "$url/api/v1/flush")
it_eq "flush answers 204" "$code" 204
it_stop_neoedge TERM; rc=$IT_RC
it_eq "graceful exit 0" "$rc" 0

# With an auth token: 401 without it, 204 with it (Token header, u/p).
export NEOEDGE_HTTP_AUTH_TOKEN=t0ken
it_start_neoedge --config neoedge.yaml
it_wait_health
code=$(it_http_code -X POST "$url/write?db=test" --data-binary "room temp=1")
it_eq "no token: 401" "$code" 401
code=$(it_http_code -X POST -H "Authorization: Token wrong" "$url/write?db=test" --data-binary "room temp=1")
it_eq "wrong token: 401" "$code" 401
code=$(it_http_code -X POST -H "Authorization: Token t0ken" "$url/write?db=test" --data-binary "room temp=1")
it_eq "Token header: 204" "$code" 204
code=$(it_http_code -X POST "$url/write?db=test&u=any&p=t0ken" --data-binary "room temp=2")
it_eq "u/p parameters: 204" "$code" 204
code=$(it_http_code "$url/health")
it_eq "/health needs no token" "$code" 200
code=$(it_http_code -X POST "$url/api/v1/flush")
it_eq "flush without the token: 401" "$code" 401
code=$(it_http_code -G "$url/query" --data-urlencode "q=SHOW DATABASES")
it_eq "query without the token: 401" "$code" 401
code=$(it_http_code -H "Authorization: Bearer t0ken" -G "$url/query" --data-urlencode "q=SHOW DATABASES")
it_eq "query with the token: 200" "$code" 200
it_contains "the written database is listed" "$(cat "$IT_DIR/body")" '"test"'
code=$(it_http_code -X POST -H "Authorization: Token t0ken" "$url/query" --data-urlencode "q=SELECT count(v) FROM room" --data-urlencode "db=test")
it_eq "query as a form POST: 200" "$code" 200
code=$(it_http_code -H "Authorization: Token t0ken" "$url/query")
it_eq "query without q: 400" "$code" 400
it_stop_neoedge TERM; rc=$IT_RC
it_eq "graceful exit 0" "$rc" 0
unset NEOEDGE_HTTP_AUTH_TOKEN

it_done
