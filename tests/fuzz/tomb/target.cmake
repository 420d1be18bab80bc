# Fuzzes the tombstones of cluster-wide deletions (sharding/tomb.h): one
# tombstone, a list as exchanged by anti-entropy (learned into a set over a
# small store), and the set's file.
ne_add_fuzz(NAME tomb SOURCES fuzz_tomb.c LIBS ne_sharding ne_store)
