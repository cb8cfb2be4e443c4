/* fuzz_safetensors.c - libFuzzer target: the input is one .safetensors file; open it and
 * decode every tensor (scripts/fuzz.sh safetensors). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nq_mem_source src = {data, size};
    nq_reader r = nq_reader_mem(&src, "fuzz.safetensors");
    nq_model *m = NULL;
    nq_err e = {0};
    if (nq_safetensors_open(&m, &r, 1, NULL, 0, &e) == NQ_OK) {
        fuzz_read_all(m);
        nq_model_free(m);
    }
    return 0;
}
