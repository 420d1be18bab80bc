# Full-decode scan benchmark (include from bench/CMakeLists.txt):
#   bench_scan [-r repeat] [-t threads] DATA_DIR DB MEASUREMENT [FIELD...]
#   bench/scan/run.sh [build_dir] imports S1 into a temp store and runs it.
add_executable(bench_scan ${CMAKE_CURRENT_LIST_DIR}/scan/bench_scan.c)
target_include_directories(bench_scan PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_scan PRIVATE ne_store ne_ports Threads::Threads)
