/* settings.c - compression settings: the bits presets and their validation.
 *
 * Presets (d = vector length, K = entries per stage; code bits = sum(log2 K) / d):
 *   "1.5": d=8, K={1024,4}   -> 1.5 code bits per weight
 *   "2"  : d=8, K={1024,64}  -> 2.0
 *   "3"  : d=4, K={512,8}    -> 3.0
 *   "4"  : d=4, K={512,128}  -> 4.0
 * For the same code bits a larger primary stage with a smaller residual stage is better where
 * the shared set's extra entries fit the budget (docs/QUALITY.md, preset choice); at 2 bits
 * {1024,64} beat {256,256} by 2% KL after stage 3 with the beam search for 0.013 bit/weight
 * (its perplexity ratio over all 331 windows did not improve: docs/QUALITY.md).
 * Codebooks, per-row scales and outlier data come on top and are counted in every
 * reported bits-per-weight figure (docs/FORMAT.md). Presets share one codebook set across
 * the model (stored once) and refine with stage 3 where calibration statistics are given. */
#include <stdio.h>
#include <string.h>
#include "common/format.h"
#include "compress/stages.h"

static void defaults(nq_settings *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->preset, sizeof s->preset, "custom");
    s->seed = 0x4e4f564151ull; /* "NOVAQ" */
    s->scope_rows = 0;
    s->outlier_fraction = 0.01;
    s->quantize_embeddings = 1;
    s->quantize_lm_head = 1;
    s->kmeans_iters = 16;
    s->train_vectors = 65536;
    s->zstd_level = 9;
    s->shard_max_bytes = 1900000;
    s->share_codebooks = 1; /* per-tensor codebooks cost ~1 bit/weight on small tensors */
    s->refine = 1;
    s->damp = 0.1; /* better than 0.01 at every preset with and without the end-to-end step */
    s->calib_tokens = 32768;
    s->joint = 1;
    s->beam = 4; /* beam 4: KL -8% at preset 2 for about 2 s; wider beams cost more than they gain */
    s->rotate = 1;
    s->act_order = 0;
    s->e2e_steps = 48; /* KL -1.5% at preset 2 against 32 for about 8 s; 128 steps: -3%, 1.8x the time */
    s->e2e_lambda = 10.0; /* KL -1.4% at preset 2 against 1 (held-out calibration KL -1.4% too); 30: -1.2% */
    s->e2e_lr = 1.0;
}

/* Beam and end-to-end steps per preset: 1.5 and 2 keep the defaults above (preset 2 has
 * a compression-time target: under 60 s for the tiny model on one core); 3 and 4 spend
 * about 3x the compute where their quality targets need it (docs/QUALITY.md: at 3 bits a
 * beam of 8 and 256 steps lowered the KL by 2% against the defaults; at 4 bits 256 steps
 * lowered the held-out calibration KL by 2.4% against 128, though not the validation KL).
 * budget: the all-in bits per quantized weight. mixed: the layout with calibration
 * (nq_settings_mixed), a third stage of +1 bit per weight for the tensors whose error costs the
 * model most, as far as the budget reaches (docs/QUALITY.md, mixed precision): at 1.5 and 2
 * bits the base ({1024, 2}, {1024, 32}) costs 1/8 bit per weight less than the table's layout
 * to make room (KL -16% and -10.5% on the tiny model); at 3 and 4 bits the base stays and the
 * extra stage spends what the budget has left (KL -4% and -27%). */
struct preset { const char *name; int d, K[2], beam, e2e_steps; double budget; int mixed[3]; };
static const struct preset presets[] = {
    {"1.5", 8, {1024, 4}, 4, 48, 1.5625, {1024, 2, 256}},
    {"2", 8, {1024, 64}, 4, 48, 2.0625, {1024, 32, 256}},
    {"3", 4, {512, 8}, 8, 256, 3.0625, {512, 8, 16}},
    {"4", 4, {512, 128}, 4, 256, 4.25, {512, 128, 16}},
};

static const struct preset *find_preset(const char *name) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(name, presets[i].name)) return &presets[i];
    return NULL;
}

/* The preset whose stage layout s has (the stages in use; sizes past nstages do not count). */
static const struct preset *layout_preset(const nq_settings *s) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const struct preset *p = &presets[i];
        if (s->d == p->d && s->nstages == 2 && s->K[0] == p->K[0] && s->K[1] == p->K[1]) return p;
    }
    return NULL;
}

void nq_settings_relabel(nq_settings *s) {
    const struct preset *p = layout_preset(s);
    snprintf(s->preset, sizeof s->preset, "%s", p ? p->name : "custom");
}

nq_status nq_settings_preset(nq_settings *s, const char *bits, nq_err *e) {
    const struct preset *p = find_preset(bits);
    if (!p) return nq_fail(e, NQ_E_ARG, "unknown bits preset '%s' (choose 1.5, 2, 3 or 4)", bits);
    defaults(s);
    snprintf(s->preset, sizeof s->preset, "%s", bits);
    s->d = p->d;
    s->nstages = 2;
    s->K[0] = p->K[0];
    s->K[1] = p->K[1];
    s->beam = p->beam;
    s->e2e_steps = p->e2e_steps;
    s->bits_budget = p->budget;
    s->mixed = p->mixed[0] > 0;
    return NQ_OK;
}

