/* novaq.h - the public API of the NOVAQ core library.
 *
 * NOVAQ compresses neural-network weights with multi-stage vector quantization into a
 * .novaq container of hash-verified shards (docs/FORMAT.md). The core is portable C11:
 * it never opens files, sockets or threads. Input arrives through nq_reader callbacks,
 * output leaves through nq_writer callbacks, and work is split into units (one tensor)
 * that a caller may run on any thread or Web Worker.
 *
 * Errors are values: every fallible call returns an nq_status and, when given an nq_err,
 * fills it with a message naming the file, tensor and byte offset involved.
 */
#ifndef NOVAQ_H
#define NOVAQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NQ_VERSION_STRING "0.1.0"
#define NQ_FORMAT_VERSION 2

/* ------------------------------------------------------------------ errors */

typedef enum nq_status {
    NQ_OK = 0,
    NQ_E_ARG,         /* caller passed an invalid argument or setting */
    NQ_E_IO,          /* a reader or writer callback failed */
    NQ_E_FORMAT,      /* input bytes are malformed (bad header, JSON, offsets, ...) */
    NQ_E_UNSUPPORTED, /* well-formed input this build cannot handle */
    NQ_E_HASH,        /* a SHA-256 did not match */
    NQ_E_NOMEM,       /* allocation failed */
    NQ_E_LIMIT,       /* a size limit was exceeded */
    NQ_E_CANCELLED    /* a progress callback asked to stop */
} nq_status;

typedef struct nq_err {
    nq_status code;
    char msg[512];
} nq_err;

const char *nq_status_name(nq_status s);

/* One line naming this build: library and format version, the zstd and cJSON versions compiled
 * in and where they came from (e.g. "novaq 0.1.0 (format 2); zstd 1.5.4, cJSON 1.7.15; from
 * Debian source libzstd 1.5.4+dfsg2-5 (bookworm), ..."). A static string. */
const char *nq_build_info(void);
/* Sets e (if non-NULL) and returns code. printf-style. */
nq_status nq_fail(nq_err *e, nq_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ------------------------------------------------------------- byte I/O */

/* Random-access input. read() fills exactly len bytes at off or returns nonzero.
 * size is the total byte size; name is used in error messages.
 * Lifetime: whatever opens a reader (nq_safetensors_open, nq_gguf_open, nq_novaq_open)
 * keeps a copy of the struct and calls read() lazily until nq_model_free: ctx and name must
 * stay valid until then. Threads: a safetensors or GGUF model may read rows from several
 * threads at once (the driver's executor encodes tensors in parallel), so read() must allow
 * concurrent calls with different buffers (pread on a shared descriptor, a memory buffer);
 * a model opened from a .novaq file keeps a shard cache and must be read from one thread at
 * a time (see nq_novaq_open). Calls that take a reader without opening a model (nq_validate,
 * nq_sha256_reader) use it only during the call. */
typedef struct nq_reader {
    void *ctx;
    uint64_t size;
    const char *name;
    int (*read)(void *ctx, uint64_t off, void *dst, size_t len);
} nq_reader;

/* Sequential output. write() consumes all len bytes or returns nonzero. */
typedef struct nq_writer {
    void *ctx;
    int (*write)(void *ctx, const void *src, size_t len);
} nq_writer;

/* Reader over a memory buffer (ctx must point at an nq_mem_source). */
typedef struct nq_mem_source {
    const uint8_t *data;
    uint64_t size;
} nq_mem_source;
nq_reader nq_reader_mem(nq_mem_source *src, const char *name);

/* Growable memory writer; free buf with free(). */
typedef struct nq_mem_sink {
    uint8_t *buf;
    size_t size, cap;
} nq_mem_sink;
nq_writer nq_writer_mem(nq_mem_sink *sink);

/* ---------------------------------------------------------------- SHA-256 */

typedef struct nq_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    uint32_t nbuf;
} nq_sha256_ctx;

void nq_sha256_init(nq_sha256_ctx *c);
void nq_sha256_update(nq_sha256_ctx *c, const void *data, size_t len);
void nq_sha256_final(nq_sha256_ctx *c, uint8_t out[32]);
void nq_sha256(const void *data, size_t len, uint8_t out[32]);
void nq_hex(const uint8_t *bytes, size_t n, char *out /* 2n+1 */);
/* The inverse of nq_hex: s must be exactly 2n lowercase hex digits (nothing after them).
 * Returns 1 with out[0..n) filled, else 0 (out partly written). */
int nq_hex_parse(const char *s, uint8_t *out, size_t n);
/* Hash every byte a reader offers, in bounded memory. */
nq_status nq_sha256_reader(const nq_reader *r, uint8_t out[32], nq_err *e);

/* ------------------------------------------------------------- numerics */

float nq_f16_to_f32(uint16_t h);
uint16_t nq_f32_to_f16(float f);   /* round to nearest even, saturates to inf */
float nq_bf16_to_f32(uint16_t h);
uint16_t nq_f32_to_bf16(float f);  /* round to nearest even, NaN stays NaN */
/* Deterministic log10 (own implementation, identical on every libc). */
double nq_log10(double x);

