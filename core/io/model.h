/* model.h - internal: the nq_model object shared by every format backend.
 * A backend (io/safetensors.c, io/gguf.c, decompress/decode.c) fills the tensor table and supplies
 * read_rows/read_raw; everything above works on nq_model alone. */
#ifndef NQ_MODEL_H
#define NQ_MODEL_H
#include "common/dtype.h"

typedef struct nq_model_ops {
    nq_status (*read_rows)(const nq_model *m, int t, int64_t row0, int64_t nrows, float *dst,
                           nq_err *e);
    nq_status (*read_raw)(const nq_model *m, int t, uint64_t off, void *dst, size_t len,
                          nq_err *e);
    void (*free_impl)(void *impl);
} nq_model_ops;

struct nq_model {
    const char *format;
    int ntensors;
    nq_tensor_info *tensors;
    char *metadata_json;      /* malloc'd or NULL */
    const nq_model_ops *ops;
    void *impl;
    nq_reader *files;         /* copies of the caller's readers */
    int nfiles;
};

/* Allocate a model with room for n tensors (names NULL) and copies of the readers. */
nq_model *nq_model_alloc(const char *format, int n, const nq_reader *files, int nfiles);
/* Fill rows/cols from shape. */
void nq_tensor_info_finish(nq_tensor_info *ti);
/* Bounds-checked read from one of the model's files; error names file and offset. */
nq_status nq_model_file_read(const nq_model *m, int file, uint64_t off, void *dst, size_t len,
                             nq_err *e);
#endif
