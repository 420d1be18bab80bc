# store/segment unit tests: round trips, corruption detection, merge.
foreach(_seg_t rw corrupt merge version)
  ne_add_test(NAME unit_store_segment_${_seg_t}
              SOURCES ${CMAKE_CURRENT_LIST_DIR}/segment_${_seg_t}_test.c
              LIBS ne_store LABELS unit)
endforeach()
