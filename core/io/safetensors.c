/* safetensors.c - reader for safetensors files and sharded safetensors models.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data buffer.
 * Every entry is checked before use: header bound, JSON shape, dtype names, shape x dtype
 * size == byte span, spans inside the file and not overlapping, __metadata__ (string
 * values only), unique names across shards, agreement with the index's weight_map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "io/model.h"
#include "common/util.h"

/* True if path ends with "/name" (readers are often named by full path). */
static int nq_name_ends_with(const char *path, const char *name) {
    size_t a = strlen(path), b = strlen(name);
    return a > b && path[a - b - 1] == '/' && !strcmp(path + a - b, name);
}

#define ST_MAX_HEADER (100u << 20) /* the format's own limit: 100 MB of JSON */

typedef struct st_span { uint64_t begin, end; int tensor; } st_span;

static const char *fname(const nq_reader *r) { return r->name ? r->name : "safetensors"; }

static nq_status read_header(const nq_reader *r, char **json, uint64_t *data_start, nq_err *e) {
    uint8_t lenb[8];
    if (r->size < 8)
        return nq_fail(e, NQ_E_FORMAT, "%s: file is %llu bytes, too short for a safetensors header",
                       fname(r), (unsigned long long)r->size);
    if (r->read(r->ctx, 0, lenb, 8)) return nq_fail(e, NQ_E_IO, "%s: cannot read header length", fname(r));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | lenb[i];
    if (n > ST_MAX_HEADER)
        return nq_fail(e, NQ_E_FORMAT, "%s: header length %llu exceeds the 100 MB limit", fname(r),
                       (unsigned long long)n);
    if (n > r->size - 8)
        return nq_fail(e, NQ_E_FORMAT, "%s: header length %llu runs past end of file (%llu bytes)",
                       fname(r), (unsigned long long)n, (unsigned long long)r->size);
    *json = malloc(n + 1);
    if (!*json) return nq_fail(e, NQ_E_NOMEM, "%s: header of %llu bytes", fname(r), (unsigned long long)n);
    if (r->read(r->ctx, 8, *json, n)) {
        free(*json);
        return nq_fail(e, NQ_E_IO, "%s: cannot read %llu header bytes at offset 8", fname(r),
                       (unsigned long long)n);
    }
    (*json)[n] = 0;
    *data_start = 8 + n;
    return NQ_OK;
}

static int get_u64(const cJSON *v, uint64_t *out) {
    /* JSON numbers are doubles; accept only exact non-negative integers up to 2^53. */
    int64_t x;
    if (!cJSON_IsNumber(v) || !nq_f64_to_i64(v->valuedouble, 0, 9007199254740992LL, &x)) return 0;
    *out = (uint64_t)x;
    return 1;
}

static nq_status check_metadata(const nq_reader *r, const cJSON *meta, nq_err *e) {
    if (!cJSON_IsObject(meta))
        return nq_fail(e, NQ_E_FORMAT, "%s: __metadata__ must be an object", fname(r));
    for (const cJSON *kv = meta->child; kv; kv = kv->next)
        if (!cJSON_IsString(kv))
            return nq_fail(e, NQ_E_FORMAT, "%s: __metadata__ value '%s' must be a string", fname(r),
                           kv->string);
    return NQ_OK;
}

