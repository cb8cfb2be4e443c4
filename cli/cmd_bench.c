/* cmd_bench.c - `novaq ppl`, `novaq benchmark`, `novaq generate`: the built-in LLaMA forward
 * pass (core/llm/llama.c) run on an original model or straight on a .novaq.
 *
 * Windows follow docs/DESIGN.md, "The test model": the token stream is cut into non-overlapping
 * windows of ctx inputs; the window starting at w*ctx feeds tokens w*ctx .. w*ctx+ctx-1 and
 * predicts w*ctx+1 .. w*ctx+ctx. Windows run on threads (one state per thread) and their
 * sums are added in window order, so every figure is the same for any thread count. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "cli.h"

typedef struct bench_opts {
    const char *model, *original, *config, *tokenizer, *text, *tokens, *prompt, *kernel;
    int ctx, windows, threads, json, n, top_k, blocks, no_verify;
    double temperature;
    unsigned long long seed;
    const int32_t *tok_data; /* the loaded token stream (for checks) */
} bench_opts;

/* A model opened for the forward pass. */
typedef struct loaded {
    cli_model cm;
    nq_llama_config cfg;
    nq_llama *llama;
    char *config_json;
    int64_t params;
} loaded;

/* ------------------------------------------------------------- options */

static int int_arg(const char *opt, const char *v, int lo, int hi, int *out) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > hi) {
        fprintf(stderr, "novaq: %s needs an integer in %d..%d\n", opt, lo, hi);
        return EXIT_USAGE;
    }
    *out = (int)x;
    return 0;
}

/* --no-verify (any of the three): a .novaq model is read without its shard hash checks. */
static int parse_opts(int argc, char **argv, bench_opts *o, const char *usage) {
    memset(o, 0, sizeof *o);
    o->threads = cli_threads();
    o->n = 50;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0, used = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { printf("usage: %s\n", usage); return -1; }
        else if (!strcmp(a, "--json")) { o->json = 1; used = 0; }
        else if (!strcmp(a, "--blocks")) { o->blocks = 1; used = 0; }
        else if (!strcmp(a, "--no-verify")) { o->no_verify = 1; used = 0; }
        else if (!strcmp(a, "--original")) o->original = v;
        else if (!strcmp(a, "--config")) o->config = v;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
        else if (!strcmp(a, "--text")) o->text = v;
        else if (!strcmp(a, "--tokens")) o->tokens = v;
        else if (!strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--kernel")) o->kernel = v;
        else if (!strcmp(a, "--ctx")) rc = int_arg(a, v, 1, 1 << 20, &o->ctx);
        else if (!strcmp(a, "--windows")) rc = int_arg(a, v, 1, 1 << 30, &o->windows);
        else if (!strcmp(a, "--threads")) rc = int_arg(a, v, 1, 1024, &o->threads);
        else if (!strcmp(a, "-n")) rc = int_arg(a, v, 0, 1 << 20, &o->n);
        else if (!strcmp(a, "--top-k")) rc = int_arg(a, v, 0, 1 << 24, &o->top_k);
        else if (!strcmp(a, "--temperature")) {
            char *end;
            o->temperature = v ? strtod(v, &end) : -1;
            if (!v || *end || !(o->temperature >= 0) || o->temperature > 100) {
                fprintf(stderr, "novaq: --temperature needs a number in 0..100\n");
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--seed")) {
            char *end;
            o->seed = v ? strtoull(v, &end, 10) : 0;
            if (!v || *end) { fprintf(stderr, "novaq: --seed needs an unsigned integer\n"); return EXIT_USAGE; }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "novaq: unknown option '%s'\n", a);
            return EXIT_USAGE;
        } else {
            if (o->model) return cli_usage("expected one model");
            o->model = a;
            used = 0;
        }
        if (rc) return rc;
        if (used && !v) {
            fprintf(stderr, "novaq: %s needs a value\n", a);
            return EXIT_USAGE;
        }
        i += used;
    }
    return o->model ? 0 : cli_usage(usage);
}

