# InfluxDB-compatible write endpoints (transport-free); gzip bodies need zlib.
pkg_check_modules(NE_ZLIB REQUIRED IMPORTED_TARGET GLOBAL zlib)
list(APPEND NE_INGEST_SOURCES http/http_write.c)
list(APPEND NE_INGEST_LIBS PkgConfig::NE_ZLIB)
