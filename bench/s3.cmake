# S3 upload benchmark (include from bench/CMakeLists.txt): run it through
#   bench/s3/run.sh [BUILD_DIR]
# which starts s3rver behind the verifying proxy on loopback.
add_executable(bench_s3 ${CMAKE_CURRENT_LIST_DIR}/s3/bench_s3.c)
target_include_directories(bench_s3 PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_s3 PRIVATE ne_sync ne_ports)