/* ------------------------------------------------------------ loading */

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* name inside the model directory, or next to the model file. */
static char *beside(const char *model, const char *name) {
    size_t n = strlen(model);
    char *out = malloc(n + strlen(name) + 2);
    if (!out) return NULL;
    if (is_dir(model)) {
        sprintf(out, "%s/%s", model, name);
    } else {
        const char *slash = strrchr(model, '/');
        if (slash) sprintf(out, "%.*s/%s", (int)(slash - model), model, name);
        else sprintf(out, "%s", name);
    }
    return out;
}

/* config.json of a model: --config, GGUF metadata, or config.json beside it (for a .novaq
 * compared with an original, the original's). */
static int find_config(const char *path, const cli_model *cm, const char *explicit_path, const char *fallback,
                       char **json, nq_err *e) {
    size_t n;
    if (explicit_path) return (*json = cli_slurp(explicit_path, &n, e)) == NULL;
    if (cm->format && !strcmp(cm->format, "gguf")) return nq_gguf_hf_config(cm->model, json, e) != NQ_OK;
    char *p = beside(path, "config.json");
    struct stat st;
    if (p && stat(p, &st) != 0 && fallback) {
        free(p);
        p = beside(fallback, "config.json");
    }
    if (!p || stat(p, &st) != 0) {
        nq_fail(e, NQ_E_IO, "%s: no config.json beside the model; pass --config <config.json>", path);
        free(p);
        return 1;
    }
    *json = cli_slurp(p, &n, e);
    free(p);
    return *json == NULL;
}

static void unload(loaded *lm) {
    nq_llama_free(lm->llama);
    cli_close_model(&lm->cm);
    free(lm->config_json);
    memset(lm, 0, sizeof *lm);
}

static int load(const char *path, const bench_opts *o, const char *fallback, loaded *lm, nq_err *e) {
    memset(lm, 0, sizeof *lm);
    if (cli_open_model(path, 0, o->no_verify, &lm->cm, e)) return 1;
    int rc = find_config(path, &lm->cm, o->config, fallback, &lm->config_json, e) ||
             nq_llama_config_parse(&lm->cfg, lm->config_json, strlen(lm->config_json), e) ||
             nq_llama_load(&lm->llama, lm->cm.model, &lm->cfg, e) ||
             (o->kernel && nq_llama_set_kernel(lm->llama, o->kernel, e));
    if (rc) {
        if (strncmp(e->msg, path, strlen(path))) { /* say which model failed */
            char msg[sizeof e->msg];
            snprintf(msg, sizeof msg, "%s: %.400s", path, e->msg);
            memcpy(e->msg, msg, sizeof msg);
        }
        unload(lm);
        return 1;
    }
    for (int i = 0; i < nq_model_tensor_count(lm->cm.model); i++) {
        const nq_tensor_info *ti = nq_model_tensor(lm->cm.model, i);
        lm->params += ti->rows * ti->cols;
    }
    return 0;
}

/* Bytes of every file the model was read from. */
static double model_bytes(const loaded *lm) {
    double b = 0;
    for (int i = 0; i < lm->cm.nreaders; i++) b += (double)lm->cm.readers[i].size;
    return b;
}

static int load_tokenizer(const bench_opts *o, const char *model_path, nq_tokenizer **tok, nq_err *e) {
    char *p = o->tokenizer ? NULL : beside(model_path, "tokenizer.json");
    const char *path = o->tokenizer ? o->tokenizer : p;
    size_t n;
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        nq_fail(e, NQ_E_IO, "%s: no tokenizer.json beside the model; pass --tokenizer <tokenizer.json>", model_path);
        free(p);
        return 1;
    }
    char *json = cli_slurp(path, &n, e);
    int rc = !json || nq_tokenizer_load(tok, json, n, e);
    free(json);
    free(p);
    return rc;
}

