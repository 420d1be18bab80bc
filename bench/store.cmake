# Store benchmark: imports line protocol through ne_store_write (batches of
# 5,000, durability interval), flushes, compacts; prints a table.
add_executable(bench_store ${CMAKE_CURRENT_LIST_DIR}/store/bench_store.c)
target_link_libraries(bench_store PRIVATE ne_ingest ne_store)
