# rb_lib.sh - what the shard move tests share (sourced after lib.sh; it
# sources cluster_lib.sh): up to four nodes on loopback, replication
# factor RB_FACTOR (default 2), 16 shards, a short anti-entropy interval;
# node4 is not a seed of the others (it joins).
#   rb_setup                 ports, configs of node1..node4
#   cl_settled N...          no shard moving or kept on any of the nodes
#   rb_local_stores OUT N... stops the nodes, reads each one's own store
# NEOEDGE_LONG=1: the long forms (10 times the writes before and after the
# change, and the time).
. "$(dirname "${BASH_SOURCE[0]}")/cluster_lib.sh"
KEY="integration-rebalance-key-01"
RB_SCALE=1
[ "${NEOEDGE_LONG:-}" = 1 ] && RB_SCALE=10
RB_CHECK="$(dirname "${BASH_SOURCE[0]}")/rb_check.py"

rb_setup() {
  local n
  cl_ports 4
  for n in 1 2 3 4; do cl_config $n "${RB_FACTOR:-2}" "anti_entropy_interval: 1s"; done
}

# rb_local_stores N...: stops nodes N... all at once (SIGTERM: each is
# "stopped" and keeps its shards), then writes each one's own store as
# $IT_DIR/nodeN.json.
rb_local_stores() {
  local n
  for n in "$@"; do kill -TERM "${PID[$n]}"; done
  for n in "$@"; do
    wait "${PID[$n]}"
    it_eq "node$n exits 0 on SIGTERM" "$?" 0
    it_forget_pid "${PID[$n]}"
  done
  cl_read_stores "$@"
  cl_no_sanitizer_reports
}

# Shard moves completed on node N, and shard copies it dropped.
rb_moves() { cl_field "$1" 'j["rebalance"]["moves_completed"]'; }
rb_dropped() { cl_field "$1" 'j["rebalance"]["shards_dropped"]'; }
