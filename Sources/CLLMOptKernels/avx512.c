// The AVX-512 path (F, BW, VL, DQ, VNNI, with FMA and F16C): GEMM, GEMV and quantized dot products.
#include "kernels_internal.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,f16c"))), apply_to = function)

#define INLINE static inline __attribute__((always_inline))

// MARK: Conversion of weight rows to float32

INLINE float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/// One Q5_0 block (22 bytes) as 32 floats, (q − 16)·d as the reference computes it.
INLINE void q5_0_block(const uint8_t *blk, float *x) {
    __m512 d = _mm512_set1_ps(half_at(blk));
    uint32_t qh;
    memcpy(&qh, blk + 2, 4);
    __m128i bytes = _mm_loadu_si128((const __m128i *)(blk + 6)), mask = _mm_set1_epi8(0x0F);
    __m512i sixteen = _mm512_set1_epi32(16);
    __m512i lo = _mm512_cvtepu8_epi32(_mm_and_si128(bytes, mask));
    __m512i hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask));
    lo = _mm512_mask_add_epi32(lo, (__mmask16)qh, lo, sixteen);
    hi = _mm512_mask_add_epi32(hi, (__mmask16)(qh >> 16), hi, sixteen);
    _mm512_storeu_ps(x, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(lo, sixteen)), d));
    _mm512_storeu_ps(x + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(hi, sixteen)), d));
}

/// One Q4_K super-block (144 bytes) as 256 floats: (d·scale)·q − dmin·min per 32 values.
INLINE void q4_k_super(const uint8_t *y, float *x) {
    float d = half_at(y), dmin = half_at(y + 2);
    const uint8_t *s = y + 4, *q = y + 16;
    __m128i mask = _mm_set1_epi8(0x0F);
    for (int j = 0; j < 8; j += 2, q += 32, x += 64) {
        // 6-bit scales and mins: sub-blocks 0-3 in the low bits of bytes 0-7, 4-7 split.
        int sc0 = j < 4 ? s[j] & 63 : (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        int m0 = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        int sc1 = j + 1 < 4 ? s[j + 1] & 63 : (s[j + 5] & 0xF) | (s[j - 3] >> 6) << 4;
        int m1 = j + 1 < 4 ? s[j + 5] & 63 : (s[j + 5] >> 4) | (s[j + 1] >> 6) << 4;
        __m512 d1 = _mm512_set1_ps(d * (float)sc0), dm1 = _mm512_set1_ps(dmin * (float)m0);
        __m512 d2 = _mm512_set1_ps(d * (float)sc1), dm2 = _mm512_set1_ps(dmin * (float)m1);
        for (int h = 0; h < 32; h += 16) {
            __m128i bytes = _mm_loadu_si128((const __m128i *)(q + h));
            __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(bytes, mask)));
            __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask)));
            _mm512_storeu_ps(x + h, _mm512_sub_ps(_mm512_mul_ps(d1, lo), dm1));
            _mm512_storeu_ps(x + 32 + h, _mm512_sub_ps(_mm512_mul_ps(d2, hi), dm2));
        }
    }
}

/// One Q6_K super-block (210 bytes) as 256 floats: (d·scale)·(q − 32) per 16 values.
INLINE void q6_k_super(const uint8_t *y, float *x) {
    float d = half_at(y + 208);
    const uint8_t *ql = y, *qh = y + 128;
    const int8_t *sc = (const int8_t *)(y + 192);
    __m512i low4 = _mm512_set1_epi32(0xF), two = _mm512_set1_epi32(3), offset = _mm512_set1_epi32(32);
    for (int n = 0; n < 256; n += 128, x += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l += 16) {
            int is = l / 16;
            __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + l)));
            __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + l + 32)));
            __m512i h = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qh + l)));
            __m512i q0 = _mm512_or_si512(_mm512_and_si512(a, low4), _mm512_slli_epi32(_mm512_and_si512(h, two), 4));
            __m512i q1 = _mm512_or_si512(_mm512_and_si512(b, low4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 2), two), 4));
            __m512i q2 = _mm512_or_si512(_mm512_srli_epi32(a, 4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 4), two), 4));
            __m512i q3 = _mm512_or_si512(_mm512_srli_epi32(b, 4), _mm512_slli_epi32(_mm512_srli_epi32(h, 6), 4));
            _mm512_storeu_ps(x + l, _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[is]), _mm512_cvtepi32_ps(_mm512_sub_epi32(q0, offset))));
            _mm512_storeu_ps(x + l + 32, _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[is + 2]), _mm512_cvtepi32_ps(_mm512_sub_epi32(q1, offset))));
            _mm512_storeu_ps(x + l + 64, _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[is + 4]), _mm512_cvtepi32_ps(_mm512_sub_epi32(q2, offset))));
            _mm512_storeu_ps(x + l + 96, _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[is + 6]), _mm512_cvtepi32_ps(_mm512_sub_epi32(q3, offset))));
        }
}

/// Values [p0, p0 + len) of a Q5_0, Q4_K or Q6_K row (the formats of llama.cpp's Q4_K_M mixes):
/// whole blocks straight into dst, a block cut by the range through a scratch block.
INLINE void kquant_range(int wtype, const uint8_t *r, int p0, int len, float *dst) {
    int bv = llmopt_kquant_block_values(wtype), bb = llmopt_kquant_block_bytes(wtype);
    float part[256];
    for (int b = p0 / bv; b * bv < p0 + len; b++) {
        int from = b * bv < p0 ? p0 - b * bv : 0, to = (b + 1) * bv > p0 + len ? p0 + len - b * bv : bv;
        float *out = from == 0 && to == bv ? dst + b * bv - p0 : part;
        const uint8_t *blk = r + (size_t)b * bb;
        if (wtype == LLMOPT_W_Q5_0) q5_0_block(blk, out);
        else if (wtype == LLMOPT_W_Q4_K) q4_k_super(blk, out);
        else q6_k_super(blk, out);
        if (out == part) memcpy(dst + b * bv + from - p0, part + from, (size_t)(to - from) * 4);
    }
}

