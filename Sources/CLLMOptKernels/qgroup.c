// Kernels for group-quantized weight rows (LLMOPT_W_QGROUP, the `.qgroup` rows of
// GroupQuantLayout.swift): b-bit codes (2..8) read and converted to float as they stream by.
// A portable path, and an AVX-512 path that unpacks 16 codes of any width with one byte permute
// and one variable shift.
#include "kernels_internal.h"
#include <string.h>

/// The parts of one row, read from its 12-byte header.
typedef struct {
    int bits, symmetric, group, columns, groups;
    const uint8_t *scales;  // float32 per group (4-byte aligned in practice; read with memcpy)
    const uint8_t *zeros;   // uint8 per group, asymmetric rows only
    const uint8_t *codes;   // bit-packed LSB first
} qg_row;

static inline qg_row qg_parse(const void *row) {
    const uint8_t *r = (const uint8_t *)row;
    qg_row q;
    uint32_t group, columns;
    memcpy(&group, r + 4, 4);
    memcpy(&columns, r + 8, 4);
    q.bits = r[0];
    q.symmetric = (r[1] & 1) == 0;
    q.group = (int)group;
    q.columns = (int)columns;
    q.groups = (q.columns + q.group - 1) / q.group;
    q.scales = r + 12;
    q.zeros = q.scales + 4 * (size_t)q.groups;
    q.codes = q.zeros + (q.symmetric ? 0 : q.groups);
    return q;
}

static inline float qg_scale(const qg_row *r, int g) {
    float s;
    memcpy(&s, r->scales + 4 * (size_t)g, 4);
    return s;
}

/// What is subtracted from a stored code: the zero point, or 2^(b-1) for symmetric codes.
static inline int qg_offset(const qg_row *r, int g) { return r->symmetric ? 1 << (r->bits - 1) : r->zeros[g]; }

static inline int qg_code(const qg_row *r, int p) {
    size_t bit = (size_t)p * r->bits;
    unsigned word = r->codes[bit >> 3];
    if ((int)(bit & 7) + r->bits > 8) word |= (unsigned)r->codes[(bit >> 3) + 1] << 8;
    return (int)((word >> (bit & 7)) & ((1u << r->bits) - 1));
}

// MARK: Portable path

void llmopt_qgroup_convert_generic(const void *row, int p0, int len, float *dst) {
    qg_row r = qg_parse(row);
    for (int i = 0; i < len; i++) {
        int p = p0 + i, g = p / r.group;
        dst[i] = (float)(qg_code(&r, p) - qg_offset(&r, g)) * qg_scale(&r, g);
    }
}

void llmopt_qgroup_gemm_small_generic(int m, int n, int k, const float *x, int ldx, const void *b, size_t rb,
                                      float *y, int ldy) {
    enum { CHUNK = 256 };
    float w[CHUNK];
    for (int j = 0; j < n; j++) {
        const uint8_t *row = (const uint8_t *)b + (size_t)j * rb;
        for (int i = 0; i < m; i++) y[(size_t)i * ldy + j] = 0;
        for (int p0 = 0; p0 < k; p0 += CHUNK) {
            int len = k - p0 < CHUNK ? k - p0 : CHUNK;
            llmopt_qgroup_convert_generic(row, p0, len, w);
            for (int i = 0; i < m; i++) {
                const float *xi = x + (size_t)i * ldx + p0;
                float s = 0;
                for (int p = 0; p < len; p++) s += w[p] * xi[p];
                y[(size_t)i * ldy + j] += s;
            }
        }
    }
}

// MARK: AVX-512 path

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx2,fma"))), apply_to = function)

#define INLINE static inline __attribute__((always_inline))

/// How 16 consecutive b-bit codes that start `shift` bits into a byte are pulled out of the bytes
/// that hold them: lane i takes bytes idx_i and idx_i + 1 (vpermb), shifts them right by its own
/// bit offset (vpsrlvd) and keeps b bits. 16 codes always advance by 2b whole bytes, so one
/// unpacker serves every step of a group.
typedef struct {
    __m512i index, shift, mask;
    int full_bytes;  // bytes spanned by 16 codes
} qg_unpacker;

INLINE qg_unpacker qg_unpacker_make(int bits, int shift) {
    __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i bit = _mm512_add_epi32(_mm512_mullo_epi32(lane, _mm512_set1_epi32(bits)), _mm512_set1_epi32(shift));
    __m512i byte = _mm512_srli_epi32(bit, 3);
    qg_unpacker u;
    u.index = _mm512_or_si512(byte, _mm512_slli_epi32(_mm512_add_epi32(byte, _mm512_set1_epi32(1)), 8));
    u.shift = _mm512_and_si512(bit, _mm512_set1_epi32(7));
    u.mask = _mm512_set1_epi32((1 << bits) - 1);
    u.full_bytes = (shift + 16 * bits + 7) >> 3;
    return u;
}

/// 16 codes from `p` (as unpacked by `u`) minus `offset`, as floats, reading only the first
/// `nbytes` bytes: lanes whose codes lie past them come out as -offset (finite, for masking).
INLINE __m512 qg_values(const qg_unpacker *u, const uint8_t *p, int nbytes, __m512i offset) {
    __m256i raw = _mm256_maskz_loadu_epi8((__mmask32)((1u << nbytes) - 1), p);
    __m512i v = _mm512_permutexvar_epi8(u->index, _mm512_castsi256_si512(raw));
    v = _mm512_and_si512(_mm512_srlv_epi32(v, u->shift), u->mask);
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(v, offset));
}

/// Code bytes are requested this far ahead (rows are contiguous: past a row's end come the next rows).
#define QG_PREFETCH_BYTES 2048

