/* fuzz_gguf.c - libFuzzer target: the input is one GGUF file; open it, derive its Hugging
 * Face config, decode every tensor (scripts/fuzz.sh gguf). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nq_mem_source src = {data, size};
    nq_reader r = nq_reader_mem(&src, "fuzz.gguf");
    nq_model *m = NULL;
    nq_err e = {0};
    if (nq_gguf_open(&m, &r, &e) == NQ_OK) {
        char *cfg = NULL;
        if (nq_gguf_hf_config(m, &cfg, &e) == NQ_OK) free(cfg);
        fuzz_read_all(m);
        nq_model_free(m);
    }
    return 0;
}
