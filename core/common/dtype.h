/* dtype.h - internal: element types as stored in model files (dtype.c). */
#ifndef NQ_DTYPE_H
#define NQ_DTYPE_H
#include "novaq.h"
/* Convert n elements of a float dtype stored little-endian at src to f32. */
void nq_convert_to_f32(nq_dtype dt, const void *src, size_t n, float *dst);
#endif
