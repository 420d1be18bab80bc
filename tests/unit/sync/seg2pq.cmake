# sync/export: segment to Parquet conversion (unit), and the DuckDB
# read-back of the objects it writes (integration: needs node).
ne_add_test(NAME unit_sync_seg2pq SOURCES ${CMAKE_CURRENT_LIST_DIR}/seg2pq_test.c
            LIBS ne_sync ne_store m LABELS unit)

add_executable(seg2pq_gen ${CMAKE_CURRENT_LIST_DIR}/seg2pq_gen.c)
target_include_directories(seg2pq_gen PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/tests/lib)
target_link_libraries(seg2pq_gen PRIVATE ne_sync ne_store m)
add_test(NAME integration_sync_seg2pq_duckdb
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/seg2pq_duckdb.sh $<TARGET_FILE:seg2pq_gen>)
set_tests_properties(integration_sync_seg2pq_duckdb PROPERTIES LABELS integration TIMEOUT 300
  ENVIRONMENT "NEOEDGE_SRC=${PROJECT_SOURCE_DIR}")
