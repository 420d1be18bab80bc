ne_add_test(NAME unit_store_influxql SOURCES ${CMAKE_CURRENT_LIST_DIR}/query_parse_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME unit_store_query_exec SOURCES ${CMAKE_CURRENT_LIST_DIR}/query_exec_test.c LIBS ne_store LABELS unit)
ne_add_test(NAME unit_store_select_acc SOURCES ${CMAKE_CURRENT_LIST_DIR}/query_select_acc_test.c LIBS ne_store m LABELS unit)
ne_add_test(NAME unit_store_raw_stream SOURCES ${CMAKE_CURRENT_LIST_DIR}/query_raw_stream_test.c LIBS ne_store LABELS unit TIMEOUT 300)