/* ------------------------------------------------------------------ model */

typedef enum nq_dtype {
    NQ_DT_F32 = 0, NQ_DT_F16, NQ_DT_BF16, NQ_DT_F64,
    NQ_DT_I8, NQ_DT_U8, NQ_DT_I16, NQ_DT_U16, NQ_DT_I32, NQ_DT_U32, NQ_DT_I64, NQ_DT_U64,
    NQ_DT_BOOL, NQ_DT_F8_E4M3, NQ_DT_F8_E5M2,
    NQ_DT_Q8_0, /* GGUF block type: 32 int8 + f16 scale per block */
    NQ_DT_OTHER, /* present in a file but not decodable here (listed, never mis-read) */
    NQ_DT_COUNT
} nq_dtype;

const char *nq_dtype_name(nq_dtype t);       /* safetensors spelling, e.g. "BF16" */
int nq_dtype_from_name(const char *name);     /* -1 if unknown */
size_t nq_dtype_size(nq_dtype t);             /* bytes per element; 0 for block types */
int nq_dtype_is_float(nq_dtype t);            /* readable as f32 rows (F32/F16/BF16/Q8_0) */

#define NQ_MAX_DIMS 8

typedef struct nq_tensor_info {
    char *name;
    nq_dtype dtype;
    char dtype_name[16];  /* as spelled in the source (kept for NQ_DT_OTHER) */
    int ndim;
    int64_t shape[NQ_MAX_DIMS];
    int64_t rows, cols;   /* rows = shape[0], cols = product of the rest; 1-D: 1 x n */
    int file;             /* index of the source file holding it */
    uint64_t offset;      /* absolute byte offset of its data in that file */
    uint64_t nbytes;      /* stored size in bytes */
} nq_tensor_info;

/* A model is a read-only set of named tensors from one or more source files
 * (safetensors, a sharded safetensors directory, GGUF, or a .novaq being decoded). */
typedef struct nq_model nq_model;

/* One safetensors file, or the shards of a sharded model: files[i] is the reader of the
 * i-th file named by the index (index_json may be NULL for a single file). */
nq_status nq_safetensors_open(nq_model **out, const nq_reader *files, int nfiles,
                              const char *index_json, size_t index_len, nq_err *e);
/* List the distinct shard file names of model.safetensors.index.json, in first-seen
 * order of its weight_map. *names is one malloc block; free it with free(). */
nq_status nq_safetensors_index_files(const char *json, size_t len, char ***names,
                                     int *count, nq_err *e);

void nq_model_free(nq_model *m);
int nq_model_tensor_count(const nq_model *m);
const nq_tensor_info *nq_model_tensor(const nq_model *m, int i);
int nq_model_find(const nq_model *m, const char *name); /* -1 if absent */
/* Format name ("safetensors", "gguf", "novaq") and the source's free-form metadata as a
 * JSON object text (safetensors __metadata__, GGUF key/values), or NULL. */
const char *nq_model_format(const nq_model *m);
const char *nq_model_metadata_json(const nq_model *m);
/* Rows [row0, row0+nrows) of a float tensor as f32, row-major, cols floats per row. */
nq_status nq_model_read_rows(const nq_model *m, int t, int64_t row0, int64_t nrows,
                             float *dst, nq_err *e);
/* Stored bytes [off, off+len) of any tensor (relative to its data start). */
nq_status nq_model_read_raw(const nq_model *m, int t, uint64_t off, void *dst, size_t len,
                            nq_err *e);

/* Write a model as one safetensors file with the original names and shapes. Float
 * tensors are written in out_dtype (NQ_DT_F32/F16/BF16) or, if out_dtype < 0, in their
 * original dtype; other tensors are copied byte for byte. Streams row blocks. */
nq_status nq_safetensors_write(const nq_model *m, int out_dtype, const nq_writer *w,
                               nq_err *e);

/* --------------------------------------------------------------- settings */

#define NQ_MAX_STAGES 4

