/* test_llama.c - the forward pass: kernels agree bit for bit with the scalar reference,
 * the elementary functions match libm closely, the tiny model's first-window logits match
 * PyTorch's (reference.json) to 1e-3, chunked/incremental decoding equals one batch bit
 * for bit, hooks see what the design promises, grouped-query attention and tied embeddings
 * equal their expanded forms, and bad configs/tensors/tokens/contexts get clear errors. */
#include <math.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "kernels/matmul.h"
#include "llm/math.h"
#include "llama_testutil.h"

/* ------------------------------------------------------------- kernels */

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* xorshift, uniform in [-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void test_kernels(void) {
    int sizes[][3] = {{5, 11, 37}, {7, 13, 64}, {1, 3, 8}, {4, 9, 5}, {3, 66, 256}};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int T = sizes[si][0], O = sizes[si][1], n = sizes[si][2];
        float *x = malloc(sizeof(float) * T * n), *w = malloc(sizeof(float) * O * n);
        float *yr = malloc(sizeof(float) * T * O), *yv = malloc(sizeof(float) * T * O);
        for (int i = 0; i < T * n; i++) x[i] = frand();
        for (int i = 0; i < O * n; i++) w[i] = frand() * 3.0f;
        nq_mm_matmul_ref(yr, O, x, n, w, n, T, O, n);
        for (int t = 0; t < T; t++) /* the reference is a dot product (double check, loose) */
            for (int o = 0; o < O; o++) {
                double d = 0;
                for (int j = 0; j < n; j++) d += (double)x[t * n + j] * w[o * n + j];
                CHECK(fabs(d - yr[t * O + o]) < 1e-4 * (1 + fabs(d)));
            }
        for (const char *const *v = nq_mm_variants(); *v; v++) {
            nq_mm_kernels k;
            if (!nq_mm_select(&k, *v)) continue; /* compiled but not this CPU */
            if (si == 0) printf("kernel variant %s checked against the scalar reference\n", *v);
            memset(yv, 0, sizeof(float) * T * O);
            k.matmul(yv, O, x, n, w, n, T, O, n);
            int same = !memcmp(yr, yv, sizeof(float) * T * O);
            if (!same) fprintf(stderr, "variant %s differs from scalar at T=%d O=%d n=%d\n", *v, T, O, n);
            CHECK(same);
            CHECK(k.dot(x, w, n) == nq_mm_dot_ref(x, w, n));
        }
        free(x); free(w); free(yr); free(yv);
    }
    nq_mm_kernels k;
    CHECK(nq_mm_select(&k, NULL) && k.name != NULL);
    CHECK(!nq_mm_select(&k, "no-such-variant"));
}

static void test_math(void) {
    double worst_exp = 0, worst_log = 0, worst_sc = 0, worst_expf = 0;
    for (double x = -700; x < 700; x += 0.3711) {
        worst_exp = fmax(worst_exp, fabs(nq_m_exp(x) / exp(x) - 1));
        double y = exp(x / 7);
        worst_log = fmax(worst_log, fabs(nq_m_log(y) - log(y)) / fmax(1, fabs(log(y))));
    }
    for (double x = -3e4; x < 3e4; x += 1.2345) {
        double s, c;
        nq_m_sincos(x, &s, &c);
        worst_sc = fmax(worst_sc, fmax(fabs(s - sin(x)), fabs(c - cos(x))));
    }
    for (float x = -87.3f; x < 88.3f; x += 0.0173f)
        worst_expf = fmax(worst_expf, fabs((double)nq_m_expf(x) / exp((double)x) - 1));
    CHECK(nq_m_expf(-1000) == nq_m_expf(-87.3f) && nq_m_expf(-87.3f) > 0); /* saturates */
    CHECK(nq_m_expf(1000) == nq_m_expf(88.3f) && isfinite(nq_m_expf(1000)));
    CHECK(isnan(nq_m_expf(NAN)));
    CHECK(worst_exp < 1e-15);
    CHECK(worst_log < 1e-15);
    CHECK(worst_sc < 1e-11);
    CHECK(worst_expf < 5e-7);
    CHECK(nq_m_exp(0) == 1.0 && nq_m_log(1) == 0.0 && nq_m_expf(0) == 1.0f);
}

/* --------------------------------------------------------- tiny model */

