/* Encoder + container + reader round trip on a synthetic model: validate, decode, the
 * reported error equals the decoded error, presets keep their code bits, raw tensors come
 * back bit-exact, determinism, and every kind of damage is reported with its location. */
#include <math.h>
#include <string.h>
#include "compress/stages.h"
#include "testutil.h"

#define ROWS 96
#define COLS 70 /* not a multiple of d: exercises the padded last vector */

typedef struct synth { unsigned char *file; size_t size; float *w; } synth;

static synth make_model(void) {
    synth s;
    s.w = malloc(ROWS * COLS * sizeof(float));
    uint64_t rng = 7;
    for (int i = 0; i < ROWS * COLS; i++) {
        double u = nq_rng_uniform(&rng) + nq_rng_uniform(&rng) + nq_rng_uniform(&rng) - 1.5;
        s.w[i] = (float)(u * 0.05 * (1 + (i % COLS == 3) * 20)); /* column 3 is an outlier */
    }
    size_t wb = ROWS * COLS * 4;
    unsigned char *data = malloc(wb + 16 + 8);
    memcpy(data, s.w, wb);
    float norm[4] = {1, 0.5f, 2, 1.5f};
    memcpy(data + wb, norm, 16);
    int64_t step = 99;
    memcpy(data + wb + 16, &step, 8);
    char json[512];
    snprintf(json, sizeof json,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]},"
             "\"layer.norm\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[%zu,%zu]},"
             "\"step\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}}",
             ROWS, COLS, wb, wb, wb + 16, wb + 16, wb + 24);
    s.file = tu_make_st(json, data, wb + 24, &s.size);
    free(data);
    return s;
}

static nq_mem_sink compress(const synth *sy, const nq_settings *set) {
    nq_mem_source src = {sy->file, sy->size};
    nq_model *m = NULL;
    nq_mem_sink sink = {0};
    CHECK(tu_open_st(&src, &m, NULL) == NQ_OK);
    nq_source_file sf = {"synthetic.safetensors", sy->size, {0}};
    nq_sha256(sy->file, sy->size, sf.sha256);
    nq_writer w = nq_writer_mem(&sink);
    nq_err e = {0};
    CHECK(nq_compress(m, set, &sf, 1, &w, NULL, NULL, &e) == NQ_OK);
    if (e.msg[0]) fprintf(stderr, "%s\n", e.msg);
    nq_model_free(m);
    return sink;
}

typedef struct collected { int n; char text[4096]; } collected;
static void collect(void *ctx, const char *where, const char *what) {
    collected *c = ctx;
    c->n++;
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof c->text - len, "%s: %s\n", where, what);
}

static int validate(const uint8_t *buf, size_t n, collected *c) {
    nq_mem_source src = {buf, n};
    nq_reader r = nq_reader_mem(&src, "x.novaq");
    memset(c, 0, sizeof *c);
    int np = 0;
    nq_status s = nq_validate(&r, collect, c, &np, NULL);
    CHECK(np == c->n);
    return s == NQ_OK;
}

