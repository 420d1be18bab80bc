# store/engine: series index, WAL, memtable, write path, reads, compaction,
# retention, deletion and tools behind store/store.h.
list(APPEND NE_STORE_SOURCES
  engine/series.c
  engine/wal.c
  engine/memtable.c
  engine/store.c
  engine/scan.c
  engine/compact.c
  engine/delete.c
  engine/tools.c
)
