#!/usr/bin/env bash
# s3_happy.sh - the S3 sink's happy path with examples/s3.yaml as is, its
# bucket, endpoint and credentials pointed at s3rver on loopback (behind
# the SigV4-verifying proxy): points of several measurements, with tags
# and every field type, over three UTC hours go in over HTTP; after a
# flush the backlog drains; the bucket holds exactly the Hive-layout keys
# of the segment, every request was signed correctly, and DuckDB's
# count/sum/min/max per series and field over the objects equal neoedge's
# own /query answers.
. "$(dirname "${BASH_SOURCE[0]}")/s3_lib.sh"
it_setup

example="$S3_SRC/examples/s3.yaml"
export NEOEDGE_S3_ENDPOINT="http://127.0.0.1:$S3_IT_PROXY_PORT"
export NEOEDGE_S3_BUCKET=$S3_IT_BUCKET
export NEOEDGE_S3_PATH_STYLE=true
export AWS_ACCESS_KEY_ID=$S3_IT_ACCESS
export AWS_SECRET_ACCESS_KEY=$S3_IT_SECRET
export AWS_REGION=us-east-1

out=$("$NEOEDGE_BIN" config check "$example" 2>&1); rc=$?
it_eq "config check examples/s3.yaml exits 0 with the variables set" "$rc" 0
it_contains "config check says ok" "$out" "ok"
out=$(env -u NEOEDGE_S3_BUCKET "$NEOEDGE_BIN" config check "$example" 2>&1); rc=$?
it_expect "config check fails without NEOEDGE_S3_BUCKET" test "$rc" -ne 0
it_contains "and names the variable" "$out" "NEOEDGE_S3_BUCKET"

# The example as is; only what differs on a test machine comes from the
# environment (data dir, ports, node name, no MQTT broker).
export NEOEDGE_DATA_DIR="$IT_DIR/data" NEOEDGE_NODE_ID=$S3_NODE NEOEDGE_MQTT_ENABLED=false
it_start_neoedge --config "$example"
it_wait_health

# Three hours of data, two measurements, all field types, missing fields.
hour=3600000000000
base=$(( ($(date +%s) / 3600 - 5) * hour + 17 * 1000000000 ))
"$PY" - "$base" >points.lp <<'EOF'
import random, sys
base = int(sys.argv[1])
rnd = random.Random(7)
for i in range(540):                       # one point every 20 s for 3 hours
    t = base + i * 20 * 10**9
    for host in ("h1", "h2", "h3"):
        region = "eu" if host != "h3" else "us"
        fields = ["usage=%r" % round(rnd.uniform(0, 100), 4), "cores=%di" % rnd.randint(1, 64),
                  "up=%s" % ("true" if rnd.random() < 0.7 else "false"),
                  "model=\"m-%d\"" % rnd.randint(0, 9), "bytes=%du" % rnd.randint(0, 10**6)]
        if host == "h2" and i % 5 == 0:
            fields = fields[:2]            # some points lack fields
        print("cpu,host=%s,region=%s %s %d" % (host, region, ",".join(fields), t))
    for sensor in ("a", "b"):
        extra = ",room=r1" if sensor == "a" else ""    # a tag only one series has
        print("env,sensor=%s%s temp=%r,hum=%di %d" % (sensor, extra, round(rnd.gauss(21, 3), 3),
              rnd.randint(20, 80), t + 500))
EOF
s3_write points.lp
s3_flush
it_expect "the segment is delivered (backlog 0)" s3_wait_delivered 1 60
it_eq "no delivery errors" "$(it_metric neoedge_sink_errors_total 'sink="archive"')" 0

s3_keys >keys.txt
nkeys=$(wc -l <keys.txt | tr -d ' ')
# 2 measurements x 3 hours (the data starts at :00:17 of an hour).
it_eq "one object per measurement and hour" "$nkeys" 6
it_expect "every key is neoedge/db=iot/measurement=*/date=*/hour=*/gw-test-<segment>.parquet" \
  "$PY" -c '
import re, sys
pat = re.compile(r"^neoedge/db=iot/measurement=(cpu|env)/date=\d{4}-\d{2}-\d{2}/hour=\d{2}/gw-test-[0-9a-f]{16}\.parquet$")
sys.exit(0 if all(pat.match(k) for k in open(sys.argv[1]).read().split()) else 1)' keys.txt
it_eq "the delivered counter agrees with the bucket" \
  "$(it_metric neoedge_sink_delivered_rows_total 'sink="archive"')" "$((540 * 3 + 540 * 2))"
s3_stats stats.json
it_expect "every object completed once, no multipart upload left open" s3_check_once stats.json -- keys.txt
it_eq "the proxy rejected no request (all SigV4 signatures verified)" \
  "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["rejected"])' stats.json)" 0
it_expect "bytes sent are counted" test "$(it_metric neoedge_sink_upload_bytes_total 'sink="archive"')" -gt 0

s3_download objects
it_expect "DuckDB reads every object; count/sum/min/max per series and field equal /query" \
  node "$S3_HERE/s3_duckdb.mjs" --dir objects --url "http://127.0.0.1:$HTTP_PORT" --db iot \
  --node "$S3_NODE" --prefix neoedge --expect-rows "$((540 * 3 + 540 * 2))"

# Nothing more to send: a second flush with no new data adds no object.
s3_flush
sleep 1
it_eq "an idle sink uploads nothing more" "$(s3_keys | wc -l | tr -d ' ')" 6

it_done
