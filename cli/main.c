/* main.c - the `novaq` command: dispatch to one cmd_* function per subcommand. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

/* One line per subcommand; each lives in its own cli/cmd_*.c file. */
static const command commands[] = {
    {"local", cmd_local, "compress a local .safetensors file or model directory"},
    {"validate", cmd_validate, "check a .novaq file: structure, manifest, every shard hash"},
    {"info", cmd_info, "summary of a .novaq manifest"},
    {"stats", cmd_stats, "per-tensor bits per weight, SQNR and error; totals"},
    {"decompress", cmd_decompress, "rebuild a safetensors file from a .novaq"},
    {"hf", cmd_hf, "download a Hugging Face model (cached, resumable) and compress it"},
    {"url", cmd_url, "download one .safetensors or .gguf over HTTP(S) and compress it"},
    {"ollama", cmd_ollama, "compress a model from the local Ollama store (GGUF)"},
    {"ppl", cmd_ppl, "perplexity of a model or .novaq with the built-in forward pass"},
    {"benchmark", cmd_benchmark, "a .novaq against its original: perplexity, KL, top-1, cosine"},
    {"generate", cmd_generate, "continue a prompt with a model or .novaq (greedy or sampled)"},
};

static void usage(FILE *f) {
    fprintf(f, "novaq %s - multi-stage vector quantization of model weights\n\n"
               "usage: novaq <command> [options]\n\ncommands:\n", NQ_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`novaq <command> --help` shows a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return EXIT_USAGE; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) { printf("%s\n", nq_build_info()); return 0; }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "novaq: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