/* Token stream from --tokens (little-endian u16) or --text (tokenized). */
static int load_tokens(const bench_opts *o, const char *model_path, int32_t **tok, size_t *ntok, nq_err *e) {
    size_t n;
    if (o->tokens && o->text) return nq_fail(e, NQ_E_ARG, "give --text or --tokens, not both"), 1;
    if (o->tokens) {
        unsigned char *b = (unsigned char *)cli_slurp(o->tokens, &n, e);
        if (!b) return 1;
        if (n % 2) {
            free(b);
            return nq_fail(e, NQ_E_FORMAT, "%s: %zu bytes, not a whole number of u16 token ids", o->tokens, n), 1;
        }
        *ntok = n / 2;
        *tok = malloc((*ntok ? *ntok : 1) * sizeof **tok);
        for (size_t i = 0; *tok && i < *ntok; i++) (*tok)[i] = b[2 * i] | (b[2 * i + 1] << 8);
        free(b);
        return *tok == NULL && nq_fail(e, NQ_E_NOMEM, "out of memory");
    }
    if (!o->text) return nq_fail(e, NQ_E_ARG, "give the evaluation text: --text <file> or --tokens <file.u16>"), 1;
    nq_tokenizer *t = NULL;
    char *text = NULL;
    int rc = load_tokenizer(o, model_path, &t, e) || !(text = cli_slurp(o->text, &n, e)) ||
             nq_tokenizer_encode(t, text, n, tok, ntok, e);
    free(text);
    nq_tokenizer_free(t);
    return rc;
}

/* ----------------------------------------------------------- windows */

/* Per-block cosine (--blocks), through the forward pass's hooks: model a's residual stream
 * after each block is kept; when model b reaches the same block, each position's cosine
 * against a's is added to that block's sum. a runs before b in every window. */
typedef struct block_cos {
    int layers, ctx, dim;
    float *a_out;  /* [layer][ctx][dim] */
    double *sum;   /* [layer], this window */
} block_cos;

static void hook_keep_a(void *ctx, const nq_llama_act *act) {
    block_cos *bc = ctx;
    if (act->site != NQ_SITE_BLOCK_OUT) return;
    memcpy(bc->a_out + ((size_t)act->layer * bc->ctx + act->pos0) * bc->dim, act->x,
           sizeof(float) * (size_t)act->ntok * bc->dim);
}

static void hook_compare_b(void *ctx, const nq_llama_act *act) {
    block_cos *bc = ctx;
    if (act->site != NQ_SITE_BLOCK_OUT) return;
    for (int t = 0; t < act->ntok; t++) {
        const float *x = act->x + (size_t)t * bc->dim;
        const float *y = bc->a_out + ((size_t)act->layer * bc->ctx + act->pos0 + t) * bc->dim;
        double xy = 0, xx = 0, yy = 0;
        for (int i = 0; i < bc->dim; i++) {
            xy += (double)x[i] * y[i];
            xx += (double)x[i] * x[i];
            yy += (double)y[i] * y[i];
        }
        bc->sum[act->layer] += xx > 0 && yy > 0 ? xy / (sqrt(xx) * sqrt(yy)) : 0.0;
    }
}

typedef struct eval_job {
    const nq_llama *a, *b;
    const int32_t *tok;
    int ctx, nwin, stride, first;
    nq_eval_sums *per_window;
    double *per_block;  /* [window][layer], or NULL */
    nq_status st;
    nq_err err;
} eval_job;

static void *eval_worker(void *p) {
    eval_job *j = p;
    nq_llama_state *sa = NULL, *sb = NULL;
    const nq_llama_config *c = nq_llama_get_config(j->a);
    block_cos bc = {c->n_layers, j->ctx, c->dim, NULL, NULL};
    j->st = nq_llama_state_new(&sa, j->a, j->ctx, j->ctx, &j->err);
    if (!j->st && j->b) j->st = nq_llama_state_new(&sb, j->b, j->ctx, j->ctx, &j->err);
    if (!j->st && j->b && j->per_block) {
        bc.a_out = malloc(sizeof(float) * (size_t)c->n_layers * j->ctx * c->dim);
        if (!bc.a_out) j->st = nq_fail(&j->err, NQ_E_NOMEM, "out of memory for --blocks");
        nq_llama_state_set_hook(sa, hook_keep_a, &bc);
        nq_llama_state_set_hook(sb, hook_compare_b, &bc);
    }
    for (int w = j->first; w < j->nwin && !j->st; w += j->stride) {
        bc.sum = j->per_block ? j->per_block + (size_t)w * c->n_layers : NULL;
        j->st = nq_llama_eval_window(sa, sb, j->tok + (size_t)w * j->ctx, j->ctx, &j->per_window[w], &j->err);
    }
    free(bc.a_out);
    nq_llama_state_free(sa);
    nq_llama_state_free(sb);
    return NULL;
}

