# Sharding benchmark: ring build and lookup, movement on join, frame
# codec throughput, TLS transport round trips on loopback; prints a table.
add_executable(bench_sharding ${CMAKE_CURRENT_LIST_DIR}/sharding/bench_sharding.c)
target_include_directories(bench_sharding PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_sharding PRIVATE ne_sharding ne_ports)

# Anti-entropy round costs between two in-process stores loaded from a
# line-protocol file; prints a table.
add_executable(bench_antientropy ${CMAKE_CURRENT_LIST_DIR}/sharding/bench_antientropy.c)
target_include_directories(bench_antientropy PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_antientropy PRIVATE ne_sharding ne_ingest ne_store ne_ports)

# The arrival filter of cluster deletions (sharding/tomb.h): ns per point
# of replicated batches against growing tombstone sets; prints a table.
add_executable(bench_tomb ${CMAKE_CURRENT_LIST_DIR}/sharding/bench_tomb.c)
target_include_directories(bench_tomb PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_tomb PRIVATE ne_sharding ne_ingest ne_store ne_ports)
