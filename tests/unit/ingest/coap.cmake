# CoAP source against coap-client-openssl on free loopback ports (UDP and
# DTLS-PSK), plus hand-made datagrams for the retransmission case.
ne_add_test(NAME ingest_coap_source
  SOURCES coap_source_test.c mqtt_testlib.c
  LIBS ne_ingest ne_ports Threads::Threads
  LABELS integration
  TIMEOUT 300)
