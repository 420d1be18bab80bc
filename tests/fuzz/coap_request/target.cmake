ne_add_fuzz(NAME coap_request SOURCES fuzz_coap_request.c LIBS ne_ingest)
