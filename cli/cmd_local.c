/* cmd_local.c - `novaq local`: compress a local model, tensors encoded on a pool of
 * threads and written in model order, so the bytes do not depend on the thread count. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

typedef struct pool {
    const nq_model *m;
    const nq_settings *s;
    nq_plan *plan;
    int n, next, added, window;
    const cli_calib *calib;       /* with a teacher and e2e steps or mixed precision: hold every encode */
    int e2e, mixed;
    nq_distill_report rep;
    nq_mixed_report mix;
    int refined;
    nq_encoded **enc;
    nq_err *errs;
    nq_status *st;
    char *done;
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pool;

static void *worker(void *arg) {
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* Stay at most `window` tensors ahead of the writer: bounded memory. */
        while (!p->stop && p->next < p->n && p->next >= p->added + p->window) pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop || p->next >= p->n) break;
        int t = p->next++;
        pthread_mutex_unlock(&p->mu);
        nq_status st = nq_encode_tensor_plan(p->m, t, p->s, p->plan, &p->enc[t], &p->errs[t]);
        pthread_mutex_lock(&p->mu);
        p->st[t] = st;
        p->done[t] = 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void print_summary(const cli_model *cm, const nq_settings *s, const char *path, uint64_t bytes,
                          uint64_t weights, double secs, int json) {
    uint64_t orig = 0;
    for (int i = 0; i < cm->nsrc; i++) orig += cm->src[i].size;
    double bpw = weights ? (double)bytes * 8 / (double)weights : 0, ratio = bytes ? (double)orig / (double)bytes : 0;
    if (json)
        printf("{\"output\":\"%s\",\"preset\":\"%s\",\"bytes\":%llu,\"original_bytes\":%llu,\"weights\":%llu,"
               "\"bits_per_weight_file\":%.4f,\"ratio\":%.3f,\"seconds\":%.2f,\"weights_per_second\":%.0f}\n",
               path, s->preset, (unsigned long long)bytes, (unsigned long long)orig, (unsigned long long)weights,
               bpw, ratio, secs, secs > 0 ? (double)weights / secs : 0);
    else
        printf("%s: %llu bytes from %llu (%.2fx), %.3f bits/weight over the whole file, %.1f s (%.0f weights/s)\n",
               path, (unsigned long long)bytes, (unsigned long long)orig, ratio, bpw, secs,
               secs > 0 ? (double)weights / secs : 0);
}

/* Counting writer: forwards to the file and keeps the byte count for the summary. */
typedef struct counted { nq_writer inner; uint64_t n; } counted;
static int counted_write(void *ctx, const void *src, size_t len) {
    counted *c = ctx;
    c->n += len;
    return c->inner.write(c->inner.ctx, src, len);
}

/* Wait for every encode, then give the extra stages where they pay most (mixed precision) and
 * refine the encodes end to end against the teacher (in place). */
static nq_status hold_and_refine(pool *p, nq_err *e) {
    for (int t = 0; t < p->n; t++) {
        pthread_mutex_lock(&p->mu);
        while (!p->done[t]) pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        if (p->st[t]) { *e = p->errs[t]; return p->st[t]; }
    }
    double t0 = cli_now();
    const cli_calib *c = p->calib;
    nq_status st = NQ_OK;
    if (p->mixed) {
        st = nq_mixed_allocate(p->enc, p->m, p->s, p->plan, c->teacher, c->ids, c->nids, c->ctx, &p->mix, e);
        if (st == NQ_OK)
            fprintf(stderr, "novaq: stage 3 mixed precision: %d tensors (%lld weights) take all %d stages, %.4f -> %.4f "
                    "bits/weight (budget %.4f), %.0f%% of the measured error cost, %.1f s\n",
                    p->mix.tensors, (long long)p->mix.weights, p->s->nstages, p->mix.bits_base, p->mix.bits,
                    p->s->bits_budget, p->mix.score_total > 0 ? 100 * p->mix.score_picked / p->mix.score_total : 0,
                    cli_now() - t0);
        t0 = cli_now();
    }
    if (st || !p->e2e) return st;
    st = nq_distill(p->enc, p->m, p->s, c->teacher, c->ids, c->nids, c->ctx, &p->rep, e);
    p->refined = st == NQ_OK;
    if (st == NQ_OK)
        fprintf(stderr, "novaq: stage 3 end to end: %d steps, %lld values, learning rates x%.3f, held-out KL %.5f -> %.5f "
                "(%s), %.1f s\n",
                p->rep.steps, (long long)p->rep.params, p->rep.lr_factor, p->rep.kl_before, p->rep.kl_after,
                p->rep.accepted ? "kept" : "no gain: dropped", cli_now() - t0);
    return st;
}

