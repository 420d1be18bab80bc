# S3 client tests (included by tests/unit/sync/CMakeLists.txt).
# Unit tests: signer vectors, addressing, backoff, credentials, state format.
ne_add_test(NAME unit_s3_sigv4 SOURCES ${CMAKE_CURRENT_LIST_DIR}/s3_sigv4_test.c
  LIBS ne_sync ne_ports LABELS unit)
ne_add_test(NAME unit_s3_client SOURCES ${CMAKE_CURRENT_LIST_DIR}/s3_client_test.c
  LIBS ne_sync ne_ports LABELS unit)

# Integration: the client against s3rver behind the SigV4-verifying proxy
# (tests/integration/s3/proxy.js), all on loopback; needs node and npm.
set(_s3_it_dir ${PROJECT_SOURCE_DIR}/tests/integration/s3)
add_executable(s3_it_client ${_s3_it_dir}/s3_it_client.c)
target_include_directories(s3_it_client PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/tests/lib)
target_link_libraries(s3_it_client PRIVATE ne_sync ne_ports ne::curl)
add_test(NAME integration_s3 COMMAND bash ${_s3_it_dir}/run_s3.sh $<TARGET_FILE:s3_it_client>)
set_tests_properties(integration_s3 PROPERTIES LABELS integration TIMEOUT 300
  ENVIRONMENT "NEOEDGE_SRC=${PROJECT_SOURCE_DIR}")
