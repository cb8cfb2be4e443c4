#!/usr/bin/env bash
# Tokenizer encode speed (core/llm/tokenizer.c, one thread): tokens/s for 64 KiB and 1 MiB of
# "the" repeated (one word: the worst case of a merge loop quadratic in the word length)
# and for the tiny model's calib.txt, with its tokenizer.json.
# usage: scripts/bench-tokenizer.sh [input ...]   inputs: the:<bytes> or a text file
#   NOVAQ_CORE_LIB=<libnovaq_core.a> benchmarks another build of the core library.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=${NOVAQ_CORE_LIB:-build/core/libnovaq_core.a}
[ -f "$lib" ] || bash scripts/build.sh >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/bench.c" <<'C'
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "novaq.h"

static char *slurp(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    if (!f) { perror(p); exit(1); }
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)l + 1);
    *n = fread(b, 1, (size_t)l, f);
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    size_t n;
    char *json = slurp(argv[1], &n);
    nq_tokenizer *t;
    nq_err e = {0};
    if (nq_tokenizer_load(&t, json, n, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    printf("%-28s %10s %10s %10s %12s\n", "input", "bytes", "tokens", "seconds", "tokens/s");
    for (int a = 2; a < argc; a++) {
        char *text;
        if (!strncmp(argv[a], "the:", 4)) {
            n = strtoull(argv[a] + 4, NULL, 10);
            text = malloc(n + 1);
            for (size_t i = 0; i < n; i++) text[i] = "the"[i % 3];
        } else text = slurp(argv[a], &n);
        struct timespec t0, t1;
        int32_t *ids;
        size_t nids;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (nq_tokenizer_encode(t, text, n, &ids, &nids, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        const char *label = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
        printf("%-28s %10zu %10zu %10.4f %12.0f\n", label, n, nids, s, (double)nids / s);
        fflush(stdout);
        free(ids);
        free(text);
    }
    nq_tokenizer_free(t);
    free(json);
    return 0;
}
C
cc -O2 -std=c11 -Icore/include "$tmp/bench.c" "$lib" $(pkg-config --libs libcjson libzstd) -lm -o "$tmp/bench"
data=tests/data/novaq-tiny-llama
if [ $# -eq 0 ]; then set -- the:65536 the:1048576 "$data/calib.txt"; fi
echo "tokenizer $data/tokenizer.json, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
"$tmp/bench" "$data/tokenizer.json" "$@"
