/* The compression driver (core/compress/driver.c) on the shared tiny model:
 *  - fast mode and with calibration (mixed precision and the end-to-end step): a serial run,
 *    a run on a 2-thread executor and the nq_job steps driven out of order (encodes accepted
 *    last first, from a second job as an encoding instance would) give the same bytes, and
 *    nq_compress equals nq_compress_ex serially; the report and the step callbacks say what ran;
 *  - the end-to-end step is skipped (and said so) without the model-wide set;
 *  - errors abort cleanly: a progress callback that cancels, one tensor's encode failing on
 *    a 2-thread executor (its neighbours' encodes freed), a writer failing; the job steps
 *    refuse a second accept, stage 3 before every tensor is in, finish before every write.
 * Leaks show in the ASan build. */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "llama_testutil.h"

enum { CTX = 64 };

/* ---- the model file through pread: encodes on two threads read at once (the stdio reader
 * of testutil.c seeks, so it is for one thread only) */
static int pread_read(void *ctx, uint64_t off, void *dst, size_t len) {
    int fd = *(const int *)ctx;
    for (size_t got = 0; got < len;) {
        ssize_t k = pread(fd, (char *)dst + got, len - got, (off_t)(off + got));
        if (k <= 0) return 1;
        got += (size_t)k;
    }
    return 0;
}

/* ---- a 2-thread executor: thread i takes the indices i, i + 2, ... (a fixed split, unlike
 * the CLI's, so the two differ in schedule as much as possible) */
typedef struct split { nq_task_fn task; void *arg; int n, first; } split;
static void *split_run(void *p) {
    split *s = p;
    for (int i = s->first; i < s->n; i += 2) s->task(s->arg, i);
    return NULL;
}
static void two_threads(void *ctx, int n, nq_task_fn task, void *arg) {
    (void)ctx;
    split a = {task, arg, n, 0}, b = {task, arg, n, 1};
    pthread_t t;
    int started = pthread_create(&t, NULL, split_run, &b) == 0;
    split_run(&a);
    if (started) pthread_join(t, NULL);
    else split_run(&b);
}
static const nq_executor EXEC2 = {two_threads, NULL, 2};

/* ---- step callbacks: the order they came in, as letters */
typedef struct steps { char seen[8]; int n; } steps;
static void on_step(void *ctx, nq_compress_step step, const nq_compress_report *r) {
    steps *s = ctx;
    (void)r;
    if (s->n < 7) s->seen[s->n++] = "KSME"[step];
}

/* The model the compressions read (the tiny model through pread) and its teacher. */
typedef struct subject { nq_model *model; nq_reader file; const nq_llama *llama; } subject;

static nq_source_file source_of(const subject *tm) {
    nq_source_file sf = {"model.safetensors", tm->file.size, {0}};
    return sf;
}

static nq_mem_sink run_ex(const subject *tm, const nq_settings *s, const nq_calibration *cal,
                          const nq_executor *ex, nq_compress_report *rep, steps *seen) {
    nq_mem_sink out = {0};
    nq_writer w = nq_writer_mem(&out);
    nq_source_file sf = source_of(tm);
    nq_compress_hooks h = {NULL, on_step, seen};
    nq_err e = {0};
    CHECK(nq_compress_ex(tm->model, s, cal, &sf, 1, &w, ex, &h, rep, &e) == NQ_OK);
    if (e.code) fprintf(stderr, "nq_compress_ex: %s\n", e.msg);
    CHECK(rep->bytes == out.size);
    return out;
}

/* The job steps as an asynchronous caller would drive them: a second job encodes (an
 * encoding instance with its own plan), each window's encodes are accepted last first and
 * written after every accept; stage 3 once all are in. */
static nq_mem_sink run_job(const subject *tm, const nq_settings *s, const nq_calibration *cal) {
    nq_mem_sink out = {0};
    nq_writer w = nq_writer_mem(&out);
    nq_source_file sf = source_of(tm);
    nq_job *j = NULL, *enc_job = NULL;
    nq_err e = {0};
    CHECK(nq_job_begin(&j, tm->model, s, cal, &e) == NQ_OK);
    CHECK(nq_job_begin(&enc_job, tm->model, s, cal, &e) == NQ_OK);
    if (!j || !enc_job) { nq_job_free(j); nq_job_free(enc_job); return out; }
    CHECK(!memcmp(nq_job_settings(j), nq_job_settings(enc_job), sizeof(nq_settings)));
    CHECK(nq_job_output(j, &w, &sf, 1, &e) == NQ_OK);
    int n = nq_job_tensor_count(j), ahead = nq_job_ahead(j, 3), written = 0;
    CHECK(ahead == (nq_job_holds_all(j) ? n : 6));
    for (int t0 = 0; t0 < n; t0 += ahead) {
        int t1 = t0 + ahead < n ? t0 + ahead : n;
        for (int t = t1 - 1; t >= t0; t--) {
            nq_encoded *enc = NULL;
            CHECK(nq_job_encode(enc_job, t, &enc, &e) == NQ_OK);
            CHECK(nq_job_accept(j, t, enc, &e) == NQ_OK);
            CHECK(nq_job_write(j, &written, &e) == NQ_OK);
            CHECK(written == (nq_job_holds_all(j) ? 0 : t == t0 ? t1 : t0));
        }
    }
    CHECK(nq_job_stage3(j, NULL, NULL, &e) == NQ_OK);
    CHECK(nq_job_write(j, &written, &e) == NQ_OK && written == n);
    CHECK(nq_job_finish(j, &e) == NQ_OK);
    if (e.code) fprintf(stderr, "job: %s\n", e.msg);
    CHECK(nq_job_report(j)->bytes == out.size);
    nq_job_free(j);
    nq_job_free(enc_job);
    return out;
}

