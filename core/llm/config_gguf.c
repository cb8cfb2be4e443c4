/* config_gguf.c - a Hugging Face config.json for a GGUF model, from its metadata, so the
 * forward pass can run a model that came as GGUF. The reader (io/gguf.c) only reads the file;
 * mapping llama.cpp's keys to the forward pass's config is the model family's business. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "io/gguf.h"

static int add_required(cJSON *cfg, const cJSON *meta, const char *arch, const char *suffix,
                        const char *hf, nq_err *e, nq_status *s) {
    int64_t v = nq_gguf_meta_int(meta, arch, suffix);
    if (v <= 0) {
        *s = nq_fail(e, NQ_E_FORMAT, "GGUF metadata: %s%s missing or not a positive integer",
                     arch, suffix);
        return 0;
    }
    cJSON_AddNumberToObject(cfg, hf, (double)v);
    return 1;
}

static double meta_num(const cJSON *meta, const char *arch, const char *suffix, double dflt) {
    char key[256];
    snprintf(key, sizeof key, "%s%s", arch, suffix);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

nq_status nq_gguf_hf_config(const nq_model *m, char **json, nq_err *e) {
    *json = NULL;
    if (strcmp(nq_model_format(m), "gguf") || !nq_model_metadata_json(m))
        return nq_fail(e, NQ_E_ARG, "not a model opened from GGUF");
    cJSON *meta = cJSON_Parse(nq_model_metadata_json(m)), *cfg = cJSON_CreateObject();
    nq_status s = meta && cfg ? NQ_OK : nq_fail(e, NQ_E_NOMEM, "out of memory");
    const char *arch = meta ? nq_gguf_meta_arch(meta) : "";
    char key[256];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const cJSON *scaling = meta ? cJSON_GetObjectItemCaseSensitive(meta, key) : NULL;
    int emb = nq_model_find(m, "model.embed_tokens.weight");
    if (s == NQ_OK && strcmp(arch, "llama"))
        s = nq_fail(e, NQ_E_UNSUPPORTED, "GGUF architecture '%s' has no Hugging Face config "
                    "mapping here (only 'llama')", arch);
    if (s == NQ_OK && scaling && !(cJSON_IsString(scaling) && !strcmp(scaling->valuestring, "none")))
        s = nq_fail(e, NQ_E_UNSUPPORTED, "GGUF metadata: %s is set; rope scaling is not mapped", key);
    if (s == NQ_OK && emb < 0)
        s = nq_fail(e, NQ_E_FORMAT, "GGUF: no token_embd.weight tensor");
    if (s == NQ_OK) {
        cJSON *archs = cJSON_AddArrayToObject(cfg, "architectures");
        cJSON_AddItemToArray(archs, cJSON_CreateString("LlamaForCausalLM"));
        cJSON_AddStringToObject(cfg, "model_type", "llama");
        cJSON_AddStringToObject(cfg, "hidden_act", "silu");
    }
    if (s == NQ_OK && add_required(cfg, meta, arch, ".embedding_length", "hidden_size", e, &s) &&
        add_required(cfg, meta, arch, ".feed_forward_length", "intermediate_size", e, &s) &&
        add_required(cfg, meta, arch, ".block_count", "num_hidden_layers", e, &s) &&
        add_required(cfg, meta, arch, ".attention.head_count", "num_attention_heads", e, &s) &&
        add_required(cfg, meta, arch, ".context_length", "max_position_embeddings", e, &s)) {
        int64_t heads = nq_gguf_meta_int(meta, arch, ".attention.head_count");
        int64_t kv = nq_gguf_meta_int(meta, arch, ".attention.head_count_kv");
        int64_t hidden = nq_gguf_meta_int(meta, arch, ".embedding_length");
        int64_t hd = nq_gguf_meta_int(meta, arch, ".attention.key_length");
        int64_t rot = nq_gguf_meta_int(meta, arch, ".rope.dimension_count");
        if (hd <= 0) hd = hidden / heads;
        if (rot > 0 && rot != hd)
            s = nq_fail(e, NQ_E_UNSUPPORTED, "GGUF metadata: rope over %lld of %lld head "
                        "dimensions (partial rotary) is not mapped", (long long)rot, (long long)hd);
        cJSON_AddNumberToObject(cfg, "num_key_value_heads", (double)(kv > 0 ? kv : heads));
        cJSON_AddNumberToObject(cfg, "head_dim", (double)hd);
        cJSON_AddNumberToObject(cfg, "rms_norm_eps",
                                meta_num(meta, arch, ".attention.layer_norm_rms_epsilon", 1e-5));
        cJSON_AddNumberToObject(cfg, "rope_theta", meta_num(meta, arch, ".rope.freq_base", 10000));
        cJSON_AddNumberToObject(cfg, "vocab_size", (double)nq_model_tensor(m, emb)->rows);
        cJSON_AddBoolToObject(cfg, "tie_word_embeddings", nq_model_find(m, "lm_head.weight") < 0);
        cJSON_AddBoolToObject(cfg, "attention_bias",
                              nq_model_find(m, "model.layers.0.self_attn.q_proj.bias") >= 0);
        cJSON_AddBoolToObject(cfg, "mlp_bias", 0);
        int64_t bos = nq_gguf_meta_int(meta, "tokenizer.ggml", ".bos_token_id");
        int64_t eos = nq_gguf_meta_int(meta, "tokenizer.ggml", ".eos_token_id");
        if (bos >= 0) cJSON_AddNumberToObject(cfg, "bos_token_id", (double)bos);
        if (eos >= 0) cJSON_AddNumberToObject(cfg, "eos_token_id", (double)eos);
    }
    if (s == NQ_OK && !(*json = cJSON_Print(cfg))) s = nq_fail(e, NQ_E_NOMEM, "out of memory");
    cJSON_Delete(meta);
    cJSON_Delete(cfg);
    return s;
}