typedef struct nq_settings {
    char preset[16];          /* "1.5", "2", "3", "4" or "custom" */
    int d;                    /* vector length ("subspaces") */
    int nstages;              /* 1 primary + residual stages */
    int K[NQ_MAX_STAGES];     /* entries per stage, powers of two, 2..65536 */
    uint64_t seed;
    int scope_rows;           /* 0: one codebook set per tensor; else per group of rows */
    double outlier_fraction;  /* stage 1: input channels rescaled (top fraction by variance) */
    int quantize_embeddings;  /* quantize *embed_tokens* style tensors */
    int quantize_lm_head;
    int kmeans_iters;
    int train_vectors;        /* cap on vectors sampled to train one codebook */
    int zstd_level;
    uint32_t shard_max_bytes; /* each shard (and so each part) at most this many bytes */
    /* stage 3 and the shared codebook set (see the stage-3 section below) */
    int share_codebooks;      /* 1: one codebook set for the whole model (scope_rows 0 only) */
    int refine;               /* stage 3: 1 = output-aware where calibration statistics exist,
                                 weight-space scale refit elsewhere; 0 = stage 1+2 only */
    double damp;              /* stage 3: Hessian damping, fraction of its mean diagonal */
    int calib_tokens;         /* stage 3: calibration tokens used at most (callers' cap) */
    int joint;                /* stage 2: joint (additive) codebook refit and code re-choice */
    int beam;                 /* stages 2/3: beam width of the code search over stages (1 = greedy) */
    int rotate;               /* stage 1: random-sign Hadamard rotation of rows (incoherence) */
    int act_order;            /* stage 3: code vectors by decreasing input energy */
    int e2e_steps;            /* stage 3 end to end: optimizer steps (windows) against the
                                 teacher when calibration text is given; 0 = off */
    double e2e_lambda;        /* weight of the hidden-state cosine term in the loss */
    double e2e_lr;            /* multiplier of the built-in learning rates */
    int base_stages;          /* mixed precision: 0 = every tensor uses all nstages stages of the
                                 model-wide set; else tensors use the first base_stages and the
                                 ones stage 3 picks (nq_mixed_allocate) use all of them */
    double bits_budget;       /* mixed precision: bits per quantized weight, all in, to fill */
    int mixed;                /* 1: with calibration, use the preset's mixed layout
                                 (nq_settings_mixed); 0: the same layout for every tensor */
} nq_settings;

/* Defaults for a bits preset ("1.5", "2", "3", "4"); see docs/FORMAT.md for the table. */
nq_status nq_settings_preset(nq_settings *s, const char *bits, nq_err *e);
nq_status nq_settings_check(const nq_settings *s, nq_err *e);
/* The label follows the numbers: s->preset becomes the preset whose stage layout (d, nstages,
 * K of the used stages) s has, or "custom". Every parser below calls it after each change, so
 * "--bits 2" and "--bits 3" with preset 2's layout are one setting under one name. */
void nq_settings_relabel(nq_settings *s);
/* --bits over a settings file (a config loaded into *s): the preset's stage layout replaces
 * s's, and its beam, end-to-end steps, bits budget and mixed flag replace those s still has
 * from its own preset (the file's label, or preset "2" for a custom layout). */
nq_status nq_settings_preset_over(nq_settings *s, const char *bits, nq_err *e);

/* One table of the settings (core/compress/settings_table.c): every field, its kind and valid
 * range, and the name it goes by in each of the four vocabularies below. All parsers and
 * serializers use it, so a field added there is settable and recorded everywhere. */
typedef enum nq_settings_vocab {
    NQ_VOCAB_FLAG,     /* command-line flags: "--subspaces 8", "--no-refine" */
    NQ_VOCAB_CONFIG,   /* settings files (docs/SOURCES.md): "model.compression.subspaces" */
    NQ_VOCAB_JSON,     /* the embedders' JSON (wasm module, web page): "d" */
    NQ_VOCAB_MANIFEST, /* the .novaq manifest's "settings" object: "subspaces" */
    NQ_VOCAB_COUNT
} nq_settings_vocab;

typedef enum nq_setting_kind {
    NQ_SET_PRESET,    /* the bits preset: resets every field to it */
    NQ_SET_INT,       /* int field, an integer in [lo, hi] */
    NQ_SET_U32,       /* uint32_t field, an integer in [lo, hi] */
    NQ_SET_U64,       /* uint64_t field, any 64-bit integer (decimal, 0x hex or 0 octal) */
    NQ_SET_DOUBLE,    /* double field in [lo, hi] */
    NQ_SET_BOOL,      /* int field, 0 or 1 ("true"/"false"; flags: name sets 1, flag_off 0) */
    NQ_SET_SIZES,     /* K[] and nstages: a list of 1..NQ_MAX_STAGES sizes in [lo, hi] */
    NQ_SET_PRIMARY,   /* K[0] */
    NQ_SET_RESIDUAL,  /* K[1..] and nstages: a list of 0..NQ_MAX_STAGES-1 sizes ("0": none) */
    NQ_SET_STAGES,    /* nstages, 1..the current nstages (keeps the first ones) */
    NQ_SET_CODE_BITS  /* derived (nq_settings_code_bits): written, ignored when read */
} nq_setting_kind;

typedef struct nq_setting {
    const char *name[NQ_VOCAB_COUNT]; /* NULL: not in that vocabulary */
    const char *flag_off;             /* NQ_SET_BOOL: the flag that sets 0 ("--no-refine") */
    nq_setting_kind kind;
    size_t offset;                    /* offsetof(nq_settings, field) */
    double lo, hi;
} nq_setting;

/* The rows in manifest order; *n gets their count. */
const nq_setting *nq_settings_table(int *n);
/* The row named key in vocabulary v (flags: either of a boolean's two flags), or NULL. */
const nq_setting *nq_settings_find(nq_settings_vocab v, const char *key);
/* Sets the field named key in vocabulary v from its text form (lists: comma-separated; a
 * boolean flag takes value NULL), then relabels s. A value of the wrong form or out of the
 * row's range is refused with a message naming the key; s is then unchanged. */