static void roundtrip(const synth *sy, const char *preset, int scope_rows) {
    nq_settings set;
    CHECK(nq_settings_preset(&set, preset, NULL) == NQ_OK);
    set.scope_rows = scope_rows;
    /* many shards: small ones, but each must hold the largest codebook part */
    set.shard_max_bytes = 4096;
    if ((unsigned)(set.K[0] * set.d * 2) > set.shard_max_bytes) set.shard_max_bytes = (unsigned)(set.K[0] * set.d * 2);
    nq_mem_sink a = compress(sy, &set), b = compress(sy, &set);
    CHECK(a.size == b.size && !memcmp(a.buf, b.buf, a.size)); /* deterministic */
    collected c;
    CHECK(validate(a.buf, a.size, &c));
    if (c.n) fprintf(stderr, "%s", c.text);
    nq_mem_source src = {a.buf, a.size};
    nq_reader r = nq_reader_mem(&src, "x.novaq");
    nq_model *m = NULL;
    nq_err e = {0};
    CHECK(nq_novaq_open(&m, &r, &e) == NQ_OK);
    if (!m) { fprintf(stderr, "%s\n", e.msg); return; }
    int t = nq_model_find(m, "layer.weight");
    CHECK(t == 0 && nq_model_tensor(m, t)->rows == ROWS && nq_model_tensor(m, t)->cols == COLS);
    float *w = malloc(ROWS * COLS * sizeof *w);
    CHECK(nq_model_read_rows(m, t, 0, ROWS, w, NULL) == NQ_OK);
    double sse = 0, sig = 0;
    for (int i = 0; i < ROWS * COLS; i++) {
        sse += ((double)sy->w[i] - w[i]) * ((double)sy->w[i] - w[i]);
        sig += (double)sy->w[i] * sy->w[i];
    }
    /* a partial read equals the same rows of the full read */
    float part[3 * COLS];
    CHECK(nq_model_read_rows(m, t, 37, 3, part, NULL) == NQ_OK && !memcmp(part, w + 37 * COLS, sizeof part));
    const char *man = nq_novaq_manifest(m);
    const char *p = strstr(man, "\"sse\":");
    double reported = p ? atof(p + 6) : -1;
    CHECK(fabs(reported - sse) <= 1e-9 * sse); /* the manifest reports what decoding gives */
    double sqnr = 10 * log10(sig / sse);
    printf("preset %s scope %d: %zu bytes, SQNR %.2f dB\n", preset, scope_rows, a.size, sqnr);
    CHECK(sqnr > (preset[0] == '4' ? 15 : 6));
    float nv[4];
    CHECK(nq_model_read_rows(m, nq_model_find(m, "layer.norm"), 0, 1, nv, NULL) == NQ_OK);
    CHECK(nv[0] == 1 && nv[1] == 0.5f && nv[2] == 2 && nv[3] == 1.5f); /* 1-D kept exactly */
    int64_t step = 0;
    CHECK(nq_model_read_raw(m, nq_model_find(m, "step"), 0, &step, 8, NULL) == NQ_OK && step == 99);
    /* decompress to safetensors and read it back */
    nq_mem_sink st = {0};
    nq_writer sw = nq_writer_mem(&st);
    CHECK(nq_safetensors_write(m, -1, &sw, NULL) == NQ_OK);
    nq_mem_source ss = {st.buf, st.size};
    nq_model *back = NULL;
    CHECK(tu_open_st(&ss, &back, NULL) == NQ_OK);
    if (back) {
        float *w2 = malloc(ROWS * COLS * sizeof *w2);
        CHECK(nq_model_read_rows(back, 0, 0, ROWS, w2, NULL) == NQ_OK && !memcmp(w, w2, ROWS * COLS * 4));
        CHECK(!strcmp(nq_model_tensor(back, 2)->dtype_name, "I64"));
        free(w2);
        nq_model_free(back);
    }
    free(st.buf);
    free(w);
    nq_model_free(m);
    free(a.buf);
    free(b.buf);
}

