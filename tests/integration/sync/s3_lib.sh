# s3_lib.sh - helpers for the S3 sink tests (sourced after ../lib.sh).
#
# Each test runs the real daemon with an s3 sink pointing at a private
# s3rver behind the SigV4-verifying, fault-injecting proxy
# (tests/integration/s3/proxy.js, started by run_s3.sh). A script sourcing
# this file re-runs itself under run_s3.sh when the proxy is not there yet,
# so it can be started directly:  NEOEDGE_BIN=... bash s3_happy.sh
#
#   s3_config FILE [YAML_LINES...]   a daemon config with sink "archive"
#   s3_fault JSON / s3_reset          queue proxy faults / clear them
#   s3_stats FILE                     the proxy's /stats (log of requests)
#   s3_keys                           the bucket's keys, read from s3rver
#   s3_download DIR                   every object into DIR/<key>
#   s3_sink_metric NAME               a neoedge_sink_* figure of "archive"
#   s3_sink_field NAME                its entry in /api/v1/sinks
#   s3_wait_delivered N SECONDS       until N segments are delivered
#   s3_write FILE / s3_flush          POST /write (ns) / POST /api/v1/flush
#   s3_check_once STATS... -- KEYS    every key completed exactly once

S3_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
S3_SRC=${NEOEDGE_SRC:-$(cd "$S3_HERE/../../.." && pwd)}
export NEOEDGE_SRC=$S3_SRC
if [ -z "${S3_IT_PROXY_PORT:-}" ]; then
  exec bash "$S3_SRC/tests/integration/s3/run_s3.sh" bash "$0" "$@"
fi
. "$S3_HERE/../lib.sh"

S3_NODE=gw-test
S3_S3PORT=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["s3"])' "$S3_IT_TMP/ready")
S3_ADMIN="http://127.0.0.1:$S3_IT_ADMIN_PORT"
S3_DIRECT="http://127.0.0.1:$S3_S3PORT/$S3_IT_BUCKET"

# s3_config FILE [YAML_LINES...]: a gateway config (node gw-test, data in
# ./data, no MQTT or CoAP) with one s3 sink "archive" on the proxy; extra
# lines are appended to the sink's entry (indent them by 4 spaces). The
# secret is $S3_CFG_SECRET when set (a wrong one for the auth test).
s3_config() {
  local f=$1 line
  shift
  {
    cat <<YAML
node_id: $S3_NODE
data_dir: ./data
storage:
  memtable_budget: 64MiB
mqtt:
  enabled: false
coap:
  enabled: false
sinks:
  - name: archive
    type: s3
    endpoint: http://127.0.0.1:$S3_IT_PROXY_PORT
    region: us-east-1
    bucket: $S3_IT_BUCKET
    path_style: true
    access_key: $S3_IT_ACCESS
    secret_key: "${S3_CFG_SECRET:-$S3_IT_SECRET}"
    session_token: "$S3_IT_TOKEN"
    multipart_threshold: 5MiB
    part_size: 5MiB
    max_retries: 1
YAML
    for line in "$@"; do echo "$line"; done
  } >"$f"
}

s3_fault() {
  curl -s -X POST --data-binary "$1" "$S3_ADMIN/faults" >/dev/null
}

s3_reset() {
  curl -s -X POST "$S3_ADMIN/reset" >/dev/null
}

s3_stats() {
  curl -s "$S3_ADMIN/stats" >"$1"
}

# One field of the proxy's /stats ("requests", "faults", ...).
s3_stat() {
  curl -s "$S3_ADMIN/stats" | "$PY" -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$1"
}

# True once the proxy has applied at least N faults.
s3_faults_taken() {
  [ "$(s3_stat faults)" -ge "$1" ]
}

# The bucket's keys, one per line, sorted (ListObjectsV2 straight from
# s3rver: what is stored, whatever the proxy does).
s3_keys() {
  "$PY" - "$S3_DIRECT" <<'EOF'
import sys, urllib.parse, urllib.request, xml.etree.ElementTree as ET
base, token, keys = sys.argv[1], None, []
ns = {"s": "http://doc.s3.amazonaws.com/2006-03-01/"}
while True:
    q = {"list-type": "2"}
    if token:
        q["continuation-token"] = token
    with urllib.request.urlopen(base + "?" + urllib.parse.urlencode(q)) as r:
        root = ET.fromstring(r.read())
    keys += [c.find("s:Key", ns).text for c in root.findall("s:Contents", ns)]
    if root.findtext("s:IsTruncated", namespaces=ns) != "true":
        break
    token = root.findtext("s:NextContinuationToken", namespaces=ns)
if keys:
    print("\n".join(sorted(keys)))
EOF
}

# s3_download DIR: every object of the bucket into DIR/<key>.
s3_download() {
  local dir=$1 key
  mkdir -p "$dir"
  while IFS= read -r key; do
    [ -n "$key" ] || continue
    mkdir -p "$dir/$(dirname "$key")"
    curl -s -f -o "$dir/$key" "$S3_DIRECT/$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$key")" ||
      it_fail "download of $key"
  done < <(s3_keys)
}

