/* fuzz_senml_json.c - the SenML JSON packs decoder under libFuzzer (body in ../decode_fuzz.h). */
#include "../decode_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_decode_input("fuzz_senml_json", NE_PAYLOAD_SENML_JSON, data, size);
}
