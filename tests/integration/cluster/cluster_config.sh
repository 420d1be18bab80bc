#!/usr/bin/env bash
# cluster_config.sh - the cluster and replication sections of the config
# through `neoedge config check` / `config explain`: the example cluster
# files validate, environment overrides reach the keys, the key is
# redacted, and each inconsistent setting is refused naming its key.
. "$(dirname "$0")/../lib.sh"
it_setup

EX="$NEOEDGE_SRC/examples/cluster"
for n in 1 2 3; do
  out=$("$NEOEDGE_BIN" config check "$EX/node$n.yaml" 2>&1)
  it_eq "examples/cluster/node$n.yaml validates" "$?" 0
done

explained=$(NEOEDGE_CLUSTER_KEY=from-the-environment-0123 "$NEOEDGE_BIN" config explain "$EX/node2.yaml")
it_contains "listen from the file" "$explained" "  listen: 127.0.0.1:18612  # file"
it_contains "key is redacted, from the environment" "$explained" \
  '  key: "<redacted>"  # env NEOEDGE_CLUSTER_KEY'
it_expect "the key itself is not shown" bash -c '! grep -q from-the-environment <<<"$1"' _ "$explained"
it_contains "replication factor from the file" "$explained" "  factor: 2  # file"
it_contains "suspect timeout from the file" "$explained" "  suspect_timeout: 5s  # file"

# check_bad DESCRIPTION WANT-IN-MESSAGE YAML [ENV...]
check_bad() {
  local what=$1 want=$2 yaml=$3
  shift 3
  printf '%s\n' "$yaml" >"$IT_DIR/bad.yaml"
  local out rc
  out=$(env "$@" "$NEOEDGE_BIN" config check "$IT_DIR/bad.yaml" 2>&1)
  rc=$?
  it_eq "$what: refused" "$rc" 1
  it_contains "$what: message" "$out" "$want"
}

BASE='mqtt: {enabled: false}
coap: {enabled: false}'
check_bad "short key" "cluster.key: the cluster key must be 16 to 32 bytes long, got 5" \
  "$BASE
cluster: {listen: 127.0.0.1:7946, key: short}"
check_bad "key missing" "cluster.key: the cluster needs its pre-shared key" \
  "$BASE
cluster: {listen: 127.0.0.1:7946}"
check_bad "seeds without listen" "cluster.listen: cluster.seeds is set but cluster.listen is not" \
  "$BASE
cluster: {seeds: [127.0.0.1:7946], key: 0123456789abcdef}"
check_bad "bad seed" "cluster.seeds" \
  "$BASE
cluster: {listen: 127.0.0.1:7946, seeds: [nohostport], key: 0123456789abcdef}"
check_bad "probe timeout above interval" "probe_timeout must be below probe_interval" \
  "$BASE
cluster: {listen: 127.0.0.1:7946, key: 0123456789abcdef, probe_interval: 100ms, probe_timeout: 200ms}"
check_bad "replication factor 0" "replication.factor" \
  "$BASE
replication: {factor: 0}"
check_bad "key from the environment, too long" "got 33" \
  "$BASE
cluster: {listen: 127.0.0.1:7946}" NEOEDGE_CLUSTER_KEY=0123456789abcdef0123456789abcdefX
check_bad "seeds from the environment" "cluster.listen: cluster.seeds is set" \
  "$BASE" "NEOEDGE_CLUSTER_SEEDS=127.0.0.1:1,127.0.0.1:2" NEOEDGE_CLUSTER_KEY=0123456789abcdef

printf '%s\n' "$BASE" >"$IT_DIR/ok.yaml"
out=$(NEOEDGE_CLUSTER_LISTEN=127.0.0.1:7946 NEOEDGE_CLUSTER_KEY=0123456789abcdef \
  NEOEDGE_CLUSTER_SEEDS=127.0.0.1:1,127.0.0.1:2 "$NEOEDGE_BIN" config explain "$IT_DIR/ok.yaml" 2>&1)
it_contains "seeds from a comma-separated variable" "$out" "127.0.0.1:2"
it_contains "seeds origin is the environment" "$out" "env NEOEDGE_CLUSTER_SEEDS"

it_done