static void damage(const synth *sy) {
    nq_settings set;
    nq_settings_preset(&set, "2", NULL);
    set.K[0] = set.K[1] = 256; /* 4,096-byte codebook parts: many 4,096-byte shards */
    set.shard_max_bytes = 4096;
    nq_mem_sink a = compress(sy, &set);
    collected c;
    /* a flipped byte inside shard 1 is reported as that shard */
    uint8_t *bad = malloc(a.size);
    memcpy(bad, a.buf, a.size);
    bad[16 + 4096 + 10] ^= 0x40;
    CHECK(!validate(bad, a.size, &c) && strstr(c.text, "shard 1: SHA-256 mismatch"));
    /* decoders verify too (issue 16): the first read from shard 1 fails with NQ_E_HASH naming
     * the shard and file, and nothing of it is decoded; NQ_OPEN_NO_VERIFY is the opt-out */
    {
        nq_mem_source src = {bad, a.size};
        nq_reader r = nq_reader_mem(&src, "x.novaq");
        nq_model *m = NULL;
        nq_err e = {0};
        CHECK(nq_novaq_open(&m, &r, &e) == NQ_OK);
        nq_mem_sink out = {0};
        nq_writer w = nq_writer_mem(&out);
        CHECK(m && nq_safetensors_write(m, -1, &w, &e) == NQ_E_HASH && strstr(e.msg, "x.novaq: shard 1 (bytes [") &&
              strstr(e.msg, "SHA-256 mismatch"));
        nq_model_free(m);
        free(out.buf);
        m = NULL;
        CHECK(nq_novaq_open_ex(&m, &r, NQ_OPEN_NO_VERIFY, &e) == NQ_OK);
        out = (nq_mem_sink){0};
        w = nq_writer_mem(&out);
        CHECK(m && nq_safetensors_write(m, -1, &w, NULL) == NQ_OK);
        nq_model_free(m);
        free(out.buf);
    }
    /* truncation at many points: always an error naming what is wrong, never a crash */
    for (size_t cut = 0; cut < a.size; cut += (cut < 100 || a.size - cut < 200) ? 1 : 997) {
        CHECK(!validate(a.buf, cut, &c) && c.n > 0);
        nq_mem_source src = {a.buf, cut};
        nq_reader r = nq_reader_mem(&src, "cut.novaq");
        nq_model *m = NULL;
        nq_err e = {0};
        CHECK(nq_novaq_open(&m, &r, &e) != NQ_OK && e.msg[0]);
        nq_model_free(m);
    }
    /* a manifest that is not JSON, with a matching hash so parsing is what fails */
    uint64_t moff = 0, msize = 0;
    for (int i = 0; i < 8; i++) {
        moff |= (uint64_t)a.buf[a.size - 56 + i] << (8 * i);
        msize |= (uint64_t)a.buf[a.size - 48 + i] << (8 * i);
    }
    memcpy(bad, a.buf, a.size);
    bad[moff] = '[';
    nq_sha256(bad + moff, msize, bad + a.size - 40);
    CHECK(!validate(bad, a.size, &c) && strstr(c.text, "not a valid JSON object"));
    /* a root_hash that does not match the shard hashes: nq_novaq_open refuses the file */
    {
        memcpy(bad, a.buf, a.size);
        char *root = strstr((char *)bad + moff, "\"root_hash\":\"");
        CHECK(root != NULL);
        if (root) {
            root[13] = root[13] == '0' ? '1' : '0';
            nq_sha256(bad + moff, msize, bad + a.size - 40);
            nq_mem_source src = {bad, a.size};
            nq_reader r = nq_reader_mem(&src, "x.novaq");
            nq_model *m = NULL;
            nq_err e = {0};
            CHECK(nq_novaq_open(&m, &r, &e) == NQ_E_HASH && !m && strstr(e.msg, "x.novaq: manifest: root_hash"));
            CHECK(nq_novaq_open_ex(&m, &r, NQ_OPEN_NO_VERIFY, &e) == NQ_OK);
            nq_model_free(m);
        }
    }
    /* manifest edited without fixing its hash */
    memcpy(bad, a.buf, a.size);
    bad[moff + 3] ^= 1;
    CHECK(!validate(bad, a.size, &c) && strstr(c.text, "SHA-256 of the manifest"));
    /* bad magic */
    memcpy(bad, a.buf, a.size);
    bad[0] = 'X';
    CHECK(!validate(bad, a.size, &c) && strstr(c.text, "bad magic"));
    /* every byte is covered by a check (docs/FORMAT.md, Validation): any change to any one
     * byte of the header or footer, to a byte of each shard, or to a byte of the manifest
     * is reported. The flags (header bytes 12-15) are covered by no hash: they must be 0. */
    char *man = tu_manifest_of(&a);
    size_t nshards = 0;
    for (const char *p = strstr(man, "\"shards\":["); p && (p = strstr(p, "\"index\":")); p++) nshards++;
    free(man);
    CHECK(nshards >= 3);
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    for (size_t k = 0; k < sizeof flips; k++) {
        for (size_t i = 0; i < a.size; i++) {
            int header = i < 16, footer = i >= a.size - 56, manifest = i >= moff && !footer;
            int shard = !header && i < moff;
            /* header and footer: every byte; shards: one byte each 997 (some in every shard,
             * as shards are 4,096 bytes); manifest: one byte each 101 */
            if (!header && !footer && !(shard && (i - 16) % 997 == 0) && !(manifest && (i - moff) % 101 == 0))
                continue;
            memcpy(bad, a.buf, a.size);
            bad[i] ^= flips[k];
            if (validate(bad, a.size, &c) || c.n == 0) {
                tu_failures++;
                fprintf(stderr, "byte %zu (of %zu) ^ 0x%02x not reported\n", i, a.size, flips[k]);
            }
            if (i >= 12 && i < 16) CHECK(strstr(c.text, "header: flags (bytes 12-15)") != NULL);
        }
    }
    free(bad);
    free(a.buf);
}

static void presets_bits(void) {
    const char *p[] = {"1.5", "2", "3", "4"};
    const double want[] = {1.5, 2, 3, 4};
    for (int i = 0; i < 4; i++) {
        nq_settings s;
        CHECK(nq_settings_preset(&s, p[i], NULL) == NQ_OK && nq_settings_code_bits(&s) == want[i]);
    }
    nq_settings s;
    nq_err e = {0};
    CHECK(nq_settings_preset(&s, "2.5", &e) == NQ_E_ARG && strstr(e.msg, "2.5"));
    nq_settings_preset(&s, "2", NULL);
    s.K[1] = 100;
    CHECK(nq_settings_check(&s, &e) == NQ_E_ARG && strstr(e.msg, "power of two"));
}

int main(void) {
    synth sy = make_model();
    presets_bits();
    roundtrip(&sy, "2", 0);
    roundtrip(&sy, "1.5", 32);
    roundtrip(&sy, "4", 0);
    damage(&sy);
    free(sy.file);
    free(sy.w);
    return TU_DONE();
}
