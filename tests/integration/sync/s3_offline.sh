#!/usr/bin/env bash
# s3_offline.sh - the bucket is unreachable (every request answered 503
# SlowDown or its connection reset) while 50 segments seal: /health turns
# degraded, /metrics counts a backlog of 50 segments and the errors by
# kind; when the link returns every segment's object arrives, none twice,
# oldest segment first.
. "$(dirname "${BASH_SOURCE[0]}")/s3_lib.sh"
it_setup

# Down from the start: a few connection resets, then 503 SlowDown.
s3_fault '[{"kind":"reset","count":6},{"kind":"503","count":100000}]'
s3_config neoedge.yaml "    backlog_max_age: 1s"
it_start_neoedge --config neoedge.yaml
it_wait_health

hour=3600000000000
base=$(( ($(date +%s) / 3600 - 2) * hour ))
for i in $(seq 0 49); do
  s3_gen_points "p$i.lp" m 20 $((base + i * 20 * 1000000000)) 1000000000 "$i"
  s3_write "p$i.lp"
  s3_flush
done
it_expect "the backlog reaches 50 segments" s3_wait_field backlog_segments 50 30
it_eq "/metrics shows the backlog of 50" "$(s3_sink_metric backlog_segments)" 50
it_expect "health is degraded while the bucket is down" it_wait_for 20 s3_health_is degraded
it_eq "nothing was delivered" "$(s3_sink_metric delivered_segments_total)" 0
it_eq "the bucket is empty" "$(s3_keys | wc -l | tr -d ' ')" 0
# Several attempts fail (resets first, then 503s) before the link returns.
errors_at_least() { [ "$(it_metric neoedge_sink_errors_total 'sink="archive"')" -ge "$1" ]; }
it_expect "the runner keeps retrying while down" it_wait_for 60 errors_at_least 4
it_expect "resets count as connect errors" \
  test "$(it_metric neoedge_sink_errors_total 'kind="connect"')" -ge 1
it_expect "503 SlowDown counts as throttle errors" \
  test "$(it_metric neoedge_sink_errors_total 'kind="throttle"')" -ge 1
it_contains "health names the failure" "$(s3_health)" "503 SlowDown"
segs=$(s3_segment_count)
it_expect "the 50 segments wait on disk ($segs)" test "$segs" -ge 50

# The link returns (the runner is in its backoff: allow for it).
s3_reset
it_expect "all 50 segments are delivered" s3_wait_delivered 50 120
it_expect "health is ok again" it_wait_for 20 s3_health_is ok
s3_keys >keys.txt
it_eq "one object per segment" "$(wc -l <keys.txt | tr -d ' ')" 50
s3_stats stats.json
it_expect "each object completed exactly once, oldest segment first" s3_check_once stats.json -- keys.txt
s3_download objects
it_expect "DuckDB reads all 50 objects and they match /query" \
  node "$S3_HERE/s3_duckdb.mjs" --dir objects --url "http://127.0.0.1:$HTTP_PORT" --db iot \
  --node "$S3_NODE" --expect-rows 1000

it_done