static void test_reference_logits(tiny_model *t) {
    size_t n;
    char *js = (char *)tu_read_file(tu_data("novaq-tiny-llama/reference.json"), &n);
    cJSON *ref = js ? cJSON_ParseWithLength(js, n) : NULL;
    free(js);
    CHECK(ref != NULL);
    if (!ref) return;
    int ctx = 256, V = t->cfg.vocab;
    nq_llama_state *s;
    nq_err e = {0};
    CHECK(nq_llama_state_new(&s, t->llama, ctx, ctx, &e) == NQ_OK);
    float *logits = malloc(sizeof(float) * ctx * V);
    CHECK(nq_llama_forward(s, t->tokens, ctx, logits, NULL, &e) == NQ_OK);
    const cJSON *head = cJSON_GetObjectItem(ref, "first_window_logits_head");
    const cJSON *amax = cJSON_GetObjectItem(ref, "first_window_argmax");
    double worst = 0;
    int rows = 0, cols = 0;
    for (const cJSON *r = head ? head->child : NULL; r; r = r->next, rows++) {
        cols = 0;
        for (const cJSON *v = r->child; v; v = v->next, cols++)
            worst = fmax(worst, fabs(v->valuedouble - logits[(size_t)rows * V + cols]));
    }
    CHECK(rows == 8 && cols == 16);
    printf("first window, 8 x 16 logits vs PyTorch: max |difference| %.3g\n", worst);
    uint8_t digest[32];
    char hex[65];
    nq_sha256(logits, sizeof(float) * ctx * V, digest); /* little-endian f32 on every target */
    nq_hex(digest, 32, hex);
    printf("first window, all logits: sha256 %s (the same on every target)\n", hex);
    CHECK(worst < 1e-3);
    int p = 0;
    for (const cJSON *a = amax ? amax->child : NULL; a; a = a->next, p++) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (logits[(size_t)p * V + v] > logits[(size_t)p * V + best]) best = v;
        CHECK(best == a->valueint);
    }
    CHECK(p == 8);

    /* The same 40 tokens one at a time, and in chunks of 7 (max_batch 7): identical bits. */
    nq_llama_state *s1, *s7;
    CHECK(nq_llama_state_new(&s1, t->llama, 64, 1, &e) == NQ_OK);
    CHECK(nq_llama_state_new(&s7, t->llama, 64, 7, &e) == NQ_OK);
    float *l1 = malloc(sizeof(float) * 40 * V), *l7 = malloc(sizeof(float) * 40 * V);
    for (int i = 0; i < 40; i++) CHECK(nq_llama_forward(s1, t->tokens + i, 1, l1 + (size_t)i * V, NULL, &e) == NQ_OK);
    CHECK(nq_llama_forward(s7, t->tokens, 40, l7, NULL, &e) == NQ_OK);
    CHECK(!memcmp(l1, logits, sizeof(float) * 40 * V));
    CHECK(!memcmp(l7, logits, sizeof(float) * 40 * V));
    CHECK(nq_llama_state_pos(s1) == 40);
    free(l1); free(l7);
    nq_llama_state_free(s1);
    nq_llama_state_free(s7);
    free(logits);
    nq_llama_state_free(s);
    cJSON_Delete(ref);
}

typedef struct hook_log {
    const nq_model *m;
    int calls[NQ_SITE_COUNT];
    int bad;
    float *final_copy;
} hook_log;

static void on_act(void *ctx, const nq_llama_act *a) {
    hook_log *h = ctx;
    h->calls[a->site]++;
    static const char *want[NQ_SITE_COUNT][3] = {{"q_proj", "k_proj", "v_proj"}, {"o_proj"},
                                                 {"gate_proj", "up_proj"}, {"down_proj"}, {0}, {"lm_head"}};
    static const int nwant[NQ_SITE_COUNT] = {3, 1, 2, 1, 0, 1};
    if (a->ntensors != nwant[a->site] || a->ntok != 5) h->bad++;
    for (int i = 0; i < a->ntensors; i++) {
        const char *name = nq_model_tensor(h->m, a->tensors[i])->name;
        char layer[32];
        snprintf(layer, sizeof layer, "layers.%d.", a->layer);
        if (!strstr(name, want[a->site][i]) || (a->site != NQ_SITE_FINAL && !strstr(name, layer))) h->bad++;
    }
    if (a->site == NQ_SITE_FINAL) memcpy(h->final_copy, a->x, sizeof(float) * a->ntok * a->width);
}

