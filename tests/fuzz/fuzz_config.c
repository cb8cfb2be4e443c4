/* fuzz_config.c - libFuzzer target for the configuration readers (scripts/fuzz.sh config).
 * The first input byte picks what the rest is: 'Y' a novaq-config.yaml, 'J' a
 * novaq-config.json (both through cli_config_load, from a temporary file: it reads paths),
 * anything else a model's config.json (nq_llama_config_parse). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nq_err e = {0};
    if (size && (data[0] == 'Y' || data[0] == 'J')) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/novaq-fuzz-%d.%s", (int)getpid(), data[0] == 'Y' ? "yaml" : "json");
        FILE *fp = fopen(path, "wb");
        if (!fp) return 0;
        fwrite(data + 1, 1, size - 1, fp);
        fclose(fp);
        nq_settings s;
        if (nq_settings_preset(&s, "2", &e) == NQ_OK) (void)cli_config_load(path, &s, &e);
        unlink(path);
        return 0;
    }
    nq_llama_config c;
    (void)nq_llama_config_parse(&c, (const char *)data, size, &e);
    return 0;
}