/// dst[0..<len] = values [p0, p0 + len) of a weight row, converted to float32.
INLINE void convert_range(int wtype, const void *row, int p0, int len, float *dst) {
    const uint8_t *r = (const uint8_t *)row;
    switch (wtype) {
    case LLMOPT_W_Q5_0: case LLMOPT_W_Q4_K: case LLMOPT_W_Q6_K: kquant_range(wtype, r, p0, len, dst); break;
    case LLMOPT_W_Q5_1: case LLMOPT_W_Q2_K: case LLMOPT_W_Q3_K: case LLMOPT_W_Q5_K:
        llmopt_kquant_dequant_range(wtype, row, p0, len, dst);
        break;
    case LLMOPT_W_F16: {
        int i = 0;
        for (; i + 16 <= len; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + 2 * (size_t)(p0 + i)))));
        if (i < len) {
            __mmask16 mk = (__mmask16)((1u << (len - i)) - 1);
            __m256i h = _mm256_maskz_loadu_epi16(mk, r + 2 * (size_t)(p0 + i));
            _mm512_mask_storeu_ps(dst + i, mk, _mm512_cvtph_ps(h));
        }
        break;
    }
    case LLMOPT_W_BF16: {
        int i = 0;
        for (; i + 16 <= len; i += 16) {
            __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(r + 2 * (size_t)(p0 + i))));
            _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
        }
        if (i < len) {
            __mmask16 mk = (__mmask16)((1u << (len - i)) - 1);
            __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, r + 2 * (size_t)(p0 + i)));
            _mm512_mask_storeu_ps(dst + i, mk, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
        }
        break;
    }
    case LLMOPT_W_Q8_0:
        for (int b = 0; b < len / 32; b++) {
            const uint8_t *blk = r + (size_t)(p0 / 32 + b) * 34;
            __m512 d = _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *)blk));
            __m512i lo = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2)));
            __m512i hi = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18)));
            _mm512_storeu_ps(dst + b * 32, _mm512_mul_ps(d, _mm512_cvtepi32_ps(lo)));
            _mm512_storeu_ps(dst + b * 32 + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(hi)));
        }
        break;
    case LLMOPT_W_Q4_0:
    case LLMOPT_W_Q4_1: {
        int q41 = wtype == LLMOPT_W_Q4_1, bb = q41 ? 20 : 18;
        for (int b = 0; b < len / 32; b++) {
            const uint8_t *blk = r + (size_t)(p0 / 32 + b) * bb;
            __m512 d = _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *)blk));
            __m128i bytes = _mm_loadu_si128((const __m128i *)(blk + (q41 ? 4 : 2)));
            __m128i mask = _mm_set1_epi8(0x0F);
            __m512i lo = _mm512_cvtepu8_epi32(_mm_and_si128(bytes, mask));
            __m512i hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask));
            __m512 flo, fhi;
            if (q41) {
                __m512 mn = _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *)(blk + 2)));
                flo = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(lo), mn);
                fhi = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(hi), mn);
            } else {
                __m512i eight = _mm512_set1_epi32(8);
                flo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(lo, eight)));
                fhi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(hi, eight)));
            }
            _mm512_storeu_ps(dst + b * 32, flo);
            _mm512_storeu_ps(dst + b * 32 + 16, fhi);
        }
        break;
    }
    case LLMOPT_W_QGROUP: llmopt_qgroup_convert_avx512(row, p0, len, dst); break;
    default: memcpy(dst, (const float *)row + p0, (size_t)len * 4); break;
    }
}

// MARK: GEMM

/// Writes (or adds, unless `overwrite`) a 32 x 12 tile of accumulators to C. The tile holds C
/// transposed (lanes run along m): it is written out row by row.
INLINE void store_tile(__m512 acc[LLMOPT_NR][2], float *c, int ldc, int mrows, int ncols, int overwrite) {
    float t[LLMOPT_NR][LLMOPT_MR] __attribute__((aligned(64)));
    for (int j = 0; j < LLMOPT_NR; j++) {
        _mm512_store_ps(t[j], acc[j][0]);
        _mm512_store_ps(t[j] + 16, acc[j][1]);
    }
    __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                     _mm512_set1_epi32(LLMOPT_MR));
    __mmask16 cols = (__mmask16)((1u << ncols) - 1);
    for (int i = 0; i < mrows; i++) {
        __m512 row = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), cols, idx, &t[0][i], 4);
        float *ci = c + (size_t)i * ldc;
        if (!overwrite) row = _mm512_add_ps(row, _mm512_maskz_loadu_ps(cols, ci));
        _mm512_mask_storeu_ps(ci, cols, row);
    }
}

/// One 32 x 12 tile of C over kl steps: A from a packed panel (32 floats per step), B from 12
/// weight rows `ldb` floats apart, broadcast one value at a time. 24 accumulators in registers.
/// With `halves` = 1 only the first 16 rows of the panel are computed (a last panel of <= 16 rows).
INLINE void tile_32x12(int halves, int kl, const float *pa, const float *b, size_t ldb, float *c, int ldc,
                       int mrows, int ncols, int overwrite) {
    __m512 acc[LLMOPT_NR][2];
    for (int j = 0; j < LLMOPT_NR; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    const float *b0 = b, *b3 = b + 3 * ldb, *b6 = b + 6 * ldb, *b9 = b + 9 * ldb;
    for (int p = 0; p < kl; p++) {
        __m512 a0 = _mm512_loadu_ps(pa), a1 = halves == 2 ? _mm512_loadu_ps(pa + 16) : a0;
        pa += 32;
#define LLMOPT_STEP(j, base, off)                                              \
        {                                                                      \
            __m512 bj = _mm512_set1_ps(base[off]);                             \
            acc[j][0] = _mm512_fmadd_ps(a0, bj, acc[j][0]);                    \
            if (halves == 2) acc[j][1] = _mm512_fmadd_ps(a1, bj, acc[j][1]);   \
        }
        LLMOPT_STEP(0, b0, p) LLMOPT_STEP(1, b0, ldb + p) LLMOPT_STEP(2, b0, 2 * ldb + p)
        LLMOPT_STEP(3, b3, p) LLMOPT_STEP(4, b3, ldb + p) LLMOPT_STEP(5, b3, 2 * ldb + p)
        LLMOPT_STEP(6, b6, p) LLMOPT_STEP(7, b6, ldb + p) LLMOPT_STEP(8, b6, 2 * ldb + p)
        LLMOPT_STEP(9, b9, p) LLMOPT_STEP(10, b9, ldb + p) LLMOPT_STEP(11, b9, 2 * ldb + p)
#undef LLMOPT_STEP
    }
    store_tile(acc, c, ldc, mrows, ncols, overwrite);
}

void llmopt_gemm_nt_packed_avx512(int m, int n, int k, const float *pa, const void *b, int wtype, size_t rb,
                                  float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, (size_t)n * 4);
        return;
    }
    int kc = llmopt_gemm_kc(m, k);
    int panels = (m + LLMOPT_MR - 1) / LLMOPT_MR;
    size_t ldbuf = (size_t)kc + 16;  // skews the rows of the panel buffer across cache sets
    float *buf = NULL;
    for (int p0 = 0; p0 < k; p0 += kc) {
        int kl = k - p0 < kc ? k - p0 : kc;
        const float *pblock = pa + (size_t)p0 * panels * LLMOPT_MR;
        for (int j0 = 0; j0 < n; j0 += LLMOPT_NR) {
            int nr = n - j0 < LLMOPT_NR ? n - j0 : LLMOPT_NR;
            const float *bp;
            size_t ldb;
            if (wtype == LLMOPT_W_F32 && nr == LLMOPT_NR) {
                bp = (const float *)((const uint8_t *)b + (size_t)j0 * rb) + p0;
                ldb = rb / 4;
            } else {
                if (!buf) buf = llmopt_scratch(3, LLMOPT_NR * ldbuf * 4);
                for (int j = 0; j < LLMOPT_NR; j++) {
                    if (j < nr) convert_range(wtype, (const uint8_t *)b + (size_t)(j0 + j) * rb, p0, kl, buf + j * ldbuf);
                    else memset(buf + j * ldbuf, 0, (size_t)kl * 4);
                }
                bp = buf;
                ldb = ldbuf;
            }
            for (int pn = 0; pn < panels; pn++) {
                int rows = m - pn * LLMOPT_MR < LLMOPT_MR ? m - pn * LLMOPT_MR : LLMOPT_MR;
                const float *panel = pblock + (size_t)pn * kl * LLMOPT_MR;
                float *cp = c + (size_t)pn * LLMOPT_MR * ldc + j0;
                if (rows > 16) tile_32x12(2, kl, panel, bp, ldb, cp, ldc, rows, nr, p0 == 0);
                else tile_32x12(1, kl, panel, bp, ldb, cp, ldc, rows, nr, p0 == 0);
            }
        }
    }
}

