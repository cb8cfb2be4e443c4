/* dtype.h - internal: element types as stored in model files (dtype.c). */
#ifndef NQ_DTYPE_H
#define NQ_DTYPE_H
#include "novaq.h"
/* Convert n elements of a float dtype stored little-endian at src to f32. */
void nq_convert_to_f32(nq_dtype dt, const void *src, size_t n, float *dst);
/* The inverse: n f32 values stored as dt (F32, F16 or BF16; others write nothing) little-
 * endian at dst, halves rounded to nearest even. Every f16/bf16 array the format holds
 * (codebooks, norm weights, decompressed tensors) is written through this. */
void nq_convert_from_f32(nq_dtype dt, const float *src, size_t n, void *dst);
/* Round x[0..n) to f16 in place, so that the encoder goes on with exactly what is stored,
 * and store those halves at raw (little-endian; raw may be NULL). */
void nq_f16_round(float *x, size_t n, uint8_t *raw);
#endif
