# Payload decoder benchmark (include from bench/CMakeLists.txt):
#   bench_decode [-l lines_per_batch] [-r repeat] NAME=file.lp...
#   bench/decode/run.sh [build_dir] generates S1/I1 and runs it.
add_executable(bench_decode ${CMAKE_CURRENT_LIST_DIR}/decode/bench_decode.c)
target_include_directories(bench_decode PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_decode PRIVATE ne_ingest ne_ports)
