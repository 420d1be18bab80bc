# MQTT ingest source (Paho MQTTAsync).
list(APPEND NE_INGEST_SOURCES mqtt/mqtt.c)
list(APPEND NE_INGEST_LIBS ne::paho Threads::Threads)
