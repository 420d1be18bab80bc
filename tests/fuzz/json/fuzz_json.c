/* fuzz_json.c - the JSON objects decoder (and, for an odd first byte, CBOR objects) under libFuzzer (body in ../decode_fuzz.h). */
#include "../decode_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_decode_input("fuzz_json", NE_PAYLOAD_JSON, data, size);
}
