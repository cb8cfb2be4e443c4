/* cli.h - shared pieces of the native `novaq` command: file readers/writers over stdio,
 * model opening (file or directory), atomic output, progress line, argument helpers.
 * Exit codes: 0 ok, 1 invalid input / failure, 2 usage. */
#ifndef NQ_CLI_H
#define NQ_CLI_H
#include <stdio.h>
#include "novaq.h"

enum { EXIT_OK = 0, EXIT_INVALID = 1, EXIT_USAGE = 2 };

/* A reader over a file on disk. Returns nonzero (message in e) on failure. */
int cli_open_reader(const char *path, nq_reader *r, nq_err *e);
void cli_close_reader(nq_reader *r);

/* Open a model: a .safetensors file, a directory with model.safetensors.index.json or
 * model.safetensors, a .novaq file (and, where built, .gguf). On success *readers holds
 * the files opened (close with cli_close_model). src/nsrc describe the source files
 * (names, sizes; sha256 computed if want_hash, only after the model parsed, so a bad file
 * fails on its header instead of after reading every byte). */
typedef struct cli_model {
    nq_model *model;
    nq_reader *readers;
    int nreaders;
    nq_source_file *src;
    char **src_names;
    int nsrc;
    const char *format;
} cli_model;
/* no_verify: a .novaq is opened with NQ_OPEN_NO_VERIFY (shard hashes not checked). */
int cli_open_model(const char *path, int want_hash, int no_verify, cli_model *cm, nq_err *e);
void cli_close_model(cli_model *cm);

/* Atomic output: writes go to "<path>.tmp.<pid>", renamed over path on commit; removed on
 * abort, and on SIGINT/SIGTERM while open (the process then dies of the signal). */
typedef struct cli_out {
    FILE *f;
    char *path, *tmp;
    nq_writer w;
} cli_out;
int cli_out_open(cli_out *o, const char *path, nq_err *e);
int cli_out_commit(cli_out *o, nq_err *e);
void cli_out_abort(cli_out *o);
/* Can path be an output: not a directory, in an existing directory we may write in? Run it
 * before any long work so a bad -o fails at once (cli_out_open runs it too). */
int cli_out_check(const char *path, nq_err *e);

/* Read a whole (small) file; NULL + message on failure. */
char *cli_slurp(const char *path, size_t *len, nq_err *e);

/* Report an error as "novaq: <msg>" on stderr and return the exit code for it. */
int cli_fail(const nq_err *e);
int cli_usage(const char *msg);

/* Progress line on stderr when it is a terminal; ctx points at the start time (cli_now). */
double cli_now(void);
int cli_progress(void *ctx, int tensor, int ntensors, uint64_t done, uint64_t total);

/* Compression settings from the command line: --bits first (default preset "2"), then
 * --subspaces, --codebook-size, --residual-codebook-size (repeatable), --seed, --scope-rows,
 * --outlier-fraction, --kmeans-iters, --train-vectors, --zstd-level, --shard-size,
 * --no-quantize-embeddings, --no-quantize-lm-head. Marks consumed argv entries in used[]
 * (argc entries). Returns 0, or nonzero with a message in e. */
int cli_settings_parse(int argc, char **argv, nq_settings *s, unsigned char *used, nq_err *e);
extern const char cli_settings_help[];
/* Compress an opened model to path with NOVAQ_NUM_THREADS workers (output identical for
 * any thread count); prints a summary unless quiet. */
int cli_compress_to(cli_model *cm, const nq_settings *s, const char *path, int json, nq_err *e);
/* Stage 3's view of the calibration text (cmd_calib.c): the layer-wise statistics, and
 * the teacher with the tokens for the end-to-end step. */
typedef struct cli_calib {
    nq_calib *stats;
    nq_llama *teacher;   /* the original model, loaded */
    int32_t *ids;        /* the calibration text's tokens */
    size_t nids;
    int ctx;             /* window length */
} cli_calib;
/* The same with stage 3 from calibration text (NULL: none): the core driver
 * (nq_compress_ex) decides what runs (layer-wise, mixed precision, end to end); this prints
 * its stage-3 messages on stderr. */
int cli_compress_calib(cli_model *cm, const nq_settings *s, const cli_calib *calib, const char *path, int json,
                       nq_err *e);
/* Calibration of an opened original model from a text file (cmd_calib.c). */
int cli_calib_collect(const cli_model *cm, const char *model_path, const char *calib_path, const nq_settings *s,
                      cli_calib *out, nq_err *e);
void cli_calib_free(cli_calib *c);

int cli_threads(void); /* NOVAQ_NUM_THREADS or the number of online CPUs */
int cli_has_flag(int argc, char **argv, const char *flag);

/* Command entry points: argv[0] is the command name. */
int cmd_local(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_decompress(int argc, char **argv);

/* Model sources (cmd_fetch.c, issue 7): download or locate, check, then compress as local. */
int cmd_hf(int argc, char **argv);
int cmd_url(int argc, char **argv);
int cmd_ollama(int argc, char **argv);
/* Built-in forward pass (cmd_bench.c, issue 3). */
int cmd_ppl(int argc, char **argv);
int cmd_benchmark(int argc, char **argv);
int cmd_generate(int argc, char **argv);
/* Settings from a novaq-config.yaml or .json file (settings_args.c: the file's text through
 * nq_settings_from_config; keys in docs/SOURCES.md). If the file sets
 * model.compression.bits_per_weight, *s is first reset to that preset; every other key is then
 * applied over *s. Unknown keys and bad values are errors naming file and line. Call it
 * before applying command-line flags, so that flags override the file. */
int cli_config_load(const char *path, nq_settings *s, nq_err *e);
#endif
