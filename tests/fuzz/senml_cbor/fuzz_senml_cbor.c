/* fuzz_senml_cbor.c - the SenML CBOR packs decoder under libFuzzer (body in ../decode_fuzz.h). */
#include "../decode_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_decode_input("fuzz_senml_cbor", NE_PAYLOAD_SENML_CBOR, data, size);
}
