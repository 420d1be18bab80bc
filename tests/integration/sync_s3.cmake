# The S3 sink end to end (tests/integration/sync/s3_*.sh): the daemon with
# an s3 sink against s3rver behind the SigV4-verifying, fault-injecting
# proxy (s3/run_s3.sh), objects checked with DuckDB. Needs node and the npm
# packages of tests/js. Included by tests/integration/CMakeLists.txt.
foreach(t happy offline auth kill9 resume encrypt)
  ne_add_script_test(NAME integration_sync_s3_${t} SCRIPT sync/s3_${t}.sh LABELS integration
                     TIMEOUT 240)
endforeach()

# The driver alone (deliver called as the runner calls it) against the same
# proxy: failure kinds, stop and resume between parts, encrypted resume.
set(_s3_sink_it_dir ${CMAKE_CURRENT_LIST_DIR}/sync)
add_executable(s3_sink_it ${_s3_sink_it_dir}/s3_sink_it.c)
target_include_directories(s3_sink_it PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/tests/lib)
target_link_libraries(s3_sink_it PRIVATE ne_sync ne_store ne_config ne_ports ne::curl)
add_test(NAME integration_sync_s3_driver
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/s3/run_s3.sh $<TARGET_FILE:s3_sink_it>)
set_tests_properties(integration_sync_s3_driver PROPERTIES LABELS integration TIMEOUT 180
  ENVIRONMENT "NEOEDGE_SRC=${PROJECT_SOURCE_DIR}")