/// One 32 x 12 tile of C over kl steps with B row-major: the 12 values of depth p are side by
/// side in row p of B (`ldb` floats apart), broadcast one at a time; otherwise as `tile_32x12`.
INLINE void tile_32x12_nn(int halves, int kl, const float *pa, const float *b, size_t ldb, float *c, int ldc,
                          int mrows, int ncols, int overwrite) {
    __m512 acc[LLMOPT_NR][2];
    for (int j = 0; j < LLMOPT_NR; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    for (int p = 0; p < kl; p++) {
        __m512 a0 = _mm512_loadu_ps(pa), a1 = halves == 2 ? _mm512_loadu_ps(pa + 16) : a0;
        const float *bp = b + (size_t)p * ldb;
        pa += 32;
        for (int j = 0; j < LLMOPT_NR; j++) {
            __m512 bj = _mm512_set1_ps(bp[j]);
            acc[j][0] = _mm512_fmadd_ps(a0, bj, acc[j][0]);
            if (halves == 2) acc[j][1] = _mm512_fmadd_ps(a1, bj, acc[j][1]);
        }
    }
    store_tile(acc, c, ldc, mrows, ncols, overwrite);
}

void llmopt_gemm_nn_packed_avx512(int m, int n, int k, const float *pa, const float *b, int ldb, float *c, int ldc,
                                  int accumulate) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (!accumulate) for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, (size_t)n * 4);
        return;
    }
    int kc = llmopt_gemm_kc(m, k);
    int panels = (m + LLMOPT_MR - 1) / LLMOPT_MR;
    float *buf = NULL;
    for (int p0 = 0; p0 < k; p0 += kc) {
        int kl = k - p0 < kc ? k - p0 : kc;
        const float *pblock = pa + (size_t)p0 * panels * LLMOPT_MR;
        for (int j0 = 0; j0 < n; j0 += LLMOPT_NR) {
            int nr = n - j0 < LLMOPT_NR ? n - j0 : LLMOPT_NR;
            const float *bp = b + (size_t)p0 * ldb + j0;
            size_t ld = (size_t)ldb;
            if (nr < LLMOPT_NR) {
                // The last columns, zero padded to a whole tile (reading past them could leave B).
                if (!buf) buf = llmopt_scratch(3, (size_t)LLMOPT_NR * kc * 4);
                for (int p = 0; p < kl; p++)
                    for (int j = 0; j < LLMOPT_NR; j++) buf[(size_t)p * LLMOPT_NR + j] = j < nr ? bp[(size_t)p * ldb + j] : 0;
                bp = buf;
                ld = LLMOPT_NR;
            }
            for (int pn = 0; pn < panels; pn++) {
                int rows = m - pn * LLMOPT_MR < LLMOPT_MR ? m - pn * LLMOPT_MR : LLMOPT_MR;
                const float *panel = pblock + (size_t)pn * kl * LLMOPT_MR;
                float *cp = c + (size_t)pn * LLMOPT_MR * ldc + j0;
                int overwrite = p0 == 0 && !accumulate;
                if (rows > 16) tile_32x12_nn(2, kl, panel, bp, ld, cp, ldc, rows, nr, overwrite);
                else tile_32x12_nn(1, kl, panel, bp, ld, cp, ldc, rows, nr, overwrite);
            }
        }
    }
}

// MARK: GEMV

/// 16 values of a weight row at element offset p, as float32.
INLINE __m512 load16(int wtype, const uint8_t *row, int p) {
    switch (wtype) {
    case LLMOPT_W_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * (size_t)p)));
    case LLMOPT_W_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + 2 * (size_t)p))), 16));
    case LLMOPT_W_Q8_0: {
        const uint8_t *blk = row + (size_t)(p / 32) * 34;
        __m512 d = _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *)blk));
        __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2 + (p & 16))));
        return _mm512_mul_ps(d, _mm512_cvtepi32_ps(q));
    }
    case LLMOPT_W_Q4_0:
    case LLMOPT_W_Q4_1: {
        // Values 0..15 of a block are the low nibbles of its 16 bytes, values 16..31 the high ones.
        int q41 = wtype == LLMOPT_W_Q4_1;
        const uint8_t *blk = row + (size_t)(p / 32) * (q41 ? 20 : 18);
        __m128i bytes = _mm_loadu_si128((const __m128i *)(blk + (q41 ? 4 : 2)));
        if (p & 16) bytes = _mm_srli_epi16(bytes, 4);
        __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(bytes, _mm_set1_epi8(0x0F))));
        __m512 d = _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *)blk));
        if (q41) return _mm512_fmadd_ps(d, q, _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *)(blk + 2))));
        return _mm512_mul_ps(d, _mm512_sub_ps(q, _mm512_set1_ps(8.0f)));
    }
    default: return _mm512_loadu_ps((const float *)row + p);
    }
}

INLINE __m512 load16_masked(int wtype, const uint8_t *row, int p, __mmask16 mk) {
    switch (wtype) {
    case LLMOPT_W_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, row + 2 * (size_t)p));
    case LLMOPT_W_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, row + 2 * (size_t)p)), 16));
    default: return _mm512_maskz_loadu_ps(mk, (const float *)row + p);
    }
}