static void test_hooks_and_eval(tiny_model *t) {
    nq_llama_state *s, *s2;
    nq_err e = {0};
    int d = t->cfg.dim, L = t->cfg.n_layers;
    CHECK(nq_llama_state_new(&s, t->llama, 16, 16, &e) == NQ_OK);
    hook_log h = {t->model, {0}, 0, malloc(sizeof(float) * 5 * d)};
    float *hidden = malloc(sizeof(float) * 5 * d);
    nq_llama_state_set_hook(s, on_act, &h);
    CHECK(nq_llama_forward(s, t->tokens, 5, NULL, hidden, &e) == NQ_OK);
    for (int site = 0; site < NQ_SITE_FINAL; site++) CHECK(h.calls[site] == L);
    CHECK(h.calls[NQ_SITE_FINAL] == 1 && h.bad == 0);
    CHECK(!memcmp(hidden, h.final_copy, sizeof(float) * 5 * d));
    free(h.final_copy);
    free(hidden);
    nq_llama_state_free(s);

    /* A model against itself: no divergence, full agreement, cosine 1. */
    CHECK(nq_llama_state_new(&s, t->llama, 32, 32, &e) == NQ_OK);
    CHECK(nq_llama_state_new(&s2, t->llama, 32, 32, &e) == NQ_OK);
    nq_eval_sums sums = {0};
    CHECK(nq_llama_eval_window(s, s2, t->tokens, 32, &sums, &e) == NQ_OK);
    CHECK(sums.ntok == 32 && sums.agree == 32 && sums.nll_a == sums.nll_b && sums.nll_a > 0);
    CHECK(fabs(sums.kl) < 1e-9 && fabs(sums.cos - 32) < 1e-6);
    int32_t bad[33];
    memcpy(bad, t->tokens, sizeof bad);
    bad[32] = t->cfg.vocab; /* a target outside the vocabulary */
    CHECK(nq_llama_eval_window(s, NULL, bad, 32, &sums, &e) == NQ_E_ARG && strstr(e.msg, "index 32"));
    nq_llama_state_free(s);
    nq_llama_state_free(s2);
}

/* ------------------------------------------------- synthetic models */

typedef struct synth_tensor {
    char name[96];
    int64_t rows, cols; /* rows 0: 1-D */
    float *data;
} synth_tensor;

typedef struct synth {
    synth_tensor t[64];
    int n;
    nq_mem_source src;
    uint8_t *bytes;
    nq_model *model;
} synth;

static void synth_add(synth *s, const char *name, int64_t rows, int64_t cols, const float *copy) {
    synth_tensor *t = &s->t[s->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows;
    t->cols = cols;
    int64_t n = (rows ? rows : 1) * cols;
    t->data = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) t->data[i] = copy ? copy[i] : (rows ? frand() * 0.3f : 1.0f + 0.1f * frand());
}

static synth_tensor *synth_find(synth *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    return NULL;
}

/* A LLaMA with dim 16, heads nh (kv nkv, head_dim 4), hidden 24, 2 layers, vocab 40. */
static void synth_llama(synth *s, int nh, int nkv, int lm_head) {
    memset(s, 0, sizeof *s);
    int hd = 4, d = 16, f = 24, V = 40;
    char nm[96];
    synth_add(s, "model.embed_tokens.weight", V, d, NULL);
    for (int l = 0; l < 2; l++) {
        const char *lin[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                             "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
        int64_t shp[][2] = {{nh * hd, d}, {nkv * hd, d}, {nkv * hd, d}, {d, nh * hd}, {f, d}, {f, d}, {d, f}};
        snprintf(nm, sizeof nm, "model.layers.%d.input_layernorm.weight", l);
        synth_add(s, nm, 0, d, NULL);
        snprintf(nm, sizeof nm, "model.layers.%d.post_attention_layernorm.weight", l);
        synth_add(s, nm, 0, d, NULL);
        for (int i = 0; i < 7; i++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, lin[i]);
            synth_add(s, nm, shp[i][0], shp[i][1], NULL);
        }
    }
    synth_add(s, "model.norm.weight", 0, d, NULL);
    if (lm_head) synth_add(s, "lm_head.weight", V, d, NULL);
}

