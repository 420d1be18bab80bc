ne_add_fuzz(NAME line SOURCES fuzz_line.c LIBS ne_ingest)
