/* novaq_read.c - reading a .novaq file: structural checks, manifest schema, the decoder
 * (an nq_model backend that rebuilds f32 rows on demand) and the full validator.
 *
 * One parser serves both: it reports every problem it finds through a callback and keeps
 * going where it safely can. nq_novaq_open fails on the first problem; nq_validate
 * collects them all and also hashes every shard and decompresses every part. No length
 * read from the file is used before it is checked against the file and the manifest. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <zstd.h>
#include "common/format.h"
#include "io/model.h"
#include "common/layout.h"
#include "common/util.h"

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

static void report(reporter *r, const char *where, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->count++;
    if (r->fn) r->fn(r->ctx, where, msg);
}

static void nv_free(void *p) {
    nv_file *f = p;
    if (!f) return;
    free(f->manifest);
    free(f->verified);
    free(f->cache);
    free(f->raw_buf);
    free(f->shards);
    free(f->sets);
    free(f->t); /* parts live in one block after the tensors */
    free(f);
}

/* ------------------------------------------------------------ JSON helpers */

#define JSON_MAX_INT 9007199254740992LL /* 2^53: larger JSON numbers are not exact */

/* o[key] as an integer in [0, 2^53]; 0 if missing, not a number, fractional or out of range. */
static int num_u64(const cJSON *o, const char *key, uint64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t x;
    if (!cJSON_IsNumber(v) || !nq_f64_to_i64(v->valuedouble, 0, JSON_MAX_INT, &x)) return 0;
    *out = (uint64_t)x;
    return 1;
}

/* The codebook size K[i] of a 'vq' description or codebook set (a power of two in
 * 2..65536) and its bits; 0 after reporting what is wrong with it at `where`. */
static int codebook_size(const cJSON *k, const char *field, int i, const char *where, reporter *rep,
                         int *K, int *bits) {
    int64_t v = 0;
    int b = 0;
    if (cJSON_IsNumber(k) && nq_f64_to_i64(k->valuedouble, 2, 65536, &v))
        while ((1 << b) < v) b++;
    if (v < 2 || (1 << b) != v) {
        if (cJSON_IsNumber(k))
            report(rep, where, "%s[%d] = %.15g: a codebook size must be an integer power of two in 2..65536",
                   field, i, k->valuedouble);
        else
            report(rep, where, "%s[%d] is not a number: a codebook size must be an integer power of two in "
                   "2..65536", field, i);
        return 0;
    }
    *K = (int)v;
    *bits = b;
    return 1;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ------------------------------------------------------- header and footer */

static nq_status read_frame(const nq_reader *r, nv_file *f, reporter *rep) {
    const char *name = r->name ? r->name : "novaq";
    uint8_t hdr[NQ_HEADER_SIZE], foot[NQ_FOOTER_SIZE];
    if (r->size < NQ_HEADER_SIZE + NQ_FOOTER_SIZE) {
        report(rep, name, "file is %llu bytes, too short for a .novaq (header + footer = %d)",
               (unsigned long long)r->size, NQ_HEADER_SIZE + NQ_FOOTER_SIZE);
        return NQ_E_FORMAT;
    }
    if (r->read(r->ctx, 0, hdr, sizeof hdr) || r->read(r->ctx, r->size - NQ_FOOTER_SIZE, foot, sizeof foot)) {
        report(rep, name, "cannot read header or footer");
        return NQ_E_IO;
    }
    if (memcmp(hdr, NQ_MAGIC, 8)) { report(rep, "header", "bad magic: not a .novaq file"); return NQ_E_FORMAT; }
    if (nq_get_u32(hdr + 8) != NQ_FORMAT_VERSION) {
        report(rep, "header", "format version %u is not supported (this build reads %d)", nq_get_u32(hdr + 8),
               NQ_FORMAT_VERSION);
        return NQ_E_UNSUPPORTED;
    }
    /* No flag is defined in version 2 and the writer stores 0. The flags are covered by no
     * hash, so any other value is rejected: otherwise they could be changed and the file
     * would still validate (every byte of a file must be checked by something). */
    if (nq_get_u32(hdr + 12) != 0) {
        report(rep, "header", "flags (bytes 12-15) are 0x%08x; version %d defines none, they must be 0",
               (unsigned)nq_get_u32(hdr + 12), NQ_FORMAT_VERSION);
        return NQ_E_FORMAT;
    }
    if (memcmp(foot + 52, NQ_FOOTER_MAGIC, 4) || nq_get_u32(foot + 48) != NQ_FORMAT_VERSION) {
        report(rep, "footer", "bad footer magic or version at byte %llu (file truncated or appended to?)",
               (unsigned long long)(r->size - NQ_FOOTER_SIZE));
        return NQ_E_FORMAT;
    }
    f->manifest_off = nq_get_u64(foot);
    f->manifest_size = nq_get_u64(foot + 8);
    uint64_t end = r->size - NQ_FOOTER_SIZE;
    if (f->manifest_off < NQ_HEADER_SIZE || f->manifest_off > end || f->manifest_size != end - f->manifest_off ||
        f->manifest_size > NQ_MAX_MANIFEST) {
        report(rep, "footer", "manifest at offset %llu, %llu bytes, does not end where the footer begins (%llu)",
               (unsigned long long)f->manifest_off, (unsigned long long)f->manifest_size, (unsigned long long)end);
        return NQ_E_FORMAT;
    }
    f->manifest = malloc(f->manifest_size + 1);
    if (!f->manifest) { report(rep, "manifest", "out of memory"); return NQ_E_NOMEM; }
    if (r->read(r->ctx, f->manifest_off, f->manifest, f->manifest_size)) {
        report(rep, "manifest", "cannot read %llu bytes at offset %llu", (unsigned long long)f->manifest_size,
               (unsigned long long)f->manifest_off);
        return NQ_E_IO;
    }
    f->manifest[f->manifest_size] = 0;
    uint8_t h[32];
    nq_sha256(f->manifest, f->manifest_size, h);
    if (memcmp(h, foot + 16, 32)) {
        report(rep, "manifest", "SHA-256 of the manifest does not match the footer");
        return NQ_E_HASH;
    }
    return NQ_OK;
}

/* ------------------------------------------------------------------ shards */

static void parse_shards(const cJSON *root, nv_file *f, reporter *rep) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "shards");
    if (!cJSON_IsArray(arr)) { report(rep, "manifest", "missing array 'shards'"); return; }
    int n = cJSON_GetArraySize(arr);
    f->shards = calloc(n ? (size_t)n : 1, sizeof *f->shards);
    if (!f->shards) { report(rep, "manifest", "out of memory"); return; }
    uint64_t expect = NQ_HEADER_SIZE;
    int i = 0;
    for (const cJSON *s = arr->child; s; s = s->next, i++) {
        char where[32];
        snprintf(where, sizeof where, "shard %d", i);
        nv_shard *sh = &f->shards[i];
        uint64_t idx;
        if (!num_u64(s, "index", &idx) || idx != (uint64_t)i) report(rep, where, "'index' must be %d", i);
        if (!num_u64(s, "offset", &sh->off) || !num_u64(s, "size", &sh->size) || sh->size == 0)
            report(rep, where, "missing or invalid 'offset'/'size'");
        else if (sh->off != expect)
            report(rep, where, "starts at byte %llu, expected %llu (shards must be contiguous)",
                   (unsigned long long)sh->off, (unsigned long long)expect);
        else if (sh->size > f->manifest_off - sh->off)
            report(rep, where, "[%llu, +%llu) runs into the manifest at %llu", (unsigned long long)sh->off,
                   (unsigned long long)sh->size, (unsigned long long)f->manifest_off);
        else if (sh->size > NQ_MAX_SHARD)
            report(rep, where, "at byte %llu is %llu bytes, more than the reader's limit of %u",
                   (unsigned long long)sh->off, (unsigned long long)sh->size, NQ_MAX_SHARD);
        if (!nq_hex_parse(str(s, "sha256"), sh->sha, 32)) report(rep, where, "'sha256' is not 64 lowercase hex digits");
        expect = sh->off + sh->size;
    }
    f->nshards = n;
    if (expect != f->manifest_off)
        report(rep, "shards", "end at byte %llu but the manifest starts at %llu", (unsigned long long)expect,
               (unsigned long long)f->manifest_off);
}

