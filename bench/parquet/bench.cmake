# Parquet writer benchmark (see bench/parquet/run.sh for the full table,
# including DuckDB's own Parquet size for the same data).
add_executable(bench_parquet ${CMAKE_CURRENT_LIST_DIR}/bench_parquet.c)
target_include_directories(bench_parquet PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_parquet PRIVATE ne_sync)