nq_status nq_settings_set(nq_settings *s, nq_settings_vocab v, const char *key, const char *value,
                          nq_err *e);
/* Settings from a JSON object in vocabulary NQ_VOCAB_JSON or NQ_VOCAB_MANIFEST: *s is reset to
 * the preset named by "bits" (JSON; default "2"), then every key is applied. Unknown keys and
 * values of the wrong type are errors; "preset" and the code bits are written by
 * nq_settings_to_json and ignored here (the label follows the numbers). Checked on success. */
nq_status nq_settings_from_json(nq_settings *s, nq_settings_vocab v, const char *json, nq_err *e);
/* Every field with a name in v (JSON or manifest) as one JSON object, table order, plus
 * "preset" (the label); malloc'd, the caller frees; NULL when out of memory. */
char *nq_settings_to_json(const nq_settings *s, nq_settings_vocab v);
/* Settings from a settings file's text (novaq-config.yaml or .json; name ends in .yaml, .yml or
 * .json and is used in messages). If the file sets model.compression.bits_per_weight, *s is
 * first reset to that preset; every other key is then applied over *s. Unknown keys, repeated
 * keys and bad values are errors naming the file and line. Checked on success. */
nq_status nq_settings_from_config(nq_settings *s, const char *name, const char *text, size_t len,
                                  nq_err *e);
/* The layout stage 3 uses when it has calibration (mixed precision, issue 4): *out = s with the
 * preset's mixed stages (preset 2: {1024, 32} for every tensor, a third stage of 256 entries
 * for the tensors nq_mixed_allocate picks, within bits_budget; preset 1.5: {1024, 2} and a
 * third stage of 256 entries; presets 3 and 4: their two stages and a third of 16 entries).
 * The preset is the one whose stage layout s has, whatever s->preset says. Returns 1 if s asks
 * for mixed precision (s->mixed and a preset layout that has a mixed one, or base_stages <
 * nstages given explicitly, kept as it is), else 0 with *out = *s. */
int nq_settings_mixed(const nq_settings *s, nq_settings *out);
/* Nominal code bits per weight of the stage configuration (no overheads; the base stages
 * under mixed precision). */
double nq_settings_code_bits(const nq_settings *s);

/* --------------------------------------------------------------- encoding */

/* NQ_PART_SHARED: a stage of the model-wide codebook set (a = set, b = stage), carried by
 * every tensor encoded with it; the container stores it once (docs/FORMAT.md). */
enum { NQ_PART_RAW = 0, NQ_PART_NORM, NQ_PART_CODEBOOK, NQ_PART_CODES, NQ_PART_SHARED,
       NQ_PART_KIND_COUNT };
enum { NQ_CODEC_NONE = 0, NQ_CODEC_ZSTD = 1 };

/* One stored payload of a tensor. data holds the stored (maybe compressed) bytes. */
typedef struct nq_part {
    int kind;           /* NQ_PART_* */
    int codec;          /* NQ_CODEC_* */
    int64_t a, b;       /* RAW: byte range; NORM: -; CODEBOOK: group, stage; CODES: rows [a,b) */
    uint64_t raw_size;  /* size after decompression */
    uint8_t *data;
    size_t size;
} nq_part;

/* A tensor encoded in memory, ready for the container writer. meta_json is the tensor's
 * manifest entry without storage locations (the writer adds those). Portable: a worker
 * may encode and hand the parts to another instance that writes the container. */
typedef struct nq_encoded {
    char *meta_json;
    int nparts;
    nq_part *parts;
    uint64_t weights;        /* number of elements */
    uint64_t stored_bytes;   /* sum of part sizes */
    double sse, signal;      /* reconstruction error and signal energy (0 for raw) */
} nq_encoded;

void nq_encoded_free(nq_encoded *enc);

/* ---------------------------------------------------------- container I/O */

typedef struct nq_source_file {
    const char *name;
    uint64_t size;
    uint8_t sha256[32];
} nq_source_file;

/* Progress: return nonzero to cancel. */
typedef int (*nq_progress_fn)(void *ctx, int tensor, int ntensors, uint64_t weights_done,
                              uint64_t weights_total);

/* Whole pipeline on one thread, without calibration: nq_compress_ex (below) with no
 * calibration, no executor and only a progress callback. */
nq_status nq_compress(const nq_model *m, const nq_settings *s, const nq_source_file *src,
                      int nsrc, const nq_writer *w, nq_progress_fn progress, void *pctx,
                      nq_err *e);

/* ------------------------------------------------------- reading .novaq */

