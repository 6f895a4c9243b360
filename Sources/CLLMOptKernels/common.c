// Layouts and conversions shared by every path: weight row sizes, f16, reference dequantization,
// packing of A, and the quantized activation rows with their reference quantizer and dot product.
#include "kernels_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t llmopt_weight_row_bytes(int wtype, int k) {
    switch (wtype) {
    case LLMOPT_W_F32: return (size_t)k * 4;
    case LLMOPT_W_F16: case LLMOPT_W_BF16: return (size_t)k * 2;
    case LLMOPT_W_Q8_0: return (size_t)(k / 32) * 34;
    case LLMOPT_W_Q4_0: return (size_t)(k / 32) * 18;
    case LLMOPT_W_Q4_1: return (size_t)(k / 32) * 20;
    case LLMOPT_W_Q5_0: case LLMOPT_W_Q5_1: case LLMOPT_W_Q2_K: case LLMOPT_W_Q3_K:
    case LLMOPT_W_Q4_K: case LLMOPT_W_Q5_K: case LLMOPT_W_Q6_K:
        return (size_t)(k / llmopt_kquant_block_values(wtype)) * (size_t)llmopt_kquant_block_bytes(wtype);
    default: return 0;
    }
}

float llmopt_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) bits = sign | 0x7F800000u | (man << 13);           // inf, nan
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);  // normal
    else if (man == 0) bits = sign;                                       // zero
    else {                                                                // subnormal: man * 2^-24
        float f = (float)man * 5.9604644775390625e-8f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

void llmopt_round_through_half_ref(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = llmopt_half_to_float(llmopt_float_to_half(src[i]));
}

void llmopt_round_through_half(float *dst, const float *src, size_t n) {
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) llmopt_round_through_half_avx512(dst, src, n);
    else llmopt_round_through_half_ref(dst, src, n);
}

static inline uint16_t load_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

void llmopt_dequant_range_generic(int wtype, const void *row, int p0, int len, float *dst) {
    const uint8_t *r = (const uint8_t *)row;
    switch (wtype) {
    case LLMOPT_W_F32: memcpy(dst, (const float *)row + p0, (size_t)len * 4); break;
    case LLMOPT_W_F16:
        for (int i = 0; i < len; i++) dst[i] = llmopt_half_to_float(load_u16(r + 2 * (size_t)(p0 + i)));
        break;
    case LLMOPT_W_BF16:
        for (int i = 0; i < len; i++) {
            uint32_t bits = (uint32_t)load_u16(r + 2 * (size_t)(p0 + i)) << 16;
            memcpy(dst + i, &bits, 4);
        }
        break;
    case LLMOPT_W_Q8_0:
        for (int b = 0; b < len / 32; b++) {
            const uint8_t *blk = r + (size_t)(p0 / 32 + b) * 34;
            float d = llmopt_half_to_float(load_u16(blk));
            for (int j = 0; j < 32; j++) dst[b * 32 + j] = d * (float)(int8_t)blk[2 + j];
        }
        break;
    case LLMOPT_W_Q4_0:
        for (int b = 0; b < len / 32; b++) {
            const uint8_t *blk = r + (size_t)(p0 / 32 + b) * 18;
            float d = llmopt_half_to_float(load_u16(blk));
            for (int j = 0; j < 16; j++) {
                dst[b * 32 + j] = d * (float)((blk[2 + j] & 0x0F) - 8);
                dst[b * 32 + j + 16] = d * (float)((blk[2 + j] >> 4) - 8);
            }
        }
        break;
    case LLMOPT_W_Q4_1:
        for (int b = 0; b < len / 32; b++) {
            const uint8_t *blk = r + (size_t)(p0 / 32 + b) * 20;
            float d = llmopt_half_to_float(load_u16(blk)), mn = llmopt_half_to_float(load_u16(blk + 2));
            for (int j = 0; j < 16; j++) {
                dst[b * 32 + j] = d * (float)(blk[4 + j] & 0x0F) + mn;
                dst[b * 32 + j + 16] = d * (float)(blk[4 + j] >> 4) + mn;
            }
        }
        break;
    case LLMOPT_W_QGROUP: llmopt_qgroup_convert_generic(row, p0, len, dst); break;
    default: llmopt_kquant_dequant_range(wtype, row, p0, len, dst); break;
    }
}

void *llmopt_scratch(int slot, size_t bytes) {
    static _Thread_local struct { void *p; size_t bytes; } slots[4];
    if (slot < 0 || slot > 3) return NULL;
    if (slots[slot].bytes < bytes) {
        free(slots[slot].p);
        size_t size = (bytes + bytes / 4 + 63) / 64 * 64;
        slots[slot].p = aligned_alloc(64, size);
        slots[slot].bytes = slots[slot].p ? size : 0;
    }
    return slots[slot].p;
}

