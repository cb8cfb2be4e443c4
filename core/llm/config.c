/* config.c - Hugging Face config.json -> nq_llama_config.
 *
 * Contract: every field that changes the forward pass is either implemented or refused.
 * Accepted: LlamaForCausalLM / MistralForCausalLM, silu, default RoPE (rope_theta at the
 * top level or in rope_parameters), optional head_dim, num_key_value_heads, tied
 * embeddings, Mistral's sliding_window. Refused (NQ_E_UNSUPPORTED): rope scaling of any
 * kind, attention/MLP biases, other activations, quantization configs, partial rotary. */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "novaq.h"
#include "common/util.h"

static const cJSON *item(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

/* A positive integer field; def if absent (def < 0: required). */
static nq_status get_int(const cJSON *root, const char *key, int def, int *out, nq_err *e) {
    const cJSON *v = item(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) return nq_fail(e, NQ_E_FORMAT, "config.json: '%s' is missing", key);
        *out = def;
        return NQ_OK;
    }
    int64_t x;
    if (!cJSON_IsNumber(v) || !nq_f64_to_i64(v->valuedouble, 1, 100000000, &x))
        return nq_fail(e, NQ_E_FORMAT, "config.json: '%s' must be a positive integer (at most 1e8)", key);
    *out = (int)x;
    return NQ_OK;
}

static int is_true(const cJSON *root, const char *key) { return cJSON_IsTrue(item(root, key)); }

static nq_status check_arch(nq_llama_config *c, const cJSON *root, nq_err *e) {
    const cJSON *archs = item(root, "architectures"), *mt = item(root, "model_type");
    const char *arch = cJSON_IsArray(archs) && cJSON_IsString(archs->child) ? archs->child->valuestring : NULL;
    if (!arch && cJSON_IsString(mt))
        arch = !strcmp(mt->valuestring, "llama") ? "LlamaForCausalLM"
             : !strcmp(mt->valuestring, "mistral") ? "MistralForCausalLM" : mt->valuestring;
    if (!arch) return nq_fail(e, NQ_E_FORMAT, "config.json: no 'architectures' or 'model_type'");
    if (strcmp(arch, "LlamaForCausalLM") && strcmp(arch, "MistralForCausalLM"))
        return nq_fail(e, NQ_E_UNSUPPORTED, "config.json: architecture '%s' is not supported "
                       "(LlamaForCausalLM, MistralForCausalLM)", arch);
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "llama") && strcmp(mt->valuestring, "mistral"))
        return nq_fail(e, NQ_E_UNSUPPORTED, "config.json: model_type '%s' is not supported", mt->valuestring);
    snprintf(c->arch, sizeof c->arch, "%s", arch);
    return NQ_OK;
}

/* rope_type must be "default" wherever it is given; theta from rope_parameters or top level. */
static nq_status get_rope(nq_llama_config *c, const cJSON *root, nq_err *e) {
    const cJSON *scaling = item(root, "rope_scaling"), *params = item(root, "rope_parameters");
    const cJSON *theta = item(root, "rope_theta");
    const cJSON *sets[2] = {scaling, params};
    for (int i = 0; i < 2; i++) {
        if (!sets[i] || cJSON_IsNull(sets[i])) continue;
        if (!cJSON_IsObject(sets[i]))
            return nq_fail(e, NQ_E_FORMAT, "config.json: '%s' is not an object", i ? "rope_parameters" : "rope_scaling");
        const cJSON *ty = item(sets[i], "rope_type");
        if (!ty) ty = item(sets[i], "type");
        if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "default"))
            return nq_fail(e, NQ_E_UNSUPPORTED, "config.json: rope type '%s' is not supported (default only)",
                           cJSON_IsString(ty) ? ty->valuestring : "?");
        const cJSON *prf = item(sets[i], "partial_rotary_factor");
        if (cJSON_IsNumber(prf) && prf->valuedouble != 1.0)
            return nq_fail(e, NQ_E_UNSUPPORTED, "config.json: partial_rotary_factor is not supported");
        if (cJSON_IsNumber(item(sets[i], "rope_theta"))) theta = item(sets[i], "rope_theta");
    }
    c->rope_theta = 10000.0;
    if (theta && !cJSON_IsNull(theta)) {
        if (!cJSON_IsNumber(theta) || !(theta->valuedouble > 1.0))
            return nq_fail(e, NQ_E_FORMAT, "config.json: rope_theta must be a number > 1");
        c->rope_theta = theta->valuedouble;
    }
    return NQ_OK;
}

