# Encryption at rest for uploaded objects (included by sync/CMakeLists.txt).
list(APPEND NE_SYNC_SOURCES crypt/crypt.c)
