# Payload decoder tests (label unit).
foreach(t line json senml misc)
  ne_add_test(NAME unit_ingest_decode_${t}
              SOURCES ${CMAKE_CURRENT_LIST_DIR}/decode_${t}_test.c
              LIBS ne_ingest LABELS unit)
endforeach()
