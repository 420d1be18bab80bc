# Fuzzes the peer wire decoders: frame stream (with zstd payloads), HELLO,
# SWIM datagrams, and the SWIM state machine fed with the datagram.
ne_add_fuzz(NAME peer_frame SOURCES fuzz_peer_frame.c LIBS ne_sharding)