/* Parse one tensor entry into ti (name set by caller). */
static nq_status parse_entry(const nq_reader *r, const cJSON *v, uint64_t data_start,
                             nq_tensor_info *ti, uint64_t *begin, nq_err *e) {
    const char *f = fname(r), *nm = ti->name;
    if (!cJSON_IsObject(v)) return nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': entry is not an object", f, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(v, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(v, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(v, "data_offsets");
    if (!cJSON_IsString(dt)) return nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': missing string 'dtype'", f, nm);
    int code = nq_dtype_from_name(dt->valuestring);
    if (code < 0)
        return nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': unknown dtype '%.32s'", f, nm, dt->valuestring);
    ti->dtype = (nq_dtype)code;
    snprintf(ti->dtype_name, sizeof ti->dtype_name, "%s", nq_dtype_name(ti->dtype));
    if (!cJSON_IsArray(sh)) return nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': missing array 'shape'", f, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > NQ_MAX_DIMS)
        return nq_fail(e, NQ_E_UNSUPPORTED, "%s: tensor '%s': %d dimensions (max %d)", f, nm, nd, NQ_MAX_DIMS);
    ti->ndim = nd;
    uint64_t count = 1;
    int i = 0;
    for (const cJSON *d = sh->child; d; d = d->next, i++) {
        uint64_t x;
        if (!get_u64(d, &x) || x > (1ull << 40))
            return nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': shape[%d] is not a valid size", f, nm, i);
        ti->shape[i] = (int64_t)x;
        if (x && count > (1ull << 50) / x)
            return nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': element count overflows", f, nm);
        count *= x;
    }
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !get_u64(off->child, &b) ||
        !get_u64(off->child->next, &en) || en < b)
        return nq_fail(e, NQ_E_FORMAT, "%s: tensor '%s': 'data_offsets' must be [begin, end] with begin <= end",
                       f, nm);
    if (count * nq_dtype_size(ti->dtype) != en - b)
        return nq_fail(e, NQ_E_FORMAT,
                       "%s: tensor '%s': shape x %s size = %llu bytes but data_offsets span %llu",
                       f, nm, ti->dtype_name, (unsigned long long)(count * nq_dtype_size(ti->dtype)),
                       (unsigned long long)(en - b));
    if (en > r->size - data_start)
        return nq_fail(e, NQ_E_FORMAT,
                       "%s: tensor '%s': data [%llu, %llu) runs past end of file (data area is %llu bytes)",
                       f, nm, (unsigned long long)b, (unsigned long long)en,
                       (unsigned long long)(r->size - data_start));
    ti->offset = data_start + b;
    ti->nbytes = en - b;
    *begin = b;
    nq_tensor_info_finish(ti);
    return NQ_OK;
}

static int span_cmp(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->tensor - y->tensor;
}

/* No two non-empty tensors of one file share a byte. Spans are sorted by start and each is
 * compared with the furthest end seen so far (not only its predecessor's: a short span must
 * not hide a long one from the spans after it). Empty tensors own no bytes and may sit
 * anywhere in the data section (parse_entry already checked they lie inside it). */
static nq_status check_overlaps(const nq_model *m, const nq_reader *r, int first, int n, nq_err *e) {
    st_span *sp = malloc((n ? (size_t)n : 1) * sizeof *sp);
    if (!sp) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < n; i++) {
        const nq_tensor_info *ti = &m->tensors[first + i];
        if (ti->nbytes) sp[k++] = (st_span){ti->offset, ti->offset + ti->nbytes, first + i};
    }
    qsort(sp, (size_t)k, sizeof *sp, span_cmp);
    nq_status s = NQ_OK;
    int far = 0; /* the span with the furthest end among sp[0..i) */
    for (int i = 1; i < k && s == NQ_OK; i++) {
        if (sp[i].begin < sp[far].end)
            s = nq_fail(e, NQ_E_FORMAT, "%s: tensors '%s' and '%s' overlap at byte %llu", fname(r),
                        m->tensors[sp[far].tensor].name, m->tensors[sp[i].tensor].name,
                        (unsigned long long)sp[i].begin);
        if (sp[i].end > sp[far].end) far = i;
    }
    free(sp);
    return s;
}

/* Append metadata object text (merged over shards: first file wins per key). */
static void merge_metadata(cJSON **acc, const cJSON *meta) {
    if (!meta) return;
    if (!*acc) *acc = cJSON_CreateObject();
    for (const cJSON *kv = meta->child; kv; kv = kv->next)
        if (!cJSON_GetObjectItemCaseSensitive(*acc, kv->string))
            cJSON_AddItemToObject(*acc, kv->string, cJSON_CreateString(kv->valuestring));
}

