# Fuzzes NE_FT_WRITE_BATCH requests as a replication receiver serves them:
# records, versions, keeper records filtered by the keeps callback.
ne_add_fuzz(NAME write_batch SOURCES fuzz_write_batch.c LIBS ne_sharding)
