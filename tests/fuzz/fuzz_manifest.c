/* fuzz_manifest.c - libFuzzer target for the manifest checker: the input is manifest JSON. It
 * is put in a real container: the header and shards of the .novaq named by NOVAQ_FUZZ_NOVAQ
 * (scripts/fuzz.sh makes it with `novaq local`), then the input, then a footer with the right
 * offset, size and SHA-256, so every mutation reaches the schema checks and, with the seed's
 * intact shards, the decoder (scripts/fuzz.sh manifest). */
#include <stdio.h>
#include <string.h>
#include "common/format.h"
#include "fuzz_common.h"
#include "common/util.h"

/* The seed's header + shards: read once, shared by every input (a harness, not the library). */
static uint8_t *prefix;
static size_t prefix_len;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *path = getenv("NOVAQ_FUZZ_NOVAQ");
    FILE *fp = path ? fopen(path, "rb") : NULL;
    if (!fp) { fprintf(stderr, "fuzz_manifest: set NOVAQ_FUZZ_NOVAQ to a .novaq file\n"); exit(2); }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    uint8_t *f = malloc((size_t)n);
    rewind(fp);
    if (n < NQ_HEADER_SIZE + NQ_FOOTER_SIZE || fread(f, 1, (size_t)n, fp) != (size_t)n) exit(2);
    fclose(fp);
    prefix_len = (size_t)nq_get_u64(f + n - NQ_FOOTER_SIZE);
    if (prefix_len > (size_t)n) exit(2);
    prefix = f;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t total = prefix_len + size + NQ_FOOTER_SIZE;
    uint8_t *f = malloc(total);
    if (!f) return 0;
    memcpy(f, prefix, prefix_len);
    memcpy(f + prefix_len, data, size);
    uint8_t *foot = f + prefix_len + size;
    nq_put_u64(foot, prefix_len);
    nq_put_u64(foot + 8, size);
    nq_sha256(data, size, foot + 16);
    nq_put_u32(foot + 48, NQ_FORMAT_VERSION);
    memcpy(foot + 52, NQ_FOOTER_MAGIC, 4);
    fuzz_validate_and_decode(f, total);
    free(f);
    return 0;
}
