#!/usr/bin/env bash
# s3_auth.sh - a wrong secret key: the proxy answers 403
# SignatureDoesNotMatch; /health turns failing and names the signature
# error; there is no retry storm (flushes do not trigger attempts either);
# the data stays on disk, and after the secret is fixed and the daemon
# restarted every segment arrives.
. "$(dirname "${BASH_SOURCE[0]}")/s3_lib.sh"
it_setup

S3_CFG_SECRET='not/the+right/secret' s3_config neoedge.yaml
it_start_neoedge --config neoedge.yaml
it_wait_health

hour=3600000000000
base=$(( ($(date +%s) / 3600 - 2) * hour ))
s3_gen_points p0.lp m 50 "$base" 1000000000 1
s3_write p0.lp
s3_flush
it_expect "health turns failing" it_wait_for 30 s3_health_is failing
h=$(s3_health)
it_contains "the reason names the signature error" "$h" "SignatureDoesNotMatch"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health")
it_eq "/health answers 503 while failing" "$code" 503
it_expect "the failure counts as an auth error" test "$(it_metric neoedge_sink_errors_total 'kind="auth"')" -ge 1

# No retry storm: over 10 s, with more data sealing, hardly any request.
before=$(s3_stat requests)
for i in 1 2 3 4 5; do
  s3_gen_points "p$i.lp" m 50 $((base + i * 100 * 1000000000)) 1000000000 "$i"
  s3_write "p$i.lp"
  s3_flush
  sleep 2
done
after=$(s3_stat requests)
it_expect "at most 3 requests in 10 s while the secret is wrong ($((after - before)))" \
  test $((after - before)) -le 3
it_eq "nothing reached the bucket" "$(s3_keys | wc -l | tr -d ' ')" 0
it_eq "all 6 segments wait (/api/v1/sinks)" "$(s3_sink_field backlog_segments)" 6
it_eq "and /metrics says so" "$(s3_sink_metric backlog_segments)" 6
segs=$(s3_segment_count)
it_expect "their files are kept on disk ($segs)" test "$segs" -ge 6

# Fix the secret, restart: everything arrives.
it_stop_neoedge TERM
it_eq "the daemon stops cleanly while failing" "$IT_RC" 0
s3_config neoedge.yaml
it_start_neoedge --config neoedge.yaml
it_wait_health
it_expect "all 6 segments are delivered after the fix" s3_wait_delivered 6 60
it_expect "health is ok" it_wait_for 20 s3_health_is ok
s3_keys >keys.txt
it_eq "one object per segment" "$(wc -l <keys.txt | tr -d ' ')" 6
s3_stats stats.json
it_expect "each object completed exactly once" s3_check_once stats.json -- keys.txt
s3_download objects
it_expect "DuckDB reads them and they match /query" \
  node "$S3_HERE/s3_duckdb.mjs" --dir objects --url "http://127.0.0.1:$HTTP_PORT" --db iot \
  --node "$S3_NODE" --expect-rows 300

it_done