static nq_status synth_open(synth *s, nq_err *e) {
    cJSON *h = cJSON_CreateObject();
    uint64_t off = 0;
    for (int i = 0; i < s->n; i++) {
        synth_tensor *t = &s->t[i];
        uint64_t nb = (uint64_t)(t->rows ? t->rows : 1) * t->cols * 4;
        cJSON *o = cJSON_AddObjectToObject(h, t->name), *shape = cJSON_AddArrayToObject(o, "shape");
        cJSON_AddStringToObject(o, "dtype", "F32");
        if (t->rows) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->rows));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->cols));
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + nb)));
        off += nb;
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    uint64_t hl = strlen(js);
    s->bytes = malloc(8 + hl + off);
    for (int i = 0; i < 8; i++) s->bytes[i] = (uint8_t)(hl >> (8 * i));
    memcpy(s->bytes + 8, js, hl);
    free(js);
    uint64_t p = 8 + hl;
    for (int i = 0; i < s->n; i++) { /* little-endian host assumed (x86, wasm) */
        uint64_t nb = (uint64_t)(s->t[i].rows ? s->t[i].rows : 1) * s->t[i].cols * 4;
        memcpy(s->bytes + p, s->t[i].data, nb);
        p += nb;
    }
    s->src.data = s->bytes;
    s->src.size = p;
    nq_reader r = nq_reader_mem(&s->src, "synthetic.safetensors");
    return nq_safetensors_open(&s->model, &r, 1, NULL, 0, e);
}

static void synth_free(synth *s) {
    for (int i = 0; i < s->n; i++) free(s->t[i].data);
    nq_model_free(s->model);
    free(s->bytes);
}

static int synth_config(nq_llama_config *c, int nh, int nkv, const char *extra) {
    char js[1024];
    snprintf(js, sizeof js, "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\","
             "\"vocab_size\":40,\"hidden_size\":16,\"intermediate_size\":24,\"num_hidden_layers\":2,"
             "\"num_attention_heads\":%d,\"num_key_value_heads\":%d,\"max_position_embeddings\":32,"
             "\"rms_norm_eps\":1e-5,\"rope_theta\":500.0,\"hidden_act\":\"silu\"%s}", nh, nkv, extra);
    nq_err e = {0};
    nq_status st = nq_llama_config_parse(c, js, strlen(js), &e);
    if (st) fprintf(stderr, "config: %s\n", e.msg);
    return st == NQ_OK;
}

static float *synth_logits(synth *s, const nq_llama_config *c, const int32_t *tok, int n) {
    nq_err e = {0};
    nq_llama *l = NULL;
    nq_llama_state *st = NULL;
    float *out = malloc(sizeof(float) * n * c->vocab);
    if (synth_open(s, &e) || nq_llama_load(&l, s->model, c, &e) || nq_llama_state_new(&st, l, n, n, &e) ||
        nq_llama_forward(st, tok, n, out, NULL, &e)) {
        fprintf(stderr, "synthetic model: %s\n", e.msg);
        free(out);
        out = NULL;
    }
    nq_llama_state_free(st);
    nq_llama_free(l);
    return out;
}

/* GQA with 2 KV heads for 4 query heads equals MHA whose K/V rows repeat each KV head. */
static void test_gqa_and_tied(void) {
    int32_t tok[9] = {3, 17, 39, 0, 22, 5, 5, 31, 8};
    synth g, m;
    nq_llama_config cg, cm;
    CHECK(synth_config(&cg, 4, 2, "") && synth_config(&cm, 4, 4, ""));
    synth_llama(&g, 4, 2, 1);
    synth_llama(&m, 4, 4, 1);
    for (int i = 0; i < g.n; i++) {
        synth_tensor *src = &g.t[i], *dst = synth_find(&m, src->name);
        if (strstr(src->name, "k_proj") || strstr(src->name, "v_proj")) {
            for (int head = 0; head < 4; head++) /* query head h reads KV head h / 2 */
                memcpy(dst->data + head * 4 * 16, src->data + (head / 2) * 4 * 16, sizeof(float) * 4 * 16);
        } else {
            memcpy(dst->data, src->data, sizeof(float) * (src->rows ? src->rows : 1) * src->cols);
        }
    }
    float *lg = synth_logits(&g, &cg, tok, 9), *lm = synth_logits(&m, &cm, tok, 9);
    CHECK(lg && lm && !memcmp(lg, lm, sizeof(float) * 9 * 40));
    free(lg); free(lm);
    synth_free(&g);
    synth_free(&m);

    /* Tied embeddings without lm_head.weight equal an explicit copy. */
    synth a, b;
    nq_llama_config ct, cu;
    CHECK(synth_config(&ct, 4, 4, ",\"tie_word_embeddings\":true") && synth_config(&cu, 4, 4, ""));
    synth_llama(&a, 4, 4, 0);
    synth_llama(&b, 4, 4, 1);
    for (int i = 0; i < a.n; i++)
        memcpy(synth_find(&b, a.t[i].name)->data, a.t[i].data, sizeof(float) * (a.t[i].rows ? a.t[i].rows : 1) * a.t[i].cols);
    memcpy(synth_find(&b, "lm_head.weight")->data, a.t[0].data, sizeof(float) * 40 * 16);
    float *la = synth_logits(&a, &ct, tok, 9), *lb = synth_logits(&b, &cu, tok, 9);
    CHECK(la && lb && !memcmp(la, lb, sizeof(float) * 9 * 40));
    free(la); free(lb);
    synth_free(&a);
    synth_free(&b);
}