/* ----------------------------------------------------------------- tensors */

static int kind_from_name(const char *s) {
    for (int k = 0; s && k < NQ_PART_KIND_COUNT; k++)
        if (!strcmp(s, nq_part_kind_names[k])) return k;
    return -1;
}

/* raw_size <= NQ_ZSTD_MAX_RATIO * size, without overflow (raw_size < 2^53, num_u64). */
static int zstd_can_hold(const nv_part *p) {
    return p->size >= (p->raw_size + NQ_ZSTD_MAX_RATIO - 1) / NQ_ZSTD_MAX_RATIO;
}

static void parse_part(const cJSON *p, const nv_file *f, nv_part *out, const char *where, reporter *rep) {
    memset(out, 0, sizeof *out);
    out->kind = kind_from_name(str(p, "kind"));
    if (out->kind == NQ_PART_SHARED) out->kind = -1; /* an in-memory kind, never in a file */
    const char *codec = str(p, "codec");
    out->codec = codec && !strcmp(codec, "zstd") ? NQ_CODEC_ZSTD : codec && !strcmp(codec, "none") ? NQ_CODEC_NONE : -1;
    uint64_t shard, off, a = 0, b = 0;
    if (out->kind < 0) report(rep, where, "unknown part kind '%s'", str(p, "kind") ? str(p, "kind") : "(none)");
    if (out->codec < 0) report(rep, where, "unknown codec '%s'", codec ? codec : "(none)");
    if (!num_u64(p, "shard", &shard) || !num_u64(p, "offset", &off) || !num_u64(p, "size", &out->size) ||
        !num_u64(p, "raw_size", &out->raw_size)) {
        report(rep, where, "missing or invalid shard/offset/size/raw_size");
        out->kind = -1;
        return;
    }
    if (out->kind != NQ_PART_NORM && (!num_u64(p, "a", &a) || !num_u64(p, "b", &b))) {
        report(rep, where, "missing or invalid range 'a'/'b'");
        out->kind = -1;
    }
    out->a = (int64_t)a;
    out->b = (int64_t)b;
    if (shard >= (uint64_t)f->nshards || off > f->shards[shard].size || out->size > f->shards[shard].size - off) {
        report(rep, where, "bytes [%llu, +%llu) of shard %llu are outside the shard", (unsigned long long)off,
               (unsigned long long)out->size, (unsigned long long)shard);
        out->kind = -1;
        return;
    }
    out->shard = (int)shard;
    out->off = f->shards[shard].off + off;
    if (out->codec == NQ_CODEC_NONE && out->raw_size != out->size)
        report(rep, where, "uncompressed part: raw_size %llu != size %llu", (unsigned long long)out->raw_size,
               (unsigned long long)out->size);
    /* Claimed sizes are checked against what the stored bytes can decode to before anything
     * is allocated (docs/FORMAT.md "Bounds"); a norm part's bound follows from cols (check_vq). */
    if (out->kind != NQ_PART_NORM && out->raw_size > NQ_MAX_PART_RAW) {
        report(rep, where, "raw_size %llu (at byte %llu) exceeds the reader's part limit of %u bytes",
               (unsigned long long)out->raw_size, (unsigned long long)out->off, NQ_MAX_PART_RAW);
        out->kind = -1;
    } else if (out->codec == NQ_CODEC_ZSTD && !zstd_can_hold(out)) {
        report(rep, where, "raw_size %llu cannot come from a %llu-byte zstd frame at byte %llu (at most %u x)",
               (unsigned long long)out->raw_size, (unsigned long long)out->size, (unsigned long long)out->off,
               NQ_ZSTD_MAX_RATIO);
        out->kind = -1;
    } else if (out->codec == NQ_CODEC_NONE && out->raw_size != out->size) {
        out->kind = -1; /* reported above */
    }
}

