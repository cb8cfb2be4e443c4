/* format.h - internal: fixed binary pieces of the .novaq container (docs/FORMAT.md).
 *   header  16 bytes: magic "NOVAQ\0\r\n" | u32 format version | u32 flags (0)
 *   shards  contiguous from byte 16, each <= shard_max_bytes, holding whole parts
 *   manifest JSON (UTF-8)
 *   footer  56 bytes: u64 manifest offset | u64 manifest size | sha256(manifest) [32] |
 *           u32 format version | magic "NQFT" */
#ifndef NQ_FORMAT_H
#define NQ_FORMAT_H
#include "novaq.h"
#define NQ_MAGIC "NOVAQ\0\r\n"
#define NQ_HEADER_SIZE 16
#define NQ_FOOTER_SIZE 56
#define NQ_FOOTER_MAGIC "NQFT"
#define NQ_MAX_MANIFEST (256u << 20)
extern const char *const nq_part_kind_names[NQ_PART_KIND_COUNT];
#endif