/* The forward pass straight from a .novaq (decoded tensor by tensor): the same model
 * compressed at 4 bits gives logits close to the original's, not equal to them. */
static void test_from_novaq(void) {
    int32_t tok[9] = {3, 17, 39, 0, 22, 5, 5, 31, 8};
    synth s;
    nq_llama_config c;
    nq_err e = {0};
    CHECK(synth_config(&c, 4, 2, ""));
    synth_llama(&s, 4, 2, 1);
    float *ref = synth_logits(&s, &c, tok, 9); /* opens s.model */
    nq_settings set;
    nq_mem_sink sink = {0};
    nq_writer w = nq_writer_mem(&sink);
    nq_source_file sf = {"synthetic.safetensors", s.src.size, {0}};
    nq_model *nm = NULL;
    nq_llama *l = NULL;
    nq_llama_state *st = NULL;
    float *got = malloc(sizeof(float) * 9 * 40);
    int ok = ref && nq_settings_preset(&set, "4", &e) == NQ_OK &&
             nq_compress(s.model, &set, &sf, 1, &w, NULL, NULL, &e) == NQ_OK;
    nq_mem_source src = {sink.buf, sink.size};
    nq_reader r = nq_reader_mem(&src, "synthetic.novaq");
    ok = ok && nq_novaq_open(&nm, &r, &e) == NQ_OK && nq_llama_load(&l, nm, &c, &e) == NQ_OK &&
         nq_llama_state_new(&st, l, 9, 9, &e) == NQ_OK && nq_llama_forward(st, tok, 9, got, NULL, &e) == NQ_OK;
    if (!ok) fprintf(stderr, "from .novaq: %s\n", e.msg);
    CHECK(ok);
    if (ok) {
        double dot = 0, nr = 0, ng = 0;
        for (int i = 0; i < 9 * 40; i++) {
            dot += (double)ref[i] * got[i];
            nr += (double)ref[i] * ref[i];
            ng += (double)got[i] * got[i];
        }
        double cosv = dot / sqrt(nr * ng);
        CHECK(cosv > 0.9 && memcmp(ref, got, sizeof(float) * 9 * 40) != 0);
        if (!(cosv > 0.9)) fprintf(stderr, "cosine of logits from .novaq: %g\n", cosv);
    }
    nq_llama_state_free(st);
    nq_llama_free(l);
    nq_model_free(nm);
    free(sink.buf);
    free(ref);
    free(got);
    synth_free(&s);
}

static void expect_load_error(synth *s, const nq_llama_config *c, nq_status want, const char *needle) {
    nq_err e = {0};
    nq_llama *l = NULL;
    CHECK(synth_open(s, &e) == NQ_OK);
    nq_status st = nq_llama_load(&l, s->model, c, &e);
    if (st != want || !strstr(e.msg, needle)) fprintf(stderr, "load: got %d '%s', want '%s'\n", st, e.msg, needle);
    CHECK(st == want && l == NULL && strstr(e.msg, needle));
    synth_free(s);
}

static void expect_config_error(const char *json, nq_status want, const char *needle) {
    nq_llama_config c;
    nq_err e = {0};
    nq_status st = nq_llama_config_parse(&c, json, strlen(json), &e);
    if (st != want || !strstr(e.msg, needle)) fprintf(stderr, "config: got %d '%s', want '%s'\n", st, e.msg, needle);
    CHECK(st == want && strstr(e.msg, needle));
}

