/* decode.c - the decoder: a parsed .novaq file as an nq_model that rebuilds f32 rows on
 * demand, each shard's SHA-256 checked before its first part is used (docs/FORMAT.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "decompress/novaq_file.h"
#include "common/format.h"
#include "common/layout.h"
#include "common/util.h"

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
nq_status nv_load_part(const nq_model *m, const nv_part *p, uint8_t **out, const char *where, nq_err *e) {
    if (p->size > NQ_MAX_SHARD || (p->codec == NQ_CODEC_ZSTD && !nv_zstd_can_hold(p)))
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


/* Part p decoded, from the one-part cache (valid until the next call). */
static nq_status part_cached(const nq_model *m, const nv_part *p, const uint8_t **raw, const char *where, nq_err *e) {
    nv_file *f = m->impl;
    if (f->raw_part != p) {
        free(f->raw_buf);
        f->raw_buf = NULL;
        f->raw_part = NULL;
        nq_status st = nv_load_part(m, p, &f->raw_buf, where, e);
        if (st) return st;
        f->raw_part = p;
    }
    *raw = f->raw_buf;
    return NQ_OK;
}

static nq_status nv_read_raw(const nq_model *m, int t, uint64_t off, void *dst, size_t len, nq_err *e) {
    const nv_tensor *vt = &nv_of(m)->t[t];
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
    const nv_tensor *vt = &nv_of(m)->t[t];
    group_free(g, vt->nstages);
    nq_status st = NQ_OK;
    const nv_part *parts = vt->set >= 0 ? nv_of(m)->sets[vt->set].parts : vt->parts;
    int nparts = vt->set >= 0 ? vt->nstages : vt->nparts;
    if (vt->set >= 0) group = vt->set; /* a set's parts carry a = set index */
    for (int i = 0; i < nparts && st == NQ_OK; i++) {
        const nv_part *p = &parts[i];
        if (p->kind != NQ_PART_CODEBOOK || p->a != group) continue;
        uint8_t *raw;
        if ((st = nv_load_part(m, p, &raw, m->tensors[t].name, e))) break;
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
    const nv_tensor *vt = &nv_of(m)->t[t];
    const nq_tensor_info *ti = &m->tensors[t];
    int64_t nvec = (ti->cols + vt->d - 1) / vt->d;
    nq_norm nm;
    uint8_t *raw;
    nq_status st = nv_load_part(m, &vt->parts[vt->norm_part], &raw, ti->name, e);
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
    if (nv_of(m)->t[t].vq) return nv_read_rows_vq(m, t, row0, nrows, dst, e);
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

const nq_model_ops nv_ops = {nv_read_rows, nv_read_raw, nv_free};
