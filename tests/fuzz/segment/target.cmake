ne_add_fuzz(NAME segment SOURCES fuzz_segment.c LIBS ne_store)
