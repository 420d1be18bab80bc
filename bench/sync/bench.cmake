# Cloud sync upload benchmark (S3 throughput and CPU, plain and encrypted):
# run it through bench/sync/run.sh BUILD_DIR, which starts s3rver behind
# the verifying proxy on loopback.
add_executable(bench_sync ${CMAKE_CURRENT_LIST_DIR}/bench_sync.c)
target_include_directories(bench_sync PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_sync PRIVATE ne_sync ne_ports)