/// R rows of y at once: each x vector is loaded once for R weight rows.
INLINE void gemv_rows(int R, int k, const float *x, const uint8_t *b, int wtype, size_t rb, float *y) {
    __m512 acc[4], acc2[4];
    for (int r = 0; r < R; r++) acc[r] = acc2[r] = _mm512_setzero_ps();
    int p = 0;
    for (; p + 32 <= k; p += 32) {
        __m512 x0 = _mm512_loadu_ps(x + p), x1 = _mm512_loadu_ps(x + p + 16);
        for (int r = 0; r < R; r++) {
            acc[r] = _mm512_fmadd_ps(load16(wtype, b + r * rb, p), x0, acc[r]);
            acc2[r] = _mm512_fmadd_ps(load16(wtype, b + r * rb, p + 16), x1, acc2[r]);
        }
    }
    for (; p < k; p += 16) {
        __mmask16 mk = k - p >= 16 ? 0xFFFF : (__mmask16)((1u << (k - p)) - 1);
        __m512 x0 = _mm512_maskz_loadu_ps(mk, x + p);
        for (int r = 0; r < R; r++) acc[r] = _mm512_fmadd_ps(load16_masked(wtype, b + r * rb, p, mk), x0, acc[r]);
    }
    for (int r = 0; r < R; r++) y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc2[r]));
}

/// Weight bytes are requested this far ahead of use. The integer kernels spend enough
/// instructions per byte that out-of-order execution alone keeps too few misses in flight:
/// measured from DRAM, Q4_0 GEMV goes from 7 to 16 GB/s on one core. Rows are contiguous, so
/// running past the end of a row fetches the rows that come next. Q8_0, with twice the bytes per
/// value, wants a short distance: on one core 9.5 GB/s at 4096 bytes, 16-17 at 256 (7 with none),
/// for GEMVs over 576-wide rows streamed from DRAM.
INLINE size_t prefetch_bytes(int wtype) { return wtype == LLMOPT_W_Q8_0 ? 256 : 4096; }

/// The 32 stored values of one Q8_0/Q4_0/Q4_1 block as floats, before scale and offset.
INLINE void block_values(int wtype, const uint8_t *blk, __m512 *lo, __m512 *hi) {
    if (wtype == LLMOPT_W_Q8_0) {
        *lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2))));
        *hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18))));
    } else {
        __m128i bytes = _mm_loadu_si128((const __m128i *)(blk + (wtype == LLMOPT_W_Q4_1 ? 4 : 2))), mask = _mm_set1_epi8(0x0F);
        *lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(bytes, mask)));
        *hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask)));
    }
}

/// GEMV with float activations over block-quantized rows, a block at a time: per block and row the
/// float dot product of the stored values with x, times the block scale, plus the block's offset
/// (Q4_0: -8 · scale, Q4_1: its minimum) times the block's sum of x, which all R rows share. The
/// same weights as converting each value (`load16`), at about half the instructions per value.
INLINE void qgemv_rows(int wtype, int R, int k, const float *x, const uint8_t *b, size_t rb, float *y) {
    int bb = wtype == LLMOPT_W_Q8_0 ? 34 : wtype == LLMOPT_W_Q4_0 ? 18 : 20;
    __m512 acc[4], accOff[4];
    for (int r = 0; r < R; r++) acc[r] = accOff[r] = _mm512_setzero_ps();
    for (int blk = 0; blk < k / 32; blk++) {
        __m512 x0 = _mm512_loadu_ps(x + 32 * blk), x1 = _mm512_loadu_ps(x + 32 * blk + 16);
        __m512 sx = _mm512_add_ps(x0, x1);
        if (wtype == LLMOPT_W_Q4_0) sx = _mm512_mul_ps(sx, _mm512_set1_ps(-8.0f));
        for (int r = 0; r < R; r++) {
            const uint8_t *p = b + r * rb + (size_t)blk * bb;
            _mm_prefetch((const char *)p + prefetch_bytes(wtype), _MM_HINT_T0);
            __m512 lo, hi;
            block_values(wtype, p, &lo, &hi);
            __m512 d = _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *)p));
            acc[r] = _mm512_fmadd_ps(d, _mm512_fmadd_ps(hi, x1, _mm512_mul_ps(lo, x0)), acc[r]);
            if (wtype == LLMOPT_W_Q4_0) accOff[r] = _mm512_fmadd_ps(d, sx, accOff[r]);
            if (wtype == LLMOPT_W_Q4_1) accOff[r] = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(*(const uint16_t *)(p + 2))), sx, accOff[r]);
        }
    }
    for (int r = 0; r < R; r++) y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], accOff[r]));
}

INLINE void gemv_typed(int wtype, int n, int k, const float *x, const uint8_t *b, size_t rb, float *y) {
    int j = 0;
    if (wtype == LLMOPT_W_Q8_0 || wtype == LLMOPT_W_Q4_0 || wtype == LLMOPT_W_Q4_1) {
        for (; j + 4 <= n; j += 4) qgemv_rows(wtype, 4, k, x, b + (size_t)j * rb, rb, y + j);
        for (; j < n; j++) qgemv_rows(wtype, 1, k, x, b + (size_t)j * rb, rb, y + j);
        return;
    }
    for (; j + 4 <= n; j += 4) gemv_rows(4, k, x, b + (size_t)j * rb, wtype, rb, y + j);
    for (; j < n; j++) gemv_rows(1, k, x, b + (size_t)j * rb, wtype, rb, y + j);
}

/// One weight row against M activation rows (`ldx` apart): the weight is read and converted once for all M.
INLINE void small_rows(int M, int k, const float *x, size_t ldx, const uint8_t *row, int wtype, float *y, size_t ldy) {
    __m512 acc[4];
    for (int i = 0; i < M; i++) acc[i] = _mm512_setzero_ps();
    int p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 w = load16(wtype, row, p);
        for (int i = 0; i < M; i++) acc[i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + i * ldx + p), acc[i]);
    }
    if (p < k) {
        __mmask16 mk = (__mmask16)((1u << (k - p)) - 1);
        __m512 w = load16_masked(wtype, row, p, mk);
        for (int i = 0; i < M; i++) acc[i] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mk, x + i * ldx + p), acc[i]);
    }
    for (int i = 0; i < M; i++) y[i * ldy] = _mm512_reduce_add_ps(acc[i]);
}