void llmopt_qgroup_convert_avx512(const void *row, int p0, int len, float *dst) {
    qg_row r = qg_parse(row);
    int end = p0 + len, cached = -1;
    qg_unpacker u = qg_unpacker_make(r.bits, 0);
    for (int g = p0 / r.group; g * r.group < end; g++) {
        int a = g * r.group > p0 ? g * r.group : p0;
        int e = (g + 1) * r.group < end ? (g + 1) * r.group : end;
        size_t bit = (size_t)a * r.bits;
        const uint8_t *p = r.codes + (bit >> 3);
        int shift = (int)(bit & 7);
        if (shift != cached) { u = qg_unpacker_make(r.bits, shift); cached = shift; }
        __m512i offset = _mm512_set1_epi32(qg_offset(&r, g));
        __m512 s = _mm512_set1_ps(qg_scale(&r, g));
        float *d = dst + (a - p0);
        int t = a;
        for (; t + 16 <= e; t += 16, p += 2 * r.bits, d += 16)
            _mm512_storeu_ps(d, _mm512_mul_ps(qg_values(&u, p, u.full_bytes, offset), s));
        if (t < e) {
            int cnt = e - t;
            __m512 w = qg_values(&u, p, (shift + cnt * r.bits + 7) >> 3, offset);
            _mm512_mask_storeu_ps(d, (__mmask16)((1u << cnt) - 1), _mm512_mul_ps(w, s));
        }
    }
}

/// M activation rows (up to 4, `ldx` apart) against one weight row: each group's codes are
/// unpacked once for all M, multiplied into per-group sums, which are then scaled.
INLINE void qg_rows(int M, const uint8_t *row, const float *x, size_t ldx, float *y, size_t ldy) {
    qg_row r = qg_parse(row);
    __m512 acc[4];
    for (int i = 0; i < M; i++) acc[i] = _mm512_setzero_ps();
    int cached = -1;
    qg_unpacker u = qg_unpacker_make(r.bits, 0);
    for (int g = 0; g < r.groups; g++) {
        int a = g * r.group, e = a + r.group < r.columns ? a + r.group : r.columns;
        size_t bit = (size_t)a * r.bits;
        const uint8_t *p = r.codes + (bit >> 3);
        int shift = (int)(bit & 7);
        if (shift != cached) { u = qg_unpacker_make(r.bits, shift); cached = shift; }
        __m512i offset = _mm512_set1_epi32(qg_offset(&r, g));
        __m512 sum[4];
        for (int i = 0; i < M; i++) sum[i] = _mm512_setzero_ps();
        int t = a;
        for (; t + 16 <= e; t += 16, p += 2 * r.bits) {
            _mm_prefetch((const char *)p + QG_PREFETCH_BYTES, _MM_HINT_T0);
            __m512 w = qg_values(&u, p, u.full_bytes, offset);
            for (int i = 0; i < M; i++) sum[i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + i * ldx + t), sum[i]);
        }
        if (t < e) {
            int cnt = e - t;
            __mmask16 mk = (__mmask16)((1u << cnt) - 1);
            __m512 w = qg_values(&u, p, (shift + cnt * r.bits + 7) >> 3, offset);
            for (int i = 0; i < M; i++) sum[i] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mk, x + i * ldx + t), sum[i]);
        }
        __m512 s = _mm512_set1_ps(qg_scale(&r, g));
        for (int i = 0; i < M; i++) acc[i] = _mm512_fmadd_ps(sum[i], s, acc[i]);
    }
    for (int i = 0; i < M; i++) y[i * ldy] = _mm512_reduce_add_ps(acc[i]);
}

void llmopt_qgroup_gemm_small_avx512(int m, int n, int k, const float *x, int ldx, const void *b, size_t rb,
                                     float *y, int ldy) {
    (void)k;  // every row carries its own column count
    for (int j = 0; j < n; j++) {
        const uint8_t *row = (const uint8_t *)b + (size_t)j * rb;
        int i = 0;
        for (; i + 4 <= m; i += 4) qg_rows(4, row, x + (size_t)i * ldx, ldx, y + (size_t)i * ldy + j, ldy);
        switch (m - i) {
        case 3: qg_rows(3, row, x + (size_t)i * ldx, ldx, y + (size_t)i * ldy + j, ldy); break;
        case 2: qg_rows(2, row, x + (size_t)i * ldx, ldx, y + (size_t)i * ldy + j, ldy); break;
        case 1: qg_rows(1, row, x + (size_t)i * ldx, ldx, y + (size_t)i * ldy + j, ldy); break;
        default: break;
        }
    }
}

#pragma clang attribute pop

#else
// Not x86-64: never selected (isa.c only picks the AVX-512 path after checking the CPU).
void llmopt_qgroup_convert_avx512(const void *row, int p0, int len, float *dst) {
    llmopt_qgroup_convert_generic(row, p0, len, dst);
}
void llmopt_qgroup_gemm_small_avx512(int m, int n, int k, const float *x, int ldx, const void *b, size_t rb,
                                     float *y, int ldy) {
    llmopt_qgroup_gemm_small_generic(m, n, k, x, ldx, b, rb, y, ldy);
}
#endif

void llmopt_qgroup_gemm_small(int m, int n, int k, const float *x, int ldx, const void *b, size_t rb, float *y, int ldy) {
    if (m <= 0 || n <= 0) return;
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) llmopt_qgroup_gemm_small_avx512(m, n, k, x, ldx, b, rb, y, ldy);
    else llmopt_qgroup_gemm_small_generic(m, n, k, x, ldx, b, rb, y, ldy);
}
