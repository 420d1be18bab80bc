# Segment to Parquet export benchmark: bench/export/ (bench_seg2pq + run.sh,
# which adds DuckDB's own Parquet size for the same rows). Run:
#   bench/export/run.sh BUILD_DIR      (a -DCMAKE_BUILD_TYPE=Release build)
add_executable(bench_seg2pq ${CMAKE_CURRENT_LIST_DIR}/export/bench_seg2pq.c)
target_include_directories(bench_seg2pq PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_seg2pq PRIVATE ne_sync ne_ingest ne_store)