# A figure of sink "archive" from /metrics, e.g. backlog_segments.
s3_sink_metric() {
  it_metric "neoedge_sink_$1" 'sink="archive"'
}

# s3_wait_delivered N SECONDS: until N segments are delivered and nothing
# is waiting.
s3_wait_delivered() {
  local want=$1 limit=$2 i d b
  for i in $(seq 1 $((limit * 5))); do
    d=$(s3_sink_metric delivered_segments_total)
    b=$(s3_sink_metric backlog_segments)
    [ "$d" -ge "$want" ] && [ "$b" = 0 ] && return 0
    sleep 0.2
  done
  echo "delivered $d of $want, backlog $b" >&2
  return 1
}

# A field of sink "archive" in GET /api/v1/sinks (figures computed when
# asked, e.g. backlog_segments, status, reason).
s3_sink_field() {
  curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/sinks" | "$PY" -c '
import json, sys
for k in json.load(sys.stdin):
    if k["name"] == "archive":
        print(k.get(sys.argv[1], ""))' "$1"
}

# s3_wait_field NAME WANT SECONDS: until the sink field NAME reaches WANT.
s3_wait_field() {
  local name=$1 want=$2 limit=$3 i v
  for i in $(seq 1 $((limit * 5))); do
    v=$(s3_sink_field "$name")
    [ "$v" -ge "$want" ] 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$name is $v, want $want" >&2
  return 1
}

s3_write() {
  local code
  code=$(curl -s -o "$IT_DIR/write.out" -w '%{http_code}' -X POST \
    "http://127.0.0.1:$HTTP_PORT/write?db=iot&precision=ns" --data-binary @"$1")
  [ "$code" = 204 ] || { it_fail "write of $1 answered $code: $(cat "$IT_DIR/write.out")"; return 1; }
}

s3_flush() {
  curl -s -f -X POST "http://127.0.0.1:$HTTP_PORT/api/v1/flush" >/dev/null ||
    it_fail "flush"
}

# The sync module's entry of /health: "<status> <reason>".
s3_health() {
  curl -s "http://127.0.0.1:$HTTP_PORT/health" | "$PY" -c '
import json, sys
h = json.load(sys.stdin)
for c in h.get("checks", []):
    if c["name"] == "sync":
        print(c["status"], c.get("reason", ""))
        break
else:
    print("none")'
}

s3_health_is() {
  case "$(s3_health)" in "$1"*) return 0 ;; *) return 1 ;; esac
}

# Segment files the store holds.
s3_segment_count() {
  find "$IT_DIR/data" -name '*.seg' -not -path '*/sync/*' | wc -l | tr -d ' '
}

# s3_check_once STATS_FILE... -- KEYS_FILE: every key of KEYS_FILE was
# completed exactly once over the proxy logs given (a single PUT answered
# 2xx, or a CompleteMultipartUpload answered 2xx), no other key was
# completed, every multipart upload created was completed or aborted, and
# completions came oldest segment first. Prints what is wrong.
s3_check_once() {
  "$PY" - "$S3_IT_BUCKET" "$@" <<'EOF'
import json, re, sys, urllib.parse
bucket, args = sys.argv[1], sys.argv[2:]
cut = args.index("--")
stats, keys = args[:cut], open(args[cut + 1]).read().split()
done, created, closed, order = {}, 0, 0, []
for f in stats:
    for e in json.load(open(f))["log"]:
        ok = 200 <= e["status"] < 300
        key = urllib.parse.unquote(e["path"]).split("/", 2)[2] if e["path"].count("/") >= 2 else ""
        if ok and e["op"] in ("put", "complete"):
            done[key] = done.get(key, 0) + 1
            m = re.search(r"([0-9a-f]{16})\.(parquet|neseg)", key)
            order.append(int(m.group(1), 16) if m else -1)
        if ok and e["op"] == "create":
            created += 1
        if ok and e["op"] in ("complete", "abort"):
            closed += 1
bad = []
for k in keys:
    if done.get(k, 0) != 1:
        bad.append("%s completed %d times" % (k, done.get(k, 0)))
for k in done:
    if k not in keys:
        bad.append("%s completed but not in the bucket" % k)
if created != closed:
    bad.append("%d multipart uploads created, %d completed or aborted" % (created, closed))
if order != sorted(order):
    bad.append("completions not oldest segment first: %s" % order)
if bad:
    print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
}

# s3_gen_points FILE MEASUREMENT N BASE_NS STEP_NS [SEED]: N points of one
# series with a float, an integer and a string field.
s3_gen_points() {
  "$PY" - "$@" <<'EOF'
import random, sys
path, meas, n, base, step = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rnd = random.Random(int(sys.argv[6]) if len(sys.argv) > 6 else 1)
with open(path, "w") as f:
    for i in range(n):
        f.write('%s,site=s%d v=%r,n=%di,s="x%d" %d\n'
                % (meas, i % 2, round(rnd.uniform(-50, 50), 3), rnd.randint(-1000, 1000), i, base + i * step))
EOF
}
