// ggml's 5-bit block formats (Q5_0, Q5_1) and K-quants (Q2_K ... Q6_K): reference quantizers that
// write the same bytes as llama.cpp's `quantize_row_*_ref` (what `llama-quantize` uses without an
// importance matrix), and their dequantizers.
//
// What decides the bytes: every search runs in float32 in the order written here (the target is
// built with -ffp-contract=off, so no multiply-add is fused), rounding to integers is round half to
// even on float32 (`nearest_int`), scales are stored as float16 rounded to nearest even, and the
// codes are recomputed from the stored (rounded) scales before packing.
#include "kernels_internal.h"
#include <math.h>
#include <string.h>

#define SUPER 256  // values per K-quant super-block

/// Round half to even, as ggml does: adding 1.5 * 2^23 leaves the rounded integer in the low
/// mantissa bits (valid for |v| < 2^22).
static inline int nearest_int(float v) {
    float shifted = v + 12582912.f;
    int32_t bits;
    memcpy(&bits, &shifted, 4);
    return (bits & 0x007FFFFF) - 0x00400000;
}

static inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/// float32 to float16 bits, rounded to nearest even (F16C's and ggml's conversion).
uint16_t llmopt_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t mag = x & 0x7FFFFFFF;
    if (mag > 0x7F800000) return sign | 0x7E00;                     // NaN
    if (mag >= 0x477FF000) return sign | 0x7C00;                    // rounds to infinity (>= 65520)
    if (mag < 0x38800000) {                                         // below 2^-14: subnormal half
        float a;
        memcpy(&a, &mag, 4);
        float units = (a * 16777216.f + 8388608.f) - 8388608.f;    // a / 2^-24, rounded to even
        return sign | (uint16_t)units;
    }
    uint32_t rounded = mag - 0x38000000 + 0x0FFF + ((mag >> 13) & 1);
    return sign | (uint16_t)(rounded >> 13);
}

static inline float half_at(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return llmopt_half_to_float(h); }
static inline void put_half(uint8_t *p, float v) { uint16_t h = llmopt_float_to_half(v); memcpy(p, &h, 2); }
/// A value stored as float16 and read back.
static inline float via_half(float v) { return llmopt_half_to_float(llmopt_float_to_half(v)); }

// MARK: Scale searches