// MARK: Packing A

int llmopt_gemm_kc(int m, int k) {
    int mpad = (m + LLMOPT_MR - 1) / LLMOPT_MR * LLMOPT_MR;
    int kc = (1 << 19) / mpad;              // m x kc floats = 2 MiB, about L2
    kc = kc < 512 ? 512 : kc;
    kc = kc / 32 * 32;
    return kc >= k ? k : kc;
}

size_t llmopt_gemm_packed_a_floats(int m, int k) {
    return (size_t)((m + LLMOPT_MR - 1) / LLMOPT_MR * LLMOPT_MR) * (size_t)k;
}

// Layout: for each depth block [p0, p0 + kl) (kl from llmopt_gemm_kc), for each panel of 32 rows,
// kl steps of 32 floats (row i of the panel at offset i; rows past m are zero).
void llmopt_gemm_pack_a(int m, int k, const float *a, int lda, float *packed) {
    llmopt_gemm_pack_a_panels(m, k, a, lda, packed, 0, (m + LLMOPT_MR - 1) / LLMOPT_MR);
}

void llmopt_gemm_pack_a_panels(int m, int k, const float *a, int lda, float *packed, int first, int end) {
    int kc = llmopt_gemm_kc(m, k);
    int panels = (m + LLMOPT_MR - 1) / LLMOPT_MR;
    for (int p0 = 0; p0 < k; p0 += kc) {
        int kl = k - p0 < kc ? k - p0 : kc;
        for (int pn = first; pn < end; pn++) {
            float *dst = packed + (size_t)p0 * panels * LLMOPT_MR + (size_t)pn * kl * LLMOPT_MR;
            int rows = m - pn * LLMOPT_MR < LLMOPT_MR ? m - pn * LLMOPT_MR : LLMOPT_MR;
            if (rows < LLMOPT_MR) memset(dst, 0, (size_t)kl * LLMOPT_MR * 4);
            for (int i = 0; i < rows; i++) {
                const float *src = a + (size_t)(pn * LLMOPT_MR + i) * lda + p0;
                for (int p = 0; p < kl; p++) dst[(size_t)p * LLMOPT_MR + i] = src[p];
            }
        }
    }
}

void llmopt_gemm_pack_a_transposed_panels(int m, int k, const float *a, int lda, float *packed, int first, int end) {
    int kc = llmopt_gemm_kc(m, k);
    int panels = (m + LLMOPT_MR - 1) / LLMOPT_MR;
    for (int p0 = 0; p0 < k; p0 += kc) {
        int kl = k - p0 < kc ? k - p0 : kc;
        for (int pn = first; pn < end; pn++) {
            float *dst = packed + (size_t)p0 * panels * LLMOPT_MR + (size_t)pn * kl * LLMOPT_MR;
            int rows = m - pn * LLMOPT_MR < LLMOPT_MR ? m - pn * LLMOPT_MR : LLMOPT_MR;
            // Row p of Aᵀ holds the panel's 32 values of depth p side by side: one copy per step.
            for (int p = 0; p < kl; p++) {
                const float *src = a + (size_t)(p0 + p) * lda + (size_t)pn * LLMOPT_MR;
                memcpy(dst + (size_t)p * LLMOPT_MR, src, (size_t)rows * 4);
                if (rows < LLMOPT_MR) memset(dst + (size_t)p * LLMOPT_MR + rows, 0, (size_t)(LLMOPT_MR - rows) * 4);
            }
        }
    }
}

// MARK: Quantized activations

size_t llmopt_q8act_row_bytes(int k) {
    int nb = k / 32, nc = (nb + 1) / 2;
    size_t bytes = (size_t)nc * 64 * 3 + (size_t)nb * 8;
    return (bytes + 63) / 64 * 64;
}

llmopt_q8act_view llmopt_q8act_make_view(int k, const void *row) {
    int nb = k / 32, nc = (nb + 1) / 2;
    uint8_t *base = (uint8_t *)row;
    llmopt_q8act_view v;
    v.q = (int8_t *)base;
    v.lane_d = (float *)(base + (size_t)nc * 64);
    v.lane_s = (int32_t *)(base + (size_t)nc * 128);
    v.d = (float *)(base + (size_t)nc * 192);
    v.s = (int32_t *)(base + (size_t)nc * 192 + (size_t)nb * 4);
    return v;
}

