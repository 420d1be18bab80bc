list(APPEND NE_STORE_SOURCES query/influxql.c query/exec.c query/select.c query/output.c query/store_src.c)
