/* common.h - helpers shared by the canister's methods (methods.c, commit.c, http.c). */
#ifndef NQC_COMMON_H
#define NQC_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include "candid.h"
#include "msg.h"
#include "store.h"

#define NQC_MAX_CHUNK 1900000u      /* upload_chunk payload cap */
#define NQC_MAX_REPLY_SLICE 2000000u /* get_shard/get_chunk/HTTP body slice */

/* Parse a ModelId (decimal text, no sign or leading zeros). 0 on success. */
int nqc_parse_id(const uint8_t *s, size_t n, uint64_t *number);
/* Parse a chunk or shard index: "0" or a ModelId-style number. 0 on success. */
int nqc_parse_index(const uint8_t *s, size_t n, uint64_t *index);
/* Find the model named by id text: 1 when it exists (slot and model filled), else 0. */
int nqc_find_model(const cd_val *id, uint32_t *slot, nqs_model *model);
/* The start of every method that changes a model: load the model named by id for `method`,
 * rejecting (and returning -1) when it is unknown or when the caller is neither its owner
 * nor a controller ("<method>: only the model's owner or a controller may <verb> model N"). */
int nqc_load_for_write(msg *m, const cd_val *id, const char *method, const char *verb, uint32_t *slot,
                       nqs_model *model);
/* Model id text of a number, in the message arena. */
cd_val nqc_id_text(cd_arena *a, uint64_t number);
int nqc_committed(const nqs_model *model);
const char *nqc_state_name(uint32_t state);
/* Row i of the model's shard table (0..shard_count) or chunk table. */
void nqc_shard(const nqs_model *model, uint32_t i, nqs_piece *p);
void nqc_chunk(const nqs_model *model, uint32_t i, nqs_piece *p);
/* Recompute the certified registry hash and hand it to ic0.certified_data_set. */
void nqc_certify(void);
void nqc_registry_hash(uint8_t out[32]);
#endif
