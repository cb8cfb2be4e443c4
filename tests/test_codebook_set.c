/* The model-wide codebook set (compress/stage2_plan.c, the writer, the reader): stored once
 * and shared by every vq tensor, rotation and row-scale codes decode to what the encoder
 * measured, and the validator's reports for damaged manifest fields of the set, the rotation
 * and the row data (each damaged manifest is re-hashed so that only the field itself is
 * wrong). The scale codes and the rotation on their own: test_norm.c. */
#include <math.h>
#include <string.h>
#include "common/format.h"
#include "compress/stages.h"
#include "testutil.h"
#include "common/util.h"

#define ROWS 64
#define COLS 96 /* rotation block 32, 12 vectors of 8 */

static unsigned char *make_model(size_t *size, float **wout) {
    float *w = malloc(2 * ROWS * COLS * sizeof *w);
    uint64_t rng = 11;
    for (int i = 0; i < 2 * ROWS * COLS; i++) w[i] = (float)((nq_rng_uniform(&rng) - 0.5) * (i < ROWS * COLS ? 0.1 : 3.0));
    char json[512];
    size_t wb = ROWS * COLS * 4;
    snprintf(json, sizeof json,
             "{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]},"
             "\"b.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}}",
             ROWS, COLS, wb, ROWS, COLS, wb, 2 * wb);
    unsigned char *f = tu_make_st(json, w, 2 * wb, size);
    *wout = w;
    return f;
}

static nq_mem_sink compress(unsigned char *file, size_t size, const nq_settings *s) {
    nq_mem_source src = {file, size};
    nq_model *m = NULL;
    nq_mem_sink sink = {0};
    CHECK(tu_open_st(&src, &m, NULL) == NQ_OK);
    nq_source_file sf = {"x.safetensors", size, {0}};
    nq_writer w = nq_writer_mem(&sink);
    CHECK(nq_compress(m, s, &sf, 1, &w, NULL, NULL, NULL) == NQ_OK);
    nq_model_free(m);
    return sink;
}

typedef struct seen { int n; char text[2048]; } seen;
static void collect(void *ctx, const char *where, const char *what) {
    seen *s = ctx;
    s->n++;
    size_t l = strlen(s->text);
    snprintf(s->text + l, sizeof s->text - l, "%s: %s\n", where, what);
}

/* Replace the first `from` in the manifest by `to`; the validator must name `expect`. */
static void damaged(const nq_mem_sink *f, const char *from, const char *to, const char *expect) {
    size_t n;
    uint8_t *b = tu_edit_manifest(f, from, to, &n);
    CHECK(b != NULL);
    if (!b) return;
    nq_mem_source src = {b, n};
    nq_reader r = nq_reader_mem(&src, "bad.novaq");
    seen s = {0};
    CHECK(nq_validate(&r, collect, &s, NULL, NULL) != NQ_OK && s.n > 0);
    CHECK(strstr(s.text, expect) != NULL);
    if (!strstr(s.text, expect)) fprintf(stderr, "expected '%s' in:\n%s", expect, s.text);
    nq_model *m = NULL;
    CHECK(nq_novaq_open(&m, &r, NULL) != NQ_OK && !m);
    free(b);
}

static double sse_of(nq_model *m, const char *name, const float *w) {
    float *q = malloc(ROWS * COLS * sizeof *q);
    CHECK(nq_model_read_rows(m, nq_model_find(m, name), 0, ROWS, q, NULL) == NQ_OK);
    double s = 0;
    for (int i = 0; i < ROWS * COLS; i++) s += ((double)w[i] - q[i]) * ((double)w[i] - q[i]);
    free(q);
    return s;
}

