ne_add_fuzz(NAME influxql SOURCES fuzz_influxql.c LIBS ne_store)
