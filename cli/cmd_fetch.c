/* cmd_fetch.c - `novaq hf`, `novaq url`, `novaq ollama`: bring a model into the local cache
 * (or find it in Ollama's store), check it, then compress it exactly as `novaq local` does:
 * the remaining arguments (settings, -o, --json, --config) are handed to cmd_local. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "fetch.h"

/* ------------------------------------------------------------------ helpers */

static char *cat(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", a, b, c);
    return p;
}

/* A path or name component: letters, digits, '.', '_', '-', (extra); not "." or "..". */
static int plain_name(const char *s, const char *extra) {
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-' || (extra && strchr(extra, *s))))
            return 0;
    return 1;
}

/* A relative file path inside a repository: plain components separated by '/'. */
static int plain_path(const char *s) {
    char *p = strdup(s), *save = NULL;
    int ok = p && *s && s[0] != '/' && s[strlen(s) - 1] != '/' && !strstr(s, "//");
    for (char *c = ok ? strtok_r(p, "/", &save) : NULL; c && ok; c = strtok_r(NULL, "/", &save))
        ok = plain_name(c, "+@=");
    free(p);
    return ok;
}

/* Percent-encode everything but unreserved characters (and '/' when keep_slash). */
static char *url_escape(const char *s, int keep_slash) {
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    if (!out) return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c) || (keep_slash && c == '/'))
            *o++ = (char)c;
        else o += sprintf(o, "%%%02X", c);
    }
    *o = 0;
    return out;
}

/* cmd_local(["local", model, args not in drop..., "-o", default_out if no -o given]). */
static int run_local(const char *model, int argc, char **argv, const unsigned char *drop,
                     const char *default_out) {
    char **v = calloc((size_t)argc + 4, sizeof *v);
    if (!v) return EXIT_INVALID;
    int n = 0, has_out = 0;
    v[n++] = "local";
    v[n++] = (char *)model;
    for (int i = 1; i < argc; i++) {
        if (drop[i]) continue;
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) has_out = 1;
        v[n++] = argv[i];
    }
    if (!has_out) { v[n++] = "-o"; v[n++] = (char *)default_out; }
    int rc = cmd_local(n, v);
    free(v);
    return rc;
}

/* Value of option name at argv[i] (marking both in drop), or NULL if argv[i] is not it. */
static const char *take_opt(int argc, char **argv, int i, const char *name, unsigned char *drop,
                            int *bad) {
    if (strcmp(argv[i], name)) return NULL;
    if (i + 1 >= argc) { *bad = 1; return NULL; }
    drop[i] = drop[i + 1] = 1;
    return argv[i + 1];
}

/* ----------------------------------------------------------------- novaq hf */

typedef struct hf_ctx {
    char *endpoint, *repo_esc, *rev_esc, *dir;
    const char *token;
} hf_ctx;

/* Fetch one repository file into the cache directory. optional: a 404 is not an error
 * (*got = 0, and any stale cached copy is removed). */
static int hf_get(const hf_ctx *h, const char *file, int optional, int *got, nq_err *e) {
    char *fesc = url_escape(file, 1);
    char *url = fesc ? malloc(strlen(h->endpoint) + strlen(h->repo_esc) + strlen(h->rev_esc) + strlen(fesc) + 16) : NULL;
    char *dest = cat(h->dir, "/", file);
    int missing = 0, rc;
    if (!url || !dest) rc = nq_fail(e, NQ_E_NOMEM, "out of memory");
    else {
        sprintf(url, "%s/%s/resolve/%s/%s", h->endpoint, h->repo_esc, h->rev_esc, fesc);
        rc = cli_fetch(url, dest, h->token, optional ? &missing : NULL, e);
    }
    if (!rc && missing) {
        char *meta = cat(dest, ".meta", "");
        remove(dest);
        if (meta) remove(meta);
        free(meta);
    }
    if (got) *got = !rc && !missing;
    free(fesc); free(url); free(dest);
    return rc;
}

