# store/segment: immutable columnar segment files (writer, reader, merge, tools).
list(APPEND NE_STORE_SOURCES
  segment/segment_writer.c
  segment/segment_reader.c
  segment/segment_merge.c
  segment/segment_tools.c
)
