/* Hostile .novaq files (issue 16): sizes the manifest claims are checked against what the
 * stored bytes can decode to before anything is allocated, and decoding a valid file whose
 * tensors are far larger than memory allowed stays within a bounded block. Every file here
 * is well-formed apart from what it claims (right shard hashes, root hash, manifest hash),
 * so the size checks are what must catch it. Outside the sanitizer build the process runs
 * under RLIMIT_AS = 512 MiB: an allocation proportional to a claimed size fails the test
 * (NOMEM instead of the expected result), as it made validate/decompress use gigabytes. */
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include "common/format.h"
#include "io/model.h"
#include "testutil.h"
#include "common/util.h"

#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif

/* A zstd frame of `content` zero bytes made of RLE blocks (4 bytes per 128 KiB): the
 * densest frame zstd's format allows. Returns its size; out needs 13 + 4 * blocks bytes. */
static size_t rle_frame(uint64_t content, uint8_t *out) {
    size_t n = 0;
    out[n++] = 0x28; out[n++] = 0xb5; out[n++] = 0x2f; out[n++] = 0xfd;
    out[n++] = 0xe0; /* 8-byte frame content size, single segment */
    for (int i = 0; i < 8; i++) out[n++] = (uint8_t)(content >> (8 * i));
    for (uint64_t done = 0; done < content;) {
        uint32_t bs = content - done < 131072 ? (uint32_t)(content - done) : 131072;
        done += bs;
        uint32_t h = (done == content ? 1u : 0u) | (1u << 1) | (bs << 3);
        out[n++] = (uint8_t)h; out[n++] = (uint8_t)(h >> 8); out[n++] = (uint8_t)(h >> 16);
        out[n++] = 0;
    }
    return n;
}

