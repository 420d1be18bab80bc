list(APPEND NE_STORE_SOURCES query/influxql.c query/influxql_text.c query/exec.c query/meta.c query/select.c query/select_acc.c query/select_rows.c query/output.c query/store_src.c query/stream.c)
