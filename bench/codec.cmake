# Column codec benchmark (include from bench/CMakeLists.txt):
#   bench_codec [-b block_points] [-z zstd_level] [-r repeat] [file.lp]
add_executable(bench_codec ${CMAKE_CURRENT_LIST_DIR}/codec/bench_codec.c)
target_include_directories(bench_codec PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_codec PRIVATE ne_store ne_ports m)
