# Sink runner tests (included by tests/unit/sync/CMakeLists.txt).
ne_add_test(NAME unit_sync_sink SOURCES ${CMAKE_CURRENT_LIST_DIR}/sink_test.c
  LIBS ne_sync ne_store ne_ports LABELS unit)