INLINE void small_typed(int wtype, int m, int n, int k, const float *x, int ldx, const uint8_t *b, size_t rb, float *y, int ldy) {
    for (int j = 0; j < n; j++) {
        const uint8_t *row = b + (size_t)j * rb;
        int i = 0;
        for (; i + 4 <= m; i += 4) small_rows(4, k, x + (size_t)i * ldx, ldx, row, wtype, y + (size_t)i * ldy + j, ldy);
        switch (m - i) {
        case 3: small_rows(3, k, x + (size_t)i * ldx, ldx, row, wtype, y + (size_t)i * ldy + j, ldy); break;
        case 2: small_rows(2, k, x + (size_t)i * ldx, ldx, row, wtype, y + (size_t)i * ldy + j, ldy); break;
        case 1: small_rows(1, k, x + (size_t)i * ldx, ldx, row, wtype, y + (size_t)i * ldy + j, ldy); break;
        default: break;
        }
    }
}

void llmopt_gemm_small_avx512(int m, int n, int k, const float *x, int ldx, const void *b, int wtype, size_t rb, float *y, int ldy) {
    if (m == 1) { llmopt_gemv_avx512(n, k, x, b, wtype, rb, y); return; }
    const uint8_t *w = (const uint8_t *)b;
    switch (wtype) {
    case LLMOPT_W_F16: small_typed(LLMOPT_W_F16, m, n, k, x, ldx, w, rb, y, ldy); break;
    case LLMOPT_W_BF16: small_typed(LLMOPT_W_BF16, m, n, k, x, ldx, w, rb, y, ldy); break;
    case LLMOPT_W_Q8_0: small_typed(LLMOPT_W_Q8_0, m, n, k, x, ldx, w, rb, y, ldy); break;
    case LLMOPT_W_Q4_0: small_typed(LLMOPT_W_Q4_0, m, n, k, x, ldx, w, rb, y, ldy); break;
    case LLMOPT_W_Q4_1: small_typed(LLMOPT_W_Q4_1, m, n, k, x, ldx, w, rb, y, ldy); break;
    default: small_typed(LLMOPT_W_F32, m, n, k, x, ldx, w, rb, y, ldy); break;
    }
}

void llmopt_gemv_avx512(int n, int k, const float *x, const void *b, int wtype, size_t rb, float *y) {
    const uint8_t *w = (const uint8_t *)b;
    switch (wtype) {
    case LLMOPT_W_F16: gemv_typed(LLMOPT_W_F16, n, k, x, w, rb, y); break;
    case LLMOPT_W_BF16: gemv_typed(LLMOPT_W_BF16, n, k, x, w, rb, y); break;
    case LLMOPT_W_Q8_0: gemv_typed(LLMOPT_W_Q8_0, n, k, x, w, rb, y); break;
    case LLMOPT_W_Q4_0: gemv_typed(LLMOPT_W_Q4_0, n, k, x, w, rb, y); break;
    case LLMOPT_W_Q4_1: gemv_typed(LLMOPT_W_Q4_1, n, k, x, w, rb, y); break;
    default: gemv_typed(LLMOPT_W_F32, n, k, x, w, rb, y); break;
    }
}

// MARK: Quantized activations

void llmopt_q8act_quantize_avx512(int k, const float *x, void *dst) {
    int nb = k / 32, nc = (nb + 1) / 2;
    llmopt_q8act_view v = llmopt_q8act_make_view(k, dst);
    __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    __m512i ones = _mm512_set1_epi8(1);
    size_t used = (size_t)nc * 192 + (size_t)nb * 8;
    memset((uint8_t *)dst + used, 0, llmopt_q8act_row_bytes(k) - used);  // row padding, as the reference leaves it
    for (int c = 0; c < nc; c++) {
        __m128i q8[4];
        __m512 ld = _mm512_setzero_ps();
        for (int h = 0; h < 2; h++) {
            int b = 2 * c + h;
            if (b >= nb) { q8[2 * h] = q8[2 * h + 1] = _mm_setzero_si128(); continue; }
            __m512 x0 = _mm512_loadu_ps(x + b * 32), x1 = _mm512_loadu_ps(x + b * 32 + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x0, sign), _mm512_and_ps(x1, sign)));
            float d = amax / 127.0f;
            float id = d != 0 ? 1.0f / d : 0.0f;
            __m512 vid = _mm512_set1_ps(id);
            __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, vid)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, vid));
            q8[2 * h] = _mm512_cvtsepi32_epi8(i0);
            q8[2 * h + 1] = _mm512_cvtsepi32_epi8(i1);
            v.d[b] = d;
            v.s[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
            ld = _mm512_mask_blend_ps(h ? 0xFF00 : 0x00FF, ld, _mm512_set1_ps(d));
        }
        __m512i q = _mm512_inserti32x4(_mm512_castsi128_si512(q8[0]), q8[1], 1);
        q = _mm512_inserti32x4(q, q8[2], 2);
        q = _mm512_inserti32x4(q, q8[3], 3);
        _mm512_storeu_si512((__m512i *)(v.q + c * 64), q);
        _mm512_storeu_ps(v.lane_d + c * 16, ld);
        _mm512_storeu_si512((__m512i *)(v.lane_s + c * 16), _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, q));
    }
}

// MARK: Quantized GEMM

/// vpermb indices gathering the 16 nibble bytes of two Q4 blocks (block bytes `bb` apart, nibbles
/// at offset `off`) into 128-bit lanes: block 0, block 0, block 1, block 1.
INLINE __m512i nibble_index(int bb, int off) {
    int8_t idx[64];
    for (int lane = 0; lane < 4; lane++)
        for (int j = 0; j < 16; j++) idx[lane * 16 + j] = (int8_t)((lane / 2) * bb + off + j);
    return _mm512_loadu_si512(idx);
}
INLINE __m512i nibble_index_q4_0(void) { return nibble_index(18, 2); }
INLINE __m512i nibble_index_q4_1(void) { return nibble_index(20, 4); }

/// Bytes of one 32-value block, and where its nibbles and (Q5) its 32 high bits start.
INLINE int block_bytes32(int wtype) {
    switch (wtype) {
    case LLMOPT_W_Q8_0: return 34;
    case LLMOPT_W_Q4_0: return 18;
    case LLMOPT_W_Q4_1: return 20;
    case LLMOPT_W_Q5_0: return 22;
    default: return 24;  // Q5_1
    }
}
INLINE int has_min32(int wtype) { return wtype == LLMOPT_W_Q4_1 || wtype == LLMOPT_W_Q5_1; }
INLINE int nibbles_at(int wtype) {
    switch (wtype) {
    case LLMOPT_W_Q4_0: return 2;
    case LLMOPT_W_Q4_1: return 4;
    case LLMOPT_W_Q5_0: return 6;
    default: return 8;  // Q5_1
    }
}

