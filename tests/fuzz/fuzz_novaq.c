/* fuzz_novaq.c - libFuzzer target: the input is a .novaq file. Before it is read, the
 * footer's manifest SHA-256 is recomputed (when the footer locates a manifest inside the
 * file), so that mutations of the manifest reach the schema checks and the decoder instead of
 * stopping at the hash. Then: nq_validate; and for what validates, nq_novaq_open and decoding
 * of every tensor (scripts/fuzz.sh novaq). */
#include <string.h>
#include "common/format.h"
#include "fuzz_common.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *f = malloc(size ? size : 1);
    if (!f) return 0;
    memcpy(f, data, size);
    if (size >= NQ_HEADER_SIZE + NQ_FOOTER_SIZE) {
        uint8_t *foot = f + size - NQ_FOOTER_SIZE;
        uint64_t off = nq_get_u64(foot), len = nq_get_u64(foot + 8);
        if (off <= size - NQ_FOOTER_SIZE && len <= size - NQ_FOOTER_SIZE - off) nq_sha256(f + off, len, foot + 16);
    }
    fuzz_validate_and_decode(f, size);
    free(f);
    return 0;
}