int main(void) {
    size_t size;
    float *w;
    unsigned char *file = make_model(&size, &w);
    nq_settings s;
    nq_settings_preset(&s, "2", NULL);
    nq_mem_sink f = compress(file, size, &s);
    nq_mem_source src = {f.buf, f.size};
    nq_reader r = nq_reader_mem(&src, "x.novaq");
    CHECK(nq_validate(&r, NULL, NULL, NULL, NULL) == NQ_OK);
    nq_model *m = NULL;
    CHECK(nq_novaq_open(&m, &r, NULL) == NQ_OK);
    const char *man = m ? nq_novaq_manifest(m) : "";
    /* one set, stored once; both tensors reference it and carry no codebooks of their own */
    const char *cb = strstr(man, "\"codebooks\":[{\"index\":0");
    CHECK(cb && !strstr(cb + 1, "\"codebooks\""));
    const char *ta = strstr(man, "\"a.weight\""), *tb = strstr(man, "\"b.weight\"");
    CHECK(ta && tb && strstr(ta, "\"codebook_set\":0") && strstr(tb, "\"codebook_set\":0"));
    CHECK(ta && strstr(ta, "\"rotation\":{\"kind\":\"hadamard\",\"block\":32"));
    int kinds = 0;
    for (const char *p = man; (p = strstr(p, "\"kind\":\"codebook\"")); p++) kinds++;
    CHECK(kinds == s.nstages); /* only the set's parts */
    /* the reported error is what decoding gives (rotation and scale codes included) */
    if (m) {
        double sa = sse_of(m, "a.weight", w), sb = sse_of(m, "b.weight", w + ROWS * COLS);
        const char *pa = strstr(ta, "\"sse\":"), *pb = strstr(tb, "\"sse\":");
        CHECK(pa && fabs(atof(pa + 6) - sa) <= 1e-9 * sa);
        CHECK(pb && fabs(atof(pb + 6) - sb) <= 1e-9 * sb);
    }
    nq_model_free(m);
    /* damaged v2 fields */
    damaged(&f, "\"codebook_set\":0", "\"codebook_set\":3", "'codebook_set' names no entry");
    damaged(&f, "\"row_mean\":false", "\"row_mean\":1", "lacks boolean 'row_mean'");
    damaged(&f, "\"block\":32", "\"block\":64", "invalid 'rotation'");
    damaged(&f, "\"kind\":\"hadamard\"", "\"kind\":\"fourier\"", "invalid 'rotation'");
    damaged(&f, "\"codebooks\":[{\"index\":0,\"d\":8", "\"codebooks\":[{\"index\":0,\"d\":4", "codebook of set 0");
    damaged(&f, "\"codebooks\":[", "\"codebookz\":[", "missing array 'codebooks'");
    damaged(&f, "\"row_mean\":false", "\"row_mean\":true", "wrong size");
    /* JSON numbers are doubles: every one is range-checked before it becomes an integer
     * (an out-of-range conversion is undefined behaviour; UBSan's float-cast-overflow in the
     * ASan build aborts on one). Codebook sizes of the tensor and of the set: */
    static const struct { const char *k, *shown; } bad_k[] = {
        {"2e64", "2e+64"}, {"-1", "-1"}, {"1e308", "1e+308"}, {"1e999", "inf"}, {"-1e999", "-inf"},
        {"1024.5", "1024.5"}, {"1023.9999999", "1023.9999999"}, {"-2147483648", "-2147483648"},
        {"4294967296", "4294967296"}, {"131072", "131072"}, {"1000", "1000"}, {"0", "0"}};
    for (size_t i = 0; i < sizeof bad_k / sizeof bad_k[0]; i++) {
        char to[96], want[160];
        snprintf(to, sizeof to, "\"vq\":{\"d\":8,\"K\":[64,%s]", bad_k[i].k);
        snprintf(want, sizeof want, "tensor 0 'a.weight': vq.K[1] = %s: a codebook size must be an "
                 "integer power of two in 2..65536", bad_k[i].shown);
        damaged(&f, "\"vq\":{\"d\":8,\"K\":[1024,64]", to, want);
        snprintf(to, sizeof to, "\"d\":8,\"K\":[%s,64],\"parts\"", bad_k[i].k);
        snprintf(want, sizeof want, "codebook set 0: K[0] = %s: a codebook size", bad_k[i].shown);
        damaged(&f, "\"d\":8,\"K\":[1024,64],\"parts\"", to, want);
    }
    damaged(&f, "\"vq\":{\"d\":8,\"K\":[1024,64]", "\"vq\":{\"d\":8,\"K\":[1024,\"64\"]",
            "tensor 0 'a.weight': vq.K[1] is not a number");
    /* the other integers: shape, d, scope_rows, part and shard fields */
    damaged(&f, "\"shape\":[64,96]", "\"shape\":[64,2e64]", "tensor 0 'a.weight': invalid 'shape'");
    damaged(&f, "\"shape\":[64,96]", "\"shape\":[64,96.5]", "tensor 0 'a.weight': invalid 'shape'");
    damaged(&f, "\"shape\":[64,96]", "\"shape\":[-1e999,96]", "tensor 0 'a.weight': invalid 'shape'");
    damaged(&f, "\"vq\":{\"d\":8", "\"vq\":{\"d\":1e308", "tensor 0 'a.weight': invalid 'vq' description");
    damaged(&f, "\"vq\":{\"d\":8", "\"vq\":{\"d\":8.5", "tensor 0 'a.weight': invalid 'vq' description");
    damaged(&f, "\"scope_rows\":64", "\"scope_rows\":2e64", "tensor 0 'a.weight': invalid 'vq' description");
    damaged(&f, "\"size\":8,", "\"size\":1e999,", "tensor 0 'a.weight' part 0: missing or invalid");
    damaged(&f, "\"offset\":16144", "\"offset\":-2e64", "tensor 0 'a.weight' part 0: missing or invalid");
    damaged(&f, "\"index\":0,\"offset\":16,", "\"index\":0,\"offset\":16.000001,",
            "shard 0: missing or invalid 'offset'/'size'");
    damaged(&f, "\"index\":0,\"offset\":16,", "\"index\":1e300,\"offset\":16,", "shard 0: 'index' must be 0");
    /* per-tensor sets (no sharing) still round-trip; the shared file is smaller */
    s.share_codebooks = 0;
    nq_mem_sink g = compress(file, size, &s);
    nq_mem_source gs = {g.buf, g.size};
    nq_reader gr = nq_reader_mem(&gs, "own.novaq");
    CHECK(nq_validate(&gr, NULL, NULL, NULL, NULL) == NQ_OK && g.size > f.size);
    free(g.buf);
    free(f.buf);
    free(file);
    free(w);
    return TU_DONE();
}