/* Evaluate nwin windows on up to `threads` threads; sums added in window order. With
 * block_sums (n_layers doubles), also the per-block cosine sums. */
static int run_windows(const nq_llama *a, const nq_llama *b, const int32_t *tok, int ctx, int nwin, int threads,
                       nq_eval_sums *total, double *block_sums, nq_err *e) {
    if (threads > nwin) threads = nwin;
    int L = nq_llama_get_config(a)->n_layers;
    nq_eval_sums *per = calloc((size_t)nwin, sizeof *per);
    eval_job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    double *per_block = block_sums ? calloc((size_t)nwin * L, sizeof *per_block) : NULL;
    if (!per || !jobs || !tid || (block_sums && !per_block)) {
        free(per); free(jobs); free(tid); free(per_block);
        return nq_fail(e, NQ_E_NOMEM, "out of memory"), 1;
    }
    for (int i = 0; i < threads; i++) {
        eval_job j = {a, b, tok, ctx, nwin, threads, i, per, per_block, NQ_OK, {0}};
        jobs[i] = j;
    }
    int started = 0;
    for (; started < threads - 1; started++)
        if (pthread_create(&tid[started], NULL, eval_worker, &jobs[started + 1])) break;
    eval_worker(&jobs[0]);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    for (int i = started + 1; i < threads; i++) eval_worker(&jobs[i]); /* threads that did not start */
    int rc = 0;
    for (int i = 0; i < threads && !rc; i++)
        if (jobs[i].st) { *e = jobs[i].err; rc = 1; }
    memset(total, 0, sizeof *total);
    for (int w = 0; w < nwin && !rc; w++) {
        total->nll_a += per[w].nll_a;
        total->nll_b += per[w].nll_b;
        total->kl += per[w].kl;
        total->cos += per[w].cos;
        total->agree += per[w].agree;
        total->ntok += per[w].ntok;
        for (int l = 0; block_sums && l < L; l++) block_sums[l] += per_block[(size_t)w * L + l];
    }
    free(per); free(jobs); free(tid); free(per_block);
    return rc;
}

/* Every id must index the vocabulary; the message names the source and the index. */
static int check_ids(const bench_opts *o, const int32_t *tok, size_t ntok, int vocab, nq_err *e) {
    for (size_t i = 0; i < ntok; i++)
        if (tok[i] < 0 || tok[i] >= vocab)
            return nq_fail(e, NQ_E_FORMAT, "%s: token id %d at index %zu is outside the model's vocabulary (0..%d)",
                           o->tokens ? o->tokens : o->text, (int)tok[i], i, vocab - 1), 1;
    return 0;
}

static int window_count(const bench_opts *o, const nq_llama_config *c, size_t ntok, int *ctx, int *nwin, nq_err *e) {
    if (check_ids(o, o->tok_data, ntok, c->vocab, e)) return 1;
    *ctx = o->ctx ? o->ctx : (c->max_pos < 256 ? c->max_pos : 256);
    if (*ctx > c->max_pos)
        return nq_fail(e, NQ_E_LIMIT, "--ctx %d is longer than the model allows (max_position_embeddings %d)",
                       *ctx, c->max_pos), 1;
    size_t n = ntok > 0 ? (ntok - 1) / (size_t)*ctx : 0;
    if (n == 0)
        return nq_fail(e, NQ_E_FORMAT, "%s: %zu tokens are too few for one window of %d (need %d)",
                       o->tokens ? o->tokens : o->text, ntok, *ctx, *ctx + 1), 1;
    if (n > (size_t)(1 << 30)) n = (size_t)1 << 30;
    *nwin = o->windows && (size_t)o->windows < n ? o->windows : (int)n;
    return 0;
}

static void print_json(cJSON *o) {
    char *s = cJSON_Print(o);
    puts(s);
    free(s);
    cJSON_Delete(o);
}

/* ---------------------------------------------------------------- ppl */

