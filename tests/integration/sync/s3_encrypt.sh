#!/usr/bin/env bash
# s3_encrypt.sh - a sink with encryption_key: objects are named .parquet.enc
# and hold the AES-256-GCM envelope, which DuckDB cannot read; `neoedge
# decrypt` with the key restores Parquet files DuckDB reads, equal to
# /query. One object is large enough for a multipart upload, which is
# interrupted by kill -9 and resumed with the same encrypted bytes.
# format native uploads the segment bundle instead, encrypted the same way.
. "$(dirname "${BASH_SOURCE[0]}")/s3_lib.sh"
it_setup

key=$("$PY" -c 'import os; print(os.urandom(32).hex())')
s3_config neoedge.yaml "    encryption_key: $key"
it_start_neoedge --config neoedge.yaml
it_wait_health

hour=3600000000000
base=$(( ($(date +%s) / 3600 - 3) * hour ))
# A small object per hour of "m" and one large (multipart) object of "blob".
s3_gen_points small.lp m 120 "$base" 60000000000 3
"$PY" - "$base" >big.lp <<'EOF'
import base64, random, sys
base = int(sys.argv[1])
rnd = random.Random(5)
for i in range(9000):
    blob = base64.b64encode(rnd.randbytes(750)).decode()
    print('blob,dev=d%d seq=%di,payload="%s" %d' % (i % 3, i, blob, base + i * 10**8))
EOF
s3_fault '[{"kind":"slow","method":"PUT","query":"partNumber=2","ms":60000}]'
s3_write small.lp
s3_write big.lp
s3_flush
it_expect "the encrypted multipart upload is held at part 2" it_wait_for 60 s3_faults_taken 1
it_stop_neoedge KILL
it_start_neoedge --config neoedge.yaml
it_wait_health
it_expect "the segment is delivered after the restart" s3_wait_delivered 1 60

s3_keys >keys.txt
it_eq "1 blob object and 2 hours of m" "$(wc -l <keys.txt | tr -d ' ')" 3
it_expect "every key ends in .parquet.enc" "$PY" -c '
import re, sys
pat = re.compile(r"^db=iot/measurement=(m|blob)/date=[0-9-]{10}/hour=\d\d/gw-test-[0-9a-f]{16}\.parquet\.enc$")
sys.exit(0 if all(pat.match(k) for k in open(sys.argv[1]).read().split()) else 1)' keys.txt
s3_stats stats.json
it_expect "each object completed exactly once, no upload left open" s3_check_once stats.json -- keys.txt
s3_download enc
first=$(find enc -name '*.enc' | head -n1)
it_expect "objects start with the envelope magic NEENC" test "$(head -c 5 "$first")" = NEENC
# True when DuckDB refuses to read FILE as Parquet.
duckdb_refuses() {
  ! node --input-type=module -e "
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
const req = createRequire('$S3_SRC/tests/js/package.json');
const { DuckDBInstance } = await import(pathToFileURL(req.resolve('@duckdb/node-api')));
const c = await (await DuckDBInstance.create(':memory:')).connect();
await c.runAndReadAll(\"SELECT count(*) FROM read_parquet('$1')\");" 2>duckdb.err
}
it_expect "DuckDB cannot read an encrypted object" duckdb_refuses "$first"
it_contains "it says why" "$(cat duckdb.err)" "parquet"

# Decrypt every object into the same layout, without .enc.
ok=1
while IFS= read -r f; do
  out="plain/${f#enc/}"
  mkdir -p "$(dirname "$out")"
  "$NEOEDGE_BIN" decrypt --key "$key" --out "${out%.enc}" "$f" 2>>decrypt.err || ok=0
done < <(find enc -name '*.enc' | sort)
it_eq "neoedge decrypt opens every object" "$ok" 1
it_expect "the decrypted objects are Parquet DuckDB reads, equal to /query" \
  node "$S3_HERE/s3_duckdb.mjs" --dir plain --url "http://127.0.0.1:$HTTP_PORT" --db iot \
  --node "$S3_NODE" --expect-rows 9120

# format native: the segment bundle, encrypted, under native/node=<node>/.
it_stop_neoedge TERM
rm -rf data
s3_reset
s3_config neoedge.yaml "    encryption_key: $key" "    format: native"
it_start_neoedge --config neoedge.yaml
it_wait_health
s3_write small.lp
s3_flush
it_expect "the native segment is delivered" s3_wait_delivered 1 60
nkey=$(s3_keys | grep '^native/' || true)
it_expect "its key is native/node=gw-test/<segment>.neseg.enc ($nkey)" \
  "$PY" -c 'import re, sys; sys.exit(0 if re.fullmatch(r"native/node=gw-test/[0-9a-f]{16}\.neseg\.enc", sys.argv[1]) else 1)' "$nkey"
curl -s -o bundle.enc "$S3_DIRECT/$nkey"
"$NEOEDGE_BIN" decrypt --key "$key" --out bundle.neb bundle.enc 2>>decrypt.err
it_expect "it decrypts to a segment bundle (magic NEBN)" test "$(head -c 4 bundle.neb)" = NEBN

it_done
