/* tokenizer_unicode.h - internal: Unicode classes for the pre-tokenizer (generated table). */
#ifndef NQ_TOKENIZER_UNICODE_H
#define NQ_TOKENIZER_UNICODE_H
#include <stdint.h>
int nq_uc_is_letter(uint32_t cp); /* general category L* */
int nq_uc_is_number(uint32_t cp); /* general category N* */
int nq_uc_is_space(uint32_t cp);  /* White_Space property */
#endif
