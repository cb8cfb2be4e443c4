/* settings.h - internal: the settings table's helpers that the container writer and the
 * settings-file reader share (the public side is nq_settings_* in novaq.h). */
#ifndef NQ_SETTINGS_H
#define NQ_SETTINGS_H
#include <cjson/cJSON.h>
#include "novaq.h"

/* Sets row r of *s from its text form (as nq_settings_set, without relabelling). Returns 0, or
 * 1 with what the row wants ("an integer in [1, 64]") in want and *s unchanged. */
int nq_setting_parse(nq_settings *s, const nq_setting *r, const char *value, char *want, size_t n);
/* *s in vocabulary v (JSON or manifest) as a cJSON object (nq_settings_to_json's content). */
cJSON *nq_settings_json_object(const nq_settings *s, nq_settings_vocab v);
#endif