static nq_status check_math_fields(const cJSON *root, nq_err *e) {
    const cJSON *act = item(root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        return nq_fail(e, NQ_E_UNSUPPORTED, "config.json: hidden_act '%s' is not supported (silu only)",
                       cJSON_IsString(act) ? act->valuestring : "?");
    if (is_true(root, "attention_bias") || is_true(root, "mlp_bias"))
        return nq_fail(e, NQ_E_UNSUPPORTED, "config.json: attention_bias / mlp_bias are not supported");
    const cJSON *q = item(root, "quantization_config");
    if (q && !cJSON_IsNull(q))
        return nq_fail(e, NQ_E_UNSUPPORTED, "config.json: quantization_config (pre-quantized weights) "
                       "is not supported");
    const cJSON *prf = item(root, "partial_rotary_factor");
    if (cJSON_IsNumber(prf) && prf->valuedouble != 1.0)
        return nq_fail(e, NQ_E_UNSUPPORTED, "config.json: partial_rotary_factor is not supported");
    return NQ_OK;
}

static nq_status get_shape(nq_llama_config *c, const cJSON *root, nq_err *e) {
    nq_status st;
    if ((st = get_int(root, "vocab_size", -1, &c->vocab, e)) ||
        (st = get_int(root, "hidden_size", -1, &c->dim, e)) ||
        (st = get_int(root, "intermediate_size", -1, &c->hidden, e)) ||
        (st = get_int(root, "num_hidden_layers", -1, &c->n_layers, e)) ||
        (st = get_int(root, "num_attention_heads", -1, &c->n_heads, e)) ||
        (st = get_int(root, "num_key_value_heads", c->n_heads, &c->n_kv_heads, e)) ||
        (st = get_int(root, "max_position_embeddings", 2048, &c->max_pos, e)) ||
        (st = get_int(root, "sliding_window", 0, &c->sliding_window, e)))
        return st;
    if (!item(root, "head_dim") || cJSON_IsNull(item(root, "head_dim"))) {
        if (c->dim % c->n_heads)
            return nq_fail(e, NQ_E_FORMAT, "config.json: hidden_size %d is not divisible by "
                           "num_attention_heads %d", c->dim, c->n_heads);
        c->head_dim = c->dim / c->n_heads;
    } else if ((st = get_int(root, "head_dim", -1, &c->head_dim, e))) {
        return st;
    }
    if (c->n_heads % c->n_kv_heads)
        return nq_fail(e, NQ_E_FORMAT, "config.json: num_attention_heads %d is not a multiple of "
                       "num_key_value_heads %d", c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2)
        return nq_fail(e, NQ_E_FORMAT, "config.json: head_dim %d is odd (RoPE rotates pairs)", c->head_dim);
    return NQ_OK;
}

static nq_status parse(nq_llama_config *c, const cJSON *root, nq_err *e) {
    if (!cJSON_IsObject(root)) return nq_fail(e, NQ_E_FORMAT, "config.json: not a JSON object");
    nq_status st;
    if ((st = check_arch(c, root, e)) || (st = check_math_fields(root, e)) || (st = get_rope(c, root, e)) ||
        (st = get_shape(c, root, e)))
        return st;
    const cJSON *eps = item(root, "rms_norm_eps");
    c->norm_eps = 1e-6; /* LlamaConfig's default */
    if (eps && !cJSON_IsNull(eps)) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || eps->valuedouble > 1)
            return nq_fail(e, NQ_E_FORMAT, "config.json: rms_norm_eps must be in (0, 1]");
        c->norm_eps = eps->valuedouble;
    }
    c->tied = is_true(root, "tie_word_embeddings");
    return NQ_OK;
}

nq_status nq_llama_config_parse(nq_llama_config *c, const char *json, size_t len, nq_err *e) {
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return nq_fail(e, NQ_E_FORMAT, "config.json: not valid JSON");
    nq_status st = parse(c, root, e);
    cJSON_Delete(root);
    return st;
}
