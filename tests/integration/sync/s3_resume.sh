#!/usr/bin/env bash
# s3_resume.sh - a restart resumes where the sink stopped: 10 of 20
# segments are delivered, the bucket goes down, the other 10 seal and the
# daemon is stopped; after a restart (bucket back) the remaining 10
# arrive, the first 10 are not sent again, and each object exists once.
. "$(dirname "${BASH_SOURCE[0]}")/s3_lib.sh"
it_setup

s3_config neoedge.yaml
it_start_neoedge --config neoedge.yaml
it_wait_health

hour=3600000000000
base=$(( ($(date +%s) / 3600 - 2) * hour ))
seal() {
  s3_gen_points "p$1.lp" m 20 $((base + $1 * 20 * 1000000000)) 1000000000 "$1"
  s3_write "p$1.lp"
  s3_flush
}
for i in $(seq 0 9); do seal "$i"; done
it_expect "the first 10 segments are delivered" s3_wait_delivered 10 60
cursor1=$("$PY" -c 'import struct,sys; print(struct.unpack_from("<Q", open(sys.argv[1],"rb").read(), 8)[0])' data/sync/archive/CURSOR)

s3_fault '[{"kind":"500","count":100000}]'
for i in $(seq 10 19); do seal "$i"; done
it_expect "10 segments wait" s3_wait_field backlog_segments 10 30
it_stop_neoedge TERM
it_eq "the daemon stops cleanly with a backlog" "$IT_RC" 0
cursor2=$("$PY" -c 'import struct,sys; print(struct.unpack_from("<Q", open(sys.argv[1],"rb").read(), 8)[0])' data/sync/archive/CURSOR)
it_eq "the durable cursor stayed at the 10th segment" "$cursor2" "$cursor1"
s3_stats part1.json
s3_reset

it_start_neoedge --config neoedge.yaml
it_wait_health
it_expect "all 20 segments are delivered after the restart" s3_wait_delivered 10 60
it_eq "the backlog is empty" "$(s3_sink_metric backlog_segments)" 0
s3_keys >keys.txt
it_eq "20 objects" "$(wc -l <keys.txt | tr -d ' ')" 20
s3_stats part2.json
it_expect "each object completed exactly once over both runs, oldest first" \
  s3_check_once part1.json part2.json -- keys.txt
s3_download objects
it_expect "DuckDB reads all 20 and they match /query" \
  node "$S3_HERE/s3_duckdb.mjs" --dir objects --url "http://127.0.0.1:$HTTP_PORT" --db iot \
  --node "$S3_NODE" --expect-rows 400

it_done
