ne_add_test(NAME unit_store_influxql SOURCES ${CMAKE_CURRENT_LIST_DIR}/query_parse_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME unit_store_query_exec SOURCES ${CMAKE_CURRENT_LIST_DIR}/query_exec_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME unit_store_query_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/query_store_test.c LIBS ne_store LABELS unit)
