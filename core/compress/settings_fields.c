/* settings_fields.c - the one table of the compression settings' fields (kind, range, and
 * the name in each vocabulary: flag, settings-file key, embedders' JSON, manifest), with
 * nothing but the data and its lookup, so both the checker (settings.c) and the parsers and
 * serializers (settings_table.c) can use it without depending on each other.
 * Names are frozen: the config keys are documented (docs/SOURCES.md), the JSON keys are what
 * the web page sends, and the manifest keys are part of the format (docs/FORMAT.md). */
#include <stddef.h>
#include <string.h>
#include "compress/settings.h"

#define F(field) offsetof(nq_settings, field)
#define NAMES(flag, config, json, manifest) {flag, config, json, manifest}

/* Manifest order: the writer emits the rows in this order, so it may not change (the
 * manifest's bytes would). Rows without JSON or manifest names may sit anywhere. */
static const nq_setting table[] = {
    {NAMES("--bits", "model.compression.bits_per_weight", "bits", "preset"), NULL, NQ_SET_PRESET, F(preset), 0, 0},
    {NAMES("--subspaces", "model.compression.subspaces", "d", "subspaces"), NULL, NQ_SET_INT, F(d), 1, 64},
    {NAMES(NULL, NULL, "K", "codebook_sizes"), NULL, NQ_SET_SIZES, F(K), 2, 65536},
    {NAMES("--codebook-size", "model.compression.primary_codebook_size", NULL, NULL), NULL, NQ_SET_PRIMARY, F(K), 2, 65536},
    {NAMES("--residual-codebook-size", "model.compression.residual_codebook_size", NULL, NULL), NULL,
     NQ_SET_RESIDUAL, F(K), 2, 65536},
    {NAMES("--stages", "model.compression.stages", NULL, NULL), NULL, NQ_SET_STAGES, F(nstages), 1, NQ_MAX_STAGES},
    {NAMES("--seed", "model.compression.seed", "seed", "seed"), NULL, NQ_SET_U64, F(seed), 0, 0},
    {NAMES("--scope-rows", "model.compression.codebook_scope_rows", "scope_rows", "scope_rows"), NULL, NQ_SET_INT,
     F(scope_rows), 0, 1e9},
    {NAMES("--outlier-fraction", "normalization.outlier_threshold", "outlier_fraction", "outlier_fraction"), NULL,
     NQ_SET_DOUBLE, F(outlier_fraction), 0, 0.5},
    {NAMES(NULL, "model.compression.quantize_embeddings", "quantize_embeddings", "quantize_embeddings"),
     "--no-quantize-embeddings", NQ_SET_BOOL, F(quantize_embeddings), 0, 1},
    {NAMES(NULL, "model.compression.quantize_lm_head", "quantize_lm_head", "quantize_lm_head"), "--no-quantize-lm-head",
     NQ_SET_BOOL, F(quantize_lm_head), 0, 1},
    {NAMES("--kmeans-iters", "model.compression.kmeans_iterations", "kmeans_iters", "kmeans_iterations"), NULL,
     NQ_SET_INT, F(kmeans_iters), 0, 1000},
    {NAMES("--train-vectors", "model.compression.train_vectors", "train_vectors", "train_vectors"), NULL, NQ_SET_INT,
     F(train_vectors), 1, 1e9},
    {NAMES("--zstd-level", "output.zstd_level", "zstd_level", "zstd_level"), NULL, NQ_SET_INT, F(zstd_level), 0, 22},
    {NAMES("--shard-size", "output.shard_size_bytes", "shard_max_bytes", "shard_max_bytes"), NULL, NQ_SET_U32,
     F(shard_max_bytes), 4096, 4e9},
    {NAMES(NULL, NULL, "code_bits", "code_bits_per_weight"), NULL, NQ_SET_CODE_BITS, 0, 0, 0},
    {NAMES(NULL, "model.compression.share_codebooks", "share_codebooks", "share_codebooks"), "--no-share-codebooks",
     NQ_SET_BOOL, F(share_codebooks), 0, 1},
    {NAMES(NULL, "refinement.enabled", "refine", "refine"), "--no-refine", NQ_SET_BOOL, F(refine), 0, 1},
    {NAMES("--damp", "refinement.damping", "damp", "damp"), NULL, NQ_SET_DOUBLE, F(damp), 1e-6, 10},
    {NAMES("--calib-tokens", "refinement.calibration_tokens", "calib_tokens", "calib_tokens"), NULL, NQ_SET_INT,
     F(calib_tokens), 1, 1e9},
    {NAMES(NULL, "model.compression.joint", "joint", "joint"), "--no-joint", NQ_SET_BOOL, F(joint), 0, 1},
    {NAMES("--beam", "model.compression.beam_width", "beam", "beam"), NULL, NQ_SET_INT, F(beam), 1, 16},
    {NAMES(NULL, "normalization.rotate", "rotate", "rotate"), "--no-rotate", NQ_SET_BOOL, F(rotate), 0, 1},
    {NAMES("--act-order", "refinement.act_order", "act_order", "act_order"), "--no-act-order", NQ_SET_BOOL,
     F(act_order), 0, 1},
    {NAMES("--e2e-steps", "refinement.end_to_end_steps", "e2e_steps", "e2e_steps"), NULL, NQ_SET_INT, F(e2e_steps), 0,
     100000},
    {NAMES("--e2e-lambda", "refinement.end_to_end_lambda", "e2e_lambda", "e2e_lambda"), NULL, NQ_SET_DOUBLE,
     F(e2e_lambda), 0, 1000},
    {NAMES("--e2e-lr", "refinement.end_to_end_lr", "e2e_lr", "e2e_lr"), NULL, NQ_SET_DOUBLE, F(e2e_lr), 1e-6, 100},
    {NAMES("--base-stages", "refinement.base_stages", "base_stages", "base_stages"), NULL, NQ_SET_INT, F(base_stages),
     0, NQ_MAX_STAGES},
    {NAMES("--bits-budget", "refinement.bits_budget", "bits_budget", "bits_budget"), NULL, NQ_SET_DOUBLE,
     F(bits_budget), 0, 64},
    /* not in the manifest: it records the layout mixed precision produced, not the request */
    {NAMES(NULL, "refinement.mixed_precision", "mixed", NULL), "--no-mixed", NQ_SET_BOOL, F(mixed), 0, 1},
};
#define NROWS ((int)(sizeof table / sizeof table[0]))

const nq_setting *nq_settings_table(int *n) {
    *n = NROWS;
    return table;
}

const nq_setting *nq_settings_find(nq_settings_vocab v, const char *key) {
    if ((unsigned)v >= NQ_VOCAB_COUNT || !key) return NULL;
    for (int i = 0; i < NROWS; i++) {
        const nq_setting *r = &table[i];
        if ((r->name[v] && !strcmp(r->name[v], key)) || (v == NQ_VOCAB_FLAG && r->flag_off && !strcmp(r->flag_off, key)))
            return r;
    }
    return NULL;
}

