/* fuzz_tokenizer.c - libFuzzer target for the tokenizer (scripts/fuzz.sh tokenizer). The
 * first input byte picks what the rest is:
 *   'J'   a tokenizer.json: load it; if it loads, encode and decode a fixed text;
 *   other text for the shared model's tokenizer (NOVAQ_FUZZ_TOKENIZER, loaded once): encode,
 *         decode, and the round trip must give the input bytes back (byte-level BPE is
 *         lossless); a difference aborts, so the fuzzer reports it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "novaq.h"

static nq_tokenizer *shared; /* loaded once for every input (a harness, not the library) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *path = getenv("NOVAQ_FUZZ_TOKENIZER");
    FILE *fp = path ? fopen(path, "rb") : NULL;
    if (!fp) { fprintf(stderr, "fuzz_tokenizer: set NOVAQ_FUZZ_TOKENIZER to a tokenizer.json\n"); exit(2); }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    char *json = malloc((size_t)n);
    rewind(fp);
    if (fread(json, 1, (size_t)n, fp) != (size_t)n) exit(2);
    fclose(fp);
    nq_err e = {0};
    if (nq_tokenizer_load(&shared, json, (size_t)n, &e) != NQ_OK) { fprintf(stderr, "%s\n", e.msg); exit(2); }
    free(json);
    return 0;
}

/* encode + decode; returns 1 when the round trip gives the text back */
static int round_trip(const nq_tokenizer *t, const char *text, size_t len) {
    int32_t *ids = NULL;
    size_t nids = 0, outlen = 0;
    char *out = NULL;
    nq_err e = {0};
    if (nq_tokenizer_encode(t, text, len, &ids, &nids, &e) != NQ_OK) return 1; /* a clean error */
    int ok = nq_tokenizer_decode(t, ids, nids, 0, &out, &outlen, &e) == NQ_OK && outlen == len &&
             !memcmp(out, text, len);
    free(ids);
    free(out);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size && data[0] == 'J') {
        nq_tokenizer *t = NULL;
        nq_err e = {0};
        if (nq_tokenizer_load(&t, (const char *)data + 1, size - 1, &e) == NQ_OK) {
            static const char text[] = "Hello world, it's  a test\n\n 123 x";
            (void)round_trip(t, text, sizeof text - 1); /* an arbitrary vocabulary need not round-trip */
            nq_tokenizer_free(t);
        }
        return 0;
    }
    if (!round_trip(shared, (const char *)data, size)) {
        fprintf(stderr, "fuzz_tokenizer: decode(encode(x)) != x for a %zu-byte input\n", size);
        abort();
    }
    return 0;
}
