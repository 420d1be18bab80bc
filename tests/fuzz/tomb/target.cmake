# Fuzzes the tombstones of cluster-wide deletions (sharding/tomb.h): one
# tombstone, a list as exchanged by anti-entropy (learned into a set over a
# small store), the set's file, and an anti-entropy tombstone request.
ne_add_fuzz(NAME tomb SOURCES fuzz_tomb.c LIBS ne_sharding ne_store)