int cmd_ppl(int argc, char **argv) {
    bench_opts o;
    const char *usage = "novaq ppl <model dir | .safetensors | .novaq | .gguf> (--text F | --tokens F.u16) "
                        "[--ctx N] [--windows N] [--threads N] [--config F] [--tokenizer F] [--kernel K] [--json] [--no-verify]";
    int rc = parse_opts(argc, argv, &o, usage);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    if (o.original) return cli_usage("--original belongs to `novaq benchmark`");
    nq_err e = {0};
    loaded m;
    int32_t *tok = NULL;
    size_t ntok = 0;
    int ctx, nwin;
    if (load_tokens(&o, o.model, &tok, &ntok, &e)) return cli_fail(&e);
    o.tok_data = tok;
    if (load(o.model, &o, NULL, &m, &e)) { free(tok); return cli_fail(&e); }
    nq_eval_sums s;
    double t0 = cli_now();
    rc = window_count(&o, &m.cfg, ntok, &ctx, &nwin, &e) ||
         run_windows(m.llama, NULL, tok, ctx, nwin, o.threads, &s, NULL, &e);
    double secs = cli_now() - t0;
    if (!rc) {
        double ppl = exp(s.nll_a / (double)s.ntok), tps = (double)nwin * ctx / secs;
        if (o.json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "model", o.model);
            cJSON_AddStringToObject(j, "format", m.cm.format ? m.cm.format : "?");
            cJSON_AddNumberToObject(j, "ctx", ctx);
            cJSON_AddNumberToObject(j, "windows", nwin);
            cJSON_AddNumberToObject(j, "predicted_tokens", (double)s.ntok);
            cJSON_AddNumberToObject(j, "perplexity", ppl);
            cJSON_AddNumberToObject(j, "mean_nll", s.nll_a / (double)s.ntok);
            cJSON_AddNumberToObject(j, "seconds", secs);
            cJSON_AddNumberToObject(j, "tokens_per_second", tps);
            cJSON_AddNumberToObject(j, "threads", o.threads < nwin ? o.threads : nwin);
            cJSON_AddStringToObject(j, "kernel", nq_llama_kernel_name(m.llama));
            print_json(j);
        } else {
            printf("model       %s (%s, %lld parameters)\n", o.model, m.cm.format, (long long)m.params);
            printf("windows     %d x %d tokens (%lld predicted)\n", nwin, ctx, (long long)s.ntok);
            printf("perplexity  %.4f\n", ppl);
            printf("time        %.2f s, %.0f tokens/s (%d threads, kernel %s)\n", secs, tps,
                   o.threads < nwin ? o.threads : nwin, nq_llama_kernel_name(m.llama));
        }
    }
    unload(&m);
    free(tok);
    return rc ? cli_fail(&e) : EXIT_OK;
}

/* ---------------------------------------------------------- benchmark */

static int same_shape(const nq_llama_config *a, const nq_llama_config *b, nq_err *e) {
    if (a->vocab == b->vocab && a->dim == b->dim) return 0;
    return nq_fail(e, NQ_E_ARG, "the models differ: vocab %d vs %d, hidden %d vs %d", a->vocab, b->vocab,
                   a->dim, b->dim), 1;
}

