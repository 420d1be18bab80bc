# `neoedge decrypt` against envelopes sealed by the library (crypt_tool)
# and by an independent implementation (crypt_interop.py, Python
# cryptography). Included by tests/integration/CMakeLists.txt.
add_executable(crypt_tool ${CMAKE_CURRENT_LIST_DIR}/crypt_tool.c)
target_include_directories(crypt_tool PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(crypt_tool PRIVATE ne_sync ne_ports)
ne_add_script_test(NAME integration_decrypt SCRIPT decrypt.sh LABELS integration TIMEOUT 120
  ARGS $<TARGET_FILE:crypt_tool>)