/* config, weights (single file or index + shards), tokenizer files. */
static int hf_get_model(const hf_ctx *h, nq_err *e) {
    int got = 0;
    if (hf_get(h, "config.json", 1, &got, e)) return 1;
    if (!got) fprintf(stderr, "novaq: note: the repository has no config.json\n");
    if (hf_get(h, "model.safetensors.index.json", 1, &got, e)) return 1;
    if (got) {
        char *ip = cat(h->dir, "/model.safetensors.index.json", "");
        size_t len = 0;
        char *json = ip ? cli_slurp(ip, &len, e) : NULL;
        char **names = NULL;
        int n = 0, rc = !json || nq_safetensors_index_files(json, len, &names, &n, e) != NQ_OK;
        for (int i = 0; !rc && i < n; i++) rc = hf_get(h, names[i], 0, NULL, e);
        free(names); free(json); free(ip);
        if (rc) return 1;
    } else {
        if (hf_get(h, "model.safetensors", 1, &got, e)) return 1;
        if (!got)
            return nq_fail(e, NQ_E_IO, "repository has neither model.safetensors nor "
                           "model.safetensors.index.json (use --file for another file)");
    }
    const char *extra[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                           "special_tokens_map.json"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (hf_get(h, extra[i], 1, NULL, e)) return 1;
    return 0;
}

static const char hf_help[] =
    "usage: novaq hf <org/name> [--revision R] [--file F] [-o out.novaq] [--json] [settings]\n"
    "  Downloads config.json, model.safetensors or model.safetensors.index.json and its shards,\n"
    "  and the tokenizer files from the Hugging Face Hub into the cache, then compresses them.\n"
    "  --revision R   branch, tag or commit (default main)\n"
    "  --file F       one file of the repository instead (a .safetensors or .gguf)\n"
    "  env: HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), HF_ENDPOINT, NOVAQ_CACHE_DIR\n";

int cmd_hf(int argc, char **argv) {
    if (cli_has_flag(argc, argv, "--help")) { printf("%s\n%s", hf_help, cli_settings_help); return EXIT_OK; }
    if (argc < 2 || argv[1][0] == '-') return cli_usage("hf needs a repository id first: novaq hf <org/name>");
    const char *repo = argv[1], *rev = "main", *file = NULL, *v;
    unsigned char *drop = calloc((size_t)argc + 1, 1);
    int bad = 0;
    if (!drop) return EXIT_INVALID;
    drop[1] = 1;
    for (int i = 2; i < argc && !bad; i++) {
        if ((v = take_opt(argc, argv, i, "--revision", drop, &bad))) rev = v, i++;
        else if ((v = take_opt(argc, argv, i, "--file", drop, &bad))) file = v, i++;
    }
    const char *slash = strchr(repo, '/');
    char *org = slash ? strndup(repo, (size_t)(slash - repo)) : strdup(""), *name = strdup(slash ? slash + 1 : repo);
    int rc = EXIT_OK;
    if (bad) rc = cli_usage("--revision and --file need a value");
    else if (!org || !name || (slash && !plain_name(org, NULL)) || !plain_name(name, NULL))
        rc = cli_usage("repository id must be <org>/<name> of letters, digits, '.', '_', '-'");
    else if (!plain_path(rev) || (file && !plain_path(file)))
        rc = cli_usage("--revision and --file must be plain relative names without '..'");
    nq_err e = {0};
    hf_ctx h = {0};
    char *cache = rc ? NULL : cli_cache_dir(&e), *rev_dir = rc ? NULL : url_escape(rev, 0), *out = NULL;
    if (!rc && (!cache || !rev_dir)) rc = cli_fail(&e);
    if (!rc) {
        const char *ep = getenv("HF_ENDPOINT");
        h.endpoint = strdup(ep && *ep ? ep : "https://huggingface.co");
        size_t n = strlen(h.endpoint);
        while (n > 0 && h.endpoint[n - 1] == '/') h.endpoint[--n] = 0;
        h.repo_esc = url_escape(repo, 1);
        h.rev_esc = url_escape(rev, 0);
        char *dname = cat(org, *org ? "--" : "", name);
        h.dir = dname ? malloc(strlen(cache) + strlen(dname) + strlen(rev_dir) + 8) : NULL;
        if (h.dir) sprintf(h.dir, "%s/hf/%s/%s", cache, dname, rev_dir);
        free(dname);
        h.token = getenv("HF_TOKEN");
        if (!h.token || !*h.token) h.token = getenv("HUGGING_FACE_HUB_TOKEN");
        if (!h.token || !*h.token) h.token = getenv("HUGGINGFACE_HUB_TOKEN");
        out = cat(name, ".novaq", "");
        if (!h.endpoint || !h.repo_esc || !h.rev_esc || !h.dir || !out)
            rc = cli_fail(&(nq_err){NQ_E_NOMEM, "out of memory"});
    }
    if (!rc && file) {
        int got = 0;
        if (hf_get(&h, file, 0, NULL, &e) || hf_get(&h, "config.json", 1, &got, &e)) rc = cli_fail(&e);
    } else if (!rc && hf_get_model(&h, &e)) rc = cli_fail(&e);
    if (!rc) {
        char *model = file ? cat(h.dir, "/", file) : strdup(h.dir);
        rc = model ? run_local(model, argc, argv, drop, out) : EXIT_INVALID;
        free(model);
    }
    free(h.endpoint); free(h.repo_esc); free(h.rev_esc); free(h.dir);
    free(cache); free(rev_dir); free(out); free(org); free(name); free(drop);
    return rc;
}

/* ---------------------------------------------------------------- novaq url */

int cmd_url(int argc, char **argv) {
    if (cli_has_flag(argc, argv, "--help")) {
        printf("usage: novaq url <https://.../model.safetensors | .gguf> [-o out.novaq] [--json] [settings]\n"
               "  Downloads one file into the cache (resumable, size and SHA-256 checked where the\n"
               "  server announces them), then compresses it. env: NOVAQ_CACHE_DIR\n\n%s",
               cli_settings_help);
        return EXIT_OK;
    }
    if (argc < 2 || (strncmp(argv[1], "http://", 7) && strncmp(argv[1], "https://", 8)))
        return cli_usage("url needs an http:// or https:// URL first");
    const char *url = argv[1];
    /* the file name: the last path segment, without query or fragment */
    size_t end = strcspn(url, "?#"), start = end;
    while (start > 0 && url[start - 1] != '/') start--;
    char *base = strndup(url + start, end - start);
    if (!base) return EXIT_INVALID;
    for (char *p = base; *p; p++)
        if (!strchr("._-", *p) && !plain_name((char[2]){*p, 0}, NULL)) *p = '_';
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
        free(base);
        return cli_usage("the URL must end in a file name");
    }
    nq_err e = {0};
    char *cache = cli_cache_dir(&e);
    if (!cache) { free(base); return cli_fail(&e); }
    uint8_t d[32];
    char hex[65];
    nq_sha256(url, strlen(url), d);
    nq_hex(d, 32, hex);
    hex[16] = 0; /* one directory per URL */
    char *dest = malloc(strlen(cache) + strlen(base) + 32), *out = malloc(strlen(base) + 8);
    const char *dot = strrchr(base, '.');
    if (dest) sprintf(dest, "%s/url/%s/%s", cache, hex, base);
    if (out) sprintf(out, "%.*s.novaq", (int)(dot && dot != base ? (size_t)(dot - base) : strlen(base)), base);
    unsigned char *drop = calloc((size_t)argc + 1, 1);
    int rc = EXIT_OK;
    if (!drop || !dest || !out) rc = cli_fail(&(nq_err){NQ_E_NOMEM, "out of memory"});
    else if (cli_fetch(url, dest, NULL, NULL, &e)) rc = cli_fail(&e);
    else {
        drop[1] = 1;
        rc = run_local(dest, argc, argv, drop, out);
    }
    free(drop); free(out); free(dest); free(cache); free(base);
    return rc;
}