int cmd_benchmark(int argc, char **argv) {
    bench_opts o;
    const char *usage = "novaq benchmark <x.novaq> --original <model> (--text F | --tokens F.u16) [--ctx N] "
                        "[--windows N] [--threads N] [--blocks (cosine after each block)] [--config F] [--tokenizer F] [--json] [--no-verify]";
    int rc = parse_opts(argc, argv, &o, usage);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    if (!o.original) return cli_usage("benchmark needs --original <model>");
    nq_err e = {0};
    loaded orig, comp;
    int32_t *tok = NULL;
    size_t ntok = 0;
    int ctx, nwin;
    if (load_tokens(&o, o.original, &tok, &ntok, &e)) return cli_fail(&e);
    o.tok_data = tok;
    if (load(o.original, &o, NULL, &orig, &e)) { free(tok); return cli_fail(&e); }
    if (load(o.model, &o, o.original, &comp, &e)) { unload(&orig); free(tok); return cli_fail(&e); }
    nq_eval_sums s;
    int L = orig.cfg.n_layers;
    double *blocks = o.blocks ? calloc((size_t)L, sizeof *blocks) : NULL;
    double t0 = cli_now();
    rc = same_shape(&orig.cfg, &comp.cfg, &e) || window_count(&o, &orig.cfg, ntok, &ctx, &nwin, &e) ||
         run_windows(orig.llama, comp.llama, tok, ctx, nwin, o.threads, &s, blocks, &e);
    double secs = cli_now() - t0;
    if (!rc) {
        double n = (double)s.ntok, ppl_o = exp(s.nll_a / n), ppl_c = exp(s.nll_b / n);
        if (o.json) {
            cJSON *j = cJSON_CreateObject(), *jo = cJSON_AddObjectToObject(j, "original");
            cJSON_AddStringToObject(jo, "model", o.original);
            cJSON_AddNumberToObject(jo, "perplexity", ppl_o);
            cJSON *jc = cJSON_AddObjectToObject(j, "compressed");
            cJSON_AddStringToObject(jc, "model", o.model);
            cJSON_AddNumberToObject(jc, "perplexity", ppl_c);
            cJSON_AddNumberToObject(jc, "bytes", model_bytes(&comp));
            cJSON_AddNumberToObject(jc, "bits_per_weight", 8.0 * model_bytes(&comp) / (double)comp.params);
            cJSON_AddNumberToObject(jo, "bytes", model_bytes(&orig));
            cJSON_AddNumberToObject(j, "ppl_ratio", ppl_c / ppl_o);
            cJSON_AddNumberToObject(j, "kl_mean", s.kl / n);
            cJSON_AddNumberToObject(j, "top1_agreement", (double)s.agree / n);
            cJSON_AddNumberToObject(j, "cosine_mean", s.cos / n);
            if (blocks) {
                cJSON *arr = cJSON_AddArrayToObject(j, "cosine_per_block");
                for (int l = 0; l < L; l++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(blocks[l] / n));
            }
            cJSON_AddNumberToObject(j, "ctx", ctx);
            cJSON_AddNumberToObject(j, "windows", nwin);
            cJSON_AddNumberToObject(j, "predicted_tokens", n);
            cJSON_AddNumberToObject(j, "seconds", secs);
            print_json(j);
        } else {
            printf("original     %s (%.0f bytes)\n", o.original, model_bytes(&orig));
            printf("compressed   %s (%.0f bytes, %.3f bits/weight over the whole file)\n", o.model,
                   model_bytes(&comp), 8.0 * model_bytes(&comp) / (double)comp.params);
            printf("windows      %d x %d tokens (%lld predicted)\n", nwin, ctx, (long long)s.ntok);
            printf("perplexity   original %.4f   compressed %.4f   ratio %.4f\n", ppl_o, ppl_c, ppl_c / ppl_o);
            printf("KL(original || compressed)   %.5f nats/token (mean)\n", s.kl / n);
            printf("top-1 agreement              %.2f %%\n", 100.0 * (double)s.agree / n);
            printf("cosine, final hidden states  %.5f (mean)\n", s.cos / n);
            if (blocks) {
                printf("cosine after each block     ");
                for (int l = 0; l < L; l++) printf(" %.4f", blocks[l] / n);
                printf("\n");
            }
            printf("time         %.2f s (%d threads)\n", secs, o.threads < nwin ? o.threads : nwin);
        }
    }
    free(blocks);
    unload(&comp);
    unload(&orig);
    free(tok);
    return rc ? cli_fail(&e) : EXIT_OK;
}

/* ----------------------------------------------------------- generate */

/* eos_token_id of config.json (a number or the first of a list); -1 if none. */
static int config_token(const char *json, const char *key) {
    cJSON *root = cJSON_Parse(json);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsArray(v)) v = v->child;
    int id = cJSON_IsNumber(v) ? v->valueint : -1;
    cJSON_Delete(root);
    return id;
}

