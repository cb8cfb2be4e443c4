/* novaq_wasm.c - the Emscripten entry points of the browser module.
 *
 * A thin layer over core/include/novaq.h for wasm/novaq.mjs. Every byte of input and output
 * crosses through four JS imports (nqjs_read, nqjs_write, nqjs_progress, nqjs_problem) that
 * call into the `nqio` object the JS side passes when it instantiates the module; they are
 * synchronous (FileReaderSync in a Web Worker, fs.readSync in Node), so no Asyncify.
 *
 * Conventions: every entry point takes an nqw_ctx that carries the last error; functions
 * return an nq_status, or a pointer that is NULL on error. Strings returned to JS are
 * malloc'd and freed by the caller with free(). Offsets and sizes above 2^32 travel as
 * doubles (exact up to 2^53).
 *
 * A compression runs the core's driver: in one instance (nqw_compress, nq_compress) or as the
 * job's steps across instances (nqw_job_*, one instance per Web Worker). Encoded tensors
 * travel between instances as bytes: see nqw_encoded_serialize for the layout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <emscripten.h>
#include "novaq_internal.h" /* nq_should_quantize, for the page's settings view */
#include "kernels/kernels.h"
#include "kernels/matmul.h"

/* ---------------------------------------------------------------- JS imports */

/* Fill dst with len bytes of reader `handle` at off; 0 on success. */
EM_JS(int, nqjs_read, (int handle, double off, uint8_t *dst, size_t len), {
  var bytes = Module.nqio.read(handle, off, len);
  if (!bytes || bytes.length !== len) return 1;
  HEAPU8.set(bytes, dst >>> 0);
  return 0;
});
/* Hand len bytes to writer `handle` (the callee copies what it keeps); 0 on success. */
EM_JS(int, nqjs_write, (int handle, const uint8_t *src, size_t len), {
  var p = src >>> 0;
  return Module.nqio.write(handle, HEAPU8.subarray(p, p + (len >>> 0))) ? 1 : 0;
});
/* Progress of nq_compress; nonzero asks to cancel. */
EM_JS(int, nqjs_progress, (int handle, int tensor, int ntensors, double done, double total), {
  return Module.nqio.progress(handle, tensor, ntensors, done, total) ? 1 : 0;
});

/* ------------------------------------------------------------------ context */

typedef struct nqw_ctx {
    nq_err err;
} nqw_ctx;

EMSCRIPTEN_KEEPALIVE nqw_ctx *nqw_ctx_new(void) { return calloc(1, sizeof(nqw_ctx)); }
EMSCRIPTEN_KEEPALIVE void nqw_ctx_free(nqw_ctx *c) { free(c); }
EMSCRIPTEN_KEEPALIVE const char *nqw_error_message(nqw_ctx *c) { return c->err.msg; }
EMSCRIPTEN_KEEPALIVE int nqw_error_code(nqw_ctx *c) { return (int)c->err.code; }
EMSCRIPTEN_KEEPALIVE const char *nqw_status_name(int s) { return nq_status_name((nq_status)s); }
EMSCRIPTEN_KEEPALIVE const char *nqw_version(void) { return NQ_VERSION_STRING; }
EMSCRIPTEN_KEEPALIVE const char *nqw_build_info(void) { return nq_build_info(); }

static nq_status ok(nqw_ctx *c) {
    c->err.code = NQ_OK;
    c->err.msg[0] = 0;
    return NQ_OK;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Print a cJSON tree to a malloc'd string and free the tree. */
static char *json_take(nqw_ctx *c, cJSON *j) {
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s) nq_fail(&c->err, NQ_E_NOMEM, "out of memory building JSON");
    return s;
}

/* ------------------------------------------------------------------ readers */

/* A JS byte source: reader ctx for nqjs_read. Lives as long as whatever reads through it. */
typedef struct nqw_source {
    int handle;
    char *name;
} nqw_source;

static int source_read(void *ctx, uint64_t off, void *dst, size_t len) {
    const nqw_source *s = ctx;
    if (len == 0) return 0;
    return nqjs_read(s->handle, (double)off, dst, len);
}

