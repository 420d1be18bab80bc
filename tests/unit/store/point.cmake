ne_add_test(NAME unit_store_point SOURCES ${CMAKE_CURRENT_LIST_DIR}/point_test.c LIBS ne_store LABELS unit)
