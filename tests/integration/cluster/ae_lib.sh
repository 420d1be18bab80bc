# ae_lib.sh - what the anti-entropy tests share (sourced after lib.sh; it
# sources cluster_lib.sh): three nodes on loopback, every shard on every node
# (factor 3), a short anti-entropy interval, a hint window so short that
# hints for an absent node are dropped (only anti-entropy can bring their
# points back), and a partition file per node (NEOEDGE_TEST_PARTITION, the
# test hook of the cluster module).
#   ae_setup                 ports, configs; AE_NODES=3
#   ae_start N               cl_start with node N's partition file
#   ae_cluster_up            ae_setup, starts the three, waits for membership
#   ae_dropped N             node N dropped hints past the hint window
#   ae_partition N PEER...   node N drops traffic with PEERs ("" heals)
#   ae_wait_quiet N          N's anti-entropy ran two passes finding nothing
#   ae_verify ACKED...       stops every node, reads each store, checks
. "$(dirname "${BASH_SOURCE[0]}")/cluster_lib.sh"
KEY="integration-antientropy-key-01"
# NEOEDGE_LONG=1: the long forms (20 times the writes, and the time).
AE_SCALE=1
[ "${NEOEDGE_LONG:-}" = 1 ] && AE_SCALE=20
AE_CHECK="$(dirname "${BASH_SOURCE[0]}")/ae_check.py"

ae_setup() {
  local n
  cl_ports 3
  for n in 1 2 3; do
    : >"$IT_DIR/part$n"
    cl_config $n 3 "hint_window: ${AE_HINT_WINDOW:-300ms}" "anti_entropy_interval: 1s"
  done
}

ae_start() { cl_start "$1" NEOEDGE_TEST_PARTITION="$IT_DIR/part$1"; }

ae_cluster_up() {
  local n
  ae_setup
  for n in 1 2 3; do ae_start $n; done
  for n in 1 2 3; do
    it_expect "node$n sees three alive members" it_wait_for 20 cl_alive_is $n 3
  done
}

ae_dropped() {
  cl_positive "$(it_metric neoedge_replication_dropped_points_total 'reason="hint_window"' "${HTTP[$1]}")"
}

# ae_partition N PEER...: node N drops traffic with PEERs (none: heals).
ae_partition() {
  local n=$1
  shift
  printf '%s\n' "$@" >"$IT_DIR/part$n.tmp"
  mv "$IT_DIR/part$n.tmp" "$IT_DIR/part$n"
}

# Waits until node N's anti-entropy ran 2 more passes (2 rounds each)
# without finding a differing bucket.
ae_wait_quiet() {
  local n=$1 limit=${2:-40} i r d r0 d0
  r0=$(cl_field "$n" 'j["antientropy"]["rounds"]')
  d0=$(cl_field "$n" 'j["antientropy"]["buckets_differing"]')
  for i in $(seq 1 $((limit * 5))); do
    sleep 0.2
    r=$(cl_field "$n" 'j["antientropy"]["rounds"]')
    d=$(cl_field "$n" 'j["antientropy"]["buckets_differing"]')
    if [ "$d" != "$d0" ]; then
      r0=$r
      d0=$d
    elif [ "$r" -ge $((r0 + 4)) ]; then
      return 0
    fi
  done
  return 1
}

# ae_verify ACKED...: every node's own store holds every acknowledged key,
# all the same values, the last write winning (ae_check.py verify).
ae_verify() {
  local n verdict
  for n in 1 2 3; do cl_stop $n; done
  cl_read_stores 1 2 3
  verdict=$("$PY" "$AE_CHECK" verify "$@" -- "$IT_DIR/node1.json" "$IT_DIR/node2.json" \
    "$IT_DIR/node3.json")
  it_eq "every node holds every acknowledged point, the same values ($verdict)" "$?" 0
  cl_no_sanitizer_reports
}
