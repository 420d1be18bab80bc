# Encryption envelope tests (included by tests/unit/sync/CMakeLists.txt).
ne_add_test(NAME unit_crypt SOURCES ${CMAKE_CURRENT_LIST_DIR}/crypt_test.c
  LIBS ne_sync ne_ports LABELS unit)
