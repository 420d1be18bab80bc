# Segment benchmark: builds segments from line protocol and prints a table
# (bytes per value, write/read/merge throughput). Never asserts on time.
add_executable(bench_segment ${CMAKE_CURRENT_LIST_DIR}/segment/bench_segment.c)
target_link_libraries(bench_segment PRIVATE ne_store)
