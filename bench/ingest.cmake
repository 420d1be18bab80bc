# CoAP ingest load generator (libcoap client API) against the CoAP source:
#   bench_coap [--requests N] [--window W] [--clients C] [--mode non|con|both]
add_executable(bench_coap ${CMAKE_CURRENT_LIST_DIR}/ingest/bench_coap.c)
target_include_directories(bench_coap PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_coap PRIVATE ne_ingest ne_ports ne::coap Threads::Threads)

# MQTT ingest throughput through a mosquitto broker started by the benchmark:
#   bench_mqtt [--messages N] [--publishers P] [--qos 0|1|2] [--protocol 4|5]
add_executable(bench_mqtt ${CMAKE_CURRENT_LIST_DIR}/ingest/bench_mqtt.c)
target_include_directories(bench_mqtt PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_mqtt PRIVATE ne_ingest ne_ports Threads::Threads)
