# Parquet writer benchmark: bench/parquet/ (bench_parquet + run.sh).
include(${CMAKE_CURRENT_LIST_DIR}/parquet/bench.cmake)
