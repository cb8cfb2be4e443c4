/* gguf.h - internal: the GGUF metadata accessors that the config mapping (llm/config_gguf.c)
 * shares with the reader. meta is the model's metadata JSON, parsed. */
#ifndef NQ_GGUF_H
#define NQ_GGUF_H
#include <stdint.h>
#include <cjson/cJSON.h>
#include "novaq.h"
/* The integer value of key arch+suffix, or -1 if absent / not a non-negative integer. */
int64_t nq_gguf_meta_int(const cJSON *meta, const char *arch, const char *suffix);
/* general.architecture, or "" if absent. */
const char *nq_gguf_meta_arch(const cJSON *meta);
#endif