static nq_status run_pool(pool *p, nq_container *c, double *start, int threads, nq_err *e) {
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (!tid) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (int i = 0; i < threads; i++) pthread_create(&tid[i], NULL, worker, p);
    nq_status st = p->calib ? hold_and_refine(p, e) : NQ_OK;
    uint64_t total = 0, done = 0;
    for (int t = 0; t < p->n; t++) total += (uint64_t)nq_model_tensor(p->m, t)->rows * nq_model_tensor(p->m, t)->cols;
    for (int t = 0; t < p->n && st == NQ_OK; t++) {
        pthread_mutex_lock(&p->mu);
        while (!p->done[t]) pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        if ((st = p->st[t])) { *e = p->errs[t]; break; }
        st = nq_container_add(c, p->enc[t], e);
        done += p->enc[t]->weights;
        nq_encoded_free(p->enc[t]);
        p->enc[t] = NULL;
        cli_progress(start, t + 1, p->n, done, total);
        pthread_mutex_lock(&p->mu);
        p->added = t + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
    for (int t = 0; t < p->n; t++) nq_encoded_free(p->enc[t]);
    free(tid);
    return st;
}

int cli_compress_to(cli_model *cm, const nq_settings *s, const char *path, int json, nq_err *e) {
    return cli_compress_calib(cm, s, NULL, path, json, e);
}

int cli_compress_calib(cli_model *cm, const nq_settings *given, const cli_calib *calib, const char *path, int json,
                       nq_err *e) {
    const nq_model *m = cm->model;
    nq_settings eff; /* with calibration, the preset's mixed layout where it has one */
    int mixed = calib && calib->teacher && given->refine && given->share_codebooks && !given->scope_rows &&
                nq_settings_mixed(given, &eff);
    if (!mixed) eff = *given;
    const nq_settings *s = &eff;
    cli_out out;
    nq_plan *plan; /* shared codebooks trained once; calibration statistics for stage 3 */
    double start = cli_now();
    if (cli_out_open(&out, path, e)) return 1; /* before the codebook training: a bad path fails at once */
    if (nq_plan_build(&plan, m, s, calib ? calib->stats : NULL, e)) { cli_out_abort(&out); return 1; }
    counted cw = {out.w, 0};
    nq_writer w = {&cw, counted_write};
    nq_container *c;
    nq_status st = nq_container_begin(&c, &w, s, nq_model_format(m), cm->src, cm->nsrc, nq_model_metadata_json(m), e);
    if (st) { cli_out_abort(&out); nq_plan_free(plan); return 1; }
    int n = nq_model_tensor_count(m), threads = cli_threads();
    int e2e = calib && calib->teacher && s->refine && s->e2e_steps > 0;
    if (e2e && (!s->share_codebooks || s->scope_rows)) { /* it refines the model-wide set */
        fprintf(stderr, "novaq: stage 3 end to end skipped: it refines the model-wide codebook set, which "
                "--no-share-codebooks / --scope-rows turn off\n");
        e2e = 0;
    }
    pool p = {.m = m, .s = s, .plan = plan, .n = n, .window = e2e || mixed ? n + 1 : 2 * threads,
              .calib = e2e || mixed ? calib : NULL, .e2e = e2e, .mixed = mixed};
    p.enc = calloc((size_t)n + 1, sizeof *p.enc);
    p.errs = calloc((size_t)n + 1, sizeof *p.errs);
    p.st = calloc((size_t)n + 1, sizeof *p.st);
    p.done = calloc((size_t)n + 1, 1);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    st = p.enc && p.errs && p.st && p.done ? run_pool(&p, c, &start, threads, e) : nq_fail(e, NQ_E_NOMEM, "out of memory");
    uint64_t weights = 0;
    for (int t = 0; t < n; t++) weights += (uint64_t)nq_model_tensor(m, t)->rows * nq_model_tensor(m, t)->cols;
    if (st == NQ_OK) st = nq_container_finish(c, e);
    else nq_container_abort(c);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    free(p.enc); free(p.errs); free(p.st); free(p.done);
    nq_plan_free(plan);
    if (st != NQ_OK) { cli_out_abort(&out); return 1; }
    if (cli_out_commit(&out, e)) return 1;
    print_summary(cm, s, path, cw.n, weights, cli_now() - start, json);
    return 0;
}

static char *default_output(const char *in) {
    size_t n = strlen(in);
    while (n > 1 && in[n - 1] == '/') n--;
    const char *dot = NULL;
    for (size_t i = 0; i < n; i++) if (in[i] == '.') dot = in + i; else if (in[i] == '/') dot = NULL;
    size_t stem = dot ? (size_t)(dot - in) : n;
    char *out = malloc(stem + 8);
    if (out) { memcpy(out, in, stem); strcpy(out + stem, ".novaq"); }
    return out;
}

int cmd_local(int argc, char **argv) {
    if (cli_has_flag(argc, argv, "--help")) {
        printf("usage: novaq local <file.safetensors | model dir> [-o out.novaq] [--json] [--calib text]\n"
               "  --calib FILE               stage 3: calibration text (UTF-8) for output-aware\n"
               "                             refinement (config.json, tokenizer.json beside the model)\n%s",
               cli_settings_help);
        return EXIT_OK;
    }
    unsigned char *used = calloc((size_t)argc + 1, 1);
    nq_settings s;
    nq_err e = {0};
    if (!used) return EXIT_INVALID;
    if (cli_settings_parse(argc, argv, &s, used, &e)) { free(used); return cli_fail(&e); }
    const char *in = NULL, *outp = NULL, *calib_path = NULL;
    int json = 0, rc = EXIT_OK;
    for (int i = 1; i < argc && rc == EXIT_OK; i++) {
        if (used[i]) continue;
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (i + 1 >= argc) rc = cli_usage("-o needs a file name");
            else outp = argv[++i];
        } else if (!strcmp(argv[i], "--calib")) {
            if (i + 1 >= argc) rc = cli_usage("--calib needs a text file");
            else calib_path = argv[++i];
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "novaq local: unknown option '%s'\n", argv[i]);
            rc = EXIT_USAGE;
        } else if (in) rc = cli_usage("local takes one input");
        else in = argv[i];
    }
    free(used);
    if (rc) return rc;
    if (!in) return cli_usage("local needs an input file or directory");
    char *def = outp ? NULL : default_output(in);
    if (!outp && !def) { nq_fail(&e, NQ_E_NOMEM, "out of memory"); return cli_fail(&e); }
    cli_model cm;
    /* The output location first: a bad -o must not wait for the input hash and encoding. */
    if (cli_out_check(outp ? outp : def, &e) || cli_open_model(in, 1, 0, &cm, &e)) { free(def); return cli_fail(&e); }
    if (!strcmp(cm.format, "novaq")) {
        cli_close_model(&cm);
        free(def);
        return cli_usage("input is already a .novaq file");
    }
    cli_calib calib = {0};
    double t0 = cli_now();
    if (calib_path && s.refine && cli_calib_collect(&cm, in, calib_path, &s, &calib, &e)) rc = cli_fail(&e);
    else if (calib.stats && !json)
        fprintf(stderr, "novaq: calibration: %lld tokens of %s in %.1f s\n", (long long)nq_calib_tokens(calib.stats),
                calib_path, cli_now() - t0);
    if (rc == EXIT_OK && cli_compress_calib(&cm, &s, calib.stats ? &calib : NULL, outp ? outp : def, json, &e))
        rc = cli_fail(&e);
    cli_calib_free(&calib);
    cli_close_model(&cm);
    free(def);
    return rc;
}