/* ------------------------------------------------------------- novaq ollama */

#define OLLAMA_MODEL_MEDIA "application/vnd.ollama.image.model"

/* name[:tag] -> manifest path relative to the store: manifests/<host>/<ns>/<name>/<tag>. */
static char *ollama_manifest(const char *ref, char **short_name, nq_err *e) {
    const char *last = strrchr(ref, '/'), *colon = strrchr(last ? last : ref, ':');
    char *path = colon ? strndup(ref, (size_t)(colon - ref)) : strdup(ref);
    const char *tag = colon ? colon + 1 : "latest";
    const char *host = "registry.ollama.ai", *ns = "library";
    char *parts[3] = {0}, *save = NULL, *out = NULL;
    int n = 0;
    for (char *c = path ? strtok_r(path, "/", &save) : NULL; c; c = strtok_r(NULL, "/", &save))
        if (n < 3) parts[n++] = c; else n = 4;
    const char *name = n >= 1 ? parts[n - 1 < 3 ? n - 1 : 2] : "";
    if (n == 2) ns = parts[0];
    if (n == 3) { host = parts[0]; ns = parts[1]; }
    if (n < 1 || n > 3 || !plain_name(name, NULL) || !plain_name(ns, NULL) ||
        !plain_name(host, ":") || !plain_name(tag, NULL))
        nq_fail(e, NQ_E_ARG, "'%s' is not an Ollama model name ([host/][namespace/]name[:tag])", ref);
    else if ((out = malloc(strlen(host) + strlen(ns) + strlen(name) + strlen(tag) + 16)))
        sprintf(out, "manifests/%s/%s/%s/%s", host, ns, name, tag);
    if (out) {
        *short_name = malloc(strlen(name) + strlen(tag) + 2);
        if (*short_name) sprintf(*short_name, strcmp(tag, "latest") ? "%s-%s" : "%s", name, tag);
    }
    free(path);
    return out;
}

