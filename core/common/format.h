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
/* Reader bounds (docs/FORMAT.md "Bounds"), so a hostile file cannot make a reader allocate
 * more than a bounded block whatever sizes it claims:
 *  - a shard, and so a part's stored bytes, is at most NQ_MAX_SHARD bytes (the encoder's
 *    shard_max_bytes is capped there too);
 *  - a part's raw_size is at most NQ_MAX_PART_RAW bytes (raw parts and codes parts hold at
 *    most shard_max_bytes of raw data, codebooks must fit a shard; norm parts are bounded
 *    by their own 8 + 6 * cols);
 *  - a zstd part's raw_size is at most NQ_ZSTD_MAX_RATIO times its stored size: a zstd block
 *    yields at most 128 KiB and takes at least 4 bytes (3-byte header + 1 RLE byte);
 *  - a vq tensor's rows have at most NQ_MAX_VQ_COLS columns (a row is decoded whole: f32
 *    buffers of cols entries); the encoder stores wider tensors raw. */
#define NQ_MAX_SHARD (64u << 20)
#define NQ_MAX_PART_RAW (64u << 20)
#define NQ_ZSTD_MAX_RATIO 32768u
#define NQ_MAX_VQ_COLS (1 << 24)
extern const char *const nq_part_kind_names[NQ_PART_KIND_COUNT];
#endif
