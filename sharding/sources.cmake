# Sources of ne_sharding (relative to sharding/).
set(NE_SHARDING_SOURCES
  cluster.c
  hlc.c
  ring.c
  frame.c
  swim.c
  membership.c
  transport.c
  net.c
  scan.c
  scan_src.c
  hintq.c
  replicate.c
  antientropy.c
  rebalance.c
  tomb.c
)