static nq_status parse_file(nq_model *m, int file, int *ntensors, cJSON **meta_acc, nq_err *e) {
    const nq_reader *r = &m->files[file];
    char *text = NULL;
    uint64_t data_start = 0;
    nq_status s = read_header(r, &text, &data_start, e);
    if (s) return s;
    cJSON *root = cJSON_ParseWithLength(text, data_start - 8);
    free(text);
    if (!root) return nq_fail(e, NQ_E_FORMAT, "%s: header is not valid JSON", fname(r));
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return nq_fail(e, NQ_E_FORMAT, "%s: header JSON is not an object", fname(r));
    }
    int count = 0;
    for (const cJSON *v = root->child; v; v = v->next) count++;
    nq_tensor_info *grown = realloc(m->tensors, (size_t)(*ntensors + count + 1) * sizeof *grown);
    if (!grown) { cJSON_Delete(root); return nq_fail(e, NQ_E_NOMEM, "out of memory"); }
    m->tensors = grown;
    int first = *ntensors;
    for (const cJSON *v = root->child; v && s == NQ_OK; v = v->next) {
        if (!strcmp(v->string, "__metadata__")) {
            if ((s = check_metadata(r, v, e)) == NQ_OK) merge_metadata(meta_acc, v);
            continue;
        }
        if (!v->string[0]) { s = nq_fail(e, NQ_E_FORMAT, "%s: tensor with an empty name", fname(r)); break; }
        nq_tensor_info *ti = &m->tensors[*ntensors];
        memset(ti, 0, sizeof *ti);
        ti->name = nq_strdup(v->string);
        ti->file = file;
        m->ntensors = ++*ntensors;
        uint64_t begin;
        if (!ti->name) s = nq_fail(e, NQ_E_NOMEM, "out of memory");
        else s = parse_entry(r, v, data_start, ti, &begin, e);
    }
    cJSON_Delete(root);
    if (s == NQ_OK) s = check_overlaps(m, r, first, *ntensors - first, e);
    return s;
}

static int name_cmp(const void *a, const void *b) {
    const nq_tensor_info *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static nq_status check_unique(const nq_model *m, nq_err *e) {
    const nq_tensor_info **v = malloc((m->ntensors ? (size_t)m->ntensors : 1) * sizeof *v);
    if (!v) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    for (int i = 0; i < m->ntensors; i++) v[i] = &m->tensors[i];
    qsort(v, (size_t)m->ntensors, sizeof *v, name_cmp);
    nq_status s = NQ_OK;
    for (int i = 1; i < m->ntensors && s == NQ_OK; i++)
        if (!strcmp(v[i - 1]->name, v[i]->name))
            s = nq_fail(e, NQ_E_FORMAT, "tensor '%s' appears twice (%s and %s)", v[i]->name,
                        fname(&m->files[v[i - 1]->file]), fname(&m->files[v[i]->file]));
    free(v);
    return s;
}

/* The index maps every tensor to its shard file; it must agree with the files' headers. */
static nq_status check_index(const nq_model *m, const char *json, size_t len, nq_err *e) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return nq_fail(e, NQ_E_FORMAT, "model.safetensors.index.json: not valid JSON");
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    nq_status s = NQ_OK;
    int n = 0;
    if (!cJSON_IsObject(map))
        s = nq_fail(e, NQ_E_FORMAT, "model.safetensors.index.json: missing object 'weight_map'");
    for (const cJSON *kv = map ? map->child : NULL; kv && s == NQ_OK; kv = kv->next, n++) {
        int t = nq_model_find(m, kv->string);
        if (!cJSON_IsString(kv))
            s = nq_fail(e, NQ_E_FORMAT, "index: weight_map['%s'] is not a string", kv->string);
        else if (t < 0)
            s = nq_fail(e, NQ_E_FORMAT, "index: tensor '%s' (in %s) not found in any shard",
                        kv->string, kv->valuestring);
        else if (strcmp(fname(&m->files[m->tensors[t].file]), kv->valuestring) &&
                 !nq_name_ends_with(fname(&m->files[m->tensors[t].file]), kv->valuestring))
            s = nq_fail(e, NQ_E_FORMAT, "index: tensor '%s' is in %s, index says %s", kv->string,
                        fname(&m->files[m->tensors[t].file]), kv->valuestring);
    }
    if (s == NQ_OK && n != m->ntensors)
        s = nq_fail(e, NQ_E_FORMAT, "index lists %d tensors but the shards hold %d", n, m->ntensors);
    cJSON_Delete(root);
    return s;
}

