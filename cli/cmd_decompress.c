/* cmd_decompress.c - `novaq decompress`: rebuild a safetensors file from a .novaq. */
#include <string.h>
#include "cli.h"

int cmd_decompress(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int dtype = -1;
    unsigned flags = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: novaq decompress <file.novaq> -o out.safetensors [--dtype f32|f16|bf16] [--no-verify]\n"
                   "  every shard's SHA-256 is checked before its tensors are decoded (a mismatch fails with\n"
                   "  exit 1 naming the shard); --no-verify skips the shard and root hash checks\n");
            return EXIT_OK;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--no-verify")) flags |= NQ_OPEN_NO_VERIFY;
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) {
            const char *d = argv[++i];
            dtype = !strcmp(d, "f32") ? NQ_DT_F32 : !strcmp(d, "f16") ? NQ_DT_F16 : !strcmp(d, "bf16") ? NQ_DT_BF16 : -2;
            if (dtype == -2) return cli_usage("--dtype must be f32, f16 or bf16");
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "novaq decompress: unknown or incomplete option '%s'\n", argv[i]);
            return EXIT_USAGE;
        } else if (in) return cli_usage("decompress takes one input");
        else in = argv[i];
    }
    if (!in || !out) return cli_usage("usage: novaq decompress <file.novaq> -o out.safetensors");
    nq_err e = {0};
    nq_reader r;
    nq_model *m;
    if (cli_open_reader(in, &r, &e)) return cli_fail(&e);
    if (nq_novaq_open_ex(&m, &r, flags, &e)) { cli_close_reader(&r); return cli_fail(&e); }
    cli_out o;
    int rc = EXIT_OK;
    if (cli_out_open(&o, out, &e)) rc = cli_fail(&e);
    else if (nq_safetensors_write(m, dtype, &o.w, &e)) { cli_out_abort(&o); rc = cli_fail(&e); }
    else if (cli_out_commit(&o, &e)) rc = cli_fail(&e);
    else printf("%s: %d tensors written\n", out, nq_model_tensor_count(m));
    nq_model_free(m);
    cli_close_reader(&r);
    return rc;
}