/// vpermw indices: words 0-7 the scale of block 0, 8-15 that of block 1, then (Q4_1) 16-23 and 24-31 the minimums.
INLINE __m512i scale_index(int bb, int has_min) {
    int16_t idx[32];
    for (int j = 0; j < 32; j++) {
        int block = (j / 8) % 2, field = j / 16;
        idx[j] = (int16_t)(block * bb / 2 + (has_min ? field : 0));
    }
    return _mm512_loadu_si512(idx);
}
INLINE __m512i scale_index_q4_0(void) { return scale_index(18, 0); }
INLINE __m512i scale_index_q4_1(void) { return scale_index(20, 1); }

/// vpermt2b indices for Q8_0: values of block 0 from bytes 2..33 of the first load, values of
/// block 1 from bytes 32..63 of the second load (4 bytes later, so block bytes 36..67).
INLINE __m512i q8_value_index(void) {
    int8_t idx[64];
    for (int j = 0; j < 64; j++) idx[j] = (int8_t)(j < 32 ? 2 + j : 64 + j);
    return _mm512_loadu_si512(idx);
}

/// Two blocks of a weight row (chunk c: blocks 2c and 2c + 1, the second absent unless `two`) as
/// unsigned bytes for dpbusd (Q8_0 offset by 128, Q4 nibbles as they are) and lane scales.
INLINE void load_weight_chunk(int wtype, const uint8_t *row, int c, int two, __m512i *wq, __m512 *wd, __m512 *wm) {
    int b0 = 2 * c;
    if (wtype == LLMOPT_W_Q8_0) {
        // The two blocks span 68 bytes: loads at +0 and +4 cover them; vpermt2b picks the 64
        // values, vpermw the two scales (bytes 0-1 and 34-35).
        const uint8_t *p = row + (size_t)b0 * 34;
        __mmask64 m0 = two ? ~0ull : (1ull << 34) - 1, m1 = two ? ~0ull : (1ull << 30) - 1;
        __m512i a = _mm512_maskz_loadu_epi8(m0, p), b = _mm512_maskz_loadu_epi8(m1, p + 4);
        __m512i q = _mm512_permutex2var_epi8(a, q8_value_index(), b);
        *wq = _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80));
        *wd = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(scale_index(34, 0), a)));
        *wm = _mm512_setzero_ps();
    } else {
        // One masked load holds both blocks (36 to 48 bytes); byte and word permutes place the
        // nibbles (128-bit lanes: block 0 low, block 0 high, block 1 low, block 1 high) and the
        // scales. Q5's fifth bits, bit j of each block's u32 for value j, are then in lane order.
        int bb = block_bytes32(wtype), mins = has_min32(wtype);
        __mmask64 bytes = two ? (1ull << (2 * bb)) - 1 : (1ull << bb) - 1;
        const uint8_t *p = row + (size_t)b0 * bb;
        __m512i raw = _mm512_maskz_loadu_epi8(bytes, p);
        __m512i v = _mm512_permutexvar_epi8(nibble_index(bb, nibbles_at(wtype)), raw);
        v = _mm512_mask_srli_epi16(v, 0xFF00FF00u, v, 4);
        *wq = _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
        if (wtype == LLMOPT_W_Q5_0 || wtype == LLMOPT_W_Q5_1) {
            int at = mins ? 4 : 2;
            uint32_t h0, h1 = 0;
            memcpy(&h0, p + at, 4);
            if (two) memcpy(&h1, p + bb + at, 4);
            *wq = _mm512_or_si512(*wq, _mm512_maskz_mov_epi8((__mmask64)h0 | (__mmask64)h1 << 32, _mm512_set1_epi8(16)));
        }
        __m512i halves = _mm512_permutexvar_epi16(scale_index(bb, mins), raw);
        *wd = _mm512_cvtph_ps(_mm512_castsi512_si256(halves));
        *wm = mins ? _mm512_cvtph_ps(_mm512_extracti64x4_epi64(halves, 1)) : _mm512_setzero_ps();
    }
}

/// Bytes of two blocks (one chunk) of a weight row.
INLINE int chunk_bytes(int wtype) { return 2 * block_bytes32(wtype); }

/// The code offset subtracted as offset · (sum of the activation values) per lane: log2 of 128
/// (Q8_0 stored with its sign bit flipped), 8 (Q4_0) or 16 (Q5_0); 0 for the types with a minimum.
INLINE int offset_shift(int wtype) {
    return wtype == LLMOPT_W_Q8_0 ? 7 : wtype == LLMOPT_W_Q4_0 ? 3 : wtype == LLMOPT_W_Q5_0 ? 4 : 0;
}


/// M activation rows (up to 4) against one weight row: the weight chunk is unpacked once per M rows.
INLINE void qdot_rows(int wtype, int M, int k, const uint8_t *qx, size_t xb, const uint8_t *row, float *c, int ldc) {
    int nb = k / 32, nc = (nb + 1) / 2;
    llmopt_q8act_view v[4];
    __m512 acc[4], accMin[4];  // Q4_1's minimum term apart, as in qdot_weight_rows
    for (int i = 0; i < M; i++) {
        v[i] = llmopt_q8act_make_view(k, qx + (size_t)i * xb);
        acc[i] = accMin[i] = _mm512_setzero_ps();
    }
    for (int ch = 0; ch < nc; ch++) {
        __m512i wq;
        __m512 wd, wm;
        _mm_prefetch((const char *)row + (size_t)ch * chunk_bytes(wtype) + prefetch_bytes(wtype), _MM_HINT_T0);
        // Constant `two` in the loop over whole chunks; the odd last block, if any, after it.
        if (2 * ch + 1 < nb) load_weight_chunk(wtype, row, ch, 1, &wq, &wd, &wm);
        else load_weight_chunk(wtype, row, ch, 0, &wq, &wd, &wm);
        for (int i = 0; i < M; i++) {
            __m512i xq = _mm512_loadu_si512((const __m512i *)(v[i].q + ch * 64));
            __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq, xq);
            __m512i xs = _mm512_loadu_si512((const __m512i *)(v[i].lane_s + ch * 16));
            __m512 xd = _mm512_loadu_ps(v[i].lane_d + ch * 16);
            if (!has_min32(wtype)) dot = _mm512_sub_epi32(dot, _mm512_sll_epi32(xs, _mm_cvtsi32_si128(offset_shift(wtype))));
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(wd, xd), acc[i]);
            if (has_min32(wtype)) accMin[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(xs), _mm512_mul_ps(wm, xd), accMin[i]);
        }
    }
    for (int i = 0; i < M; i++) c[(size_t)i * ldc] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i], accMin[i]));
}

