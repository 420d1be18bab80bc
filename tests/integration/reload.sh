#!/usr/bin/env bash
# reload.sh - SIGHUP: a changed log level and auth token are applied, a
# restart-only key is reported, a broken file keeps the running config.
. "$(dirname "$0")/lib.sh"
it_setup

write_cfg() { # level token durability
  cat >neoedge.yaml <<YAML
data_dir: ./data
log:
  level: $1
http:
  auth_token: "$2"
storage:
  durability: $3
mqtt:
  enabled: false
coap:
  enabled: false
YAML
}

write_cfg info "" interval
it_start_neoedge --config neoedge.yaml
it_wait_health

count() { grep -c "$1" "$NE_LOG" || true; }
hup_and_wait() { # pattern expected-count
  kill -HUP "$NE_PID"
  it_wait_for 10 bash -c "[ \$(grep -c '$1' '$NE_LOG') -ge $2 ]"
}

# 1. Level info -> warn: the change is logged (at the old level), then info
#    lines stop.
write_cfg warn "" interval
hup_and_wait 'config key changed' 1
it_expect "log.level change is logged as applied" grep -q 'config key changed, applied.*log.level' "$NE_LOG"
sleep 0.5
it_eq "after the switch to warn, info lines are gone" "$(count 'config reloaded')" 0

# 2. A broken file: the error is logged and the daemon keeps serving.
printf 'log:\n  levle: debug\n' >neoedge.yaml
hup_and_wait 'reload failed' 1
it_expect "the broken reload names the file and line" grep -q 'reload failed, keeping the running config.*neoedge.yaml:2' "$NE_LOG"
code=$(it_http_code "http://127.0.0.1:$HTTP_PORT/health")
it_eq "still serving after a broken reload" "$code" 200
it_expect "still running after a broken reload" kill -0 "$NE_PID"

# 3. Back to info with an auth token: info lines return, the token guards
#    flush from now on.
write_cfg info "s3cret" interval
hup_and_wait 'config reloaded' 1
it_expect "http.auth_token change is applied" grep -q 'config key changed, applied.*http.auth_token' "$NE_LOG"
code=$(it_http_code -X POST "http://127.0.0.1:$HTTP_PORT/api/v1/flush")
it_eq "flush without the new token: 401" "$code" 401
code=$(it_http_code -X POST -H "Authorization: Token s3cret" "http://127.0.0.1:$HTTP_PORT/api/v1/flush")
it_eq "flush with the new token: 204" "$code" 204

# 4. A key that needs a restart is reported as such.
write_cfg info "s3cret" sync
hup_and_wait 'needs restart' 1
it_expect "storage.durability needs a restart" grep -q 'needs restart.*storage.durability' "$NE_LOG"

it_stop_neoedge TERM; rc=$IT_RC
it_eq "graceful exit 0 after reloads" "$rc" 0
it_done