static int source_init(nqw_source *s, nq_reader *r, int handle, double size, const char *name) {
    s->handle = handle;
    s->name = dup_str(name ? name : "input");
    if (!s->name) return 1;
    r->ctx = s;
    r->size = (uint64_t)size;
    r->name = s->name;
    r->read = source_read;
    return 0;
}

static int sink_write(void *ctx, const void *src, size_t len) {
    if (len == 0) return 0;
    return nqjs_write(*(const int *)ctx, src, len);
}

/* -------------------------------------------------------------------- model */

/* A model plus the reader contexts it reads through. */
typedef struct nqw_model {
    nq_model *m;
    int nfiles;
    nqw_source *src;
} nqw_model;

EMSCRIPTEN_KEEPALIVE void nqw_model_close(nqw_model *w) {
    if (!w) return;
    nq_model_free(w->m);
    for (int i = 0; i < w->nfiles; i++) free(w->src[i].name);
    free(w->src);
    free(w);
}

/* Open safetensors file(s): handles[i]/sizes[i]/names[i] describe the i-th file in the order
 * nq_safetensors_index_files lists them (one file: nfiles 1, index_json NULL). */
EMSCRIPTEN_KEEPALIVE nqw_model *nqw_safetensors_open(nqw_ctx *c, int nfiles, const int *handles,
                                                     const double *sizes, const char **names,
                                                     const char *index_json) {
    nqw_model *w = calloc(1, sizeof *w);
    nq_reader *readers = calloc(nfiles > 0 ? (size_t)nfiles : 1, sizeof *readers);
    if (w) w->src = calloc(nfiles > 0 ? (size_t)nfiles : 1, sizeof *w->src);
    if (!w || !readers || !w->src) {
        free(readers);
        nqw_model_close(w);
        nq_fail(&c->err, NQ_E_NOMEM, "out of memory opening the model");
        return NULL;
    }
    for (int i = 0; i < nfiles; i++, w->nfiles++)
        if (source_init(&w->src[i], &readers[i], handles[i], sizes[i], names[i])) break;
    nq_status st = w->nfiles < nfiles
                       ? nq_fail(&c->err, NQ_E_NOMEM, "out of memory opening the model")
                       : nq_safetensors_open(&w->m, readers, nfiles, index_json,
                                             index_json ? strlen(index_json) : 0, &c->err);
    free(readers); /* the model keeps copies */
    if (st != NQ_OK) {
        nqw_model_close(w);
        return NULL;
    }
    ok(c);
    return w;
}

/* Open a .novaq (structure, size bounds and root hash checked; each shard's SHA-256 is
 * checked before its first part is decoded; nqw_validate checks everything up front). */
EMSCRIPTEN_KEEPALIVE nqw_model *nqw_novaq_open(nqw_ctx *c, int handle, double size,
                                               const char *name) {
    nqw_model *w = calloc(1, sizeof *w);
    if (w) w->src = calloc(1, sizeof *w->src);
    nq_reader r;
    if (!w || !w->src || source_init(&w->src[0], &r, handle, size, name)) {
        nqw_model_close(w);
        nq_fail(&c->err, NQ_E_NOMEM, "out of memory opening %s", name);
        return NULL;
    }
    w->nfiles = 1;
    if (nq_novaq_open(&w->m, &r, &c->err) != NQ_OK) {
        nqw_model_close(w);
        return NULL;
    }
    ok(c);
    return w;
}

/* Distinct shard file names of a model.safetensors.index.json, as a JSON array. */
EMSCRIPTEN_KEEPALIVE char *nqw_index_files_json(nqw_ctx *c, const char *json) {
    char **names = NULL;
    int n = 0;
    if (nq_safetensors_index_files(json, strlen(json), &names, &n, &c->err) != NQ_OK)
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]));
    free(names);
    ok(c);
    return json_take(c, arr);
}