static int parse_shape(const cJSON *o, nq_tensor_info *ti) {
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shape");
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > NQ_MAX_DIMS) return 0;
    ti->ndim = 0;
    uint64_t count = 1;
    for (const cJSON *d = sh->child; d; d = d->next) {
        int64_t v;
        if (!cJSON_IsNumber(d) || !nq_f64_to_i64(d->valuedouble, 0, 1ll << 40, &v)) return 0;
        uint64_t x = (uint64_t)v;
        if (x && count > (1ull << 50) / x) return 0;
        count *= x;
        ti->shape[ti->ndim++] = (int64_t)x;
    }
    nq_tensor_info_finish(ti);
    return 1;
}

/* Checks that the vq description and the parts agree: one norm part, a codebook per
 * (group, stage) of the right size, codes covering every row once, in order. */
static void check_vq(const cJSON *o, const nq_tensor_info *ti, nv_tensor *vt, const nv_file *f, const char *where,
                     reporter *rep) {
    const cJSON *vq = cJSON_GetObjectItemCaseSensitive(o, "vq");
    const cJSON *K = cJSON_GetObjectItemCaseSensitive(vq, "K");
    uint64_t d, scope;
    if (!num_u64(vq, "d", &d) || d < 1 || d > 64 || !cJSON_IsArray(K) || cJSON_GetArraySize(K) < 1 ||
        cJSON_GetArraySize(K) > NQ_MAX_STAGES || !num_u64(vq, "scope_rows", &scope) || scope < 1) {
        report(rep, where, "invalid 'vq' description (d, K, scope_rows)");
        vt->vq = -1;
        return;
    }
    vt->d = (int)d;
    vt->scope_rows = (int64_t)scope;
    vt->nstages = 0;
    for (const cJSON *k = K->child; k; k = k->next, vt->nstages++) {
        if (!codebook_size(k, "vq.K", vt->nstages, where, rep, &vt->K[vt->nstages], &vt->bits[vt->nstages])) {
            vt->vq = -1;
            return;
        }
    }
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(vq, "row_mean");
    if (!cJSON_IsBool(rm)) { report(rep, where, "'vq' lacks boolean 'row_mean'"); vt->vq = -1; return; }
    vt->has_mean = cJSON_IsTrue(rm);
    const cJSON *rot = cJSON_GetObjectItemCaseSensitive(vq, "rotation");
    vt->rotated = rot != NULL;
    if (rot) {
        const char *kind = str(rot, "kind"), *seed = str(rot, "seed");
        uint64_t block;
        char *end = NULL;
        vt->rot_seed = seed ? strtoull(seed, &end, 10) : 0;
        if (!kind || strcmp(kind, "hadamard") || !num_u64(rot, "block", &block) || block < 2 ||
            block != (uint64_t)nq_rot_block(ti->cols) || !seed || !seed[0] || *end) {
            report(rep, where, "invalid 'rotation' (kind hadamard, block %lld for %lld columns, decimal seed)",
                   (long long)nq_rot_block(ti->cols), (long long)ti->cols);
            vt->vq = -1;
            return;
        }
    }
    vt->set = -1;
    if (cJSON_GetObjectItemCaseSensitive(vq, "codebook_set")) {
        uint64_t set;
        if (!num_u64(vq, "codebook_set", &set) || set >= (uint64_t)f->nsets) {
            report(rep, where, "'codebook_set' names no entry of 'codebooks'");
            vt->vq = -1;
            return;
        }
        const nv_set *cs = &f->sets[set];
        if (cs->d != vt->d || vt->nstages > cs->nstages || memcmp(cs->K, vt->K, (size_t)vt->nstages * sizeof *cs->K) ||
            (ti->rows && scope != (uint64_t)ti->rows)) {
            report(rep, where, "codebook set %llu does not begin with the tensor's stages (d, K) or the tensor is split in groups",
                   (unsigned long long)set);
            vt->vq = -1;
            return;
        }
        vt->set = (int)set;
    }
    if (ti->cols > NQ_MAX_VQ_COLS) {
        report(rep, where, "%lld columns per row: more than the decoder's limit of %d", (long long)ti->cols,
               NQ_MAX_VQ_COLS);
        vt->vq = -1;
        return;
    }
    int64_t nvec = (ti->cols + vt->d - 1) / vt->d;
    vt->code_bytes = nq_codes_row_bytes(nvec, vt->bits, vt->nstages);
    vt->ngroups = (ti->rows + vt->scope_rows - 1) / vt->scope_rows;
    int64_t next_row = 0, ncb = 0;
    vt->norm_part = -1;
    for (int i = 0; i < vt->nparts; i++) {
        const nv_part *p = &vt->parts[i];
        if (p->kind == NQ_PART_NORM) {
            if (vt->norm_part >= 0) report(rep, where, "more than one norm part");
            if (p->raw_size > 8 + 6 * (uint64_t)ti->cols) { /* f32 g | u32 n | n x (u32 + f16), n <= cols */
                report(rep, where, "norm part %d: raw_size %llu exceeds 8 + 6 x %lld columns", i,
                       (unsigned long long)p->raw_size, (long long)ti->cols);
                vt->vq = -1;
            }
            vt->norm_part = i;
        } else if (p->kind == NQ_PART_CODEBOOK) {
            if (p->a < 0 || p->a >= vt->ngroups || p->b < 0 || p->b >= vt->nstages ||
                p->raw_size != (uint64_t)vt->K[p->b] * vt->d * 2)
                report(rep, where, "codebook part %d (group %lld, stage %lld) has a wrong index or size", i,
                       (long long)p->a, (long long)p->b);
            ncb++;
        } else if (p->kind == NQ_PART_CODES) {
            if (p->a != next_row || p->b <= p->a || p->b > ti->rows ||
                p->a / vt->scope_rows != (p->b - 1) / vt->scope_rows ||
                p->raw_size != nq_codes_layout_of(vt->has_mean, p->b - p->a, vt->code_bytes).size)
                report(rep, where, "codes part %d (rows %lld..%lld) is out of order, crosses a group or has the wrong size",
                       i, (long long)p->a, (long long)p->b);
            next_row = p->b;
        } else {
            report(rep, where, "%s part in a vq tensor", nq_part_kind_names[p->kind]);
        }
    }
    if (vt->norm_part < 0) report(rep, where, "missing norm part");
    if (next_row != ti->rows) report(rep, where, "codes cover rows 0..%lld of %lld", (long long)next_row, (long long)ti->rows);
    int64_t want = vt->set >= 0 ? 0 : vt->ngroups * vt->nstages;
    if (ncb != want) report(rep, where, "%lld codebook parts, expected %lld", (long long)ncb, (long long)want);
}

