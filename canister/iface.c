/* iface.c - the Candid types of candid/novaq.did (iface.h). */
#include "iface.h"

static const cd_type t_unit = {.op = CD_NULL};
static const cd_field f_state[] = {{"Uploading", 0, &t_unit}, {"Validated", 0, &t_unit},
                                   {"Active", 0, &t_unit}, {"Deprecated", 0, &t_unit}};
const cd_type t_state = CD_VARIANT_OF(f_state);

const cd_type t_opt_blob = CD_OPT_OF(&cd_t_blob);
const cd_type t_opt_text = CD_OPT_OF(&cd_t_text);
const cd_type t_opt_principal = CD_OPT_OF(&cd_t_principal);
static const cd_type t_opt_nat64 = CD_OPT_OF(&cd_t_nat64);
static const cd_type t_opt_bool = CD_OPT_OF(&cd_t_bool);
static const cd_type t_float32 = CD_PRIM(CD_FLOAT32);
static const cd_type t_opt_float32 = CD_OPT_OF(&t_float32);

static const cd_field f_create[] = {{"name", 0, &cd_t_text}, {"description", 0, &cd_t_text},
                                    {"size_bytes", 0, &cd_t_nat64},
                                    {"expected_root_hash", 0, &t_opt_blob}};
const cd_type t_create_args = CD_RECORD_OF(f_create);

static const cd_field f_upload[] = {{"model_id", 0, &cd_t_text}, {"offset", 0, &cd_t_nat64},
                                    {"data", 0, &cd_t_blob}, {"sha256", 0, &t_opt_blob}};
const cd_type t_upload_args = CD_RECORD_OF(f_upload);

static const cd_field f_progress[] = {{"received_bytes", 0, &cd_t_nat64},
                                      {"size_bytes", 0, &cd_t_nat64},
                                      {"missing_ranges", 0, &cd_t_nat32}};
const cd_type t_upload_progress = CD_RECORD_OF(f_progress);

static const cd_field f_problem[] = {{"location", 0, &cd_t_text}, {"message", 0, &cd_t_text}};
const cd_type t_problem = CD_RECORD_OF(f_problem);
static const cd_type t_problems = CD_VEC_OF(&t_problem);

static const cd_field f_report[] = {{"ok", 0, &cd_t_bool}, {"state", 0, &t_state},
                                    {"problems", 0, &t_problems},
                                    {"shard_count", 0, &cd_t_nat32},
                                    {"tensor_count", 0, &cd_t_nat32},
                                    {"root_hash", 0, &t_opt_blob},
                                    {"instructions", 0, &cd_t_nat64}};
const cd_type t_commit_report = CD_RECORD_OF(f_report);

static const cd_field f_info[] = {
    {"model_id", 0, &cd_t_text},       {"name", 0, &cd_t_text},
    {"description", 0, &cd_t_text},    {"owner", 0, &cd_t_principal},
    {"state", 0, &t_state},            {"size_bytes", 0, &cd_t_nat64},
    {"received_bytes", 0, &cd_t_nat64}, {"created_at", 0, &cd_t_nat64},
    {"validated_at", 0, &t_opt_nat64}, {"activated_at", 0, &t_opt_nat64},
    {"root_hash", 0, &t_opt_blob},     {"shard_count", 0, &cd_t_nat32},
    {"tensor_count", 0, &cd_t_nat32},  {"manifest_bytes", 0, &cd_t_nat64},
    {"chunk_count", 0, &cd_t_nat32},   {"bits_per_weight", 0, &cd_t_float64},
    {"compression_ratio", 0, &cd_t_float64}};
const cd_type t_model_info = CD_RECORD_OF(f_info);
static const cd_type t_opt_nat32 = CD_OPT_OF(&cd_t_nat32);
static const cd_field f_list[] = {{"after", 0, &t_opt_text}, {"limit", 0, &t_opt_nat32}};
static const cd_type t_list = CD_RECORD_OF(f_list);
const cd_type t_opt_list_args = CD_OPT_OF(&t_list);
const cd_type t_vec_model_info = CD_VEC_OF(&t_model_info);
const cd_type t_opt_model_info = CD_OPT_OF(&t_model_info);

static const cd_field f_shard_args[] = {{"model_id", 0, &cd_t_text}, {"shard", 0, &cd_t_nat32},
                                        {"offset", 0, &cd_t_nat64}, {"length", 0, &t_opt_nat64}};
const cd_type t_shard_args = CD_RECORD_OF(f_shard_args);
static const cd_field f_slice[] = {{"data", 0, &cd_t_blob}, {"offset", 0, &cd_t_nat64},
                                   {"shard_size", 0, &cd_t_nat64}, {"sha256", 0, &cd_t_blob}};
const cd_type t_shard_slice = CD_RECORD_OF(f_slice);
const cd_type t_opt_shard_slice = CD_OPT_OF(&t_shard_slice);

/* OHMS model-repository shape */
static const cd_field f_ohms_state[] = {{"Pending", 0, &t_unit}, {"Active", 0, &t_unit},
                                        {"Deprecated", 0, &t_unit}};
const cd_type t_ohms_state = CD_VARIANT_OF(f_ohms_state);
static const cd_field f_qformat[] = {{"NOVAQ", 0, &t_unit}, {"GGUF", 0, &t_unit},
                                     {"Custom", 0, &cd_t_text}};