EMSCRIPTEN_KEEPALIVE const char *nqw_model_format(nqw_model *w) { return nq_model_format(w->m); }
EMSCRIPTEN_KEEPALIVE const char *nqw_model_metadata(nqw_model *w) {
    return nq_model_metadata_json(w->m);
}
EMSCRIPTEN_KEEPALIVE const char *nqw_novaq_manifest(nqw_model *w) {
    return nq_novaq_manifest(w->m);
}
EMSCRIPTEN_KEEPALIVE int nqw_model_tensor_count(nqw_model *w) {
    return nq_model_tensor_count(w->m);
}

/* The tensor table as JSON: [{name, dtype, shape, rows, cols, file, nbytes, float}]. */
EMSCRIPTEN_KEEPALIVE char *nqw_model_tensors_json(nqw_ctx *c, nqw_model *w) {
    cJSON *arr = cJSON_CreateArray();
    int n = nq_model_tensor_count(w->m);
    for (int i = 0; arr && i < n; i++) {
        const nq_tensor_info *ti = nq_model_tensor(w->m, i);
        cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        if (!o || !shape) {
            cJSON_Delete(o);
            cJSON_Delete(shape);
            cJSON_Delete(arr);
            arr = NULL;
            break;
        }
        cJSON_AddStringToObject(o, "name", ti->name);
        cJSON_AddStringToObject(o, "dtype", ti->dtype_name);
        for (int d = 0; d < ti->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)ti->shape[d]));
        cJSON_AddItemToObject(o, "shape", shape);
        cJSON_AddNumberToObject(o, "rows", (double)ti->rows);
        cJSON_AddNumberToObject(o, "cols", (double)ti->cols);
        cJSON_AddNumberToObject(o, "file", ti->file);
        cJSON_AddNumberToObject(o, "nbytes", (double)ti->nbytes);
        cJSON_AddBoolToObject(o, "float", nq_dtype_is_float(ti->dtype));
        cJSON_AddItemToArray(arr, o);
    }
    ok(c);
    return json_take(c, arr);
}

/* ----------------------------------------------------------------- settings */

/* Settings from JSON (nq_settings_from_json, the table's JSON names): {"bits": "2"} picks the
 * preset, then any of d, K (array: primary then residual sizes), seed, scope_rows, ... override
 * it with the CLI flags' meaning, so equal settings give equal bytes. */
EMSCRIPTEN_KEEPALIVE nq_settings *nqw_settings_from_json(nqw_ctx *c, const char *json) {
    nq_settings *s = calloc(1, sizeof *s);
    if (!s) {
        nq_fail(&c->err, NQ_E_NOMEM, "out of memory");
        return NULL;
    }
    if (nq_settings_from_json(s, NQ_VOCAB_JSON, json, &c->err) != NQ_OK) {
        free(s);
        return NULL;
    }
    ok(c);
    return s;
}

EMSCRIPTEN_KEEPALIVE void nqw_settings_free(nq_settings *s) { free(s); }

/* The effective settings as JSON (what the page shows under "advanced"): every field under its
 * JSON name, "preset" (the label) and "code_bits". */
EMSCRIPTEN_KEEPALIVE char *nqw_settings_json(nqw_ctx *c, const nq_settings *s) {
    char *text = nq_settings_to_json(s, NQ_VOCAB_JSON);
    if (!text) nq_fail(&c->err, NQ_E_NOMEM, "out of memory");
    else ok(c);
    return text;
}

EMSCRIPTEN_KEEPALIVE int nqw_should_quantize(nqw_model *w, int t, const nq_settings *s) {
    return nq_should_quantize(w->m, t, s);
}

/* ---------------------------------------------------------- encoded tensors */

EMSCRIPTEN_KEEPALIVE void nqw_encoded_free(nq_encoded *enc) { nq_encoded_free(enc); }

/* Serialized nq_encoded, all little-endian (wasm is little-endian, so plain copies):
 *   "NQE1" | u32 meta_len | u32 nparts | u32 0 | u64 weights | u64 stored_bytes
 *   | f64 sse | f64 signal | meta_json bytes (no NUL)
 *   | nparts x { i32 kind | i32 codec | i64 a | i64 b | u64 raw_size | u64 size | data }
 * The header is fixed-size (48 bytes) so JS can read the statistics without parsing. */
#define NQW_ENC_HEAD 48
#define NQW_PART_HEAD 40

