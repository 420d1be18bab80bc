# Sinks: the runner (cursor, retries, windows, figures) and the drivers
# (included by sync/CMakeLists.txt).
list(APPEND NE_SYNC_SOURCES sink/sink.c)
list(APPEND NE_SYNC_SOURCES sink/s3_sink.c)
list(APPEND NE_SYNC_SOURCES sink/central_sink.c)
list(APPEND NE_SYNC_LIBS ne::curl)