static void hex(const uint8_t h[32], char out[65]) {
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* One shard holding `shard`, and a manifest with the given "tensors" array text. */
static uint8_t *make_novaq(const uint8_t *shard, size_t shard_size, const char *tensors, size_t *out_size) {
    uint8_t sh[32], root[32];
    char shx[65], rootx[65];
    nq_sha256(shard, shard_size, sh);
    nq_sha256(sh, 32, root);
    hex(sh, shx);
    hex(root, rootx);
    size_t mcap = strlen(tensors) + 512;
    char *man = malloc(mcap);
    int mlen = snprintf(man, mcap,
                        "{\"format\":\"novaq\",\"version\":2,\"codebooks\":[],\"tensors\":%s,"
                        "\"shards\":[{\"index\":0,\"offset\":16,\"size\":%zu,\"sha256\":\"%s\"}],\"root_hash\":\"%s\"}",
                        tensors, shard_size, shx, rootx);
    size_t total = NQ_HEADER_SIZE + shard_size + (size_t)mlen + NQ_FOOTER_SIZE;
    uint8_t *f = calloc(1, total);
    memcpy(f, NQ_MAGIC, 8);
    nq_put_u32(f + 8, NQ_FORMAT_VERSION);
    memcpy(f + NQ_HEADER_SIZE, shard, shard_size);
    uint64_t moff = NQ_HEADER_SIZE + shard_size;
    memcpy(f + moff, man, (size_t)mlen);
    uint8_t *foot = f + total - NQ_FOOTER_SIZE;
    nq_put_u64(foot, moff);
    nq_put_u64(foot + 8, (uint64_t)mlen);
    nq_sha256(man, (size_t)mlen, foot + 16);
    nq_put_u32(foot + 48, NQ_FORMAT_VERSION);
    memcpy(foot + 52, NQ_FOOTER_MAGIC, 4);
    free(man);
    *out_size = total;
    return f;
}

typedef struct problems { int n; char text[2048]; } problems;
static void collect(void *ctx, const char *where, const char *what) {
    problems *p = ctx;
    p->n++;
    size_t len = strlen(p->text);
    snprintf(p->text + len, sizeof p->text - len, "%s: %s\n", where, what);
}

static nq_status validate(const uint8_t *f, size_t n, problems *p) {
    nq_mem_source src = {f, n};
    nq_reader r = nq_reader_mem(&src, "bomb.novaq");
    memset(p, 0, sizeof *p);
    return nq_validate(&r, collect, p, NULL, NULL);
}

static nq_status open_novaq(const uint8_t *f, size_t n, nq_mem_source *src, nq_model **m, nq_err *e) {
    src->data = f;
    src->size = n;
    nq_reader r = nq_reader_mem(src, "bomb.novaq");
    return nq_novaq_open(m, &r, e);
}

/* A writer that counts bytes and nonzero bytes (the data decodes to zeros; the header is text). */
typedef struct counter { uint64_t n, nonzero; } counter;
static int count_write(void *ctx, const void *src, size_t len) {
    counter *c = ctx;
    const uint8_t *p = src;
    for (size_t i = 0; i < len; i++) c->nonzero += p[i] != 0;
    c->n += len;
    return 0;
}

/* The reported bomb: one raw F16 tensor of 2^29 elements whose single zstd part is a 32 KiB
 * frame of 1 GiB. The part's raw_size exceeds the reader's part limit: refused on sight. */
static void one_huge_part(void) {
    uint64_t raw = 1ull << 30;
    uint8_t *frame = malloc(13 + 4 * (raw >> 17));
    size_t fs = rle_frame(raw, frame);
    char tensors[512];
    snprintf(tensors, sizeof tensors,
             "[{\"name\":\"big\",\"shape\":[%llu],\"dtype\":\"F16\",\"method\":\"raw\",\"parts\":[{\"kind\":\"raw\","
             "\"a\":0,\"b\":%llu,\"shard\":0,\"offset\":0,\"size\":%zu,\"codec\":\"zstd\",\"raw_size\":%llu}]}]",
             (unsigned long long)(raw / 2), (unsigned long long)raw, fs, (unsigned long long)raw);
    size_t n;
    uint8_t *f = make_novaq(frame, fs, tensors, &n);
    printf("one-part bomb: %zu bytes claiming %llu\n", n, (unsigned long long)raw);
    problems p;
    CHECK(validate(f, n, &p) != NQ_OK && strstr(p.text, "tensor 0 'big' part 0: raw_size 1073741824") &&
          strstr(p.text, "part limit"));
    nq_mem_source src;
    nq_model *m = NULL;
    nq_err e = {0};
    CHECK(open_novaq(f, n, &src, &m, &e) != NQ_OK && !m && strstr(e.msg, "bomb.novaq") && strstr(e.msg, "part limit"));
    free(f);
    free(frame);
}

/* A few-hundred-byte file whose tiny stored part claims far more than zstd can produce from
 * it (the old validator asked malloc for the claimed size, 8 GiB in the review's 564-byte
 * file; that one is also over the part limit); raw (codec none) parts must match exactly. */
static void ratio_and_raw_claims(void) {
    uint8_t frame[64];
    size_t fs = rle_frame(1000, frame);
    char tensors[1024];
    snprintf(tensors, sizeof tensors,
             "[{\"name\":\"z\",\"shape\":[1000000],\"dtype\":\"U8\",\"method\":\"raw\",\"parts\":[{\"kind\":\"raw\","
             "\"a\":0,\"b\":1000000,\"shard\":0,\"offset\":0,\"size\":%zu,\"codec\":\"zstd\",\"raw_size\":1000000}]},"
             "{\"name\":\"r\",\"shape\":[1000],\"dtype\":\"U8\",\"method\":\"raw\",\"parts\":[{\"kind\":\"raw\","
             "\"a\":0,\"b\":1000,\"shard\":0,\"offset\":0,\"size\":%zu,\"codec\":\"none\",\"raw_size\":1000}]}]",
             fs, fs);
    size_t n;
    uint8_t *f = make_novaq(frame, fs, tensors, &n);
    problems p;
    char want1[128], want2[128];
    snprintf(want1, sizeof want1, "tensor 0 'z' part 0: raw_size 1000000 cannot come from a %zu-byte zstd frame", fs);
    snprintf(want2, sizeof want2, "tensor 1 'r' part 0: uncompressed part: raw_size 1000 != size %zu", fs);
    CHECK(validate(f, n, &p) != NQ_OK && strstr(p.text, want1) && strstr(p.text, want2));
    if (!strstr(p.text, want1)) fprintf(stderr, "%s", p.text);
    nq_mem_source src;
    nq_model *m = NULL;
    CHECK(open_novaq(f, n, &src, &m, NULL) != NQ_OK && !m);
    free(f);
    /* the frame's own content size must equal raw_size before any output is allocated */
    snprintf(tensors, sizeof tensors,
             "[{\"name\":\"z\",\"shape\":[2000],\"dtype\":\"U8\",\"method\":\"raw\",\"parts\":[{\"kind\":\"raw\","
             "\"a\":0,\"b\":2000,\"shard\":0,\"offset\":0,\"size\":%zu,\"codec\":\"zstd\",\"raw_size\":2000}]}]", fs);
    f = make_novaq(frame, fs, tensors, &n);
    CHECK(validate(f, n, &p) != NQ_OK && strstr(p.text, "does not decompress to 2000 bytes"));
    free(f);
}

/* A valid file that decodes to about the RLIMIT_AS: one raw F16 tensor of 2^27 elements
 * (256 MiB) in 4 parts of 64 MiB, each a 8 KiB zstd frame. Validation and decompression
 * (safetensors writer: one row of 2^27 values, 1 GiB as f32 + output buffers before the
 * fix) must succeed within a bounded block. */
static void valid_but_huge(void) {
    enum { NPARTS = 4 };
    uint64_t part = NQ_MAX_PART_RAW, raw = part * NPARTS;
    size_t per = 13 + 4 * (size_t)(part >> 17);
    uint8_t *shard = malloc(per * NPARTS);
    char *tensors = malloc(4096), *t = tensors;
    t += sprintf(t, "[{\"name\":\"wide\",\"shape\":[%llu],\"dtype\":\"F16\",\"method\":\"raw\",\"parts\":[",
                 (unsigned long long)(raw / 2));
    for (int i = 0; i < NPARTS; i++) {
        size_t fs = rle_frame(part, shard + per * i);
        CHECK(fs == per);
        t += sprintf(t, "%s{\"kind\":\"raw\",\"a\":%llu,\"b\":%llu,\"shard\":0,\"offset\":%zu,\"size\":%zu,"
                        "\"codec\":\"zstd\",\"raw_size\":%llu}",
                     i ? "," : "", (unsigned long long)(part * i), (unsigned long long)(part * (i + 1)), per * i, per,
                     (unsigned long long)part);
    }
    sprintf(t, "]}]");
    size_t n;
    uint8_t *f = make_novaq(shard, per * NPARTS, tensors, &n);
    printf("valid 2^27-element file: %zu bytes\n", n);
    problems p;
    CHECK(validate(f, n, &p) == NQ_OK);
    if (p.n) fprintf(stderr, "%s", p.text);
    nq_mem_source src;
    nq_model *m = NULL;
    nq_err e = {0};
    CHECK(open_novaq(f, n, &src, &m, &e) == NQ_OK);
    if (m) {
        counter c = {0, 0};
        nq_writer w = {&c, count_write};
        nq_status st = nq_safetensors_write(m, -1, &w, &e);
        if (st) fprintf(stderr, "%s\n", e.msg);
        CHECK(st == NQ_OK && c.n > raw && c.n < raw + 4096); /* header + 512 MiB of f16 zeros */
        CHECK(c.nonzero < 4096);
        nq_model_free(m);
    }
    free(f);
    free(shard);
    free(tensors);
}

/* A vq tensor whose rows are wider than the decoder's limit (one row of 2^26 columns, codes
 * of 1 bit per 64 columns: a 1 MiB file whose decode needed gigabytes): refused at open. */
static void vq_too_wide(void) {
    int64_t cols = 1 << 26;
    size_t code_bytes = (size_t)(cols / 64 / 8), cb = 2 * 64 * 2;
    size_t size = 8 + cb + 1 + code_bytes;
    uint8_t *shard = calloc(1, size);
    float g = 1.0f;
    memcpy(shard, &g, 4);
    char tensors[1024];
    snprintf(tensors, sizeof tensors,
             "[{\"name\":\"wide.weight\",\"shape\":[1,%lld],\"dtype\":\"F16\",\"method\":\"vq\","
             "\"vq\":{\"d\":64,\"K\":[2],\"scope_rows\":1,\"row_mean\":false},\"parts\":["
             "{\"kind\":\"norm\",\"shard\":0,\"offset\":0,\"size\":8,\"codec\":\"none\",\"raw_size\":8},"
             "{\"kind\":\"codebook\",\"a\":0,\"b\":0,\"shard\":0,\"offset\":8,\"size\":%zu,\"codec\":\"none\",\"raw_size\":%zu},"
             "{\"kind\":\"codes\",\"a\":0,\"b\":1,\"shard\":0,\"offset\":%zu,\"size\":%zu,\"codec\":\"none\",\"raw_size\":%zu}]}]",
             (long long)cols, cb, cb, 8 + cb, 1 + code_bytes, 1 + code_bytes);
    size_t n;
    uint8_t *f = make_novaq(shard, size, tensors, &n);
    problems p;
    CHECK(validate(f, n, &p) != NQ_OK && strstr(p.text, "67108864 columns per row"));
    nq_mem_source src;
    nq_model *m = NULL;
    nq_err e = {0};
    CHECK(open_novaq(f, n, &src, &m, &e) != NQ_OK && strstr(e.msg, "wide.weight") && strstr(e.msg, "columns per row"));
    free(f);
    free(shard);
}

/* The encoder never writes what the reader refuses: shards are capped at NQ_MAX_SHARD, and
 * tensors wider than NQ_MAX_VQ_COLS are stored raw. */
static void encoder_matches_reader(void) {
    nq_settings s;
    nq_err e = {0};
    CHECK(nq_settings_preset(&s, "2", NULL) == NQ_OK);
    s.shard_max_bytes = NQ_MAX_SHARD;
    CHECK(nq_settings_check(&s, &e) == NQ_OK);
    s.shard_max_bytes = NQ_MAX_SHARD + 1;
    CHECK(nq_settings_check(&s, &e) == NQ_E_ARG && strstr(e.msg, "shard size"));
    s.shard_max_bytes = 1900000;
    nq_model *m = nq_model_alloc("test", 1, NULL, 0);
    CHECK(m != NULL);
    if (!m) return;
    nq_tensor_info *ti = &m->tensors[0];
    ti->name = nq_strdup("layer.weight");
    ti->dtype = NQ_DT_F32;
    ti->ndim = 2;
    ti->shape[0] = 2;
    ti->shape[1] = NQ_MAX_VQ_COLS;
    nq_tensor_info_finish(ti);
    CHECK(nq_should_quantize(m, 0, &s));
    ti->shape[1] = NQ_MAX_VQ_COLS + 1;
    nq_tensor_info_finish(ti);
    CHECK(!nq_should_quantize(m, 0, &s));
    nq_model_free(m);
}

int main(void) {
#ifndef TU_ASAN
    struct rlimit rl = {512u << 20, 512u << 20};
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
#endif
    encoder_matches_reader();
    one_huge_part();
    ratio_and_raw_claims();
    vq_too_wide();
    valid_but_huge();
    return TU_DONE();
}