static int same(const nq_mem_sink *a, const nq_mem_sink *b) {
    return a->size > 0 && a->size == b->size && !memcmp(a->buf, b->buf, a->size);
}

/* ---- failures */
static int cancel_at_3(void *ctx, int t, int n, uint64_t done, uint64_t total) {
    (void)ctx; (void)n; (void)done; (void)total;
    return t == 3;
}

/* A reader over the model file that fails reads of one tensor once armed (by the first
 * progress call, i.e. after the plan is built). */
typedef struct trap { nq_reader inner; uint64_t lo, hi; int armed; } trap;
static int trap_read(void *ctx, uint64_t off, void *dst, size_t len) {
    trap *tr = ctx;
    if (tr->armed && off < tr->hi && off + len > tr->lo) return 1;
    return tr->inner.read(tr->inner.ctx, off, dst, len);
}
static int arm(void *ctx, int t, int n, uint64_t done, uint64_t total) {
    (void)t; (void)n; (void)done; (void)total;
    ((trap *)ctx)->armed = 1;
    return 0;
}

static int fail_write(void *ctx, const void *src, size_t len) {
    size_t *left = ctx;
    (void)src;
    if (len > *left) return 1;
    *left -= len;
    return 0;
}

static void failures(const subject *tm, const nq_settings *s) {
    nq_source_file sf = source_of(tm);
    nq_mem_sink out = {0};
    nq_writer w = nq_writer_mem(&out);
    nq_err e = {0};
    nq_compress_hooks cancel = {cancel_at_3, NULL, NULL};
    CHECK(nq_compress_ex(tm->model, s, NULL, &sf, 1, &w, &EXEC2, &cancel, NULL, &e) == NQ_E_CANCELLED);
    CHECK(strstr(e.msg, "cancelled before tensor 4 of") != NULL);
    free(out.buf);

    /* the biggest tensor's reads fail: in a batch of 4 on 2 threads */
    int n = nq_model_tensor_count(tm->model), big = 0;
    for (int t = 1; t < n; t++)
        if (nq_model_tensor(tm->model, t)->nbytes > nq_model_tensor(tm->model, big)->nbytes) big = t;
    const nq_tensor_info *bi = nq_model_tensor(tm->model, big);
    trap tr = {tm->file, bi->offset, bi->offset + bi->nbytes, 0};
    (void)big;
    nq_reader r = {&tr, tm->file.size, "trapped.safetensors", trap_read};
    nq_model *m = NULL;
    CHECK(nq_safetensors_open(&m, &r, 1, NULL, 0, &e) == NQ_OK);
    nq_compress_hooks armer = {arm, NULL, &tr};
    memset(&out, 0, sizeof out);
    memset(&e, 0, sizeof e);
    if (m) CHECK(nq_compress_ex(m, s, NULL, &sf, 1, &w, &EXEC2, &armer, NULL, &e) == NQ_E_IO);
    CHECK(strstr(e.msg, "trapped.safetensors") != NULL);
    nq_model_free(m);
    free(out.buf);

    size_t left = 50000; /* a writer that fails part way */
    nq_writer bad = {&left, fail_write};
    CHECK(nq_compress_ex(tm->model, s, NULL, &sf, 1, &bad, &EXEC2, NULL, NULL, &e) == NQ_E_IO);

    /* the job steps refuse what would break the order */
    nq_job *j = NULL;
    memset(&out, 0, sizeof out);
    CHECK(nq_job_begin(&j, tm->model, s, NULL, &e) == NQ_OK);
    if (!j) return;
    nq_encoded *enc = NULL;
    CHECK(nq_job_write(j, NULL, &e) == NQ_E_ARG);  /* no output yet */
    CHECK(nq_job_output(j, &w, &sf, 1, &e) == NQ_OK);
    CHECK(nq_job_encode(j, 1, &enc, &e) == NQ_OK);
    CHECK(nq_job_accept(j, 1, enc, &e) == NQ_OK);
    CHECK(nq_job_encode(j, 1, &enc, &e) == NQ_OK);
    CHECK(nq_job_accept(j, 1, enc, &e) == NQ_E_ARG); /* taken and freed */
    CHECK(nq_job_encode(j, n, &enc, &e) == NQ_E_ARG && !enc);
    CHECK(nq_job_finish(j, &e) == NQ_E_ARG);
    nq_job_free(j); /* tensor 1 still held, the container open */
    free(out.buf);
}

