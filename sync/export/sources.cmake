# Segment to Parquet export (included by sync/CMakeLists.txt).
list(APPEND NE_SYNC_SOURCES export/seg2pq_plan.c export/seg2pq.c)