static void check_raw(const nq_tensor_info *ti, nv_tensor *vt, const char *where, reporter *rep) {
    uint64_t next = 0;
    for (int i = 0; i < vt->nparts; i++) {
        const nv_part *p = &vt->parts[i];
        if (p->kind != NQ_PART_RAW || (uint64_t)p->a != next || p->b <= p->a ||
            p->raw_size != (uint64_t)(p->b - p->a))
            report(rep, where, "raw part %d is out of order or has the wrong size", i);
        next = (uint64_t)p->b;
    }
    if (next != ti->nbytes)
        report(rep, where, "raw parts hold %llu bytes, the tensor has %llu", (unsigned long long)next,
               (unsigned long long)ti->nbytes);
}

static void parse_tensor(const cJSON *o, int i, nq_tensor_info *ti, nv_tensor *vt, nv_part **pool,
                         const nv_file *f, reporter *rep) {
    char where[300];
    const char *name = str(o, "name"), *dtype = str(o, "dtype"), *method = str(o, "method");
    snprintf(where, sizeof where, "tensor %d '%.200s'", i, name ? name : "?");
    ti->name = nq_strdup(name ? name : "");
    if (!name || !name[0]) report(rep, where, "missing 'name'");
    if (!parse_shape(o, ti)) report(rep, where, "invalid 'shape'");
    int dt = dtype ? nq_dtype_from_name(dtype) : -1;
    if (dt < 0 && dtype && !strcmp(dtype, "Q8_0")) dt = NQ_DT_Q8_0; /* GGUF block type source */
    ti->dtype = dt >= 0 ? (nq_dtype)dt : NQ_DT_OTHER;
    snprintf(ti->dtype_name, sizeof ti->dtype_name, "%s", dtype ? dtype : "?");
    if (!dtype || strlen(dtype) >= sizeof ti->dtype_name) report(rep, where, "invalid 'dtype'");
    uint64_t offset = 0, count = (uint64_t)ti->rows * (uint64_t)ti->cols;
    num_u64(o, "offset", &offset);
    ti->offset = offset;
    ti->nbytes = count * nq_dtype_size(ti->dtype);
    vt->vq = method && !strcmp(method, "vq") ? 1 : method && !strcmp(method, "raw") ? 0 : -1;
    if (vt->vq < 0) report(rep, where, "unknown method '%s'", method ? method : "(none)");
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(o, "parts");
    if (!cJSON_IsArray(parts)) { report(rep, where, "missing array 'parts'"); vt->vq = -1; return; }
    vt->parts = *pool;
    vt->nparts = cJSON_GetArraySize(parts);
    *pool += vt->nparts;
    int k = 0;
    for (const cJSON *p = parts->child; p; p = p->next, k++) {
        char pw[340];
        snprintf(pw, sizeof pw, "%s part %d", where, k);
        parse_part(p, f, &vt->parts[k], pw, rep);
        if (vt->parts[k].kind < 0) vt->vq = -1;
    }
    if (vt->vq == 1) {
        if (!nq_dtype_is_float(ti->dtype)) {
            report(rep, where, "vq tensor with non-float dtype %s", ti->dtype_name);
            vt->vq = -1;
        } else {
            check_vq(o, ti, vt, f, where, rep);
        }
    } else if (vt->vq == 0) {
        if (nq_dtype_size(ti->dtype) == 0) { /* block or unknown element size: trust the parts' total */
            ti->nbytes = 0;
            for (int j = 0; j < vt->nparts; j++) ti->nbytes += vt->parts[j].raw_size;
        }
        check_raw(ti, vt, where, rep);
    }
}

static int name_dup(const nq_model *m, int upto, const char *name) {
    for (int i = 0; i < upto; i++)
        if (!strcmp(m->tensors[i].name, name)) return 1;
    return 0;
}

/* "codebooks": model-wide sets, each {"index", "d", "K", "parts": one codebook part per
 * stage, a = set index, b = stage, raw_size = K_b * d * 2}. */
