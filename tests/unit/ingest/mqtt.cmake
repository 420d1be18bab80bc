# MQTT source against a real mosquitto broker (started by the test on a free
# loopback port), publishing with mosquitto_pub and the paho python client.
ne_add_test(NAME ingest_mqtt_source
  SOURCES mqtt_source_test.c mqtt_testlib.c
  LIBS ne_ingest ne_ports Threads::Threads
  LABELS integration
  TIMEOUT 600)
target_compile_definitions(ingest_mqtt_source PRIVATE
  MQTT_PUB_PY="${CMAKE_CURRENT_SOURCE_DIR}/mqtt_pub.py")