nq_status nq_safetensors_index_files(const char *json, size_t len, char ***names, int *count,
                                     nq_err *e) {
    *names = NULL;
    *count = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return nq_fail(e, NQ_E_FORMAT, "model.safetensors.index.json: not valid JSON");
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return nq_fail(e, NQ_E_FORMAT, "model.safetensors.index.json: missing object 'weight_map'");
    }
    /* One block: pointer table followed by the strings. */
    size_t n = 0, bytes = 0;
    for (const cJSON *kv = map->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv) || !kv->valuestring[0] || strstr(kv->valuestring, "..") ||
            strchr(kv->valuestring, '/') || strchr(kv->valuestring, '\\')) {
            nq_fail(e, NQ_E_FORMAT, "index: weight_map['%s'] is not a plain file name", kv->string);
            cJSON_Delete(root);
            return NQ_E_FORMAT;
        }
        n++;
        bytes += strlen(kv->valuestring) + 1;
    }
    char **v = malloc(n * sizeof *v + bytes + 1);
    if (!v) { cJSON_Delete(root); return nq_fail(e, NQ_E_NOMEM, "out of memory"); }
    char *p = (char *)(v + n);
    int k = 0;
    for (const cJSON *kv = map->child; kv; kv = kv->next) {
        int seen = 0;
        for (int i = 0; i < k && !seen; i++) seen = !strcmp(v[i], kv->valuestring);
        if (seen) continue;
        v[k++] = strcpy(p, kv->valuestring);
        p += strlen(p) + 1;
    }
    cJSON_Delete(root);
    *names = v;
    *count = k;
    return NQ_OK;
}

static nq_status st_read_raw(const nq_model *m, int t, uint64_t off, void *dst, size_t len,
                             nq_err *e) {
    const nq_tensor_info *ti = &m->tensors[t];
    return nq_model_file_read(m, ti->file, ti->offset + off, dst, len, e);
}

static nq_status st_read_rows(const nq_model *m, int t, int64_t row0, int64_t nrows, float *dst,
                              nq_err *e) {
    enum { CHUNK = 1 << 20 };
    const nq_tensor_info *ti = &m->tensors[t];
    size_t es = nq_dtype_size(ti->dtype);
    uint64_t first = (uint64_t)row0 * (uint64_t)ti->cols, count = (uint64_t)nrows * (uint64_t)ti->cols;
    /* Sized to the request: stage 3 reads one row at a time, and a 1 MiB block per call
     * costs more than the read (an mmap and page faults each time, under ASan most of all). */
    size_t cap = count * es < CHUNK ? (size_t)(count * es) : CHUNK;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    nq_status s = NQ_OK;
    for (uint64_t done = 0; done < count && s == NQ_OK;) {
        size_t n = (size_t)(count - done < CHUNK / es ? count - done : CHUNK / es);
        s = st_read_raw(m, t, (first + done) * es, buf, n * es, e);
        if (s == NQ_OK) nq_convert_to_f32(ti->dtype, buf, n, dst + done);
        done += n;
    }
    free(buf);
    return s;
}

static const nq_model_ops st_ops = {st_read_rows, st_read_raw, NULL};

nq_status nq_safetensors_open(nq_model **out, const nq_reader *files, int nfiles,
                              const char *index_json, size_t index_len, nq_err *e) {
    *out = NULL;
    if (nfiles < 1) return nq_fail(e, NQ_E_ARG, "safetensors: no input files");
    nq_model *m = nq_model_alloc("safetensors", 0, files, nfiles);
    if (!m) return nq_fail(e, NQ_E_NOMEM, "out of memory");
    m->ops = &st_ops;
    cJSON *meta = NULL;
    int n = 0;
    nq_status s = NQ_OK;
    for (int f = 0; f < nfiles && s == NQ_OK; f++) s = parse_file(m, f, &n, &meta, e);
    if (s == NQ_OK) s = check_unique(m, e);
    if (s == NQ_OK && index_json) s = check_index(m, index_json, index_len, e);
    if (s == NQ_OK && meta) {
        m->metadata_json = cJSON_PrintUnformatted(meta);
        if (!m->metadata_json) s = nq_fail(e, NQ_E_NOMEM, "out of memory");
    }
    cJSON_Delete(meta);
    if (s) { nq_model_free(m); return s; }
    *out = m;
    return NQ_OK;
}