static uint8_t *put(uint8_t *p, const void *v, size_t n) {
    memcpy(p, v, n);
    return p + n;
}

EMSCRIPTEN_KEEPALIVE uint8_t *nqw_encoded_serialize(nqw_ctx *c, const nq_encoded *enc,
                                                    double *out_len) {
    uint32_t meta_len = (uint32_t)strlen(enc->meta_json), np = (uint32_t)enc->nparts, zero = 0;
    uint64_t total = NQW_ENC_HEAD + (uint64_t)meta_len;
    for (int i = 0; i < enc->nparts; i++) total += NQW_PART_HEAD + (uint64_t)enc->parts[i].size;
    uint8_t *buf = total < SIZE_MAX ? malloc((size_t)total) : NULL;
    if (!buf) {
        nq_fail(&c->err, NQ_E_NOMEM, "out of memory serializing an encoded tensor (%llu bytes)",
                (unsigned long long)total);
        return NULL;
    }
    uint8_t *p = put(buf, "NQE1", 4);
    p = put(p, &meta_len, 4);
    p = put(p, &np, 4);
    p = put(p, &zero, 4);
    p = put(p, &enc->weights, 8);
    p = put(p, &enc->stored_bytes, 8);
    p = put(p, &enc->sse, 8);
    p = put(p, &enc->signal, 8);
    p = put(p, enc->meta_json, meta_len);
    for (int i = 0; i < enc->nparts; i++) {
        const nq_part *pt = &enc->parts[i];
        int32_t kind = pt->kind, codec = pt->codec;
        uint64_t size = pt->size;
        p = put(p, &kind, 4);
        p = put(p, &codec, 4);
        p = put(p, &pt->a, 8);
        p = put(p, &pt->b, 8);
        p = put(p, &pt->raw_size, 8);
        p = put(p, &size, 8);
        if (pt->size) p = put(p, pt->data, pt->size);
    }
    *out_len = (double)total;
    ok(c);
    return buf;
}

/* Rebuild an nq_encoded from nqw_encoded_serialize's bytes; every length is checked
 * against the buffer before it is used. Freed with nqw_encoded_free. */
EMSCRIPTEN_KEEPALIVE nq_encoded *nqw_encoded_deserialize(nqw_ctx *c, const uint8_t *buf,
                                                         double len_d) {
    size_t len = (size_t)len_d, pos = NQW_ENC_HEAD;
    uint32_t meta_len, np;
    if (len < NQW_ENC_HEAD || memcmp(buf, "NQE1", 4) != 0) goto bad;
    memcpy(&meta_len, buf + 4, 4);
    memcpy(&np, buf + 8, 4);
    if (meta_len > len - pos || np > 1u << 24) goto bad;
    nq_encoded *enc = calloc(1, sizeof *enc);
    if (!enc) return nq_fail(&c->err, NQ_E_NOMEM, "out of memory"), NULL;
    memcpy(&enc->weights, buf + 16, 8);
    memcpy(&enc->stored_bytes, buf + 24, 8);
    memcpy(&enc->sse, buf + 32, 8);
    memcpy(&enc->signal, buf + 40, 8);
    enc->meta_json = malloc(meta_len + 1);
    enc->parts = calloc(np ? np : 1, sizeof *enc->parts);
    if (!enc->meta_json || !enc->parts) goto nomem;
    memcpy(enc->meta_json, buf + pos, meta_len);
    enc->meta_json[meta_len] = 0;
    pos += meta_len;
    for (uint32_t i = 0; i < np; i++, enc->nparts++) {
        nq_part *pt = &enc->parts[i];
        int32_t kind, codec;
        uint64_t size;
        if (len - pos < NQW_PART_HEAD) goto bad_enc;
        memcpy(&kind, buf + pos, 4);
        memcpy(&codec, buf + pos + 4, 4);
        memcpy(&pt->a, buf + pos + 8, 8);
        memcpy(&pt->b, buf + pos + 16, 8);
        memcpy(&pt->raw_size, buf + pos + 24, 8);
        memcpy(&size, buf + pos + 32, 8);
        pos += NQW_PART_HEAD;
        if (size > len - pos) goto bad_enc;
        pt->kind = kind;
        pt->codec = codec;
        pt->size = (size_t)size;
        pt->data = malloc(size ? (size_t)size : 1);
        if (!pt->data) goto nomem;
        memcpy(pt->data, buf + pos, (size_t)size);
        pos += (size_t)size;
    }
    if (pos != len) goto bad_enc;
    ok(c);
    return enc;
nomem:
    nq_encoded_free(enc);
    return nq_fail(&c->err, NQ_E_NOMEM, "out of memory"), NULL;
bad_enc:
    nq_encoded_free(enc);
bad:
    nq_fail(&c->err, NQ_E_FORMAT, "encoded tensor bytes: malformed at byte %zu of %zu", pos, len);
    return NULL;
}

