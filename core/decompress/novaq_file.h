/* novaq_file.h - internal: a .novaq file as the reader holds it (decompress/): the frame and
 * manifest parsed and checked (frame.c), the decoder that serves its rows as an nq_model
 * (decode.c), and open/validate (validate.c) on top of both.
 *
 * One parser serves open and validate: it reports every problem it finds through a reporter
 * and keeps going where it safely can. nq_novaq_open fails on the first problem; nq_validate
 * collects them all and also hashes every shard and decompresses every part. No length read
 * from the file is used before it is checked against the file and the manifest. */
#ifndef NQ_NOVAQ_FILE_H
#define NQ_NOVAQ_FILE_H
#include "common/format.h"
#include "io/model.h"

typedef struct nv_part {
    int kind, codec, shard;
    int64_t a, b;
    uint64_t off, size, raw_size; /* off: absolute file offset */
} nv_part;

typedef struct nv_tensor {
    int vq;
    int d, nstages, K[NQ_MAX_STAGES], bits[NQ_MAX_STAGES];
    int64_t scope_rows, ngroups;
    size_t code_bytes;
    int has_mean;       /* CODES parts carry f16 row means */
    int rotated;        /* rows live in Hadamard-rotated coordinates */
    uint64_t rot_seed;
    int set;            /* model-wide codebook set used, -1: the tensor's own codebooks */
    int nparts, norm_part;
    nv_part *parts;
} nv_tensor;

/* A model-wide codebook set ("codebooks" in the manifest): one part per stage. */
typedef struct nv_set {
    int d, nstages, K[NQ_MAX_STAGES];
    nv_part parts[NQ_MAX_STAGES];
} nv_set;

typedef struct nv_shard { uint64_t off, size; uint8_t sha[32]; } nv_shard;

typedef struct nv_file {
    /* Shard verification (nq_novaq_open without NQ_OPEN_NO_VERIFY): the first read from a
     * shard reads the whole shard into cache while hashing it, in bounded blocks, and fails
     * with NQ_E_HASH on a mismatch; parts of the cached shard are served from it (one read
     * of those bytes), parts of shards verified earlier are read from the file. The decoder
     * is single-threaded: reads through one model must not run concurrently. */
    int verify;
    uint8_t *verified;  /* per shard: 1 once its SHA-256 matched */
    int cache_shard;    /* shard held in cache, -1: none */
    uint8_t *cache;
    /* The raw or codes part decoded last (at most NQ_MAX_PART_RAW bytes), so reading a
     * tensor in blocks of bytes or rows decodes each of its parts once. */
    const nv_part *raw_part;
    uint8_t *raw_buf;
    char *manifest;
    uint64_t manifest_off, manifest_size;
    uint8_t root[32];
    int nshards;
    nv_shard *shards;
    nv_tensor *t; /* parallel to the model's tensors */
    int nsets;
    nv_set *sets;
} nv_file;

typedef struct reporter {
    nq_problem_fn fn;
    void *ctx;
    int count;
} reporter;

/* raw_size <= NQ_ZSTD_MAX_RATIO * size, without overflow (raw_size < 2^53, num_u64). */
static inline int nv_zstd_can_hold(const nv_part *p) {
    return p->size >= (p->raw_size + NQ_ZSTD_MAX_RATIO - 1) / NQ_ZSTD_MAX_RATIO;
}

/* Counts problems and passes each to fn (may be NULL). */
void nv_report(reporter *r, const char *where, const char *fmt, ...);
void nv_free(void *nv_file_p); /* the nq_model_ops free_impl of a .novaq model */

/* frame.c: header, footer and manifest bytes (f->manifest), then the manifest's schema into
 * m's tensor table and f. NQ_E_HASH from nv_read_frame: the manifest's SHA-256 is wrong (the
 * manifest is still parsed, so validate can say more). */
nq_status nv_read_frame(const nq_reader *r, nv_file *f, reporter *rep);
void nv_parse_manifest(const char *text, size_t len, nq_model *m, nv_file *f, reporter *rep);

/* decode.c: the decoder. nv_load_part gives a malloc'd copy of a part's raw bytes (after
 * zstd), checked against its declared sizes; where names it in errors. */
extern const nq_model_ops nv_ops;
nq_status nv_load_part(const nq_model *m, const nv_part *p, uint8_t **out, const char *where, nq_err *e);
static inline const nv_file *nv_of(const nq_model *m) { return m->impl; }
#endif
