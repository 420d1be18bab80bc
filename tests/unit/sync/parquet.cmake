# sync/parquet: unit tests, and the DuckDB read-back check (integration).
foreach(t encode writer)
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/parquet_${t}_test.c)
    ne_add_test(NAME unit_sync_parquet_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/parquet_${t}_test.c
                LIBS ne_sync ne::zstd m LABELS unit)
  endif()
endforeach()

add_executable(parquet_gen ${CMAKE_CURRENT_LIST_DIR}/parquet_gen.c)
target_include_directories(parquet_gen PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(parquet_gen PRIVATE ne_sync m)
add_test(NAME integration_sync_parquet_duckdb
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/parquet_duckdb.sh $<TARGET_FILE:parquet_gen>)
set_tests_properties(integration_sync_parquet_duckdb PROPERTIES LABELS integration TIMEOUT 300
  ENVIRONMENT "NEOEDGE_SRC=${PROJECT_SOURCE_DIR}")