static void parse_sets(const cJSON *root, nv_file *f, reporter *rep) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "codebooks");
    if (!cJSON_IsArray(arr)) { report(rep, "manifest", "missing array 'codebooks'"); return; }
    int n = cJSON_GetArraySize(arr), i = 0;
    f->sets = calloc(n ? (size_t)n : 1, sizeof *f->sets);
    if (!f->sets) { report(rep, "manifest", "out of memory"); return; }
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char where[64];
        snprintf(where, sizeof where, "codebook set %d", i);
        nv_set *cs = &f->sets[i];
        const cJSON *K = cJSON_GetObjectItemCaseSensitive(o, "K"), *parts = cJSON_GetObjectItemCaseSensitive(o, "parts");
        uint64_t idx, d;
        if (!num_u64(o, "index", &idx) || idx != (uint64_t)i || !num_u64(o, "d", &d) || d < 1 || d > 64 ||
            !cJSON_IsArray(K) || cJSON_GetArraySize(K) < 1 || cJSON_GetArraySize(K) > NQ_MAX_STAGES ||
            !cJSON_IsArray(parts) || cJSON_GetArraySize(parts) != cJSON_GetArraySize(K)) {
            report(rep, where, "invalid index, d, K or parts");
            continue;
        }
        cs->d = (int)d;
        for (const cJSON *k = K->child; k; k = k->next) {
            int bits;
            if (!codebook_size(k, "K", cs->nstages, where, rep, &cs->K[cs->nstages], &bits)) {
                cs->nstages = 0;
                break;
            }
            cs->nstages++;
        }
        int k = 0;
        for (const cJSON *p = parts->child; p && cs->nstages; p = p->next, k++) {
            char pw[96];
            snprintf(pw, sizeof pw, "%s part %d", where, k);
            nv_part *np = &cs->parts[k];
            parse_part(p, f, np, pw, rep);
            if (np->kind >= 0 && (np->kind != NQ_PART_CODEBOOK || np->a != i || np->b != k ||
                                  np->raw_size != (uint64_t)cs->K[k] * cs->d * 2)) {
                report(rep, pw, "must be the codebook of set %d stage %d (%d x %d f16)", i, k, cs->K[k], cs->d);
                np->kind = -1;
            }
            if (np->kind < 0) cs->nstages = 0;
        }
    }
    f->nsets = n;
}

static void parse_tensors(const cJSON *root, nq_model *m, nv_file *f, reporter *rep) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    if (!cJSON_IsArray(arr)) { report(rep, "manifest", "missing array 'tensors'"); return; }
    int n = cJSON_GetArraySize(arr);
    size_t nparts = 0;
    for (const cJSON *o = arr->child; o; o = o->next)
        nparts += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "parts"));
    nq_tensor_info *ti = calloc(n ? (size_t)n : 1, sizeof *ti);
    f->t = calloc(1, (n ? (size_t)n : 1) * sizeof *f->t + (nparts ? nparts : 1) * sizeof(nv_part));
    if (!ti || !f->t) { free(ti); report(rep, "manifest", "out of memory"); return; }
    free(m->tensors);
    m->tensors = ti;
    nv_part *pool = (nv_part *)(f->t + (n ? n : 1));
    int i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        m->ntensors = i + 1;
        if (!cJSON_IsObject(o)) { report(rep, "manifest", "tensor %d is not an object", i); ti[i].name = nq_strdup(""); f->t[i].vq = -1; continue; }
        parse_tensor(o, i, &ti[i], &f->t[i], &pool, f, rep);
        if (ti[i].name && ti[i].name[0] && name_dup(m, i, ti[i].name))
            report(rep, "manifest", "tensor name '%s' appears twice", ti[i].name);
    }
}

static void parse_manifest(const char *text, size_t len, nq_model *m, nv_file *f, reporter *rep) {
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        report(rep, "manifest", "not a valid JSON object");
        cJSON_Delete(root);
        return;
    }
    const char *fmt = str(root, "format");
    uint64_t ver = 0;
    if (!fmt || strcmp(fmt, "novaq")) report(rep, "manifest", "'format' must be \"novaq\"");
    if (!num_u64(root, "version", &ver) || ver != NQ_FORMAT_VERSION)
        report(rep, "manifest", "'version' must be %d", NQ_FORMAT_VERSION);
    if (!nq_hex_parse(str(root, "root_hash"), f->root, 32)) report(rep, "manifest", "'root_hash' is not 64 hex digits");
    parse_shards(root, f, rep);
    if (f->shards) parse_sets(root, f, rep);
    if (f->shards) parse_tensors(root, m, f, rep);
    cJSON_Delete(root);
}

/* ------------------------------------------------------------------ decoder */

/* Reads shard i whole into the cache, hashing it in 1 MiB blocks as they arrive, and
 * checks it against the manifest's sha256. Memory: one shard, at most NQ_MAX_SHARD. */
static nq_status verify_shard(const nq_model *m, nv_file *f, int i, nq_err *e) {
    enum { BLOCK = 1 << 20 };
    const nv_shard *sh = &f->shards[i];
    const char *name = m->files[0].name ? m->files[0].name : "novaq";
    free(f->cache);
    f->cache_shard = -1;
    f->cache = malloc(sh->size ? (size_t)sh->size : 1);
    if (!f->cache) return nq_fail(e, NQ_E_NOMEM, "%s: shard %d: out of memory for %llu bytes", name, i,
                                  (unsigned long long)sh->size);
    nq_sha256_ctx c;
    nq_sha256_init(&c);
    for (uint64_t o = 0; o < sh->size; o += BLOCK) {
        size_t n = (size_t)(sh->size - o < BLOCK ? sh->size - o : BLOCK);
        nq_status st = nq_model_file_read(m, 0, sh->off + o, f->cache + o, n, e);
        if (st) return st;
        nq_sha256_update(&c, f->cache + o, n);
    }
    uint8_t h[32];
    nq_sha256_final(&c, h);
    if (memcmp(h, sh->sha, 32))
        return nq_fail(e, NQ_E_HASH, "%s: shard %d (bytes [%llu, +%llu)): SHA-256 mismatch, the shard is corrupted",
                       name, i, (unsigned long long)sh->off, (unsigned long long)sh->size);
    f->verified[i] = 1;
    f->cache_shard = i;
    return NQ_OK;
}