/* Open a .novaq: checks magic, footer, manifest hash and schema, tensor ranges, the reader's
 * size bounds (docs/FORMAT.md "Bounds") and that root_hash matches the shard hashes. The
 * returned model lists the original tensors (names, shapes, dtypes) and decodes rows on
 * demand; before any part of a shard is decoded the whole shard's SHA-256 is checked (once
 * per shard, streamed in bounded blocks), and a mismatch fails that read with NQ_E_HASH
 * naming the shard and file. Reads through one model must not run concurrently. */
nq_status nq_novaq_open(nq_model **out, const nq_reader *r, nq_err *e);
/* nq_novaq_open with flags: NQ_OPEN_NO_VERIFY skips the root and shard hash checks (an
 * explicit opt-out, e.g. `novaq decompress --no-verify`; structure and bounds are checked). */
enum { NQ_OPEN_NO_VERIFY = 1u };
nq_status nq_novaq_open_ex(nq_model **out, const nq_reader *r, unsigned flags, nq_err *e);
/* Manifest JSON text of a model opened by nq_novaq_open (NULL otherwise). */
const char *nq_novaq_manifest(const nq_model *m);

typedef void (*nq_problem_fn)(void *ctx, const char *where, const char *what);
/* Full check: structure, manifest schema, every shard's SHA-256, every tensor's parts,
 * the root hash. Reports each problem found; returns NQ_OK only if none. */
nq_status nq_validate(const nq_reader *r, nq_problem_fn problem, void *pctx, int *nproblems,
                      nq_err *e);

/* ------------------------------------------------ tokenizer (llm/tokenizer.c) */

/* Byte-level BPE from a Hugging Face tokenizer.json: vocab, merges, added tokens, and the
 * GPT-2 or LLaMA-3 pre-tokenizer split regex. Other normalizers, pre-tokenizers or model
 * types are NQ_E_UNSUPPORTED. Read-only after load: encode and decode never write to the
 * tokenizer (each call keeps its own scratch), so one loaded tokenizer may be used by any
 * number of threads at once; only nq_tokenizer_free needs them all to be done.
 * Encoding costs O(n log n) in the length of the longest pre-tokenized piece (one word or
 * whitespace run), O(n) memory. */
typedef struct nq_tokenizer nq_tokenizer;
nq_status nq_tokenizer_load(nq_tokenizer **out, const char *json, size_t len, nq_err *e);
void nq_tokenizer_free(nq_tokenizer *t);
int32_t nq_tokenizer_vocab_size(const nq_tokenizer *t);
/* UTF-8 text -> ids (*ids is malloc'd; free it). Added tokens in the text become their ids. */
nq_status nq_tokenizer_encode(const nq_tokenizer *t, const char *text, size_t len, int32_t **ids,
                              size_t *nids, nq_err *e);
/* ids -> bytes (*text malloc'd, NUL-terminated). Ids outside the vocabulary are NQ_E_ARG. */
nq_status nq_tokenizer_decode(const nq_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                              char **text, size_t *len, nq_err *e);

/* --------------------------------------------------------- GGUF (io/gguf.c) */

/* A GGUF v2/v3 file (llama.cpp) as a model; shapes outermost first. For architecture
 * "llama", names and layout are Hugging Face's (token_embd.weight ->
 * model.embed_tokens.weight, blk.N.attn_q.weight -> model.layers.N.self_attn.q_proj.weight,
 * ...; the Q/K row permutation of llama.cpp's converter undone on read); other architectures
 * keep llama.cpp's names. F32, F16, BF16
 * and Q8_0 read as f32 rows; other ggml types are listed (NQ_DT_OTHER, dtype_name "Q4_K"...).
 * Metadata key/values are the model's metadata JSON (arrays over 64 items summarized). */
nq_status nq_gguf_open(nq_model **out, const nq_reader *r, nq_err *e);
/* A Hugging Face config.json text (malloc'd) for a "llama" GGUF model, built from its
 * metadata, so the built-in forward pass can run it. */
nq_status nq_gguf_hf_config(const nq_model *m, char **json, nq_err *e);

/* ------------------------------------------- LLaMA forward pass (llm/llama.c) */

/* The decoder-only LLaMA family as Hugging Face's config.json defines it
 * (LlamaForCausalLM, MistralForCausalLM): RMSNorm, rotary embeddings (rotate-half),
 * multi-head / grouped-query attention with a KV cache, SwiGLU MLP, tied or untied lm_head.
 * Config fields that would change the math and are not implemented (rope scaling, biases,
 * other activations, quantization configs) are NQ_E_UNSUPPORTED, never ignored. */
typedef struct nq_llama_config {
    int vocab, dim, hidden, n_layers, n_heads, n_kv_heads, head_dim;
    int max_pos;           /* max_position_embeddings: the longest context allowed */
    int sliding_window;    /* Mistral; 0 if none (contexts beyond it are refused) */
    int tied;              /* lm_head shares model.embed_tokens.weight */
    double norm_eps, rope_theta;
    char arch[48];
} nq_llama_config;
nq_status nq_llama_config_parse(nq_llama_config *c, const char *json, size_t len, nq_err *e);