static const cd_type t_qformat = CD_VARIANT_OF(f_qformat);
static const cd_field f_quant[] = {{"format", 0, &t_qformat},
                                   {"artifact_checksum", 0, &cd_t_text},
                                   {"compression_ratio", 0, &t_float32},
                                   {"accuracy_retention", 0, &t_float32},
                                   {"bits_per_weight", 0, &t_opt_float32},
                                   {"notes", 0, &t_opt_text}};
const cd_type t_quant = CD_RECORD_OF(f_quant);
static const cd_field f_chunk[] = {{"chunk_id", 0, &cd_t_text}, {"offset", 0, &cd_t_nat64},
                                   {"size_bytes", 0, &cd_t_nat64}, {"sha256", 0, &cd_t_text}};
const cd_type t_chunk_info = CD_RECORD_OF(f_chunk);
static const cd_type t_chunks = CD_VEC_OF(&t_chunk_info);
static const cd_field f_pair[] = {{NULL, 0, &cd_t_text}, {NULL, 1, &cd_t_text}};
const cd_type t_header = CD_RECORD_OF(f_pair);
const cd_type t_headers = CD_VEC_OF(&t_header);
static const cd_field f_manifest[] = {
    {"model_id", 0, &cd_t_text},        {"version", 0, &cd_t_text},
    {"state", 0, &t_ohms_state},        {"uploaded_at", 0, &cd_t_nat64},
    {"activated_at", 0, &t_opt_nat64},  {"total_size_bytes", 0, &cd_t_nat64},
    {"chunk_count", 0, &cd_t_nat32},    {"checksum", 0, &cd_t_text},
    {"quantization", 0, &t_quant},      {"metadata", 0, &t_headers},
    {"chunks", 0, &t_chunks}};
const cd_type t_manifest = CD_RECORD_OF(f_manifest);
const cd_type t_opt_manifest = CD_OPT_OF(&t_manifest);

static const cd_field f_quota[] = {{"owner", 0, &cd_t_principal}, {"quota_bytes", 0, &cd_t_nat64},
                                   {"used_bytes", 0, &cd_t_nat64}};
const cd_type t_quota_info = CD_RECORD_OF(f_quota);

static const cd_field f_stats[] = {{"model_count", 0, &cd_t_nat32},
                                   {"stable_bytes", 0, &cd_t_nat64},
                                   {"data_bytes_reserved", 0, &cd_t_nat64},
                                   {"default_quota_bytes", 0, &cd_t_nat64},
                                   {"last_upload_instructions", 0, &cd_t_nat64},
                                   {"last_commit_instructions", 0, &cd_t_nat64},
                                   {"last_commit_bytes", 0, &cd_t_nat64},
                                   {"layout_version", 0, &cd_t_nat32}};
const cd_type t_stats = CD_RECORD_OF(f_stats);

static const cd_type t_nat16 = CD_PRIM(CD_NAT16);
static const cd_type t_opt_nat16 = CD_OPT_OF(&t_nat16);
static const cd_field f_request[] = {{"method", 0, &cd_t_text}, {"url", 0, &cd_t_text},
                                     {"headers", 0, &t_headers}, {"body", 0, &cd_t_blob},
                                     {"certificate_version", 0, &t_opt_nat16}};
const cd_type t_http_request = CD_RECORD_OF(f_request);

static const cd_field f_token[] = {{"path", 0, &cd_t_text}, {"offset", 0, &cd_t_nat64}};
const cd_type t_token = CD_RECORD_OF(f_token);
static const cd_type t_opt_token = CD_OPT_OF(&t_token);
static const cd_field f_cb_resp[] = {{"body", 0, &cd_t_blob}, {"token", 0, &t_opt_token}};
const cd_type t_callback_response = CD_RECORD_OF(f_cb_resp);
const cd_type t_opt_callback_response = CD_OPT_OF(&t_callback_response);
static const cd_type *const cb_args[] = {&t_token};
static const cd_type *const cb_rets[] = {&t_opt_callback_response};
static const cd_type t_callback = {.op = CD_FUNC, .nargs = 1, .args = cb_args, .nrets = 1,
                                   .rets = cb_rets, .query = 1};
static const cd_field f_cb_strategy[] = {{"callback", 0, &t_callback}, {"token", 0, &t_token}};
const cd_type t_callback_strategy = CD_RECORD_OF(f_cb_strategy);
static const cd_field f_strategy[] = {{"Callback", 0, &t_callback_strategy}};
const cd_type t_strategy = CD_VARIANT_OF(f_strategy);
static const cd_type t_opt_strategy = CD_OPT_OF(&t_strategy);
static const cd_field f_response[] = {{"status_code", 0, &t_nat16}, {"headers", 0, &t_headers},
                                      {"body", 0, &cd_t_blob}, {"upgrade", 0, &t_opt_bool},
                                      {"streaming_strategy", 0, &t_opt_strategy}};
const cd_type t_http_response = CD_RECORD_OF(f_response);

static const cd_field f_cert_entry[] = {{"model_id", 0, &cd_t_text}, {"state", 0, &t_state},
                                        {"root_hash", 0, &cd_t_blob}};
const cd_type t_cert_entry = CD_RECORD_OF(f_cert_entry);
static const cd_type t_cert_entries = CD_VEC_OF(&t_cert_entry);
static const cd_field f_certified[] = {{"certificate", 0, &t_opt_blob},
                                       {"certified_hash", 0, &cd_t_blob},
                                       {"entries", 0, &t_cert_entries}};
const cd_type t_certified = CD_RECORD_OF(f_certified);