/* The model layer's digest (64 hex) and size from a manifest. */
static int ollama_model_layer(const char *json, size_t len, const char *where, char hex[65],
                              double *size, nq_err *e) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *layers = root ? cJSON_GetObjectItemCaseSensitive(root, "layers") : NULL;
    int found = 0, rc = 0;
    for (const cJSON *l = cJSON_IsArray(layers) ? layers->child : NULL; l && !rc; l = l->next) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(l, "mediaType");
        const cJSON *dg = cJSON_GetObjectItemCaseSensitive(l, "digest");
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(l, "size");
        if (!cJSON_IsString(mt) || strcmp(mt->valuestring, OLLAMA_MODEL_MEDIA)) continue;
        const char *d = cJSON_IsString(dg) ? dg->valuestring : "";
        size_t k = strncmp(d, "sha256:", 7) ? 0 : strspn(d + 7, "0123456789abcdef");
        if (found++) rc = nq_fail(e, NQ_E_UNSUPPORTED, "%s: more than one model layer", where);
        else if (k != 64 || d[71] || !cJSON_IsNumber(sz) || sz->valuedouble < 0)
            rc = nq_fail(e, NQ_E_FORMAT, "%s: model layer needs a 'sha256:<64 hex>' digest and a size", where);
        else { memcpy(hex, d + 7, 64); hex[64] = 0; *size = sz->valuedouble; }
    }
    if (!rc && !root) rc = nq_fail(e, NQ_E_FORMAT, "%s: not valid JSON", where);
    else if (!rc && !found)
        rc = nq_fail(e, NQ_E_FORMAT, "%s: no layer of media type %s", where, OLLAMA_MODEL_MEDIA);
    cJSON_Delete(root);
    return rc;
}