/* A part's stored bytes, from a verified shard unless verification is off. */
static nq_status read_stored(const nq_model *m, const nv_part *p, uint8_t *dst, nq_err *e) {
    nv_file *f = m->impl;
    if (f->verify && !f->verified[p->shard]) {
        nq_status st = verify_shard(m, f, p->shard, e);
        if (st) return st;
    }
    if (f->cache && f->cache_shard == p->shard) {
        memcpy(dst, f->cache + (p->off - f->shards[p->shard].off), (size_t)p->size);
        return NQ_OK;
    }
    return nq_model_file_read(m, 0, p->off, dst, (size_t)p->size, e);
}

/* Load a part's bytes and undo its codec into a fresh buffer of raw_size bytes. parse_part
 * bounded size (a shard) and raw_size (NQ_MAX_PART_RAW, the zstd ratio, the norm bound), and
 * the frame's own content size must equal raw_size before the output is allocated. */
static nq_status load_part(const nq_model *m, const nv_part *p, uint8_t **out, const char *where, nq_err *e) {
    if (p->size > NQ_MAX_SHARD || (p->codec == NQ_CODEC_ZSTD && !zstd_can_hold(p)))
        return nq_fail(e, NQ_E_FORMAT, "%s: part at byte %llu: %llu stored bytes cannot hold %llu", where,
                       (unsigned long long)p->off, (unsigned long long)p->size, (unsigned long long)p->raw_size);
    uint8_t *stored = malloc(p->size ? p->size : 1);
    if (!stored) return nq_fail(e, NQ_E_NOMEM, "%s: out of memory", where);
    nq_status st = read_stored(m, p, stored, e);
    if (st) { free(stored); return st; }
    if (p->codec == NQ_CODEC_NONE) { *out = stored; return NQ_OK; }
    unsigned long long fcs = ZSTD_getFrameContentSize(stored, p->size);
    uint8_t *raw = fcs == p->raw_size ? malloc(p->raw_size ? p->raw_size : 1) : NULL;
    size_t n = raw ? ZSTD_decompress(raw, p->raw_size, stored, p->size) : 0;
    free(stored);
    if (!raw || ZSTD_isError(n) || n != p->raw_size) {
        free(raw);
        return nq_fail(e, NQ_E_FORMAT, "%s: zstd payload at byte %llu does not decompress to %llu bytes", where,
                       (unsigned long long)p->off, (unsigned long long)p->raw_size);
    }
    *out = raw;
    return NQ_OK;
}

static const nv_file *nvf(const nq_model *m) { return m->impl; }

/* Part p decoded, from the one-part cache (valid until the next call). */
static nq_status part_cached(const nq_model *m, const nv_part *p, const uint8_t **raw, const char *where, nq_err *e) {
    nv_file *f = m->impl;
    if (f->raw_part != p) {
        free(f->raw_buf);
        f->raw_buf = NULL;
        f->raw_part = NULL;
        nq_status st = load_part(m, p, &f->raw_buf, where, e);
        if (st) return st;
        f->raw_part = p;
    }
    *raw = f->raw_buf;
    return NQ_OK;
}

static nq_status nv_read_raw(const nq_model *m, int t, uint64_t off, void *dst, size_t len, nq_err *e) {
    const nv_tensor *vt = &nvf(m)->t[t];
    const nq_tensor_info *ti = &m->tensors[t];
    if (vt->vq) return nq_fail(e, NQ_E_UNSUPPORTED, "tensor '%s' is vector-quantized: no raw bytes", ti->name);
    nq_status st = NQ_OK;
    for (int i = 0; i < vt->nparts && len && st == NQ_OK; i++) {
        const nv_part *p = &vt->parts[i];
        if (off >= (uint64_t)p->b || off + len <= (uint64_t)p->a) continue;
        const uint8_t *raw;
        if ((st = part_cached(m, p, &raw, ti->name, e))) break;
        uint64_t from = off - (uint64_t)p->a, n = (uint64_t)p->b - off < len ? (uint64_t)p->b - off : len;
        memcpy(dst, raw + from, (size_t)n);
        dst = (uint8_t *)dst + n;
        off += n;
        len -= (size_t)n;
    }
    return st;
}

typedef struct vq_group {
    int64_t group;
    float *C[NQ_MAX_STAGES];
} vq_group;

static void group_free(vq_group *g, int nstages) {
    for (int s = 0; s < nstages; s++) { free(g->C[s]); g->C[s] = NULL; }
    g->group = -1;
}

/* Codebooks of one group: the tensor's own CODEBOOK parts of that group, or the parts of
 * the model-wide set it names. */
static nq_status group_load(const nq_model *m, int t, int64_t group, vq_group *g, nq_err *e) {
    const nv_tensor *vt = &nvf(m)->t[t];
    group_free(g, vt->nstages);
    nq_status st = NQ_OK;
    const nv_part *parts = vt->set >= 0 ? nvf(m)->sets[vt->set].parts : vt->parts;
    int nparts = vt->set >= 0 ? vt->nstages : vt->nparts;
    if (vt->set >= 0) group = vt->set; /* a set's parts carry a = set index */
    for (int i = 0; i < nparts && st == NQ_OK; i++) {
        const nv_part *p = &parts[i];
        if (p->kind != NQ_PART_CODEBOOK || p->a != group) continue;
        uint8_t *raw;
        if ((st = load_part(m, p, &raw, m->tensors[t].name, e))) break;
        size_t n = (size_t)vt->K[p->b] * vt->d;
        free(g->C[p->b]);
        g->C[p->b] = malloc(n * sizeof(float));
        if (!g->C[p->b]) st = nq_fail(e, NQ_E_NOMEM, "out of memory");
        else nq_convert_to_f32(NQ_DT_F16, raw, n, g->C[p->b]);
        free(raw);
    }
    g->group = vt->set >= 0 ? 0 : group;
    return st;
}

