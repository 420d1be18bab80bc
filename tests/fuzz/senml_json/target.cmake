ne_add_fuzz(NAME senml_json SOURCES fuzz_senml_json.c LIBS ne_ingest)
