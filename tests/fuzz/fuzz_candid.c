/* fuzz_candid.c - libFuzzer target for the canister's Candid decoder (and encoder: what
 * decodes must re-encode and decode to the same values). Built and run by
 * scripts/fuzz.sh candid.
 * Decodes the input against every argument type the canister accepts (candid/novaq.did),
 * with ASan+UBSan watching for out-of-bounds reads, overflows and leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candid.h"
#include "iface.h"

static const cd_type t_pair_text[] = {CD_PRIM(CD_TEXT)};

typedef struct sig { const cd_type *types[2]; int n; } sig;

static const sig sigs[] = {
    {{&t_create_args}, 1}, {{&t_upload_args}, 1}, {{&cd_t_text}, 1}, {{&cd_t_principal, &cd_t_nat64}, 2},
    {{&cd_t_nat64}, 1}, {{NULL}, 0}, {{&t_shard_args}, 1}, {{&t_opt_principal}, 1},
    {{&cd_t_text, &t_pair_text[0]}, 2}, {{&t_http_request}, 1}, {{&t_token}, 1},
    /* reply types too: a client decoding the canister's replies */
    {{&t_http_response}, 1}, {{&t_manifest}, 1}, {{&t_commit_report}, 1}, {{&t_vec_model_info}, 1},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (size_t s = 0; s < sizeof sigs / sizeof sigs[0]; s++) {
        cd_arena a = {.limit = 64u << 20};
        cd_val out[2];
        char err[256];
        if (cd_decode(data, size, sigs[s].types, sigs[s].n, out, &a, err, sizeof err) == 0) {
            cd_buf b = {0};
            if (cd_encode(&b, sigs[s].types, out, sigs[s].n, err, sizeof err) != 0) {
                fprintf(stderr, "decoded value does not re-encode: %s\n", err);
                abort();
            }
            cd_arena a2 = {.limit = 64u << 20};
            cd_val again[2];
            if (cd_decode(b.p, b.n, sigs[s].types, sigs[s].n, again, &a2, err, sizeof err) != 0) {
                fprintf(stderr, "re-encoded value does not decode: %s\n", err);
                abort();
            }
            cd_buf b2 = {0};
            if (cd_encode(&b2, sigs[s].types, again, sigs[s].n, err, sizeof err) != 0 || b2.n != b.n ||
                memcmp(b2.p, b.p, b.n) != 0) {
                fprintf(stderr, "encoding is not stable\n");
                abort();
            }
            cd_buf_free(&b2);
            cd_buf_free(&b);
            cd_arena_free(&a2);
        } else if (strncmp(err, "candid: ", 8) != 0) {
            fprintf(stderr, "rejection without a message: '%s'\n", err);
            abort();
        }
        cd_arena_free(&a);
    }
    return 0;
}
