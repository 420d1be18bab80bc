# Fuzzes the shard move formats: status requests served, status replies
# parsed, saved shard states loaded.
ne_add_fuzz(NAME rebalance SOURCES fuzz_rebalance.c LIBS ne_sharding)