/* Weights as f32, read tensor by tensor from any nq_model (safetensors, sharded, .novaq
 * decoded on the fly, GGUF): memory is the f32 size of the model plus one row block.
 * Shapes are checked against the config; errors name the tensor. Read-only after load:
 * any number of states (one per thread) may share it. */
typedef struct nq_llama nq_llama;
nq_status nq_llama_load(nq_llama **out, const nq_model *m, const nq_llama_config *c, nq_err *e);
void nq_llama_free(nq_llama *l);
const nq_llama_config *nq_llama_get_config(const nq_llama *l);
const char *nq_llama_kernel_name(const nq_llama *l); /* matmul variant in use */
/* Use a named matmul variant ("scalar", "sse2", "avx", "wasm-simd128"); NQ_E_UNSUPPORTED if
 * this build or CPU lacks it. Every variant gives the same bits; this is for benchmarks. */
nq_status nq_llama_set_kernel(nq_llama *l, const char *name, nq_err *e);

/* Activation hooks (calibration, stage 3, diagnostics). A site is where a tensor of ntok
 * rows x width floats exists during a forward pass; for the inputs of linear layers,
 * tensors[] lists the nq_model tensor indices of the linears that consume it. */
typedef enum nq_llama_site {
    NQ_SITE_ATTN_IN = 0, /* input_layernorm output: input of q_proj, k_proj, v_proj */
    NQ_SITE_O_IN,        /* attention output: input of o_proj */
    NQ_SITE_MLP_IN,      /* post_attention_layernorm output: input of gate_proj, up_proj */
    NQ_SITE_DOWN_IN,     /* silu(gate) * up: input of down_proj */
    NQ_SITE_BLOCK_OUT,   /* residual stream after the block (layer's hidden state) */
    NQ_SITE_FINAL,       /* final norm output, input of lm_head (layer = n_layers) */
    NQ_SITE_COUNT
} nq_llama_site;
typedef struct nq_llama_act {
    int layer;
    nq_llama_site site;
    const float *x;  /* ntok x width, row-major; valid only during the call */
    int ntok, width;
    int pos0;        /* position of row 0 in the sequence */
    int tensors[3];
    int ntensors;
} nq_llama_act;
typedef void (*nq_llama_hook_fn)(void *ctx, const nq_llama_act *a);

/* Per-sequence state: KV cache for up to max_ctx positions, scratch for max_batch tokens
 * per step. Not shared between threads. */
typedef struct nq_llama_state nq_llama_state;
nq_status nq_llama_state_new(nq_llama_state **out, const nq_llama *l, int max_ctx, int max_batch,
                             nq_err *e);
void nq_llama_state_free(nq_llama_state *s);
void nq_llama_state_reset(nq_llama_state *s);          /* back to position 0 */
int nq_llama_state_pos(const nq_llama_state *s);
const nq_llama *nq_llama_state_model(const nq_llama_state *s);
void nq_llama_state_set_hook(nq_llama_state *s, nq_llama_hook_fn fn, void *ctx);
/* Append n tokens at the current position. logits (n x vocab) and hidden (n x dim, the
 * final norm output) are written when non-NULL. Ids outside the vocabulary and positions
 * beyond max_ctx / max_position_embeddings are NQ_E_ARG / NQ_E_LIMIT. */
nq_status nq_llama_forward(nq_llama_state *s, const int32_t *tokens, int n, float *logits,
                           float *hidden, nq_err *e);

/* Quality figures over windows (protocol of docs/DESIGN.md, "The test model": a window of ctx + 1
 * tokens predicts tokens 1..ctx). b may be NULL (one model: perplexity only). Sums are
 * over predicted tokens; combine windows in a fixed order for determinism. */
typedef struct nq_eval_sums {
    double nll_a, nll_b;  /* sum of -log p(target) */
    double kl;            /* sum of KL(a || b) per position, nats */
    double cos;           /* sum of cosine similarity of final hidden states */
    int64_t agree;        /* positions where argmax a == argmax b */
    int64_t ntok;
} nq_eval_sums;
nq_status nq_llama_eval_window(nq_llama_state *a, nq_llama_state *b, const int32_t *tokens, int ctx,
                               nq_eval_sums *sums, nq_err *e);

/* ------------------------------- stage 3: calibration and its reports (compress/stage3_*) */

/* Calibration statistics: for each linear layer of a LLaMA-family model, the second moment
 * H = sum over calibration tokens of x x^T of its input x (cols x cols, f64), gathered
 * through the forward-pass hooks on the original (teacher) model. Layers that share an
 * input (q/k/v, gate/up) share one matrix. Memory: sum of cols^2 * 8 bytes over sites. */
typedef struct nq_calib nq_calib;
/* Run the windows of tokens (ctx tokens each, at most max_tokens in all, in order) through l
 * and accumulate H for every linear input site. Deterministic: fixed summation order. */
nq_status nq_calib_collect(nq_calib **out, const nq_llama *l, const int32_t *tokens, size_t ntok,
                           int ctx, int max_tokens, nq_err *e);
