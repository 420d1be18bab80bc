# Segment bundle tests (included by tests/unit/sync/CMakeLists.txt): round
# trip through two real stores, positional reads, every kind of damage.
ne_add_test(NAME unit_sync_bundle SOURCES ${CMAKE_CURRENT_LIST_DIR}/bundle_test.c
  LIBS ne_sync ne_store ne_ports LABELS unit)
