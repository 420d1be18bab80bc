# Sharding benchmark: ring build and lookup, movement on join, frame
# codec throughput, TLS transport round trips on loopback; prints a table.
add_executable(bench_sharding ${CMAKE_CURRENT_LIST_DIR}/sharding/bench_sharding.c)
target_include_directories(bench_sharding PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_sharding PRIVATE ne_sharding ne_ports)