void nq_calib_free(nq_calib *c);
int64_t nq_calib_tokens(const nq_calib *c);
/* What every tensor encode shares: the model-wide codebook set and the calibration
 * statistics (built by the driver, nq_job_plan; its functions are in novaq_internal.h). */
typedef struct nq_plan nq_plan;

/* Stage 3, end to end (compress/stage3_distill.c, nq_distill in novaq_internal.h): after every tensor of m is encoded (enc[t] for each
 * tensor t, in model order), refine the shared codebook set, the row scale codes and the
 * RMSNorm weights against the teacher (the original model, loaded) by s->e2e_steps Adam
 * steps on KL(teacher || student) + s->e2e_lambda * mean (1 - cos) of block outputs, one
 * window of ctx calibration tokens per step; the last windows of tokens are held out. The
 * encodes are changed in place only if the held-out mean KL went down (rep->accepted). */
typedef struct nq_distill_report {
    int steps, windows_train, windows_eval;
    int64_t params;                   /* values refined */
    double loss_first, loss_last;     /* training loss of the first and the last step */
    double kl_before, kl_after;       /* held-out mean KL(teacher || student), nats */
    double cos_before, cos_after;     /* held-out mean cosine of the final hidden states */
    double lr_factor;                 /* e2e_lr * relative weight error: scales the learning rates */
    int accepted;
} nq_distill_report;
/* Stage 3, mixed precision (s from nq_settings_mixed: base_stages < nstages): enc[t] are coded
 * with the base stages of plan's set; the tensors whose error costs most per weight (by
 * nq_distill_sensitivity on the first calibration windows) are coded again with every stage
 * while the quantized tensors stay within s->bits_budget bits per weight as stored. Changes
 * enc[] and plan's per-tensor stages; nothing when s is not mixed. */
typedef struct nq_mixed_report {
    int windows, tensors;             /* sensitivity windows; tensors given every stage */
    int64_t weights;                  /* their weights */
    double bits_base, bits;           /* bits per quantized weight before and after */
    double score_total, score_picked; /* sum of the scores: all tensors, the ones picked */
} nq_mixed_report;

/* ------------------------------------- the compression driver (compress/driver.c) */

/* The one compression policy: which settings take effect, when stage 3 runs and in which
 * order (plan -> encode every tensor -> nq_mixed_allocate -> nq_distill -> container in model
 * order), and how far encodes may run ahead of the writer when nothing must be held. It comes
 * in two forms over the same code: nq_job, explicit steps for callers that schedule the
 * encodes themselves (the page's Web Worker pool, which cannot block inside a C callback),
 * and nq_compress_ex, those steps driven through a caller-supplied parallel-for. The bytes
 * never depend on the schedule: each encode is deterministic and encodes are consumed in
 * model order. */

/* Calibration for stage 3, borrowed for the whole compression (the caller frees it after).
 * stats: layer-wise statistics (nq_calib_collect), used by the plan and every encode; teacher,
 * ids/nids, ctx: the original model loaded, the calibration tokens and the window length, for
 * mixed precision and the end-to-end step (both need the teacher). */
typedef struct nq_calibration {
    const nq_calib *stats;
    const nq_llama *teacher;
    const int32_t *ids;
    size_t nids;
    int ctx;
} nq_calibration;

/* What a compression did: the effective settings (the preset's mixed layout when mixed
 * precision ran), the stage-3 figures, the container's size. */
typedef struct nq_compress_report {
    nq_settings settings;
    int mixed;              /* mixed precision runs / ran: mix holds its figures once done */
    nq_mixed_report mix;
    int e2e;                /* the end-to-end step runs / ran: distill holds its figures once done */
    int e2e_skipped;        /* it was asked for (teacher, refine, e2e_steps) but refines the
                               model-wide set, which share_codebooks 0 / scope_rows turn off */
    nq_distill_report distill;
    uint64_t weights;       /* elements of every tensor */
    uint64_t bytes;         /* container bytes written */
} nq_compress_report;

/* Points of the compression a caller may want to announce or time, in this order (each at
 * most once): NQ_STEP_E2E_SKIPPED after the plan is built; NQ_STEP_STAGE3 when every encode
 * is held and stage 3 starts; NQ_STEP_MIXED and NQ_STEP_E2E when those finished (r holds
 * their figures). Called on the thread that runs the step. */
typedef enum nq_compress_step {
    NQ_STEP_E2E_SKIPPED = 0, NQ_STEP_STAGE3, NQ_STEP_MIXED, NQ_STEP_E2E
} nq_compress_step;
typedef void (*nq_step_fn)(void *ctx, nq_compress_step step, const nq_compress_report *r);

