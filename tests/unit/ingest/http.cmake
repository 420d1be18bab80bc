# InfluxDB write handler tests (label unit); zlib builds the gzip bodies.
ne_add_test(NAME unit_ingest_http_write
            SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_write_test.c
            LIBS ne_ingest PkgConfig::NE_ZLIB LABELS unit)
