/* iface.h - Candid types of candid/novaq.did, as cd_type descriptions. Field order here
 * is the declaration order used to index record values (cd_val.sub[i]); the codec puts
 * them in hash order on the wire. The Node tests check replies against the .did. */
#ifndef NQC_IFACE_H
#define NQC_IFACE_H
#include "candid.h"

extern const cd_type t_state, t_create_args, t_upload_args, t_upload_progress, t_problem,
    t_commit_report, t_model_info, t_vec_model_info, t_opt_model_info, t_shard_args,
    t_shard_slice, t_opt_shard_slice, t_manifest, t_opt_manifest, t_quota_info, t_stats,
    t_http_request, t_http_response, t_token, t_callback_response, t_opt_callback_response,
    t_opt_text, t_opt_blob, t_opt_principal, t_certified, t_opt_list_args;

/* Field indices (declaration order in iface.c). */
enum { CA_NAME, CA_DESC, CA_SIZE, CA_ROOT };
enum { UA_ID, UA_OFFSET, UA_DATA, UA_SHA };
enum { UP_RECEIVED, UP_SIZE, UP_MISSING, UP_NFIELDS };
enum { PR_LOCATION, PR_MESSAGE, PR_NFIELDS };
enum { CR_OK, CR_STATE, CR_PROBLEMS, CR_SHARDS, CR_TENSORS, CR_ROOT, CR_INSTR, CR_NFIELDS };
enum { MI_ID, MI_NAME, MI_DESC, MI_OWNER, MI_STATE, MI_SIZE, MI_RECEIVED, MI_CREATED,
       MI_VALIDATED, MI_ACTIVATED, MI_ROOT, MI_SHARDS, MI_TENSORS, MI_MANIFEST_BYTES,
       MI_CHUNKS, MI_BPW, MI_RATIO, MI_NFIELDS };
enum { LA_AFTER, LA_LIMIT };
enum { SA_ID, SA_SHARD, SA_OFFSET, SA_LENGTH };
enum { SS_DATA, SS_OFFSET, SS_SIZE, SS_SHA, SS_NFIELDS };
enum { OM_ID, OM_VERSION, OM_STATE, OM_UPLOADED, OM_ACTIVATED, OM_TOTAL, OM_NCHUNKS,
       OM_CHECKSUM, OM_QUANT, OM_META, OM_CHUNKS, OM_NFIELDS };
enum { QM_FORMAT, QM_CHECKSUM, QM_RATIO, QM_RETENTION, QM_BPW, QM_NOTES, QM_NFIELDS };
enum { CI_ID, CI_OFFSET, CI_SIZE, CI_SHA, CI_NFIELDS };
enum { QI_OWNER, QI_QUOTA, QI_USED, QI_NFIELDS };
enum { ST_MODELS, ST_STABLE, ST_RESERVED, ST_QUOTA, ST_UPLOAD_INSTR, ST_COMMIT_INSTR,
       ST_COMMIT_BYTES, ST_LAYOUT, ST_NFIELDS };
enum { HQ_METHOD, HQ_URL, HQ_HEADERS, HQ_BODY, HQ_CERT };
enum { HR_STATUS, HR_HEADERS, HR_BODY, HR_UPGRADE, HR_STRATEGY, HR_NFIELDS };
enum { TK_PATH, TK_OFFSET, TK_NFIELDS };
enum { CB_BODY, CB_TOKEN, CB_NFIELDS };
enum { CS_CALLBACK, CS_TOKEN, CS_NFIELDS };
enum { CE_ID, CE_STATE, CE_ROOT, CE_NFIELDS };
enum { CT_CERT, CT_HASH, CT_ENTRIES, CT_NFIELDS };
extern const cd_type t_header, t_headers, t_ohms_state, t_chunk_info, t_quant, t_strategy,
    t_callback_strategy, t_cert_entry;
#endif