/// One activation row against R weight rows (GEMV): the activation chunk is loaded once for all.
INLINE void qdot_weight_rows(int wtype, int R, int k, const uint8_t *qx, const uint8_t *row0, size_t rb, float *c) {
    int nb = k / 32, nc = (nb + 1) / 2;
    llmopt_q8act_view v = llmopt_q8act_make_view(k, qx);
    // Q4_1's minimum term goes to its own accumulators: two dependent FMAs per chunk on one
    // accumulator made the Q4_1 GEMV latency-bound (7.4 GB/s against Q4_0's 13.9).
    __m512 acc[4], accMin[4];
    for (int r = 0; r < R; r++) acc[r] = accMin[r] = _mm512_setzero_ps();
    for (int ch = 0; ch < nc; ch++) {
        __m512i xq = _mm512_loadu_si512((const __m512i *)(v.q + ch * 64));
        __m512i xs = _mm512_loadu_si512((const __m512i *)(v.lane_s + ch * 16));
        __m512 xd = _mm512_loadu_ps(v.lane_d + ch * 16);
        __m512i offset = _mm512_sll_epi32(xs, _mm_cvtsi32_si128(offset_shift(wtype)));
        __m512 xsd = has_min32(wtype) ? _mm512_mul_ps(_mm512_cvtepi32_ps(xs), xd) : _mm512_setzero_ps();
        for (int r = 0; r < R; r++) {
            _mm_prefetch((const char *)row0 + r * rb + (size_t)ch * chunk_bytes(wtype) + prefetch_bytes(wtype), _MM_HINT_T0);
            __m512i wq;
            __m512 wd, wm;
            if (2 * ch + 1 < nb) load_weight_chunk(wtype, row0 + r * rb, ch, 1, &wq, &wd, &wm);
            else load_weight_chunk(wtype, row0 + r * rb, ch, 0, &wq, &wd, &wm);
            __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq, xq);
            if (!has_min32(wtype)) dot = _mm512_sub_epi32(dot, offset);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(wd, xd), acc[r]);
            if (has_min32(wtype)) accMin[r] = _mm512_fmadd_ps(wm, xsd, accMin[r]);
        }
    }
    for (int r = 0; r < R; r++) c[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], accMin[r]));
}

// MARK: K-quants against Q8_K activations

/// Values 64j ..< 64j + 64 of a K-quant super-block as unsigned codes, in value order.
INLINE __m512i kq_codes(int wtype, const uint8_t *blk, int j) {
    __m256i m4 = _mm256_set1_epi8(0x0F);
    switch (wtype) {
    case LLMOPT_W_Q2_K:
    case LLMOPT_W_Q3_K: {
        // 32 bytes hold 128 values in their bit pairs: values 64j.. use pairs 2(j%2) and 2(j%2)+1.
        int q3 = wtype == LLMOPT_W_Q3_K, s0 = 4 * (j % 2);
        __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + (q3 ? 32 : 16) + 32 * (j / 2))));
        __m512i shifts = _mm512_inserti64x4(_mm512_set1_epi16((short)s0), _mm256_set1_epi16((short)(s0 + 2)), 1);
        __m512i c = _mm512_and_si512(_mm512_srlv_epi16(q, shifts), _mm512_set1_epi8(3));
        if (q3) {
            // Bit v / 32 of hmask[v % 32] adds 4.
            __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)blk));
            __m512i hs = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * j)), _mm256_set1_epi16((short)(2 * j + 1)), 1);
            __m512i h = _mm512_and_si512(_mm512_srlv_epi16(hm, hs), _mm512_set1_epi8(1));
            c = _mm512_or_si512(c, _mm512_slli_epi16(h, 2));
        }
        return c;
    }
    case LLMOPT_W_Q4_K:
    case LLMOPT_W_Q5_K: {
        int q5 = wtype == LLMOPT_W_Q5_K;
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + (q5 ? 48 : 16) + 32 * j));
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (q5) {
            __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16)), one = _mm256_set1_epi8(1);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j)), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j + 1)), one), 4));
        }
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    default: {  // Q6_K: per 128 values, ql byte l: values l (low), l + 64 (high); l + 32: l + 32, l + 96
        int h = j / 2, upper = j % 2;
        __m512i ql = _mm512_loadu_si512((const __m512i *)(blk + 64 * h));
        if (upper) ql = _mm512_srli_epi16(ql, 4);
        __m512i lo = _mm512_and_si512(ql, _mm512_set1_epi8(0x0F));
        __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h)));
        __m512i hs = _mm512_inserti64x4(_mm512_set1_epi16((short)(4 * upper)), _mm256_set1_epi16((short)(4 * upper + 2)), 1);
        __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(qh, hs), _mm512_set1_epi8(3));
        return _mm512_or_si512(lo, _mm512_slli_epi16(hb, 4));
    }
    }
}

/// vpermw indices spreading 16 sub-block scales over the 32 pair sums of values 64j ..< 64j + 64.
INLINE __m512i kq_scale_index(int j) {
    int16_t idx[32];
    for (int l = 0; l < 32; l++) idx[l] = (int16_t)(4 * j + l / 8);
    return _mm512_loadu_si512(idx);
}

/// M activation rows (Q8_K, `xb` bytes apart, up to 4) against one K-quant weight row: each
/// super-block is unpacked once for all M. Per 64 values, maddubs gives the 32 pair products of
/// codes and activations, madd weighs them by their sub-block scales into 16 exact integer sums.
INLINE void kq_rows(int wtype, int M, int k, const uint8_t *qx, size_t xb, const uint8_t *row, float *c, int ldc) {
    int bb = llmopt_kquant_block_bytes(wtype);
    __m512 acc[4];
    __m256 accMin[4];
    for (int i = 0; i < M; i++) { acc[i] = _mm512_setzero_ps(); accMin[i] = _mm256_setzero_ps(); }
    for (int b = 0; b < k / 256; b++) {
        const uint8_t *blk = row + (size_t)b * bb;
        for (int o = 0; o < bb; o += 64) _mm_prefetch((const char *)blk + 1024 + o, _MM_HINT_T0);
        int16_t scales[16], mins[16];
        int offset;
        float d, dmin;
        llmopt_kquant_scales(wtype, blk, scales, mins, &offset, &d, &dmin);
        __m256i sc16 = _mm256_loadu_si256((const __m256i *)scales), mn16 = _mm256_loadu_si256((const __m256i *)mins);
        __m512i scv = _mm512_broadcast_i64x4(sc16);
        __m512i isum[4];
        for (int i = 0; i < M; i++) isum[i] = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            __m512i codes = kq_codes(wtype, blk, j);
            __m512i s = _mm512_permutexvar_epi16(kq_scale_index(j), scv);
            for (int i = 0; i < M; i++) {
                __m512i xq = _mm512_loadu_si512((const __m512i *)(qx + (size_t)i * xb + (size_t)b * LLMOPT_Q8K_BLOCK_BYTES + 4 + 64 * j));
                isum[i] = _mm512_dpwssd_epi32(isum[i], _mm512_maddubs_epi16(codes, xq), s);
            }
        }
        for (int i = 0; i < M; i++) {
            const uint8_t *xblk = qx + (size_t)i * xb + (size_t)b * LLMOPT_Q8K_BLOCK_BYTES;
            __m256i bsums = _mm256_loadu_si256((const __m256i *)(xblk + 260));
            float dx;
            memcpy(&dx, xblk, 4);
            if (offset) {
                __m256i off = _mm256_mullo_epi32(_mm256_madd_epi16(sc16, bsums), _mm256_set1_epi32(offset));
                isum[i] = _mm512_sub_epi32(isum[i], _mm512_zextsi256_si512(off));
            }
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i]), _mm512_set1_ps(dx * d), acc[i]);
            if (dmin != 0)
                accMin[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(mn16, bsums)), _mm256_set1_ps(-dx * dmin), accMin[i]);
        }
    }
    for (int i = 0; i < M; i++) {
        c[(size_t)i * ldc] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i], _mm512_zextps256_ps512(accMin[i])));
    }
}

