# Fuzzes anti-entropy: requests served by ne_ae_handle over a small store,
# and replies fed to a round (roots, buckets, series, pulled records).
ne_add_fuzz(NAME antientropy SOURCES fuzz_antientropy.c LIBS ne_sharding ne_store)