static void test_bad_input(void) {
    nq_llama_config c;
    CHECK(synth_config(&c, 4, 2, ""));
    synth s;
    synth_llama(&s, 4, 2, 1);
    snprintf(s.t[3].name, sizeof s.t[3].name, "model.layers.0.self_attn.q_proj.weightX"); /* hide it */
    expect_load_error(&s, &c, NQ_E_FORMAT, "'model.layers.0.self_attn.q_proj.weight' is missing");
    synth_llama(&s, 4, 4, 1); /* k_proj has 16 rows, the config (2 KV heads) needs 8 */
    expect_load_error(&s, &c, NQ_E_FORMAT, "k_proj.weight' has shape [16, 16], config needs [8, 16]");
    synth_llama(&s, 4, 2, 0); /* untied, no lm_head */
    expect_load_error(&s, &c, NQ_E_FORMAT, "'lm_head.weight' is missing");

    const char *base = "\"vocab_size\":40,\"hidden_size\":16,\"intermediate_size\":24,\"num_hidden_layers\":2";
    char js[512];
    snprintf(js, sizeof js, "{\"architectures\":[\"LlamaForCausalLM\"],%s,\"num_attention_heads\":4,"
             "\"num_key_value_heads\":3}", base);
    expect_config_error(js, NQ_E_FORMAT, "not a multiple of num_key_value_heads 3");
    snprintf(js, sizeof js, "{\"architectures\":[\"LlamaForCausalLM\"],%s,\"num_attention_heads\":5}", base);
    expect_config_error(js, NQ_E_FORMAT, "hidden_size 16 is not divisible by num_attention_heads 5");
    snprintf(js, sizeof js, "{\"architectures\":[\"GPT2LMHeadModel\"],%s,\"num_attention_heads\":4}", base);
    expect_config_error(js, NQ_E_UNSUPPORTED, "GPT2LMHeadModel");
    snprintf(js, sizeof js, "{\"architectures\":[\"LlamaForCausalLM\"],%s,\"num_attention_heads\":4,"
             "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0}}", base);
    expect_config_error(js, NQ_E_UNSUPPORTED, "rope type 'llama3'");
    snprintf(js, sizeof js, "{\"architectures\":[\"LlamaForCausalLM\"],%s,\"num_attention_heads\":4,"
             "\"hidden_act\":\"gelu\"}", base);
    expect_config_error(js, NQ_E_UNSUPPORTED, "hidden_act 'gelu'");
    snprintf(js, sizeof js, "{\"architectures\":[\"LlamaForCausalLM\"],%s,\"num_attention_heads\":4,"
             "\"attention_bias\":true}", base);
    expect_config_error(js, NQ_E_UNSUPPORTED, "attention_bias");
    expect_config_error("{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":40}", NQ_E_FORMAT,
                        "'hidden_size' is missing");

    /* Token ids and context limits. */
    nq_err e = {0};
    nq_llama *l = NULL;
    nq_llama_state *st = NULL;
    synth_llama(&s, 4, 2, 1);
    CHECK(synth_open(&s, &e) == NQ_OK && nq_llama_load(&l, s.model, &c, &e) == NQ_OK);
    CHECK(nq_llama_state_new(&st, l, 33, 8, &e) == NQ_E_LIMIT && strstr(e.msg, "max_position_embeddings 32"));
    CHECK(nq_llama_state_new(&st, l, 8, 8, &e) == NQ_OK);
    int32_t tok[10] = {1, 2, 3, 40, 5, 6, 7, 8, 9, 10};
    CHECK(nq_llama_forward(st, tok, 5, NULL, NULL, &e) == NQ_E_ARG && strstr(e.msg, "token id 40 at index 3"));
    tok[3] = -1;
    CHECK(nq_llama_forward(st, tok, 5, NULL, NULL, &e) == NQ_E_ARG && strstr(e.msg, "token id -1"));
    tok[3] = 4;
    CHECK(nq_llama_forward(st, tok, 6, NULL, NULL, &e) == NQ_OK);
    CHECK(nq_llama_forward(st, tok, 3, NULL, NULL, &e) == NQ_E_LIMIT && strstr(e.msg, "position 6"));
    nq_llama_state_free(st);
    nq_llama_free(l);
    synth_free(&s);
}

int main(void) {
    test_kernels();
    test_math();
    tiny_model t;
    if (tiny_open(&t)) {
        test_reference_logits(&t);
        test_hooks_and_eval(&t);
    } else {
        CHECK(!"tiny model opens");
    }
    tiny_close(&t);
    test_gqa_and_tied();
    test_from_novaq();
    test_bad_input();
    return TU_DONE();
}