void llmopt_q8act_quantize_ref(int k, const float *x, void *dst) {
    int nb = k / 32, nc = (nb + 1) / 2;
    memset(dst, 0, llmopt_q8act_row_bytes(k));
    llmopt_q8act_view v = llmopt_q8act_make_view(k, dst);
    for (int b = 0; b < nb; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        float d = amax / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) {
            int q = (int)nearbyintf(x[b * 32 + j] * id);
            v.q[b * 32 + j] = (int8_t)q;
            sum += q;
        }
        v.d[b] = d;
        v.s[b] = sum;
    }
    for (int c = 0; c < nc; c++)
        for (int l = 0; l < 16; l++) {
            int b = 2 * c + l / 8;
            if (b >= nb) continue;
            v.lane_d[c * 16 + l] = v.d[b];
            int32_t s = 0;
            for (int j = 0; j < 4; j++) s += v.q[c * 64 + l * 4 + j];
            v.lane_s[c * 16 + l] = s;
        }
}

void llmopt_q8act_block(int k, const void *qx, int block, float *scale, int32_t *sum, int8_t *values) {
    llmopt_q8act_view v = llmopt_q8act_make_view(k, qx);
    *scale = v.d[block];
    *sum = v.s[block];
    memcpy(values, v.q + (size_t)block * 32, 32);
}

void llmopt_block32_ints(int wtype, const uint8_t *blk, int8_t *q, float *d, float *mn) {
    *d = llmopt_half_to_float(load_u16(blk));
    *mn = 0;
    switch (wtype) {
    case LLMOPT_W_Q8_0:
        for (int j = 0; j < 32; j++) q[j] = (int8_t)blk[2 + j];
        break;
    case LLMOPT_W_Q4_0:
        for (int j = 0; j < 16; j++) { q[j] = (int8_t)((blk[2 + j] & 15) - 8); q[j + 16] = (int8_t)((blk[2 + j] >> 4) - 8); }
        break;
    case LLMOPT_W_Q4_1:
        *mn = llmopt_half_to_float(load_u16(blk + 2));
        for (int j = 0; j < 16; j++) { q[j] = (int8_t)(blk[4 + j] & 15); q[j + 16] = (int8_t)(blk[4 + j] >> 4); }
        break;
    default: {  // Q5_0, Q5_1: bit j of the u32 after the scale(s) is the fifth bit of value j
        int q51 = wtype == LLMOPT_W_Q5_1;
        if (q51) *mn = llmopt_half_to_float(load_u16(blk + 2));
        uint32_t qh;
        memcpy(&qh, blk + (q51 ? 4 : 2), 4);
        const uint8_t *nib = blk + (q51 ? 8 : 6);
        int offset = q51 ? 0 : 16;
        for (int j = 0; j < 16; j++) {
            q[j] = (int8_t)(((nib[j] & 15) | (qh >> j & 1) << 4) - offset);
            q[j + 16] = (int8_t)(((nib[j] >> 4) | (qh >> (j + 16) & 1) << 4) - offset);
        }
        break;
    }
    }
}

int llmopt_qgemm_supports(int wtype) {
    return wtype == LLMOPT_W_Q8_0 || wtype == LLMOPT_W_Q4_0 || wtype == LLMOPT_W_Q4_1 || llmopt_kquant_block_values(wtype) > 0;
}

int llmopt_act_is_q8k(int wtype) { return llmopt_kquant_block_values(wtype) == 256; }

size_t llmopt_act_row_bytes(int wtype, int k) {
    return llmopt_act_is_q8k(wtype) ? (size_t)(k / 256) * LLMOPT_Q8K_BLOCK_BYTES : llmopt_q8act_row_bytes(k);
}

void llmopt_act_quantize(int wtype, int k, const float *x, void *dst) {
    if (llmopt_act_is_q8k(wtype)) llmopt_q8k_quantize(k, x, dst);
    else llmopt_q8act_quantize(k, x, dst);
}

void llmopt_qgemm_nt_ref(int m, int n, int k, const void *qx, const void *w, int wtype, size_t rb, float *c, int ldc) {
    size_t xb = llmopt_act_row_bytes(wtype, k);
    for (int i = 0; i < m; i++) {
        const uint8_t *xi = (const uint8_t *)qx + (size_t)i * xb;
        for (int j = 0; j < n; j++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)j * rb;
            if (llmopt_act_is_q8k(wtype)) {
                c[(size_t)i * ldc + j] = llmopt_kquant_dot_q8k(wtype, k, row, xi);
                continue;
            }
            llmopt_q8act_view v = llmopt_q8act_make_view(k, xi);
            size_t bb = llmopt_weight_row_bytes(wtype, 32);
            float acc = 0;
            for (int b = 0; b < k / 32; b++) {
                int8_t q[32];
                float d, mn;
                llmopt_block32_ints(wtype, row + (size_t)b * bb, q, &d, &mn);
                int32_t dot = 0;
                for (int t = 0; t < 32; t++) dot += (int32_t)q[t] * v.q[b * 32 + t];
                acc += d * v.d[b] * (float)dot + mn * v.d[b] * (float)v.s[b];
            }
            c[(size_t)i * ldc + j] = acc;
        }
    }
}