/* Decode rows [r0, r1) of one CODES part (already loaded as raw) into dst. */
static void decode_rows(const nv_tensor *vt, const nq_tensor_info *ti, const nq_norm *nm, const vq_group *g,
                        const nv_part *p, const uint8_t *raw, int64_t r0, int64_t r1, float *dst,
                        uint16_t *codes, float *uhat) {
    int64_t nvec = (ti->cols + vt->d - 1) / vt->d;
    nq_codes_layout L = nq_codes_layout_of(vt->has_mean, p->b - p->a, vt->code_bytes);
    const float *const *C = (const float *const *)g->C;
    for (int64_t r = r0; r < r1; r++) {
        int64_t i = r - p->a;
        float mean = vt->has_mean ? nm->g * nq_f16_to_f32(nq_codes_mean(raw, i)) : 0.0f;
        float scale = nm->scale_tab[raw[L.scales + (uint64_t)i]];
        nq_unpack_row(raw + nq_codes_row_at(&L, i), nvec, vt->bits, vt->nstages, codes);
        for (int64_t v = 0; v < nvec; v++)
            nq_vq_reconstruct(C, codes + v * vt->nstages, vt->nstages, vt->d, uhat + v * vt->d);
        nq_norm_inverse(mean, scale, nm->colfac, &nm->rot, ti->cols, uhat, dst + (r - r0) * ti->cols);
    }
}

static nq_status nv_read_rows_vq(const nq_model *m, int t, int64_t row0, int64_t nrows, float *dst, nq_err *e) {
    const nv_tensor *vt = &nvf(m)->t[t];
    const nq_tensor_info *ti = &m->tensors[t];
    int64_t nvec = (ti->cols + vt->d - 1) / vt->d;
    nq_norm nm;
    uint8_t *raw;
    nq_status st = load_part(m, &vt->parts[vt->norm_part], &raw, ti->name, e);
    if (st) return st;
    st = nq_norm_part_read(raw, vt->parts[vt->norm_part].raw_size, ti->cols, &nm, ti->name, e);
    free(raw);
    if (st == NQ_OK && vt->rotated) st = nq_rot_init(&nm.rot, ti->cols, vt->rot_seed, e);
    if (st) { nq_norm_free(&nm); return st; }
    vq_group g = {.group = -1};
    uint16_t *codes = malloc((size_t)(nvec * vt->nstages) * sizeof *codes);
    float *uhat = malloc((size_t)(nvec * vt->d) * sizeof *uhat);
    if (!codes || !uhat) st = nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (int i = 0; i < vt->nparts && st == NQ_OK; i++) {
        const nv_part *p = &vt->parts[i];
        if (p->kind != NQ_PART_CODES || p->b <= row0 || p->a >= row0 + nrows) continue;
        int64_t grp = vt->set >= 0 ? 0 : p->a / vt->scope_rows;
        if (g.group != grp && (st = group_load(m, t, grp, &g, e))) break;
        const uint8_t *craw;
        if ((st = part_cached(m, p, &craw, ti->name, e))) break;
        int64_t r0 = p->a > row0 ? p->a : row0, r1 = p->b < row0 + nrows ? p->b : row0 + nrows;
        decode_rows(vt, ti, &nm, &g, p, craw, r0, r1, dst + (r0 - row0) * ti->cols, codes, uhat);
    }
    group_free(&g, vt->nstages);
    free(codes);
    free(uhat);
    nq_norm_free(&nm);
    return st;
}

static nq_status nv_read_rows(const nq_model *m, int t, int64_t row0, int64_t nrows, float *dst, nq_err *e) {
    const nq_tensor_info *ti = &m->tensors[t];
    if (nvf(m)->t[t].vq) return nv_read_rows_vq(m, t, row0, nrows, dst, e);
    if (ti->dtype == NQ_DT_Q8_0)
        return nq_fail(e, NQ_E_UNSUPPORTED, "tensor '%s': raw Q8_0 rows are not decoded here", ti->name);
    size_t es = nq_dtype_size(ti->dtype), n = (size_t)(nrows * ti->cols), bytes = n * es;
    uint8_t *buf = malloc(bytes > 0 ? bytes : 1);
    if (!buf) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    nq_status st = nv_read_raw(m, t, (uint64_t)row0 * (uint64_t)ti->cols * es, buf, n * es, e);
    if (st == NQ_OK) nq_convert_to_f32(ti->dtype, buf, n, dst);
    free(buf);
    return st;
}

static const nq_model_ops nv_ops = {nv_read_rows, nv_read_raw, nv_free};

/* ------------------------------------------------------------ open/validate */

/* root_hash = SHA-256 of the shard hashes in order. */
static int root_matches(const nv_file *f) {
    nq_sha256_ctx all;
    nq_sha256_init(&all);
    for (int i = 0; i < f->nshards; i++) nq_sha256_update(&all, f->shards[i].sha, 32);
    uint8_t root[32];
    nq_sha256_final(&all, root);
    return !memcmp(root, f->root, 32);
}

static nq_status parse_all(const nq_reader *r, reporter *rep, nq_model **out) {
    *out = NULL;
    nq_model *m = nq_model_alloc("novaq", 0, r, 1);
    nv_file *f = calloc(1, sizeof *f);
    if (!m || !f) { nq_model_free(m); free(f); report(rep, "novaq", "out of memory"); return NQ_E_NOMEM; }
    m->ops = &nv_ops;
    m->impl = f;
    f->cache_shard = -1;
    nq_status st = read_frame(r, f, rep);
    if (st == NQ_OK || st == NQ_E_HASH) parse_manifest(f->manifest, f->manifest_size, m, f, rep);
    *out = m;
    return rep->count ? (st ? st : NQ_E_FORMAT) : NQ_OK;
}

