# Fuzzes the saved list of members kept off the placement ring
# (data_dir/cluster/removed).
ne_add_fuzz(NAME removed SOURCES fuzz_removed.c LIBS ne_sharding)
