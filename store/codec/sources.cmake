# store/codec: column block codecs (see codec.h) and the ne_buf helpers.
list(APPEND NE_STORE_SOURCES
  codec/buf.c
  codec/bitpack.c
  codec/codec_int.c
  codec/codec_float.c
  codec/codec_bool.c
  codec/codec_string.c
  codec/stats.c
  codec/block.c
)
# The decode loops (bit unpacking, prefix sums, int -> double) vectorise at
# -O3 only; they are the full-scan hot path.
set_source_files_properties(codec/bitpack.c codec/codec_int.c codec/codec_float.c
  PROPERTIES COMPILE_OPTIONS "$<$<NOT:$<CONFIG:Debug>>:-O3>")
