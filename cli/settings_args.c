/* settings_args.c - compression settings from command-line flags (shared by every command
 * that compresses: local, url, hf, ollama). */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

const char cli_settings_help[] =
    "settings:\n"
    "  --bits B                   preset: 1.5, 2 (default), 3, 4 (see docs/FORMAT.md)\n"
    "  --config FILE              settings file (.yaml or .json, docs/SOURCES.md); flags override it\n"
    "  --subspaces D              vector length d\n"
    "  --codebook-size K          primary codebook entries (power of two)\n"
    "  --residual-codebook-size K residual stage entries; repeat for more stages\n"
    "  --stages N                 keep only the first N stages of the preset\n"
    "  --seed N                   k-means seed\n"
    "  --scope-rows R             one codebook set per R rows (0 = per tensor)\n"
    "  --outlier-fraction F       stage 1 outlier input channels (default 0.01)\n"
    "  --kmeans-iters N, --train-vectors N, --zstd-level N, --shard-size BYTES\n"
    "  --no-quantize-embeddings, --no-quantize-lm-head\n"
    "  --no-share-codebooks       one codebook set per tensor (or per --scope-rows rows)\n"
    "  --no-refine                stage 1+2 only (no stage-3 scale refit or error feedback)\n"
    "  --no-joint                 no joint codebook refit (nor ICM after a --beam 1 pass)\n"
    "  --beam N                   beam width of the code search over the stages (default 4;\n"
    "                             8 at --bits 3)\n"
    "  --no-rotate                no random Hadamard rotation of rows (incoherence)\n"
    "  --act-order                stage 3 codes vectors by decreasing input energy (default off)\n"
    "  --damp F                   stage 3 Hessian damping (default 0.1)\n"
    "  --calib-tokens N           stage 3: calibration tokens used at most (default 32768)\n"
    "  --e2e-steps N              stage 3 end to end: steps against the teacher with --calib\n"
    "                             (default 48; 256 at --bits 3 and 4;\n"
    "                             0 = layer-wise stage 3 only)\n"
    "  --e2e-lambda X             weight of the hidden-state cosine term (default 10)\n"
    "  --e2e-lr X                 learning-rate factor of the end-to-end step (default 1)\n"
    "  --no-mixed                 the same stages for every tensor (with --calib the presets\n"
    "                             otherwise give a third codebook stage to the tensors whose\n"
    "                             error costs most, within the bit budget; docs/FORMAT.md)\n"
    "  --base-stages N            mixed precision for a custom layout: every tensor uses the\n"
    "                             first N stages, stage 3 picks the ones that use all\n"
    "  --bits-budget B            mixed precision: bits per quantized weight, all in (preset's)\n";

int cli_config_load(const char *path, nq_settings *s, nq_err *e) {
    size_t len = 0;
    char *text = cli_slurp(path, &len, e);
    if (!text) return 1;
    nq_status st = nq_settings_from_config(s, path, text, len, e);
    free(text);
    return st != NQ_OK;
}

int cli_settings_parse(int argc, char **argv, nq_settings *s, unsigned char *used, nq_err *e) {
    const char *bits = NULL, *config = NULL;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--bits")) { bits = argv[i + 1]; used[i] = used[i + 1] = 1; }
        if (!strcmp(argv[i], "--config")) { config = argv[i + 1]; used[i] = used[i + 1] = 1; }
    }
    /* Order: preset, then the config file, then flags (flags override the file). */
    if (nq_settings_preset(s, bits ? bits : "2", e)) return 1;
    if (config && cli_config_load(config, s, e)) return 1;
    if (config && bits && nq_settings_preset_over(s, bits, e)) return 1;
    /* Every other flag through the settings table. Repeated --residual-codebook-size flags
     * add stages: each one sets the list of all given so far. */
    char residual[NQ_MAX_STAGES * 24] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const nq_setting *r = nq_settings_find(NQ_VOCAB_FLAG, a);
        if (!r || r->kind == NQ_SET_PRESET) continue;
        int takes = r->kind != NQ_SET_BOOL;
        const char *v = takes && i + 1 < argc ? argv[i + 1] : NULL;
        if (r->kind == NQ_SET_RESIDUAL) {
            size_t n = strlen(residual);
            if (v && n + strlen(v) + 2 > sizeof residual)
                return nq_fail(e, NQ_E_ARG, "at most %d residual stages", NQ_MAX_STAGES - 1);
            if (v) snprintf(residual + n, sizeof residual - n, "%s%s", n ? "," : "", v);
            v = v ? residual : NULL;
        }
        if (nq_settings_set(s, NQ_VOCAB_FLAG, a, v, e)) return 1;
        used[i] = 1;
        if (takes) used[++i] = 1;
    }
    return nq_settings_check(s, e) != NQ_OK;
}
