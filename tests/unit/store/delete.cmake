# store: deletion (DROP DATABASE/MEASUREMENT, DELETE) in the engine, and the
# query layer's data-changing statements and chunked answers over it.
ne_add_test(NAME engine_delete_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_delete_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME query_delete_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/query_delete_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME engine_delete_crash_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_delete_crash_test.c LIBS ne_store LABELS crash TIMEOUT 600)