/* A compression in explicit steps. Lifetime: m, the calibration and the plan's inputs must
 * outlive the job. Threads: nq_job_encode may run on any number of threads at once (it only
 * reads the job); every other call needs the caller to serialize it, and none may overlap an
 * nq_job_encode except nq_job_accept / nq_job_write (they do not touch what encodes read).
 * Sequence:
 *   nq_job_begin           effective settings and the plan (shared codebooks, statistics);
 *   nq_job_output          start the container (may come any time before the first write);
 *   for each tensor t (0 .. nq_job_tensor_count - 1), anywhere, in any order, at most
 *   nq_job_ahead(j, width) not yet written:
 *     nq_job_encode        (or nq_encode_tensor_plan with nq_job_settings and nq_job_plan, in
 *                          another instance that began the same job: the plan is deterministic)
 *     nq_job_accept        hand the encode back (ownership taken)
 *     nq_job_write         write whatever is next in model order and allowed;
 *   nq_job_stage3          once every tensor is accepted (a no-op unless nq_job_holds_all);
 *   nq_job_write, nq_job_finish, nq_job_free (nq_job_free alone aborts at any point).
 * An encoding instance that never writes needs only begin, encode and free; it must be given
 * the same settings and calibration statistics (a teacher too if the writer has one, since
 * the effective settings depend on it). */
typedef struct nq_job nq_job;
nq_status nq_job_begin(nq_job **out, const nq_model *m, const nq_settings *s,
                       const nq_calibration *cal /* NULL: none */, nq_err *e);
nq_status nq_job_output(nq_job *j, const nq_writer *w, const nq_source_file *src, int nsrc,
                        nq_err *e);
int nq_job_tensor_count(const nq_job *j);
const nq_settings *nq_job_settings(const nq_job *j); /* effective: encode with these */
const nq_plan *nq_job_plan(const nq_job *j);
/* 1 when stage 3 runs: no tensor is written before every one is accepted and stage 3 ran. */
int nq_job_holds_all(const nq_job *j);
/* How many tensors may be encoded or held and not yet written, for `width` encodes at once:
 * every tensor when holding all, else 2 * width (memory stays bounded by a few tensors). */
int nq_job_ahead(const nq_job *j, int width);
nq_status nq_job_encode(const nq_job *j, int t, nq_encoded **out, nq_err *e);
/* Hand over tensor t's encode (ownership taken, also on error). NQ_E_ARG if t is out of
 * range or was accepted already. */
nq_status nq_job_accept(nq_job *j, int t, nq_encoded *enc, nq_err *e);
/* Stage 3 when the policy runs it: nq_mixed_allocate, then nq_distill, on the held encodes
 * (changes them and the plan: no encode may run during or after it). step (may be NULL) is
 * told NQ_STEP_STAGE3, NQ_STEP_MIXED, NQ_STEP_E2E. NQ_E_ARG if a tensor is missing. */
nq_status nq_job_stage3(nq_job *j, nq_step_fn step, void *sctx, nq_err *e);
/* Write the accepted tensors that come next in model order (freeing them); nothing while
 * stage 3 is pending. *written (may be NULL) gets how many tensors are written in all. */
nq_status nq_job_write(nq_job *j, int *written, nq_err *e);
/* After every tensor is written: the manifest and footer. */
nq_status nq_job_finish(nq_job *j, nq_err *e);
/* Figures so far (mixed, e2e and e2e_skipped are known from nq_job_begin). */
const nq_compress_report *nq_job_report(const nq_job *j);
void nq_job_free(nq_job *j);

/* A caller-supplied parallel-for: run task(arg, i) for every i in [0, n), on any threads, and
 * return when all are done. Tasks are independent and their results are consumed in index
 * order afterwards, so the bytes never depend on the executor. width: how many tasks it runs
 * at once (sizes the batches); NULL executor: every task in the calling thread. */
typedef void (*nq_task_fn)(void *arg, int i);
typedef struct nq_executor {
    void (*parallel_for)(void *ctx, int n, nq_task_fn task, void *arg);
    void *ctx;
    int width;
} nq_executor;

/* Callbacks of nq_compress_ex, all called on the calling thread; any may be NULL.
 * progress(ctx, t, n, done, total) before tensor t's encode starts (done: weights of the
 * tensors encoded so far; nonzero cancels: NQ_E_CANCELLED), and (n, n, total, total) once
 * all are written; step as for nq_job_stage3, plus NQ_STEP_E2E_SKIPPED. */
typedef struct nq_compress_hooks {
    nq_progress_fn progress;
    nq_step_fn step;
    void *ctx;
} nq_compress_hooks;

/* The whole compression of m into w: nq_job's steps, the encodes in batches through exec
 * (2 x width tensors, or one at a time serially), stage 3 when the calibration allows it
 * (every encode held until then), the container in model order. report (may be NULL) gets
 * the figures, also on error as far as they got. On any error nothing more is started,
 * everything held is freed and the output is left incomplete (the caller discards it). */
nq_status nq_compress_ex(const nq_model *m, const nq_settings *s, const nq_calibration *cal,
                         const nq_source_file *src, int nsrc, const nq_writer *w,
                         const nq_executor *exec, const nq_compress_hooks *hooks,
                         nq_compress_report *report, nq_err *e);

#ifdef __cplusplus
}
#endif
#endif
