/* fuzz_config.c - libFuzzer target for the configuration readers (scripts/fuzz.sh config).
 * The first input byte picks what the rest is: 'Y' a novaq-config.yaml, 'J' a
 * novaq-config.json (both through nq_settings_from_config), 'S' the embedders' settings JSON
 * (nq_settings_from_json), anything else a model's config.json (nq_llama_config_parse). */
#include <stdlib.h>
#include <string.h>
#include "novaq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nq_err e = {0};
    nq_settings s;
    if (size && (data[0] == 'Y' || data[0] == 'J')) {
        if (nq_settings_preset(&s, "2", &e) == NQ_OK)
            (void)nq_settings_from_config(&s, data[0] == 'Y' ? "fuzz.yaml" : "fuzz.json", (const char *)data + 1,
                                          size - 1, &e);
        return 0;
    }
    if (size && data[0] == 'S') {
        char *text = malloc(size);
        if (!text) return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = 0;
        (void)nq_settings_from_json(&s, NQ_VOCAB_JSON, text, &e);
        free(text);
        return 0;
    }
    nq_llama_config c;
    (void)nq_llama_config_parse(&c, (const char *)data, size, &e);
    return 0;
}
