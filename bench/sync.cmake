# Cloud sync upload benchmark: bench/sync/ (bench_sync + run.sh).
include(${CMAKE_CURRENT_LIST_DIR}/sync/bench.cmake)