INLINE int is_kquant(int wtype) { return wtype >= LLMOPT_W_Q2_K && wtype <= LLMOPT_W_Q6_K; }

/// M (1 to 4) activation rows against one weight row, by the kernel of the weight's format.
INLINE void rows_typed(int wtype, int M, int k, const uint8_t *qx, size_t xb, const uint8_t *row, float *c, int ldc) {
    if (is_kquant(wtype)) kq_rows(wtype, M, k, qx, xb, row, c, ldc);
    else qdot_rows(wtype, M, k, qx, xb, row, c, ldc);
}

/// The integer GEMM for one weight format (`wtype` a constant once inlined): one activation row
/// of 32-blocks runs two weight rows at a time; otherwise each weight row meets the activation
/// rows four at a time.
INLINE void qgemm_typed(int wtype, int m, int n, int k, const uint8_t *qx, const uint8_t *w, size_t rb, float *c, int ldc) {
    size_t xb = llmopt_act_row_bytes(wtype, k);
    int j0 = 0;
    if (m == 1 && !is_kquant(wtype))
        for (; j0 + 2 <= n; j0 += 2) qdot_weight_rows(wtype, 2, k, qx, w + (size_t)j0 * rb, rb, c + j0);
    for (int j = j0; j < n; j++) {
        const uint8_t *row = w + (size_t)j * rb;
        int i = 0;
        for (; i + 4 <= m; i += 4) rows_typed(wtype, 4, k, qx + i * xb, xb, row, c + (size_t)i * ldc + j, ldc);
        switch (m - i) {
        case 3: rows_typed(wtype, 3, k, qx + i * xb, xb, row, c + (size_t)i * ldc + j, ldc); break;
        case 2: rows_typed(wtype, 2, k, qx + i * xb, xb, row, c + (size_t)i * ldc + j, ldc); break;
        case 1: rows_typed(wtype, 1, k, qx + i * xb, xb, row, c + (size_t)i * ldc + j, ldc); break;
        default: break;
        }
    }
}

void llmopt_qgemm_nt_avx512(int m, int n, int k, const void *qx, const void *w, int wtype, size_t rb, float *c, int ldc) {
    switch (wtype) {
    case LLMOPT_W_Q8_0: qgemm_typed(LLMOPT_W_Q8_0, m, n, k, qx, w, rb, c, ldc); break;
    case LLMOPT_W_Q4_0: qgemm_typed(LLMOPT_W_Q4_0, m, n, k, qx, w, rb, c, ldc); break;
    case LLMOPT_W_Q4_1: qgemm_typed(LLMOPT_W_Q4_1, m, n, k, qx, w, rb, c, ldc); break;
    case LLMOPT_W_Q5_0: qgemm_typed(LLMOPT_W_Q5_0, m, n, k, qx, w, rb, c, ldc); break;
    case LLMOPT_W_Q5_1: qgemm_typed(LLMOPT_W_Q5_1, m, n, k, qx, w, rb, c, ldc); break;
    case LLMOPT_W_Q2_K: qgemm_typed(LLMOPT_W_Q2_K, m, n, k, qx, w, rb, c, ldc); break;
    case LLMOPT_W_Q3_K: qgemm_typed(LLMOPT_W_Q3_K, m, n, k, qx, w, rb, c, ldc); break;
    case LLMOPT_W_Q4_K: qgemm_typed(LLMOPT_W_Q4_K, m, n, k, qx, w, rb, c, ldc); break;
    case LLMOPT_W_Q5_K: qgemm_typed(LLMOPT_W_Q5_K, m, n, k, qx, w, rb, c, ldc); break;
    case LLMOPT_W_Q6_K: qgemm_typed(LLMOPT_W_Q6_K, m, n, k, qx, w, rb, c, ldc); break;
    default: break;
    }
}

// MARK: Rounding through float16

void llmopt_round_through_half_avx512(float *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    if (i < n) {
        __mmask16 mk = (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(mk, src + i);
        _mm512_mask_storeu_ps(dst + i, mk, _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    }
}

#pragma clang attribute pop

#else
// Not x86-64: never selected (isa.c only picks this path after checking the CPU).
void llmopt_gemm_small_avx512(int m, int n, int k, const float *x, int ldx, const void *b, int wtype, size_t rb, float *y, int ldy) {
    llmopt_gemm_small_generic(m, n, k, x, ldx, b, wtype, rb, y, ldy);
}
void llmopt_gemm_nn_packed_avx512(int m, int n, int k, const float *pa, const float *b, int ldb, float *c, int ldc, int accumulate) {
    llmopt_gemm_nn_packed_generic(m, n, k, pa, b, ldb, c, ldc, accumulate);
}
void llmopt_gemm_nt_packed_avx512(int m, int n, int k, const float *pa, const void *b, int wtype, size_t rb, float *c, int ldc) {
    llmopt_gemm_nt_packed_generic(m, n, k, pa, b, wtype, rb, c, ldc);
}
void llmopt_gemv_avx512(int n, int k, const float *x, const void *b, int wtype, size_t rb, float *y) {
    llmopt_gemv_generic(n, k, x, b, wtype, rb, y);
}
void llmopt_q8act_quantize_avx512(int k, const float *x, void *dst) { llmopt_q8act_quantize_ref(k, x, dst); }
void llmopt_round_through_half_avx512(float *dst, const float *src, size_t n) { llmopt_round_through_half_ref(dst, src, n); }
void llmopt_qgemm_nt_avx512(int m, int n, int k, const void *qx, const void *w, int wtype, size_t rb, float *c, int ldc) {
    llmopt_qgemm_nt_generic(m, n, k, qx, w, wtype, rb, c, ldc);
}
#endif