/* ------------------------------------------------------------------ sources */

/* Sources from JSON [{name, size, sha256 (hex)}]; strings point into the cJSON tree. */
static nq_status parse_sources(nqw_ctx *c, const cJSON *arr, nq_source_file *src, int n) {
    for (int i = 0; i < n; i++) {
        const cJSON *o = cJSON_GetArrayItem(arr, i);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
        const cJSON *hex = cJSON_GetObjectItemCaseSensitive(o, "sha256");
        if (!cJSON_IsString(name) || !cJSON_IsNumber(size) || !cJSON_IsString(hex) ||
            strlen(hex->valuestring) != 64)
            return nq_fail(&c->err, NQ_E_ARG, "sources[%d]: needs name, size, sha256 (hex)", i);
        src[i].name = name->valuestring;
        src[i].size = (uint64_t)size->valuedouble;
        if (!nq_hex_parse(hex->valuestring, src[i].sha256, 32))
            return nq_fail(&c->err, NQ_E_ARG, "sources[%d]: sha256 is not hex", i);
    }
    return NQ_OK;
}

/* --------------------------------------------------------------- pipeline */

typedef struct progress_ctx {
    int handle;
} progress_ctx;

static int progress_cb(void *ctx, int tensor, int ntensors, uint64_t done, uint64_t total) {
    return nqjs_progress(((progress_ctx *)ctx)->handle, tensor, ntensors, (double)done,
                         (double)total);
}

/* The whole pipeline in this instance (nq_compress: the core driver, serially), output to
 * writer whandle. */
EMSCRIPTEN_KEEPALIVE int nqw_compress(nqw_ctx *c, nqw_model *w, const nq_settings *s,
                                      const char *sources_json, int whandle, int phandle) {
    cJSON *arr = cJSON_Parse(sources_json);
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    nq_source_file *src = n > 0 ? calloc((size_t)n, sizeof *src) : NULL;
    nq_status st;
    if (n <= 0) st = nq_fail(&c->err, NQ_E_ARG, "sources: expected a non-empty JSON array");
    else if (!src) st = nq_fail(&c->err, NQ_E_NOMEM, "out of memory");
    else st = parse_sources(c, arr, src, n);
    if (st == NQ_OK) {
        nq_writer wr = {&whandle, sink_write};
        progress_ctx pc = {phandle};
        st = nq_compress(w->m, s, src, n, &wr, progress_cb, &pc, &c->err);
    }
    cJSON_Delete(arr);
    free(src);
    return st == NQ_OK ? (int)ok(c) : (int)st;
}

/* ------------------------------------------------------------------ the job */

/* The core's compression policy as steps (nq_job in novaq.h), for a pool of instances that
 * cannot block inside a C callback: every instance begins the same job (same model,
 * settings: the plan is deterministic, so all hold the same one); encoding instances call
 * nqw_job_encode and pass the serialized encode on; the writing instance starts the output,
 * accepts each encode (nqw_encoded_deserialize) and writes, keeping at most
 * nqw_job_ahead(width) tensors in flight; once every tensor is in it runs nqw_job_stage3
 * (nothing until calibration reaches the browser, issue 21: then every instance must begin
 * with the same calibration, and nqw_job_holds_all says that nothing is written before it),
 * writes the rest and finishes. nqw_job_free alone abandons a job at any point; the instance
 * stays usable. The Job class of wasm/novaq.mjs wraps these; web/pool.mjs drives them. */