/* Size and SHA-256 of the blob against the manifest; GGUF tensors that stay as stored. */
static int ollama_check_blob(const char *blob, const char *hex, double size, nq_err *e) {
    nq_reader r;
    uint8_t d[32];
    char got[65];
    if (cli_open_reader(blob, &r, e)) return 1;
    int rc = 0;
    if ((double)r.size != size)
        rc = nq_fail(e, NQ_E_FORMAT, "%s: %llu bytes, the manifest says %.0f", blob,
                     (unsigned long long)r.size, size);
    else if (nq_sha256_reader(&r, d, e) != NQ_OK) rc = 1;
    else if (nq_hex(d, 32, got), strcmp(got, hex))
        rc = nq_fail(e, NQ_E_HASH, "%s: SHA-256 %s does not match the manifest digest %s", blob, got, hex);
    nq_model *m = NULL;
    if (!rc && nq_gguf_open(&m, &r, e) != NQ_OK) rc = 1;
    int other = 0;
    char types[128] = "";
    for (int i = 0; m && i < nq_model_tensor_count(m); i++) {
        const nq_tensor_info *ti = nq_model_tensor(m, i);
        if (nq_dtype_is_float(ti->dtype) || ti->ndim < 2) continue;
        other++;
        if (!strstr(types, ti->dtype_name) && strlen(types) + strlen(ti->dtype_name) + 3 < sizeof types)
            strcat(strcat(types, *types ? ", " : ""), ti->dtype_name);
    }
    if (other)
        fprintf(stderr, "novaq: note: %d tensors are %s, which this build cannot decode; they are "
                "stored unchanged, not re-quantized\n", other, types);
    nq_model_free(m);
    cli_close_reader(&r);
    return rc;
}

int cmd_ollama(int argc, char **argv) {
    if (cli_has_flag(argc, argv, "--help")) {
        printf("usage: novaq ollama <name[:tag]> [-o out.novaq] [--json] [settings]\n"
               "  Compresses the GGUF of a model pulled with Ollama, read from its local store\n"
               "  ($OLLAMA_MODELS or ~/.ollama/models); the blob's SHA-256 is checked first.\n\n%s",
               cli_settings_help);
        return EXIT_OK;
    }
    if (argc < 2 || argv[1][0] == '-') return cli_usage("ollama needs a model name first: novaq ollama <name[:tag]>");
    nq_err e = {0};
    const char *env = getenv("OLLAMA_MODELS"), *home = getenv("HOME");
    char *root = env && *env ? strdup(env) : home ? cat(home, "/.ollama/models", "") : NULL;
    char *short_name = NULL, *rel = root ? ollama_manifest(argv[1], &short_name, &e) : NULL;
    if (!root) return cli_fail(&(nq_err){NQ_E_ARG, "set OLLAMA_MODELS or HOME to find Ollama's store"});
    if (!rel) { free(root); return cli_fail(&e); }
    char *mpath = cat(root, "/", rel), *json = NULL, *blob = NULL, *out = NULL, hex[65];
    size_t len = 0;
    double size = 0;
    int rc = EXIT_OK;
    if (!(json = cli_slurp(mpath, &len, &e))) {
        fprintf(stderr, "novaq: Ollama model '%s' not found (no manifest %s; pulled with "
                "`ollama pull`?)\n", argv[1], mpath);
        rc = EXIT_INVALID;
    } else if (ollama_model_layer(json, len, mpath, hex, &size, &e)) rc = cli_fail(&e);
    else {
        blob = malloc(strlen(root) + 80);
        if (blob) sprintf(blob, "%s/blobs/sha256-%s", root, hex);
        out = short_name ? cat(short_name, ".novaq", "") : NULL;
        unsigned char *drop = calloc((size_t)argc + 1, 1);
        if (!drop || !out || !blob) rc = cli_fail(&(nq_err){NQ_E_NOMEM, "out of memory"});
        else if (ollama_check_blob(blob, hex, size, &e)) rc = cli_fail(&e);
        else { drop[1] = 1; rc = run_local(blob, argc, argv, drop, out); }
        free(drop);
    }
    free(root); free(rel); free(short_name); free(mpath); free(json); free(blob); free(out);
    return rc;
}
