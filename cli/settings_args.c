/* settings_args.c - compression settings from command-line flags (shared by every command
 * that compresses: local, url, hf, ollama). */
#include <errno.h>
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

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out, nq_err *e) {
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || errno || end == v || *end || !(x >= lo && x <= hi))
        return nq_fail(e, NQ_E_ARG, "%s: expected a number in [%g, %g], got '%s'", flag, lo, hi, v ? v : "");
    *out = x;
    return 0;
}

static int int_flag(const char *flag, const char *v, double lo, double hi, int *out, nq_err *e) {
    double x = 0;
    if (parse_num(flag, v, lo, hi, &x, e)) return 1;
    if (x != (double)(long long)x) return nq_fail(e, NQ_E_ARG, "%s: expected an integer, got '%s'", flag, v);
    *out = (int)x;
    return 0;
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
    if (config && bits) { /* --bits beats the file's bits_per_weight: its stage layout wins, and
                             its beam and end-to-end steps where the file kept its preset's */
        nq_settings p, f;
        nq_settings_preset(&p, bits, NULL);
        if (nq_settings_preset(&f, s->preset, NULL) != NQ_OK) nq_settings_preset(&f, "2", NULL);
        s->d = p.d;
        s->nstages = p.nstages;
        memcpy(s->K, p.K, sizeof s->K);
        if (s->beam == f.beam) s->beam = p.beam;
        if (s->e2e_steps == f.e2e_steps) s->e2e_steps = p.e2e_steps;
        if (s->bits_budget == f.bits_budget) s->bits_budget = p.bits_budget;
        if (s->mixed == f.mixed) s->mixed = p.mixed;
        snprintf(s->preset, sizeof s->preset, "%s", bits);
    }
    if (!bits) bits = s->preset;
    int residuals = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0, takes = 1;
        double x = 0;
        if (!strcmp(a, "--subspaces")) rc = int_flag(a, v, 1, 64, &s->d, e);
        else if (!strcmp(a, "--codebook-size")) rc = int_flag(a, v, 2, 65536, &s->K[0], e);
        else if (!strcmp(a, "--residual-codebook-size")) {
            if (residuals + 1 >= NQ_MAX_STAGES) return nq_fail(e, NQ_E_ARG, "at most %d residual stages", NQ_MAX_STAGES - 1);
            rc = int_flag(a, v, 2, 65536, &s->K[++residuals], e);
            s->nstages = residuals + 1;
        } else if (!strcmp(a, "--stages")) rc = int_flag(a, v, 1, s->nstages, &s->nstages, e);
        else if (!strcmp(a, "--base-stages")) rc = int_flag(a, v, 0, NQ_MAX_STAGES, &s->base_stages, e);
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long u = v ? strtoull(v, &end, 0) : 0;
            if (!v || errno || *end || end == v) rc = nq_fail(e, NQ_E_ARG, "--seed: expected an integer, got '%s'", v ? v : "");
            s->seed = u;
        } else if (!strcmp(a, "--scope-rows")) rc = int_flag(a, v, 0, 1e9, &s->scope_rows, e);
        else if (!strcmp(a, "--outlier-fraction")) { rc = parse_num(a, v, 0, 0.5, &x, e); s->outlier_fraction = x; }
        else if (!strcmp(a, "--kmeans-iters")) rc = int_flag(a, v, 0, 1000, &s->kmeans_iters, e);
        else if (!strcmp(a, "--train-vectors")) rc = int_flag(a, v, 1, 1e9, &s->train_vectors, e);
        else if (!strcmp(a, "--zstd-level")) rc = int_flag(a, v, 0, 22, &s->zstd_level, e);
        else if (!strcmp(a, "--shard-size")) { rc = parse_num(a, v, 4096, 4e9, &x, e); s->shard_max_bytes = (uint32_t)x; }
        else if (!strcmp(a, "--no-quantize-embeddings")) { s->quantize_embeddings = 0; takes = 0; }
        else if (!strcmp(a, "--no-quantize-lm-head")) { s->quantize_lm_head = 0; takes = 0; }
        else if (!strcmp(a, "--no-share-codebooks")) { s->share_codebooks = 0; takes = 0; }
        else if (!strcmp(a, "--no-refine")) { s->refine = 0; takes = 0; }
        else if (!strcmp(a, "--no-joint")) { s->joint = 0; takes = 0; }
        else if (!strcmp(a, "--beam")) { rc = parse_num(a, v, 1, 16, &x, e); s->beam = (int)x; }
        else if (!strcmp(a, "--no-rotate")) { s->rotate = 0; takes = 0; }
        else if (!strcmp(a, "--no-act-order")) { s->act_order = 0; takes = 0; }
        else if (!strcmp(a, "--act-order")) { s->act_order = 1; takes = 0; }
        else if (!strcmp(a, "--damp")) { rc = parse_num(a, v, 1e-6, 10, &x, e); s->damp = x; }
        else if (!strcmp(a, "--calib-tokens")) rc = int_flag(a, v, 1, 1e9, &s->calib_tokens, e);
        else if (!strcmp(a, "--e2e-steps")) rc = int_flag(a, v, 0, 100000, &s->e2e_steps, e);
        else if (!strcmp(a, "--e2e-lambda")) { rc = parse_num(a, v, 0, 1000, &x, e); s->e2e_lambda = x; }
        else if (!strcmp(a, "--e2e-lr")) { rc = parse_num(a, v, 1e-6, 100, &x, e); s->e2e_lr = x; }
        else if (!strcmp(a, "--no-mixed")) { s->mixed = 0; takes = 0; }
        else if (!strcmp(a, "--bits-budget")) { rc = parse_num(a, v, 0, 64, &x, e); s->bits_budget = x; }
        else continue;
        if (rc) return rc;
        used[i] = 1;
        if (takes) used[++i] = 1;
    }
    nq_settings p; /* the preset name stays only while its stage layout is unchanged */
    if (nq_settings_preset(&p, bits, NULL) != NQ_OK || p.d != s->d || p.nstages != s->nstages || memcmp(p.K, s->K, sizeof p.K))
        snprintf(s->preset, sizeof s->preset, "custom");
    return nq_settings_check(s, e) != NQ_OK;
}
