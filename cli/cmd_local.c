/* cmd_local.c - `novaq local`: compress a local model with the core driver (nq_compress_ex,
 * which holds the whole policy, stage 3 included), its encodes run on a pool of threads;
 * this file only supplies the threads, the output file and the messages. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* The CLI's executor for the core driver: a parallel-for over NOVAQ_NUM_THREADS threads (the
 * calling one among them), each taking the next index under a lock. The driver consumes the
 * results in index order, so the bytes do not depend on the thread count. */
typedef struct pf_run {
    pthread_mutex_t mu;
    int next, n;
    nq_task_fn task;
    void *arg;
} pf_run;

static void *pf_worker(void *arg) {
    pf_run *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int i = r->next++;
        pthread_mutex_unlock(&r->mu);
        if (i >= r->n) break;
        r->task(r->arg, i);
    }
    return NULL;
}

/* Threads that fail to start leave their share to the others (at least the caller). */
static void threads_parallel_for(void *ctx, int n, nq_task_fn task, void *arg) {
    int threads = *(const int *)ctx < n ? *(const int *)ctx : n;
    pf_run r = {.n = n, .task = task, .arg = arg};
    pthread_t *tid = threads > 1 ? malloc((size_t)(threads - 1) * sizeof *tid) : NULL;
    int started = 0;
    pthread_mutex_init(&r.mu, NULL);
    for (int i = 0; tid && i < threads - 1; i++)
        if (pthread_create(&tid[started], NULL, pf_worker, &r) == 0) started++;
    pf_worker(&r);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&r.mu);
    free(tid);
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

/* The driver's hooks: the progress line, and stage 3's messages with their timing. */
typedef struct hooks_ctx {
    double start, t0;
} hooks_ctx;

static int on_progress(void *ctx, int tensor, int ntensors, uint64_t done, uint64_t total) {
    return cli_progress(&((hooks_ctx *)ctx)->start, tensor, ntensors, done, total);
}

static void on_step(void *ctx, nq_compress_step step, const nq_compress_report *r) {
    hooks_ctx *h = ctx;
    const nq_settings *s = &r->settings;
    if (step == NQ_STEP_E2E_SKIPPED)
        fprintf(stderr, "novaq: stage 3 end to end skipped: it refines the model-wide codebook set, which "
                "--no-share-codebooks / --scope-rows turn off\n");
    else if (step == NQ_STEP_MIXED)
        fprintf(stderr, "novaq: stage 3 mixed precision: %d tensors (%lld weights) take all %d stages, %.4f -> %.4f "
                "bits/weight (budget %.4f), %.0f%% of the measured error cost, %.1f s\n",
                r->mix.tensors, (long long)r->mix.weights, s->nstages, r->mix.bits_base, r->mix.bits,
                s->bits_budget, r->mix.score_total > 0 ? 100 * r->mix.score_picked / r->mix.score_total : 0,
                cli_now() - h->t0);
    else if (step == NQ_STEP_E2E)
        fprintf(stderr, "novaq: stage 3 end to end: %d steps, %lld values, learning rates x%.3f, held-out KL %.5f -> %.5f "
                "(%s), %.1f s\n",
                r->distill.steps, (long long)r->distill.params, r->distill.lr_factor, r->distill.kl_before,
                r->distill.kl_after, r->distill.accepted ? "kept" : "no gain: dropped", cli_now() - h->t0);
    h->t0 = cli_now();
}

int cli_compress_to(cli_model *cm, const nq_settings *s, const char *path, int json, nq_err *e) {
    return cli_compress_calib(cm, s, NULL, path, json, e);
}

int cli_compress_calib(cli_model *cm, const nq_settings *s, const cli_calib *calib, const char *path, int json,
                       nq_err *e) {
    cli_out out;
    hooks_ctx hc = {cli_now(), 0};
    if (cli_out_open(&out, path, e)) return 1; /* before the codebook training: a bad path fails at once */
    int threads = cli_threads();
    nq_executor ex = {threads_parallel_for, &threads, threads};
    nq_compress_hooks hooks = {on_progress, on_step, &hc};
    nq_calibration cal = {0};
    if (calib) cal = (nq_calibration){calib->stats, calib->teacher, calib->ids, calib->nids, calib->ctx};
    nq_compress_report rep;
    nq_status st = nq_compress_ex(cm->model, s, calib ? &cal : NULL, cm->src, cm->nsrc, &out.w, &ex, &hooks, &rep, e);
    if (st != NQ_OK) { cli_out_abort(&out); return 1; }
    if (cli_out_commit(&out, e)) return 1;
    print_summary(cm, &rep.settings, path, rep.bytes, rep.weights, cli_now() - hc.start, json);
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
