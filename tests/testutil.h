/* testutil.h - tiny assertion helpers and file readers shared by the C tests. */
#ifndef NQ_TESTUTIL_H
#define NQ_TESTUTIL_H
#include <stdio.h>
#include <stdlib.h>
#include "novaq_internal.h" /* tests reach under the driver */

extern int tu_failures;
#define CHECK(cond) do { if (!(cond)) { tu_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_OK(expr) do { nq_err e_ = {0}; (void)e_; nq_status s_ = (expr); if (s_ != NQ_OK) { \
    tu_failures++; fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #expr); } } while (0)
#define TU_DONE() (tu_failures ? (fprintf(stderr, "%d check(s) failed\n", tu_failures), 1) \
                               : (printf("ok\n"), 0))

/* Read a whole file into memory (NULL on failure); *len gets its size. */
unsigned char *tu_read_file(const char *path, size_t *len);
/* Reader over a file on disk (stdio). Close with tu_file_reader_close. */
nq_reader tu_file_reader(const char *path);
void tu_file_reader_close(nq_reader *r);
/* Path inside tests/data; returns a static buffer. */
const char *tu_data(const char *rel);

/* Build a safetensors file in memory: 8-byte length, header JSON, data bytes. */
unsigned char *tu_make_st(const char *json, const void *data, size_t dlen, size_t *out_len);
/* Open an in-memory safetensors file as a model (src must outlive the model). */
nq_status tu_open_st(nq_mem_source *src, nq_model **m, nq_err *e);

/* Encodes of all n tensors of a model: a deep copy (cheaper than encoding again), freeing,
 * and a .novaq written from them in memory with settings s (a model.safetensors source). */
nq_encoded **tu_clone_encodes(nq_encoded *const *src, int n);
void tu_free_encodes(nq_encoded **enc, int n);
nq_mem_sink tu_write_encodes(nq_encoded *const *enc, int n, const nq_settings *s);

/* The manifest text of a .novaq file in memory (malloc'd, NUL-terminated). */
char *tu_manifest_of(const nq_mem_sink *f);
/* A copy of the .novaq file f with the first `from` in its manifest replaced by `to` and the
 * footer's manifest length and SHA-256 fixed up, so that only the edited field is wrong;
 * *n gets its size. NULL (and a message on stderr) if the manifest holds no `from`. */
unsigned char *tu_edit_manifest(const nq_mem_sink *f, const char *from, const char *to, size_t *n);
#endif
