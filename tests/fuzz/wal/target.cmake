# Fuzzes WAL recovery: arbitrary bytes as the store's only WAL file.
ne_add_fuzz(NAME wal SOURCES fuzz_wal.c LIBS ne_store)
