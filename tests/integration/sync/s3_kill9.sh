#!/usr/bin/env bash
# s3_kill9.sh - kill -9 in the middle of a multipart upload: the proxy
# holds the upload of part 2 (a "slow" fault) and the daemon is killed
# while it waits. After a restart the upload resumes (ListParts, then only
# the missing part): exactly one complete object under the key, part 1
# sent once, its content read back by DuckDB and equal to /query, and no
# multipart upload left open.
. "$(dirname "${BASH_SOURCE[0]}")/s3_lib.sh"
it_setup

s3_config neoedge.yaml
it_start_neoedge --config neoedge.yaml
it_wait_health

# About 8 MiB of Parquet: random 1 KB strings do not compress much.
hour=3600000000000
base=$(( ($(date +%s) / 3600 - 2) * hour ))
"$PY" - "$base" >big.lp <<'EOF'
import base64, random, sys
base = int(sys.argv[1])
rnd = random.Random(11)
for i in range(10000):
    blob = base64.b64encode(rnd.randbytes(750)).decode()
    print('blob,dev=d%d seq=%di,payload="%s",x=%r %d' % (i % 4, i, blob, rnd.random(), base + i * 10**8))
EOF
s3_fault '[{"kind":"slow","method":"PUT","query":"partNumber=2","ms":60000}]'
s3_write big.lp
s3_flush
it_expect "the upload of part 2 is being held" it_wait_for 60 s3_faults_taken 1
it_expect "the multipart state is saved" test -s data/sync/archive/UPLOAD
it_stop_neoedge KILL
s3_stats before.json

it_start_neoedge --config neoedge.yaml
it_wait_health
it_expect "the segment is delivered after the restart" s3_wait_delivered 1 60
s3_keys >keys.txt
it_eq "exactly one object" "$(wc -l <keys.txt | tr -d ' ')" 1
s3_stats after.json
it_expect "completed exactly once, no upload left open" s3_check_once after.json -- keys.txt
"$PY" - after.json >ops.txt <<'EOF'
import json, sys
log = json.load(open(sys.argv[1]))["log"]
ok = lambda e: 200 <= e["status"] < 300
print(sum(1 for e in log if ok(e) and e["op"] == "create"),
      sum(1 for e in log if ok(e) and e["op"] == "list_parts"),
      sum(1 for e in log if ok(e) and e["op"] == "upload_part" and "partNumber=1&" in e["query"] + "&"),
      sum(1 for e in log if ok(e) and e["op"] == "upload_part"),
      sum(1 for e in log if ok(e) and e["op"] == "complete"))
EOF
read -r creates lists part1 parts completes <ops.txt
it_eq "one multipart upload was created" "$creates" 1
it_expect "the restart resumed it with ListParts ($lists)" test "$lists" -ge 1
it_eq "part 1 was sent once" "$part1" 1
it_eq "two parts acknowledged in all" "$parts" 2
it_eq "one CompleteMultipartUpload" "$completes" 1
size=$(curl -s -I "$S3_DIRECT/$(head -n1 keys.txt)" | tr -d '\r' | awk 'tolower($1)=="content-length:"{print $2}')
it_expect "the object is a multipart-sized one ($size bytes)" test "$size" -gt 5242880
s3_download objects
it_expect "DuckDB reads the object and it matches /query" \
  node "$S3_HERE/s3_duckdb.mjs" --dir objects --url "http://127.0.0.1:$HTTP_PORT" --db iot \
  --node "$S3_NODE" --expect-rows 10000

it_done
