# store/codec unit tests (included by tests/unit/store/CMakeLists.txt).
foreach(t roundtrip corrupt stats)
  ne_add_test(NAME unit_codec_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/codec_${t}.c
              LIBS ne_store LABELS unit TIMEOUT 120)
endforeach()
