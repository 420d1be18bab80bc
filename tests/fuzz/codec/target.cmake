ne_add_fuzz(NAME codec SOURCES fuzz_codec.c LIBS ne_store)
