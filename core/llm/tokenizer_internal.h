/* tokenizer_internal.h - internal: tokenizer entry points for tests (not the public API). */
#ifndef NQ_TOKENIZER_INTERNAL_H
#define NQ_TOKENIZER_INTERNAL_H
#include <stdint.h>
#include "novaq.h"

/* nq_tokenizer_encode, and *steps (if not NULL) gets the work of its BPE merge loops: heap
 * pushes, pops and sift steps. Deterministic for a given input, so tests can check that it
 * grows as n log n with the length of a word instead of timing it. */
nq_status nq_tokenizer_encode_steps(const nq_tokenizer *t, const char *text, size_t len,
                                    int32_t **ids, size_t *nids, uint64_t *steps, nq_err *e);
/* SHA-256 of every slot of the tokenizer's lookup tables, used or not: tests check that
 * encoding leaves it unchanged (the tables are read-only after load, novaq.h). */
void nq_tokenizer_tables_sha256(const nq_tokenizer *t, uint8_t out[32]);
#endif