int nq_settings_mixed(const nq_settings *s, nq_settings *out) {
    *out = *s;
    if (s->base_stages > 0 && s->base_stages < s->nstages) return 1; /* a layout given explicitly */
    const struct preset *p = layout_preset(s); /* by the numbers: a "custom" label changes nothing */
    if (!s->mixed || !p || !p->mixed[0] || s->base_stages) return 0;
    out->nstages = 3;
    memcpy(out->K, p->mixed, sizeof p->mixed);
    out->base_stages = 2;
    return 1;
}

nq_status nq_settings_preset_over(nq_settings *s, const char *bits, nq_err *e) {
    nq_settings p, f;
    nq_status st = nq_settings_preset(&p, bits, e);
    if (st) return st;
    if (nq_settings_preset(&f, s->preset, NULL) != NQ_OK) nq_settings_preset(&f, "2", NULL);
    s->d = p.d;
    s->nstages = p.nstages;
    memcpy(s->K, p.K, sizeof s->K);
    if (s->beam == f.beam) s->beam = p.beam;
    if (s->e2e_steps == f.e2e_steps) s->e2e_steps = p.e2e_steps;
    if (s->bits_budget == f.bits_budget) s->bits_budget = p.bits_budget;
    if (s->mixed == f.mixed) s->mixed = p.mixed;
    nq_settings_relabel(s);
    return NQ_OK;
}

static int log2_exact(int k) {
    int b = 0;
    while ((1 << b) < k) b++;
    return (1 << b) == k ? b : -1;
}

/* Every numeric and boolean field against its row of the table (settings_table.c), so a range
 * is written once; then what involves several fields or the format's limits. */
static nq_status check_ranges(const nq_settings *s, nq_err *e) {
    int n;
    const nq_setting *t = nq_settings_table(&n);
    for (int i = 0; i < n; i++) {
        const nq_setting *r = &t[i];
        const char *field = (const char *)s + r->offset;
        const char *name = r->name[NQ_VOCAB_MANIFEST] ? r->name[NQ_VOCAB_MANIFEST] : r->name[NQ_VOCAB_CONFIG];
        double v;
        switch (r->kind) {
        case NQ_SET_INT: case NQ_SET_BOOL: { int x; memcpy(&x, field, sizeof x); v = x; break; }
        case NQ_SET_U32: { uint32_t x; memcpy(&x, field, sizeof x); v = x; break; }
        case NQ_SET_DOUBLE: memcpy(&v, field, sizeof v); break;
        default: continue; /* preset label, seed, stage lists: checked below */
        }
        if (!(v >= r->lo && v <= r->hi))
            return nq_fail(e, NQ_E_ARG, "%s %g: must be in [%g, %g]", name, v, r->lo, r->hi);
    }
    return NQ_OK;
}

nq_status nq_settings_check(const nq_settings *s, nq_err *e) {
    nq_status st = check_ranges(s, e);
    if (st) return st;
    if (s->nstages < 1 || s->nstages > NQ_MAX_STAGES)
        return nq_fail(e, NQ_E_ARG, "%d codebook stages: must be 1..%d", s->nstages, NQ_MAX_STAGES);
    for (int i = 0; i < s->nstages; i++) {
        int b = log2_exact(s->K[i]);
        if (b < 1 || b > 16)
            return nq_fail(e, NQ_E_ARG, "codebook size %d (stage %d): must be a power of two, 2..65536",
                           s->K[i], i + 1);
        if ((uint64_t)s->K[i] * (uint64_t)s->d * 2 > s->shard_max_bytes)
            return nq_fail(e, NQ_E_ARG, "codebook of %d x %d fp16 does not fit a %u-byte shard",
                           s->K[i], s->d, s->shard_max_bytes);
    }
    if (s->shard_max_bytes > NQ_MAX_SHARD)
        return nq_fail(e, NQ_E_ARG, "shard size %u: must be 4096..%u bytes (readers refuse larger shards)",
                       s->shard_max_bytes, NQ_MAX_SHARD);
    if (s->base_stages > s->nstages)
        return nq_fail(e, NQ_E_ARG, "base stages %d: must be 0..%d (the stages)", s->base_stages, s->nstages);
    return NQ_OK;
}

double nq_settings_code_bits(const nq_settings *s) {
    double bits = 0;
    int n = s->base_stages > 0 ? s->base_stages : s->nstages; /* mixed: what every tensor pays */
    for (int i = 0; i < n; i++) bits += log2_exact(s->K[i]);
    return bits / s->d;
}

/* ---- which tensors are vector-quantized (the rest are stored raw, with the reason) */
static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static int is_embedding(const char *name) {
    return contains(name, "embed_tokens") || contains(name, "tok_embeddings") ||
           contains(name, "token_embd") || contains(name, "wte.") || contains(name, "word_embeddings");
}

static int is_lm_head(const char *name) {
    return contains(name, "lm_head") || !strcmp(name, "output.weight");
}

const char *nq_raw_reason(const nq_model *m, int t, const nq_settings *s) {
    const nq_tensor_info *ti = nq_model_tensor(m, t);
    if (!nq_dtype_is_float(ti->dtype)) return "dtype not quantized";
    if (ti->ndim < 2) return "1-D tensor kept in original precision";
    if (ti->rows < 1 || ti->cols < 1) return "empty tensor";
    if (ti->cols > NQ_MAX_VQ_COLS) return "rows wider than the decoder's limit of 2^24 columns";
    if (!s->quantize_embeddings && is_embedding(ti->name)) return "embedding kept (settings)";
    if (!s->quantize_lm_head && is_lm_head(ti->name)) return "lm_head kept (settings)";
    return NULL;
}

int nq_should_quantize(const nq_model *m, int t, const nq_settings *s) {
    return nq_raw_reason(m, t, s) == NULL;
}
