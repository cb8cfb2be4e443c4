/* dtype.c - element types: names as safetensors spells them, sizes, conversion to f32. */
#include <string.h>
#include "common/dtype.h"
#include "common/util.h"

static const struct { const char *name; size_t size; } dtypes[NQ_DT_COUNT] = {
    [NQ_DT_F32] = {"F32", 4},      [NQ_DT_F16] = {"F16", 2},   [NQ_DT_BF16] = {"BF16", 2},
    [NQ_DT_F64] = {"F64", 8},      [NQ_DT_I8] = {"I8", 1},     [NQ_DT_U8] = {"U8", 1},
    [NQ_DT_I16] = {"I16", 2},      [NQ_DT_U16] = {"U16", 2},   [NQ_DT_I32] = {"I32", 4},
    [NQ_DT_U32] = {"U32", 4},      [NQ_DT_I64] = {"I64", 8},   [NQ_DT_U64] = {"U64", 8},
    [NQ_DT_BOOL] = {"BOOL", 1},    [NQ_DT_F8_E4M3] = {"F8_E4M3", 1},
    [NQ_DT_F8_E5M2] = {"F8_E5M2", 1}, [NQ_DT_Q8_0] = {"Q8_0", 0}, [NQ_DT_OTHER] = {"OTHER", 0},
};

const char *nq_dtype_name(nq_dtype t) {
    return (unsigned)t < NQ_DT_COUNT ? dtypes[t].name : "?";
}

int nq_dtype_from_name(const char *name) {
    for (int i = 0; i < NQ_DT_COUNT; i++)
        if (i != NQ_DT_OTHER && i != NQ_DT_Q8_0 && !strcmp(name, dtypes[i].name)) return i;
    return -1;
}

size_t nq_dtype_size(nq_dtype t) { return (unsigned)t < NQ_DT_COUNT ? dtypes[t].size : 0; }

int nq_dtype_is_float(nq_dtype t) {
    return t == NQ_DT_F32 || t == NQ_DT_F16 || t == NQ_DT_BF16 || t == NQ_DT_Q8_0;
}

void nq_convert_to_f32(nq_dtype dt, const void *src, size_t n, float *dst) {
    const uint8_t *p = src;
    switch (dt) {
    case NQ_DT_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = nq_get_u32(p + 4 * i);
            memcpy(&dst[i], &u, 4);
        }
        break;
    case NQ_DT_F16:
        for (size_t i = 0; i < n; i++) dst[i] = nq_f16_to_f32(nq_get_u16(p + 2 * i));
        break;
    case NQ_DT_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = nq_bf16_to_f32(nq_get_u16(p + 2 * i));
        break;
    default:
        for (size_t i = 0; i < n; i++) dst[i] = 0; /* callers check nq_dtype_is_float first */
    }
}

void nq_convert_from_f32(nq_dtype dt, const float *src, size_t n, void *dst) {
    uint8_t *p = dst;
    switch (dt) {
    case NQ_DT_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &src[i], 4);
            nq_put_u32(p + 4 * i, u);
        }
        break;
    case NQ_DT_F16:
        for (size_t i = 0; i < n; i++) nq_put_u16(p + 2 * i, nq_f32_to_f16(src[i]));
        break;
    case NQ_DT_BF16:
        for (size_t i = 0; i < n; i++) nq_put_u16(p + 2 * i, nq_f32_to_bf16(src[i]));
        break;
    default:
        break;
    }
}

void nq_f16_round(float *x, size_t n, uint8_t *raw) {
    for (size_t i = 0; i < n; i++) {
        uint16_t h = nq_f32_to_f16(x[i]);
        if (raw) nq_put_u16(raw + 2 * i, h);
        x[i] = nq_f16_to_f32(h);
    }
}
