# Parquet writer (included by sync/CMakeLists.txt).
list(APPEND NE_SYNC_SOURCES parquet/thrift.c parquet/encode.c parquet/writer.c)
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/writer.c PROPERTIES
  COMPILE_DEFINITIONS "NE_PQ_VERSION=\"${PROJECT_VERSION}\"")
