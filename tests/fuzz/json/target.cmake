ne_add_fuzz(NAME json SOURCES fuzz_json.c LIBS ne_ingest)
