ne_add_fuzz(NAME senml_cbor SOURCES fuzz_senml_cbor.c LIBS ne_ingest)
