ne_add_fuzz(NAME float SOURCES fuzz_float.c LIBS ne_ingest)
