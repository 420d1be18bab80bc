# Payload decoders (line protocol, JSON, CBOR, SenML JSON/CBOR, raw) and the
# shared ingest counters.
list(APPEND NE_INGEST_SOURCES
  ingest.c
  decode/decode.c
  decode/decode_num.c
  decode/decode_line.c
  decode/decode_memo.c
  decode/decode_json.c
  decode/decode_cbor.c
  decode/decode_obj.c
  decode/decode_senml.c
)
