# CoAP ingest source (libcoap 3 with OpenSSL for DTLS-PSK).
list(APPEND NE_INGEST_SOURCES coap/coap.c)
list(APPEND NE_INGEST_LIBS ne::coap Threads::Threads)
