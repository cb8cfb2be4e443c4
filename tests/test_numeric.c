/* Half-precision conversions (exhaustive over f16), bf16 rounding, deterministic log10. */
#include <math.h>
#include <string.h>
#include "testutil.h"

int main(void) {
    /* every finite f16 survives f16 -> f32 -> f16 exactly */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN payloads */
        CHECK(nq_f32_to_f16(nq_f16_to_f32((uint16_t)h)) == h);
    }
    CHECK(nq_f16_to_f32(0x3c00) == 1.0f);
    CHECK(nq_f16_to_f32(0x0001) == 5.9604644775390625e-8f); /* smallest subnormal */
    CHECK(nq_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(nq_f32_to_f16(65520.0f) == 0x7c00);             /* rounds up to inf */
    CHECK(nq_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);   /* tie -> even */
    CHECK(nq_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);   /* tie -> even (up) */
    CHECK(nq_f32_to_f16(-2.0f) == 0xc000);
    CHECK(nq_f32_to_f16(1e-9f) == 0);
    /* round to nearest against a brute-force search on a sweep of values */
    for (int i = 0; i < 200000; i++) {
        float x = (float)((i - 100000) * 0.000731);
        uint16_t h = nq_f32_to_f16(x);
        float err = fabsf(nq_f16_to_f32(h) - x);
        CHECK(fabsf(nq_f16_to_f32((uint16_t)(h + 1)) - x) >= err);
        if (h & 0x7fff) CHECK(fabsf(nq_f16_to_f32((uint16_t)(h - 1)) - x) >= err);
    }
    CHECK(nq_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(nq_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(nq_f32_to_bf16(1.00390625f) == 0x3f80);   /* halfway, even stays */
    CHECK(nq_f32_to_bf16(1.01171875f) == 0x3f82);   /* halfway, odd rounds up */
    for (uint32_t h = 0; h < 65536; h += 7)
        if ((h & 0x7f80) != 0x7f80) CHECK(nq_f32_to_bf16(nq_bf16_to_f32((uint16_t)h)) == h);
    /* log10: exact powers and agreement with libm to 1e-14 relative */
    CHECK(nq_log10(1.0) == 0.0);
    CHECK(fabs(nq_log10(1000.0) - 3.0) < 1e-14);
    CHECK(fabs(nq_log10(1e-300) + 300.0) < 1e-12);
    for (double x = 1e-30; x < 1e30; x *= 1.37)
        CHECK(fabs(nq_log10(x) - log10(x)) <= 1e-14 * (fabs(log10(x)) + 1));
    CHECK(isinf(nq_log10(0.0)) && nq_log10(0.0) < 0);
    return TU_DONE();
}