typedef struct nqw_job {
    nq_job *j;
    int handle; /* the JS writer, once nqw_job_output ran */
} nqw_job;

EMSCRIPTEN_KEEPALIVE void nqw_job_free(nqw_job *wj) {
    if (!wj) return;
    nq_job_free(wj->j);
    free(wj);
}

EMSCRIPTEN_KEEPALIVE nqw_job *nqw_job_begin(nqw_ctx *c, nqw_model *w, const nq_settings *s) {
    nqw_job *wj = calloc(1, sizeof *wj);
    if (!wj) return nq_fail(&c->err, NQ_E_NOMEM, "out of memory"), NULL;
    if (nq_job_begin(&wj->j, w->m, s, NULL, &c->err) != NQ_OK) {
        free(wj);
        return NULL;
    }
    ok(c);
    return wj;
}

EMSCRIPTEN_KEEPALIVE int nqw_job_tensor_count(nqw_job *wj) { return nq_job_tensor_count(wj->j); }
EMSCRIPTEN_KEEPALIVE int nqw_job_holds_all(nqw_job *wj) { return nq_job_holds_all(wj->j); }
EMSCRIPTEN_KEEPALIVE int nqw_job_ahead(nqw_job *wj, int width) { return nq_job_ahead(wj->j, width); }

EMSCRIPTEN_KEEPALIVE nq_encoded *nqw_job_encode(nqw_ctx *c, nqw_job *wj, int t) {
    nq_encoded *enc = NULL;
    if (nq_job_encode(wj->j, t, &enc, &c->err) != NQ_OK) return NULL;
    ok(c);
    return enc;
}

/* Start the container on JS writer whandle; sources_json: [{name, size, sha256 (hex)}] of the
 * original files, as for nqw_compress. */
EMSCRIPTEN_KEEPALIVE int nqw_job_output(nqw_ctx *c, nqw_job *wj, int whandle, const char *sources_json) {
    cJSON *arr = cJSON_Parse(sources_json);
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    nq_source_file *src = n > 0 ? calloc((size_t)n, sizeof *src) : NULL;
    nq_status st;
    if (n <= 0) st = nq_fail(&c->err, NQ_E_ARG, "sources: expected a non-empty JSON array");
    else if (!src) st = nq_fail(&c->err, NQ_E_NOMEM, "out of memory");
    else st = parse_sources(c, arr, src, n);
    if (st == NQ_OK) {
        wj->handle = whandle;
        nq_writer wr = {&wj->handle, sink_write};
        st = nq_job_output(wj->j, &wr, src, n, &c->err);
    }
    cJSON_Delete(arr);
    free(src);
    return st == NQ_OK ? (int)ok(c) : (int)st;
}

/* Hand over tensor t's encode (ownership taken, also on error), then write what is next in
 * model order: returns the number of tensors written in all, or -1 (error in c). */
EMSCRIPTEN_KEEPALIVE int nqw_job_accept(nqw_ctx *c, nqw_job *wj, int t, nq_encoded *enc) {
    int written = 0;
    if (nq_job_accept(wj->j, t, enc, &c->err) != NQ_OK || nq_job_write(wj->j, &written, &c->err) != NQ_OK)
        return -1;
    ok(c);
    return written;
}

/* Stage 3 once every tensor is accepted, then the rest of the tensors, the manifest and footer. */
EMSCRIPTEN_KEEPALIVE int nqw_job_finish(nqw_ctx *c, nqw_job *wj) {
    nq_status st = nq_job_stage3(wj->j, NULL, NULL, &c->err);
    if (st == NQ_OK) st = nq_job_write(wj->j, NULL, &c->err);
    if (st == NQ_OK) st = nq_job_finish(wj->j, &c->err);
    return st == NQ_OK ? (int)ok(c) : (int)st;
}

