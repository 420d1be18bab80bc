# store/engine: write path, WAL recovery, maintenance, faults, crash loop.
ne_add_test(NAME engine_write_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_write_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME engine_wal_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_wal_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME engine_faults_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_faults_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME engine_crash_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_crash_test.c LIBS ne_store LABELS crash TIMEOUT 600)
ne_add_test(NAME engine_maint_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_maint_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME engine_lww_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_lww_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME engine_tagvalues_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_tagvalues_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME engine_compact_policy_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_compact_policy_test.c LIBS ne_store LABELS unit)