typedef struct first_problem { nq_err *e; const char *file; } first_problem;

static void keep_first(void *ctx, const char *where, const char *what) {
    first_problem *fp = ctx;
    if (fp->e && fp->e->code == NQ_OK) nq_fail(fp->e, NQ_E_FORMAT, "%s: %s: %s", fp->file, where, what);
}

nq_status nq_novaq_open_ex(nq_model **out, const nq_reader *r, unsigned flags, nq_err *e) {
    *out = NULL;
    nq_err local = {0};
    first_problem fp = {&local, r->name ? r->name : "novaq"};
    reporter rep = {keep_first, &fp, 0};
    nq_model *m;
    nq_status st = parse_all(r, &rep, &m);
    nv_file *f = m ? m->impl : NULL;
    if (st == NQ_OK && !(flags & NQ_OPEN_NO_VERIFY)) {
        f->verify = 1;
        f->verified = calloc(f->nshards ? (size_t)f->nshards : 1, 1);
        if (!f->verified) { report(&rep, "novaq", "out of memory"); st = NQ_E_NOMEM; }
        else if (!root_matches(f)) {
            report(&rep, "manifest", "root_hash does not match the shard hashes");
            st = NQ_E_HASH;
        }
    }
    if (st) {
        nq_model_free(m);
        if (e) { *e = local; e->code = st; }
        return st;
    }
    *out = m;
    return NQ_OK;
}

nq_status nq_novaq_open(nq_model **out, const nq_reader *r, nq_err *e) { return nq_novaq_open_ex(out, r, 0, e); }

const char *nq_novaq_manifest(const nq_model *m) {
    return m && m->ops == &nv_ops ? nvf(m)->manifest : NULL;
}

static void check_shard_hashes(const nq_reader *r, const nv_file *f, reporter *rep) {
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    nq_sha256_ctx all;
    nq_sha256_init(&all);
    for (int i = 0; buf && i < f->nshards; i++) {
        const nv_shard *s = &f->shards[i];
        char where[32];
        snprintf(where, sizeof where, "shard %d", i);
        nq_sha256_ctx c;
        nq_sha256_init(&c);
        int ok = s->off + s->size <= f->manifest_off;
        for (uint64_t o = 0; ok && o < s->size; o += CHUNK) {
            size_t n = (size_t)(s->size - o < CHUNK ? s->size - o : CHUNK);
            ok = r->read(r->ctx, s->off + o, buf, n) == 0;
            nq_sha256_update(&c, buf, n);
        }
        uint8_t h[32];
        nq_sha256_final(&c, h);
        nq_sha256_update(&all, s->sha, 32);
        if (!ok) report(rep, where, "cannot read bytes [%llu, +%llu)", (unsigned long long)s->off, (unsigned long long)s->size);
        else if (memcmp(h, s->sha, 32))
            report(rep, where, "SHA-256 mismatch: bytes [%llu, +%llu) are corrupted", (unsigned long long)s->off,
                   (unsigned long long)s->size);
    }
    if (!buf) report(rep, "shards", "out of memory");
    free(buf);
    uint8_t root[32];
    nq_sha256_final(&all, root);
    if (memcmp(root, f->root, 32)) report(rep, "manifest", "root_hash does not match the shard hashes");
}

/* Every part decompresses to its raw size; norm parts parse. */
static void check_parts(const nq_model *m, reporter *rep) {
    const nv_file *f = nvf(m);
    for (int k = 0; k < f->nsets; k++)
        for (int i = 0; i < f->sets[k].nstages; i++) {
            char where[64];
            snprintf(where, sizeof where, "codebook set %d part %d", k, i);
            uint8_t *raw;
            nq_err e = {0};
            if (load_part(m, &f->sets[k].parts[i], &raw, where, &e)) report(rep, where, "%s", e.msg);
            else free(raw);
        }
    for (int t = 0; t < m->ntensors; t++) {
        const nv_tensor *vt = &f->t[t];
        if (vt->vq < 0) continue;
        for (int i = 0; i < vt->nparts; i++) {
            char where[300];
            snprintf(where, sizeof where, "tensor '%.200s' part %d", m->tensors[t].name, i);
            uint8_t *raw;
            nq_err e = {0};
            if (load_part(m, &vt->parts[i], &raw, where, &e)) { report(rep, where, "%s", e.msg); continue; }
            if (vt->parts[i].kind == NQ_PART_NORM) {
                nq_norm nm;
                if (nq_norm_part_read(raw, vt->parts[i].raw_size, m->tensors[t].cols, &nm, where, &e))
                    report(rep, where, "%s", e.msg);
                else
                    nq_norm_free(&nm);
            }
            free(raw);
        }
    }
}

nq_status nq_validate(const nq_reader *r, nq_problem_fn problem, void *pctx, int *nproblems, nq_err *e) {
    reporter rep = {problem, pctx, 0};
    nq_model *m = NULL;
    nq_status st = parse_all(r, &rep, &m);
    const nv_file *f = m ? nvf(m) : NULL;
    if (f && f->manifest && f->shards) check_shard_hashes(r, f, &rep);
    if (f && f->t && st == NQ_OK) check_parts(m, &rep);
    nq_model_free(m);
    if (nproblems) *nproblems = rep.count;
    if (rep.count)
        return nq_fail(e, st && st != NQ_E_FORMAT ? st : NQ_E_FORMAT, "%s: %d problem(s) found",
                       r->name ? r->name : "novaq", rep.count);
    return NQ_OK;
}
