ne_add_fuzz(NAME bundle SOURCES fuzz_bundle.c LIBS ne_sync ne_store ne_ports ne::mbedtls)