int main(void) {
    tiny_model tiny;
    if (!tiny_open(&tiny)) return 1;
    int fd = open(tu_data("novaq-tiny-llama/model.safetensors"), O_RDONLY);
    subject tm = {NULL, {&fd, tiny.file.size, "model.safetensors", pread_read}, tiny.llama};
    CHECK(fd >= 0 && nq_safetensors_open(&tm.model, &tm.file, 1, NULL, 0, NULL) == NQ_OK);
    if (!tm.model) return 1;
    int ntok = 0;
    int32_t *tok = tiny_calib_tokens(&ntok);
    CHECK(ntok > 8 * CTX);

    /* 1. fast mode */
    nq_settings s;
    nq_settings_preset(&s, "2", NULL);
    s.K[0] = 64; /* a quicker layout: the driver does not care */
    s.K[1] = 16;
    s.beam = 1;
    s.kmeans_iters = 2;
    s.train_vectors = 8192;
    snprintf(s.preset, sizeof s.preset, "custom");
    nq_compress_report r1, r2;
    steps st1 = {{0}, 0}, st2 = {{0}, 0};
    nq_mem_sink serial = run_ex(&tm, &s, NULL, NULL, &r1, &st1);
    nq_mem_sink par = run_ex(&tm, &s, NULL, &EXEC2, &r2, &st2);
    nq_mem_sink job = run_job(&tm, &s, NULL);
    nq_mem_sink plain = {0};
    nq_writer pw = nq_writer_mem(&plain);
    nq_source_file sf = source_of(&tm);
    CHECK(nq_compress(tm.model, &s, &sf, 1, &pw, NULL, NULL, NULL) == NQ_OK);
    CHECK(same(&serial, &par) && same(&serial, &job) && same(&serial, &plain));
    CHECK(!r1.mixed && !r1.e2e && !r1.e2e_skipped && st1.n == 0 && st2.n == 0);
    CHECK(r1.weights > 0 && !memcmp(&r1.settings, &s, sizeof s));
    free(serial.buf); free(par.buf); free(job.buf); free(plain.buf);

    /* 2. with calibration: mixed precision, then one end-to-end step */
    nq_calib *stats = NULL;
    CHECK(nq_calib_collect(&stats, tm.llama, tok, (size_t)ntok, CTX, 2 * CTX, NULL) == NQ_OK);
    nq_calibration cal = {stats, tm.llama, tok, (size_t)(8 * CTX), CTX};
    nq_settings c = s;
    c.quantize_embeddings = c.quantize_lm_head = 0;
    c.e2e_steps = 1;
    c.nstages = 3; /* a mixed layout given explicitly: a third stage for the tensors picked */
    c.K[2] = 16;
    c.base_stages = 2;
    c.bits_budget = 1.85;
    memset(&st1, 0, sizeof st1);
    memset(&st2, 0, sizeof st2);
    serial = run_ex(&tm, &c, &cal, NULL, &r1, &st1);
    par = run_ex(&tm, &c, &cal, &EXEC2, &r2, &st2);
    job = run_job(&tm, &c, &cal);
    CHECK(same(&serial, &par) && same(&serial, &job));
    CHECK(r1.mixed && r1.e2e && !r1.e2e_skipped && r1.settings.nstages == 3 && r1.mix.tensors > 0);
    CHECK(r1.distill.steps == 1 && !memcmp(&r1.mix, &r2.mix, sizeof r1.mix));
    CHECK(!strcmp(st1.seen, "SME") && !strcmp(st2.seen, "SME"));
    free(serial.buf); free(par.buf); free(job.buf);

    /* 3. without the model-wide set the end-to-end step is skipped, and said so; mixed
     * precision does not run either (a teacher without statistics: quicker, same policy) */
    c.share_codebooks = 0;
    cal.stats = NULL;
    memset(&st1, 0, sizeof st1);
    serial = run_ex(&tm, &c, &cal, &EXEC2, &r1, &st1);
    CHECK(!r1.mixed && !r1.e2e && r1.e2e_skipped && !strcmp(st1.seen, "K"));
    free(serial.buf);

    /* 4. failures */
    failures(&tm, &s);

    nq_calib_free(stats);
    free(tok);
    nq_model_free(tm.model);
    close(fd);
    tiny_close(&tiny);
    return TU_DONE();
}