static unsigned long long splitmix(unsigned long long *s) {
    unsigned long long z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Greedy (temperature 0) or sampling from softmax(logits / T), optionally among the top k. */
static int32_t pick(const float *logits, int V, const bench_opts *o, unsigned long long *rng, float *scratch) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    if (o->temperature <= 0) return best;
    float floor_ = -INFINITY;
    if (o->top_k > 0 && o->top_k < V) {
        memcpy(scratch, logits, sizeof(float) * V);
        qsort(scratch, (size_t)V, sizeof(float), cmp_desc);
        floor_ = scratch[o->top_k - 1];
    }
    double sum = 0;
    for (int v = 0; v < V; v++) {
        scratch[v] = logits[v] >= floor_ ? (float)exp((logits[v] - logits[best]) / o->temperature) : 0.0f;
        sum += scratch[v];
    }
    double r = (double)(splitmix(rng) >> 11) / 9007199254740992.0 * sum;
    for (int v = 0; v < V; v++) {
        r -= scratch[v];
        if (r < 0) return v;
    }
    return best;
}

static int generate(loaded *m, nq_tokenizer *tk, const bench_opts *o, nq_err *e) {
    int32_t *ids = NULL;
    size_t np = 0;
    if (nq_tokenizer_encode(tk, o->prompt, strlen(o->prompt), &ids, &np, e)) return 1;
    int bos = config_token(m->config_json, "bos_token_id"), eos = config_token(m->config_json, "eos_token_id");
    if (np == 0 && bos >= 0) { /* an empty prompt starts from <bos> */
        int32_t *b = realloc(ids, sizeof *ids);
        if (b) { ids = b; ids[np++] = bos; }
    }
    if (np == 0) { free(ids); return nq_fail(e, NQ_E_ARG, "the prompt is empty and the model has no bos_token_id"), 1; }
    if (np + (size_t)o->n > (size_t)m->cfg.max_pos) {
        free(ids);
        return nq_fail(e, NQ_E_LIMIT, "prompt (%zu tokens) + -n %d is longer than the model allows "
                       "(max_position_embeddings %d)", np, o->n, m->cfg.max_pos), 1;
    }
    int V = m->cfg.vocab, ctx = (int)np + o->n;
    nq_llama_state *s = NULL;
    float *logits = malloc(sizeof(float) * V), *scratch = malloc(sizeof(float) * V);
    unsigned long long rng = o->seed;
    int rc = !logits || !scratch || nq_llama_state_new(&s, m->llama, ctx, 64, e) ||
             nq_llama_forward(s, ids, (int)np - 1, NULL, NULL, e) ||
             nq_llama_forward(s, ids + np - 1, 1, logits, NULL, e);
    fwrite(o->prompt, 1, strlen(o->prompt), stdout);
    double t0 = cli_now();
    int made = 0;
    for (int i = 0; i < o->n && !rc; i++, made++) {
        int32_t next = pick(logits, V, o, &rng, scratch);
        if (next == eos) break;
        char *piece = NULL;
        size_t len = 0;
        if (nq_tokenizer_decode(tk, &next, 1, 1, &piece, &len, e) == NQ_OK) fwrite(piece, 1, len, stdout);
        free(piece);
        fflush(stdout);
        if (i + 1 < o->n) rc = nq_llama_forward(s, &next, 1, logits, NULL, e) != NQ_OK;
    }
    putchar('\n');
    double secs = cli_now() - t0;
    fprintf(stderr, "novaq: %zu prompt + %d generated tokens, %.1f tokens/s after the prompt (kernel %s)\n", np,
            made, secs > 0 ? made / secs : 0.0, nq_llama_kernel_name(m->llama));
    nq_llama_state_free(s);
    free(logits); free(scratch); free(ids);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    bench_opts o;
    const char *usage = "novaq generate <model dir | .safetensors | .novaq | .gguf> --prompt TEXT [-n 50] "
                        "[--temperature T (0: greedy)] [--top-k K] [--seed S] [--config F] [--tokenizer F] [--no-verify]";
    int rc = parse_opts(argc, argv, &o, usage);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    if (!o.prompt) return cli_usage("generate needs --prompt TEXT");
    nq_err e = {0};
    nq_tokenizer *tk = NULL;
    loaded m;
    if (load_tokenizer(&o, o.model, &tk, &e)) return cli_fail(&e);
    if (load(o.model, &o, NULL, &m, &e)) { nq_tokenizer_free(tk); return cli_fail(&e); }
    rc = generate(&m, tk, &o, &e);
    unload(&m);
    nq_tokenizer_free(tk);
    return rc ? cli_fail(&e) : EXIT_OK;
}