/// Symmetric codes in [-nmax, nmax - 1] (returned offset by nmax) for n values, weighted by x²:
/// starts from the scale that maps the value of largest magnitude to -nmax, then tries 18 nearby
/// scales and keeps the one with the least weighted squared error. Returns the scale.
static float search_symmetric(int n, int nmax, const float *x, int8_t *codes) {
    float amax = 0, signed_max = 0;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) { amax = a; signed_max = x[i]; }
    }
    if (amax < 1e-15f) {
        memset(codes, 0, (size_t)n);
        return 0;
    }
    float iscale = -nmax / signed_max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        codes[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / signed_max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) codes[i] = (int8_t)(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/// Q3_K's per-16 search: symmetric codes in [-nmax, nmax - 1] weighted by x², then up to five
/// passes that move single codes when that raises the weighted correlation. Codes are returned
/// offset by nmax; returns the least-squares scale.
static float search_q3(int n, int nmax, const float *x, int8_t *codes) {
    float amax = 0, signed_max = 0;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) { amax = a; signed_max = x[i]; }
    }
    if (amax < 1e-15f) {
        memset(codes, 0, (size_t)n);
        return 0;
    }
    float iscale = -nmax / signed_max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        codes[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * codes[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * codes[i] * codes[i];
            int l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (l == codes[i]) continue;
            slx += w * x[i] * l;
            sl2 += w * l * l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                codes[i] = (int8_t)l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) codes[i] = (int8_t)(codes[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/// Asymmetric codes in [0, nmax] with value = scale * code - offset (offset >= 0): starts from
/// the min/max grid, then tries nstep + 1 grids of nmax + rmin + rdelta * step levels over the
/// range, fitting scale and minimum by weighted least squares on each, and keeps the grid with
/// the least weighted error (absolute when `absolute`, else squared). Returns the scale; the
/// offset goes to `*offset`.
static float search_affine(int n, int nmax, const float *x, const float *weights, uint8_t *codes, float *offset,
                           uint8_t *trial, float rmin, float rdelta, int nstep, int absolute) {
    float lo = x[0], hi = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        memset(codes, 0, (size_t)n);
        *offset = -lo;
        return 0.f;
    }
    float iscale = nmax / (hi - lo);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        codes[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - lo)), 0, nmax);
        float diff = scale * codes[i] + lo - x[i];
        diff = absolute ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int step = 0; step <= nstep; step++) {
        iscale = (rmin + rdelta * step + nmax) / (hi - lo);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(nearest_int(iscale * (x[i] - lo)), 0, nmax);
            trial[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (!(det > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float error = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * trial[i] + this_min - x[i];
            diff = absolute ? fabsf(diff) : diff * diff;
            error += weights[i] * diff;
        }
        if (error < best_error) {
            memcpy(codes, trial, (size_t)n);
            best_error = error;
            scale = this_scale;
            lo = this_min;
        }
    }
    *offset = -lo;
    return scale;
}

// MARK: Q5_0, Q5_1 (32 values per block)

// Q5_0 block (22 bytes): f16 d, u32 qh (bit j: high bit of value j), 16 bytes of low nibbles
// (byte j: value j low, value j + 16 high); value = d * (q - 16).
static void quantize_q5_0(const float *x, uint8_t *y, int k) {
    for (int b = 0; b < k / 32; b++, x += 32, y += 22) {
        float amax = 0, signed_max = 0;
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); signed_max = x[j]; }
        float d = signed_max / -16;
        float id = d ? 1.0f / d : 0.0f;
        put_half(y, d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (int)(x[j] * id + 16.5f), q1 = (int)(x[j + 16] * id + 16.5f);
            q0 = q0 > 31 ? 31 : q0;
            q1 = q1 > 31 ? 31 : q1;
            y[6 + j] = (uint8_t)((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= (uint32_t)(q0 >> 4 & 1) << j | (uint32_t)(q1 >> 4 & 1) << (j + 16);
        }
        memcpy(y + 2, &qh, 4);
    }
}

static void dequantize_q5_0(const uint8_t *y, float *x, int k) {
    for (int b = 0; b < k / 32; b++, x += 32, y += 22) {
        float d = half_at(y);
        uint32_t qh;
        memcpy(&qh, y + 2, 4);
        for (int j = 0; j < 16; j++) {
            int q0 = (y[6 + j] & 0x0F) | (int)(qh >> j & 1) << 4;
            int q1 = (y[6 + j] >> 4) | (int)(qh >> (j + 16) & 1) << 4;
            x[j] = (float)(q0 - 16) * d;
            x[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

// Q5_1 block (24 bytes): f16 d, f16 m, u32 qh, 16 bytes of low nibbles; value = d * q + m.
static void quantize_q5_1(const float *x, uint8_t *y, int k) {
    for (int b = 0; b < k / 32; b++, x += 32, y += 24) {
        float lo = x[0], hi = x[0];
        for (int j = 1; j < 32; j++) {
            if (x[j] < lo) lo = x[j];
            if (x[j] > hi) hi = x[j];
        }
        float d = (hi - lo) / 31;
        float id = d ? 1.0f / d : 0.0f;
        put_half(y, d);
        put_half(y + 2, lo);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (uint8_t)((x[j] - lo) * id + 0.5f), q1 = (uint8_t)((x[j + 16] - lo) * id + 0.5f);
            y[8 + j] = (uint8_t)((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= (uint32_t)(q0 >> 4 & 1) << j | (uint32_t)(q1 >> 4 & 1) << (j + 16);
        }
        memcpy(y + 4, &qh, 4);
    }
}

static void dequantize_q5_1(const uint8_t *y, float *x, int k) {
    for (int b = 0; b < k / 32; b++, x += 32, y += 24) {
        float d = half_at(y), m = half_at(y + 2);
        uint32_t qh;
        memcpy(&qh, y + 4, 4);
        for (int j = 0; j < 16; j++) {
            int q0 = (y[8 + j] & 0x0F) | (int)(qh >> j & 1) << 4;
            int q1 = (y[8 + j] >> 4) | (int)(qh >> (j + 16) & 1) << 4;
            x[j] = (float)q0 * d + m;
            x[j + 16] = (float)q1 * d + m;
        }
    }
}

// MARK: Q2_K

/// Packs 2-bit codes: within each 128 values, byte l of the 32 holds values l, l+32, l+64, l+96
/// in bits 0-1, 2-3, 4-5, 6-7.
static void pack_2bit(const uint8_t *codes, uint8_t *qs) {
    for (int j = 0; j < SUPER; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(codes[j + l] | codes[j + l + 32] << 2 | codes[j + l + 64] << 4 | codes[j + l + 96] << 6);
}

// Q2_K super-block (84 bytes): 16 bytes of 4-bit scale (low) and 4-bit min (high) per 16 values,
// 64 bytes of 2-bit codes, f16 d, f16 dmin; value = d * scale * q - dmin * min.
/// `importance` (per value of the row, or NULL for llama.cpp's reference) multiplies the weights
/// of the sub-block searches, as llama.cpp's imatrix does.
static void quantize_q2_k(const float *x, const float *importance, uint8_t *y, int k) {
    uint8_t codes[SUPER], trial[16];
    float weights[16], mins[16], scales[16];
    for (int b = 0; b < k / SUPER; b++, x += SUPER, y += 84) {
        float max_scale = 0, max_min = 0;
        const float *imp = importance ? importance + (size_t)b * SUPER : NULL;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            if (imp) for (int l = 0; l < 16; l++) weights[l] *= imp[16 * j + l];
            scales[j] = search_affine(16, 3, x + 16 * j, weights, codes + 16 * j, &mins[j], trial, -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        uint8_t *sc = y;
        if (max_scale > 0) {
            float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; j++) sc[j] = (uint8_t)nearest_int(iscale * scales[j]);
            put_half(y + 80, max_scale / 15.f);
        } else {
            memset(sc, 0, 16);
            put_half(y + 80, 0.f);
        }
        if (max_min > 0) {
            float iscale = 15.f / max_min;
            for (int j = 0; j < 16; j++) sc[j] = (uint8_t)(sc[j] | nearest_int(iscale * mins[j]) << 4);
            put_half(y + 82, max_min / 15.f);
        } else {
            put_half(y + 82, 0.f);
        }
        float dall = half_at(y + 80), dmin = half_at(y + 82);
        for (int j = 0; j < 16; j++) {
            float d = dall * (sc[j] & 0xF);
            if (!d) continue;
            float dm = dmin * (sc[j] >> 4);
            for (int i = 0; i < 16; i++) codes[16 * j + i] = (uint8_t)clamp_int(nearest_int((x[16 * j + i] + dm) / d), 0, 3);
        }
        pack_2bit(codes, y + 16);
    }
}

static void dequantize_q2_k(const uint8_t *y, float *x, int k) {
    for (int b = 0; b < k / SUPER; b++, y += 84) {
        float d = half_at(y + 80), dmin = half_at(y + 82);
        const uint8_t *q = y + 16;
        int is = 0;
        for (int n = 0; n < SUPER; n += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int half = 0; half < 2; half++) {
                    uint8_t sc = y[is++];
                    float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
                    for (int l = 0; l < 16; l++) *x++ = dl * (float)(q[l + 16 * half] >> shift & 3) - ml;
                }
    }
}

// MARK: Q3_K

// Q3_K super-block (110 bytes): 32 bytes hmask (bit b of byte m: high bit of value 32b + m),
// 64 bytes of low 2-bit codes (as Q2_K), 12 bytes of 6-bit signed scales per 16 values, f16 d;
// value = d * (scale - 32) * (q - 4).
static int q3_scale(const uint8_t *s, int j) {
    int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return (low | (s[8 + j % 4] >> (2 * (j / 4)) & 3) << 4) - 32;
}

static void quantize_q3_k(const float *x, uint8_t *y, int k) {
    int8_t codes[SUPER];
    float scales[16];
    for (int b = 0; b < k / SUPER; b++, x += SUPER, y += 110) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = search_q3(16, 4, x + 16 * j, codes + 16 * j);
            if (fabsf(scales[j]) > amax) { amax = fabsf(scales[j]); max_scale = scales[j]; }
        }
        uint8_t *hmask = y, *qs = y + 32, *sc = y + 96;
        memset(sc, 0, 12);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = clamp_int((int8_t)nearest_int(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) sc[j] = (uint8_t)(l & 0xF);
                else sc[j - 8] |= (uint8_t)((l & 0xF) << 4);
                sc[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            put_half(y + 108, 1 / iscale);
        } else {
            put_half(y + 108, 0.f);
        }
        float dall = half_at(y + 108);
        for (int j = 0; j < 16; j++) {
            float d = dall * q3_scale(sc, j);
            if (!d) continue;
            for (int i = 0; i < 16; i++) codes[16 * j + i] = (int8_t)(clamp_int(nearest_int(x[16 * j + i] / d), -4, 3) + 4);
        }
        memset(hmask, 0, 32);
        for (int j = 0; j < SUPER; j++)
            if (codes[j] > 3) {
                hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                codes[j] -= 4;
            }
        pack_2bit((const uint8_t *)codes, qs);
    }
}

static void dequantize_q3_k(const uint8_t *y, float *x, int k) {
    for (int b = 0; b < k / SUPER; b++, y += 110) {
        float dall = half_at(y + 108);
        const uint8_t *hm = y, *q = y + 32, *sc = y + 96;
        int is = 0, bit = 0;
        for (int n = 0; n < SUPER; n += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2, bit++)
                for (int half = 0; half < 2; half++) {
                    float dl = dall * (float)q3_scale(sc, is++);
                    for (int l = 0; l < 16; l++) {
                        int v = (q[l + 16 * half] >> shift & 3) - ((hm[l + 16 * half] >> bit & 1) ? 0 : 4);
                        *x++ = dl * (float)v;
                    }
                }
    }
}

// MARK: Q4_K, Q5_K

/// The 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of Q4_K/Q5_K.
static inline void scale_min_k4(int j, const uint8_t *s, uint8_t *scale, uint8_t *min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (uint8_t)((s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4);
        *min = (uint8_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

/// Shared by Q4_K and Q5_K (layout: f16 d, f16 dmin, 12 bytes of scales/mins, then codes): fits
/// each 32-value sub-block with `search_affine`, stores 6-bit scales and mins relative to the
/// largest, and recomputes the codes (0..nmax) from the stored values.
/// `importance` (per value of the super-block, or NULL for llama.cpp's reference) multiplies the
/// weights of the sub-block searches, as llama.cpp's imatrix does.
static void affine_k_superblock(const float *x, const float *importance, uint8_t *y, int nmax, float rmin, int nstep, uint8_t *codes) {
    uint8_t trial[32];
    float weights[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *v = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += v[l] * v[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(v[l]);
        if (importance) for (int l = 0; l < 32; l++) weights[l] *= importance[32 * j + l];
        scales[j] = search_affine(32, nmax, v, weights, codes + 32 * j, &mins[j], trial, rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t *s = y + 4;
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]), lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls > 63 ? 63 : ls;
        lm = lm > 63 ? 63 : lm;
        if (j < 4) {
            s[j] = ls;
            s[j + 4] = lm;
        } else {
            s[j + 4] = (uint8_t)((ls & 0xF) | (lm & 0xF) << 4);
            s[j - 4] |= (uint8_t)((ls >> 4) << 6);
            s[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    put_half(y, max_scale / 63.f);
    put_half(y + 2, max_min / 63.f);
    float dall = half_at(y), dmin = half_at(y + 2);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        scale_min_k4(j, s, &sc, &m);
        float d = dall * sc;
        if (!d) continue;
        float dm = dmin * m;
        for (int i = 0; i < 32; i++) codes[32 * j + i] = (uint8_t)clamp_int(nearest_int((x[32 * j + i] + dm) / d), 0, nmax);
    }
}

// Q4_K super-block (144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and mins per 32
// values, 128 bytes of nibbles (per 64 values: byte l holds value l low, l + 32 high);
// value = d * scale * q - dmin * min.
static void quantize_q4_k(const float *x, const float *importance, uint8_t *y, int k) {
    uint8_t codes[SUPER];
    for (int b = 0; b < k / SUPER; b++, x += SUPER, y += 144) {
        affine_k_superblock(x, importance ? importance + (size_t)b * SUPER : NULL, y, 15, -1.f, 20, codes);
        uint8_t *q = y + 16;
        for (int j = 0; j < SUPER; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(codes[j + l] | codes[j + l + 32] << 4);
    }
}

static void dequantize_q4_k(const uint8_t *y, float *x, int k) {
    for (int b = 0; b < k / SUPER; b++, y += 144) {
        float d = half_at(y), dmin = half_at(y + 2);
        const uint8_t *q = y + 16;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            scale_min_k4(j, y + 4, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(j + 1, y + 4, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *x++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *x++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

// Q5_K super-block (176 bytes): as Q4_K with 32 bytes of high bits (bit 2i and 2i+1 of byte l:
// values 64i + l and 64i + l + 32) between the scales and the nibbles; codes 0..31.
static void quantize_q5_k(const float *x, const float *importance, uint8_t *y, int k) {
    uint8_t codes[SUPER];
    for (int b = 0; b < k / SUPER; b++, x += SUPER, y += 176) {
        affine_k_superblock(x, importance ? importance + (size_t)b * SUPER : NULL, y, 31, -0.5f, 15, codes);
        uint8_t *qh = y + 16, *ql = y + 48;
        memset(qh, 0, 32);
        for (int n = 0, pair = 0; n < SUPER; n += 64, pair++, ql += 32)
            for (int j = 0; j < 32; j++) {
                int l1 = codes[n + j], l2 = codes[n + j + 32];
                if (l1 > 15) { l1 -= 16; qh[j] |= (uint8_t)(1 << (2 * pair)); }
                if (l2 > 15) { l2 -= 16; qh[j] |= (uint8_t)(2 << (2 * pair)); }
                ql[j] = (uint8_t)(l1 | l2 << 4);
            }
    }
}

static void dequantize_q5_k(const uint8_t *y, float *x, int k) {
    for (int b = 0; b < k / SUPER; b++, y += 176) {
        float d = half_at(y), dmin = half_at(y + 2);
        const uint8_t *qh = y + 16, *ql = y + 48;
        for (int j = 0, pair = 0; j < 8; j += 2, pair++, ql += 32) {
            uint8_t sc, m;
            scale_min_k4(j, y + 4, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(j + 1, y + 4, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *x++ = d1 * (float)((ql[l] & 0xF) + ((qh[l] >> (2 * pair) & 1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *x++ = d2 * (float)((ql[l] >> 4) + ((qh[l] >> (2 * pair + 1) & 1) ? 16 : 0)) - m2;
        }
    }
}

// MARK: Q6_K

// Q6_K super-block (210 bytes): 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 int8
// scales per 16 values, f16 d; value = d * scale * (q - 32). Per 128 values: ql byte l holds
// values l (low) and l + 64 (high), byte l + 32 values l + 32 and l + 96; qh byte l holds the
// high bits of l, l + 32, l + 64, l + 96.
static void quantize_q6_k(const float *x, uint8_t *y, int k) {
    int8_t codes[SUPER];
    float scales[16];
    for (int b = 0; b < k / SUPER; b++, x += SUPER, y += 210) {
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = search_symmetric(16, 32, x + 16 * j, codes + 16 * j);
            if (fabsf(scales[j]) > max_abs) { max_abs = fabsf(scales[j]); max_scale = scales[j]; }
        }
        if (max_abs < 1e-15f) {
            memset(y, 0, 210);
            continue;
        }
        float iscale = -128.f / max_scale;
        put_half(y + 208, 1 / iscale);
        int8_t *sc = (int8_t *)(y + 192);
        for (int j = 0; j < 16; j++) {
            int l = nearest_int(iscale * scales[j]);
            sc[j] = (int8_t)(l > 127 ? 127 : l);
        }
        float dall = half_at(y + 208);
        for (int j = 0; j < 16; j++) {
            float d = dall * sc[j];
            if (!d) continue;
            for (int i = 0; i < 16; i++) codes[16 * j + i] = (int8_t)(clamp_int(nearest_int(x[16 * j + i] / d), -32, 31) + 32);
        }
        uint8_t *ql = y, *qh = y + 128;
        for (int j = 0; j < SUPER; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                int c0 = codes[j + l], c1 = codes[j + l + 32], c2 = codes[j + l + 64], c3 = codes[j + l + 96];
                ql[l] = (uint8_t)((c0 & 0xF) | (c2 & 0xF) << 4);
                ql[l + 32] = (uint8_t)((c1 & 0xF) | (c3 & 0xF) << 4);
                qh[l] = (uint8_t)(c0 >> 4 | (c1 >> 4) << 2 | (c2 >> 4) << 4 | (c3 >> 4) << 6);
            }
    }
}

static void dequantize_q6_k(const uint8_t *y, float *x, int k) {
    for (int b = 0; b < k / SUPER; b++, y += 210) {
        float d = half_at(y + 208);
        const uint8_t *ql = y, *qh = y + 128;
        const int8_t *sc = (const int8_t *)(y + 192);
        for (int n = 0; n < SUPER; n += 128, x += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q0 = ((ql[l] & 0xF) | (qh[l] & 3) << 4) - 32;
                int q1 = ((ql[l + 32] & 0xF) | (qh[l] >> 2 & 3) << 4) - 32;
                int q2 = ((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4) - 32;
                int q3 = ((ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4) - 32;
                x[l] = d * sc[is] * (float)q0;
                x[l + 32] = d * sc[is + 2] * (float)q1;
                x[l + 64] = d * sc[is + 4] * (float)q2;
                x[l + 96] = d * sc[is + 6] * (float)q3;
            }
    }
}

// MARK: Entry points

int llmopt_kquant_block_values(int wtype) {
    switch (wtype) {
    case LLMOPT_W_Q5_0: case LLMOPT_W_Q5_1: return 32;
    case LLMOPT_W_Q2_K: case LLMOPT_W_Q3_K: case LLMOPT_W_Q4_K: case LLMOPT_W_Q5_K: case LLMOPT_W_Q6_K: return SUPER;
    default: return 0;
    }
}

int llmopt_kquant_block_bytes(int wtype) {
    switch (wtype) {
    case LLMOPT_W_Q5_0: return 22;
    case LLMOPT_W_Q5_1: return 24;
    case LLMOPT_W_Q2_K: return 84;
    case LLMOPT_W_Q3_K: return 110;
    case LLMOPT_W_Q4_K: return 144;
    case LLMOPT_W_Q5_K: return 176;
    case LLMOPT_W_Q6_K: return 210;
    default: return 0;
    }
}

int llmopt_kquant_quantize_row(int wtype, int k, const float *x, void *dst) {
    int bv = llmopt_kquant_block_values(wtype);
    if (bv == 0 || k < 0 || k % bv) return -1;
    uint8_t *y = (uint8_t *)dst;
    switch (wtype) {
    case LLMOPT_W_Q5_0: quantize_q5_0(x, y, k); break;
    case LLMOPT_W_Q5_1: quantize_q5_1(x, y, k); break;
    case LLMOPT_W_Q2_K: quantize_q2_k(x, NULL, y, k); break;
    case LLMOPT_W_Q3_K: quantize_q3_k(x, y, k); break;
    case LLMOPT_W_Q4_K: quantize_q4_k(x, NULL, y, k); break;
    case LLMOPT_W_Q5_K: quantize_q5_k(x, NULL, y, k); break;
    case LLMOPT_W_Q6_K: quantize_q6_k(x, y, k); break;
    }
    return 0;
}

int llmopt_kquant_quantize_row_weighted(int wtype, int k, const float *x, const float *importance, void *dst) {
    if (k < 0 || k % SUPER) return -1;
    uint8_t *y = (uint8_t *)dst;
    switch (wtype) {
    case LLMOPT_W_Q2_K: quantize_q2_k(x, importance, y, k); return 0;
    case LLMOPT_W_Q4_K: quantize_q4_k(x, importance, y, k); return 0;
    case LLMOPT_W_Q5_K: quantize_q5_k(x, importance, y, k); return 0;
    default: return -1;
    }
}

int llmopt_kquant_dequantize_row(int wtype, int k, const void *src, float *dst) {
    int bv = llmopt_kquant_block_values(wtype);
    if (bv == 0 || k < 0 || k % bv) return -1;
    const uint8_t *y = (const uint8_t *)src;
    switch (wtype) {
    case LLMOPT_W_Q5_0: dequantize_q5_0(y, dst, k); break;
    case LLMOPT_W_Q5_1: dequantize_q5_1(y, dst, k); break;
    case LLMOPT_W_Q2_K: dequantize_q2_k(y, dst, k); break;
    case LLMOPT_W_Q3_K: dequantize_q3_k(y, dst, k); break;
    case LLMOPT_W_Q4_K: dequantize_q4_k(y, dst, k); break;
    case LLMOPT_W_Q5_K: dequantize_q5_k(y, dst, k); break;
    case LLMOPT_W_Q6_K: dequantize_q6_k(y, dst, k); break;
    }
    return 0;
}

void llmopt_kquant_dequant_range(int wtype, const void *row, int p0, int len, float *dst) {
    int bv = llmopt_kquant_block_values(wtype), bb = llmopt_kquant_block_bytes(wtype);
    float block[SUPER];
    const uint8_t *r = (const uint8_t *)row;
    for (int b = p0 / bv; b * bv < p0 + len; b++) {
        llmopt_kquant_dequantize_row(wtype, bv, r + (size_t)b * bb, block);
        int from = b * bv < p0 ? p0 - b * bv : 0;
        int to = (b + 1) * bv > p0 + len ? p0 + len - b * bv : bv;
        memcpy(dst + b * bv + from - p0, block + from, (size_t)(to - from) * 4);
    }
}

// MARK: Q8_K activations and the integer form of a super-block

void llmopt_q8k_quantize(int k, const float *x, void *dst) {
    uint8_t *y = (uint8_t *)dst;
    for (int b = 0; b < k / SUPER; b++, x += SUPER, y += LLMOPT_Q8K_BLOCK_BYTES) {
        float max = 0, amax = 0;
        for (int j = 0; j < SUPER; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        int8_t *q = (int8_t *)(y + 4);
        int16_t bsums[16];
        float d = 0;
        if (amax == 0) {
            memset(q, 0, SUPER);
        } else {
            float iscale = -127.f / max;
            for (int j = 0; j < SUPER; j++) {
                int v = nearest_int(iscale * x[j]);
                q[j] = (int8_t)(v > 127 ? 127 : v);
            }
            d = 1 / iscale;
        }
        for (int s = 0; s < 16; s++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += q[16 * s + j];
            bsums[s] = (int16_t)sum;
        }
        memcpy(y, &d, 4);
        memcpy(y + 4 + SUPER, bsums, sizeof bsums);
    }
}

void llmopt_kquant_scales(int wtype, const uint8_t *blk, int16_t scales[16], int16_t mins[16], int *offset, float *d,
                          float *dmin) {
    *offset = 0;
    *dmin = 0;
    memset(mins, 0, 16 * sizeof(int16_t));
    switch (wtype) {
    case LLMOPT_W_Q2_K:
        for (int s = 0; s < 16; s++) { scales[s] = blk[s] & 0xF; mins[s] = blk[s] >> 4; }
        *d = half_at(blk + 80);
        *dmin = half_at(blk + 82);
        break;
    case LLMOPT_W_Q3_K:
        for (int s = 0; s < 16; s++) scales[s] = (int16_t)q3_scale(blk + 96, s);
        *offset = 4;
        *d = half_at(blk + 108);
        break;
    case LLMOPT_W_Q4_K:
    case LLMOPT_W_Q5_K:
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            scale_min_k4(j, blk + 4, &sc, &m);
            scales[2 * j] = scales[2 * j + 1] = sc;
            mins[2 * j] = mins[2 * j + 1] = m;
        }
        *d = half_at(blk);
        *dmin = half_at(blk + 2);
        break;
    default:  // Q6_K
        for (int s = 0; s < 16; s++) scales[s] = (int8_t)blk[192 + s];
        *offset = 32;
        *d = half_at(blk + 208);
        break;
    }
}

void llmopt_kquant_codes(int wtype, const uint8_t *blk, uint8_t codes[SUPER]) {
    switch (wtype) {
    case LLMOPT_W_Q2_K:
    case LLMOPT_W_Q3_K: {
        // 2-bit codes: per 128 values, 32 bytes whose bit pairs 0-1 ... 6-7 hold 32 values each;
        // Q3_K adds 4 where bit (value / 32) of hmask[value % 32] is set.
        const uint8_t *qs = blk + (wtype == LLMOPT_W_Q2_K ? 16 : 32);
        for (int v = 0; v < SUPER; v++) {
            int n = v / 128, shift = 2 * (v % 128 / 32), l = v % 32;
            int c = qs[32 * n + l] >> shift & 3;
            if (wtype == LLMOPT_W_Q3_K) c += (blk[l] >> (v / 32) & 1) << 2;
            codes[v] = (uint8_t)c;
        }
        break;
    }
    case LLMOPT_W_Q4_K:
    case LLMOPT_W_Q5_K: {
        int q5 = wtype == LLMOPT_W_Q5_K;
        const uint8_t *qs = blk + (q5 ? 48 : 16), *qh = blk + 16;
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) {
                int lo = qs[32 * j + l] & 0xF, hi = qs[32 * j + l] >> 4;
                if (q5) {
                    lo |= (qh[l] >> (2 * j) & 1) << 4;
                    hi |= (qh[l] >> (2 * j + 1) & 1) << 4;
                }
                codes[64 * j + l] = (uint8_t)lo;
                codes[64 * j + 32 + l] = (uint8_t)hi;
            }
        break;
    }
    default:  // Q6_K
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
            uint8_t *c = codes + 128 * h;
            for (int l = 0; l < 32; l++) {
                c[l] = (uint8_t)((ql[l] & 0xF) | (qh[l] & 3) << 4);
                c[l + 32] = (uint8_t)((ql[l + 32] & 0xF) | (qh[l] >> 2 & 3) << 4);
                c[l + 64] = (uint8_t)((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4);
                c[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4);
            }
        }
        break;
    }
}

float llmopt_kquant_dot_q8k(int wtype, int k, const void *row, const void *qx) {
    const uint8_t *w = (const uint8_t *)row, *x = (const uint8_t *)qx;
    int bb = llmopt_kquant_block_bytes(wtype);
    float acc = 0;
    for (int b = 0; b < k / SUPER; b++, w += bb, x += LLMOPT_Q8K_BLOCK_BYTES) {
        uint8_t codes[SUPER];
        int16_t scales[16], mins[16], bsums[16];
        int offset;
        float d, dmin, dx;
        llmopt_kquant_codes(wtype, w, codes);
        llmopt_kquant_scales(wtype, w, scales, mins, &offset, &d, &dmin);
        memcpy(&dx, x, 4);
        memcpy(bsums, x + 4 + SUPER, sizeof bsums);
        const int8_t *q = (const int8_t *)(x + 4);
        int32_t isum = 0, imin = 0;
        for (int s = 0; s < 16; s++) {
            int32_t dot = 0;
            for (int j = 0; j < 16; j++) dot += (int32_t)codes[16 * s + j] * q[16 * s + j];
            isum += scales[s] * (dot - offset * bsums[s]);
            imin += mins[s] * bsums[s];
        }
        acc += dx * d * (float)isum - dx * dmin * (float)imin;
    }
    return acc;
}
