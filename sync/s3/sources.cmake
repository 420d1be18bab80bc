# S3 client (included by sync/CMakeLists.txt).
list(APPEND NE_SYNC_SOURCES s3/sigv4.c s3/creds.c s3/upload.c s3/xml.c s3/s3.c s3/multipart.c)
list(APPEND NE_SYNC_LIBS ne::curl)