/* SHA-256 of every byte of JS reader `handle`, into out[32]. */
EMSCRIPTEN_KEEPALIVE int nqw_sha256_source(nqw_ctx *c, int handle, double size, const char *name,
                                           uint8_t *out) {
    nqw_source s;
    nq_reader r;
    if (source_init(&s, &r, handle, size, name))
        return (int)nq_fail(&c->err, NQ_E_NOMEM, "out of memory");
    nq_status st = nq_sha256_reader(&r, out, &c->err);
    free(s.name);
    return st == NQ_OK ? (int)ok(c) : (int)st;
}

/* ------------------------------------------------------------- validation */

static void problem_cb(void *ctx, const char *where, const char *what) {
    cJSON *p = cJSON_CreateObject();
    if (!p) return;
    cJSON_AddStringToObject(p, "where", where ? where : "");
    cJSON_AddStringToObject(p, "what", what ? what : "");
    cJSON_AddItemToArray((cJSON *)ctx, p);
}

/* Full validation of a .novaq: {"ok", "status", "message", "problems": [{where, what}]}. */
EMSCRIPTEN_KEEPALIVE char *nqw_validate(nqw_ctx *c, int handle, double size, const char *name) {
    nqw_source s;
    nq_reader r;
    if (source_init(&s, &r, handle, size, name)) {
        nq_fail(&c->err, NQ_E_NOMEM, "out of memory");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject(), *problems = cJSON_CreateArray();
    int nproblems = 0;
    nq_err e = {0};
    nq_status st = nq_validate(&r, problem_cb, problems, &nproblems, &e);
    free(s.name);
    if (!o || !problems) {
        cJSON_Delete(o);
        cJSON_Delete(problems);
        nq_fail(&c->err, NQ_E_NOMEM, "out of memory");
        return NULL;
    }
    cJSON_AddBoolToObject(o, "ok", st == NQ_OK);
    cJSON_AddStringToObject(o, "status", nq_status_name(st));
    cJSON_AddStringToObject(o, "message", st == NQ_OK ? "" : e.msg);
    cJSON_AddNumberToObject(o, "nproblems", nproblems);
    cJSON_AddItemToObject(o, "problems", problems);
    ok(c);
    return json_take(c, o);
}

/* ---------------------------------------------------------------- kernels */

/* The active kernels (SIMD128 in the SIMD build) and the scalar reference, for the tests
 * that check they agree bit for bit (kernels.h's determinism contract). */
EMSCRIPTEN_KEEPALIVE const char *nqw_kernel_variant(void) { return nq_k_variant(); }
EMSCRIPTEN_KEEPALIVE float nqw_k_dist2(const float *x, const float *c, int d) {
    return nq_k_dist2(x, c, d);
}
EMSCRIPTEN_KEEPALIVE float nqw_k_dist2_ref(const float *x, const float *c, int d) {
    return nq_k_dist2_ref(x, c, d);
}
EMSCRIPTEN_KEEPALIVE int nqw_k_nearest(const float *x, const float *C, int K, int d, float *dist) {
    return nq_k_nearest(x, C, K, d, dist);
}
EMSCRIPTEN_KEEPALIVE int nqw_k_nearest_ref(const float *x, const float *C, int K, int d,
                                           float *dist) {
    return nq_k_nearest_ref(x, C, K, d, dist);
}

/* The forward pass's dot / matmul kernels (kernels_matmul.h): the fastest variant here
 * (ref = 0) or the scalar reference (ref = 1); y is T x O, x is T x n, w is O x n. */
EMSCRIPTEN_KEEPALIVE const char *nqw_mm_variant(void) {
    nq_mm_kernels k;
    nq_mm_select(&k, NULL);
    return k.name;
}
EMSCRIPTEN_KEEPALIVE float nqw_mm_dot(const float *x, const float *w, int n, int ref) {
    nq_mm_kernels k;
    nq_mm_select(&k, ref ? "scalar" : NULL);
    return k.dot(x, w, n);
}
EMSCRIPTEN_KEEPALIVE void nqw_mm_matmul(float *y, const float *x, const float *w, int T, int O,
                                        int n, int ref) {
    nq_mm_kernels k;
    nq_mm_select(&k, ref ? "scalar" : NULL);
    k.matmul(y, O, x, n, w, n, T, O, n);
}
