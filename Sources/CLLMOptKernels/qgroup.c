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

void llmopt_qgroup_qgemm_generic(int m, int n, int k, const void *qx, const void *w, size_t rb, float *c, int ldc) {
    size_t xb = llmopt_q8act_row_bytes(k);
    for (int j = 0; j < n; j++) {
        qg_row r = qg_parse((const uint8_t *)w + (size_t)j * rb);
        for (int i = 0; i < m; i++) {
            llmopt_q8act_view v = llmopt_q8act_make_view(k, (const uint8_t *)qx + (size_t)i * xb);
            float acc = 0;
            for (int b = 0; b < k / 32; b++) {
                int g = b * 32 / r.group, offset = qg_offset(&r, g);
                int32_t dot = 0;
                for (int t = 0; t < 32; t++) dot += (qg_code(&r, b * 32 + t) - offset) * v.q[b * 32 + t];
                acc += qg_scale(&r, g) * v.d[b] * (float)dot;
            }
            c[(size_t)i * ldc + j] = acc;
        }
    }
}

// MARK: AVX-512 path

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma"))), apply_to = function)

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

/// 64 codes (two 32-blocks of one row, the second absent unless `two`) as unsigned bytes in value
/// order, for dpbusd. 4-bit: byte j holds values 2j (low nibble) and 2j + 1: vpermb doubles every
/// byte, a 16-bit shift moves the high nibbles down into the odd bytes, a blend picks them.
INLINE __m512i qgi_codes(int bits, const uint8_t *p, int two) {
    if (bits == 8) return _mm512_maskz_loadu_epi8(two ? ~0ull : 0xFFFFFFFFull, p);
    __m512i index = _mm512_set_epi8(31, 31, 30, 30, 29, 29, 28, 28, 27, 27, 26, 26, 25, 25, 24, 24, 23, 23, 22, 22, 21, 21, 20, 20,
                                    19, 19, 18, 18, 17, 17, 16, 16, 15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8,
                                    7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    __m256i raw = _mm256_maskz_loadu_epi8(two ? 0xFFFFFFFFu : 0xFFFFu, p);
    __m512i v = _mm512_permutexvar_epi8(index, _mm512_castsi256_si512(raw));
    v = _mm512_mask_blend_epi8(0xAAAAAAAAAAAAAAAAull, v, _mm512_srli_epi16(v, 4));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

/// M quantized activation rows (up to 4) against one weight row of 4- or 8-bit codes in groups
/// that are whole 32-blocks: per chunk of two blocks one dpbusd per activation row, the code
/// offset removed with the activations' lane sums, then the weight scale times the activation scale.
INLINE void qgi_rows(int M, int bits, int k, const uint8_t *qx, size_t xb, const uint8_t *row, float *c, int ldc) {
    qg_row r = qg_parse(row);
    int nb = k / 32, nc = (nb + 1) / 2, chunk_bytes = 8 * bits;
    llmopt_q8act_view v[4];
    __m512 acc[4];
    for (int i = 0; i < M; i++) {
        v[i] = llmopt_q8act_make_view(k, qx + (size_t)i * xb);
        acc[i] = _mm512_setzero_ps();
    }
    for (int ch = 0; ch < nc; ch++) {
        const uint8_t *p = r.codes + (size_t)ch * chunk_bytes;
        _mm_prefetch((const char *)p + QG_PREFETCH_BYTES, _MM_HINT_T0);
        int two = 2 * ch + 1 < nb;
        __m512i wq = two ? qgi_codes(bits, p, 1) : qgi_codes(bits, p, 0);
        int g0 = 64 * ch / r.group, g1 = two ? (64 * ch + 32) / r.group : g0;
        __m512 wd = _mm512_set1_ps(qg_scale(&r, g0));
        __m512i offset = _mm512_set1_epi32(qg_offset(&r, g0));
        if (g1 != g0) {
            wd = _mm512_mask_blend_ps(0xFF00, wd, _mm512_set1_ps(qg_scale(&r, g1)));
            offset = _mm512_mask_blend_epi32(0xFF00, offset, _mm512_set1_epi32(qg_offset(&r, g1)));
        }
        for (int i = 0; i < M; i++) {
            __m512i xq = _mm512_loadu_si512((const __m512i *)(v[i].q + ch * 64));
            __m512i xs = _mm512_loadu_si512((const __m512i *)(v[i].lane_s + ch * 16));
            __m512 xd = _mm512_loadu_ps(v[i].lane_d + ch * 16);
            // Symmetric codes are offset by 2^(bits-1): a shift instead of a multiply.
            __m512i shifted = r.symmetric ? _mm512_slli_epi32(xs, bits - 1) : _mm512_mullo_epi32(xs, offset);
            __m512i dot = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wq, xq), shifted);
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(wd, xd), acc[i]);
        }
    }
    for (int i = 0; i < M; i++) c[(size_t)i * ldc] = _mm512_reduce_add_ps(acc[i]);
}

INLINE void qgi_typed(int bits, int m, int n, int k, const uint8_t *qx, const uint8_t *w, size_t rb, float *c, int ldc) {
    size_t xb = llmopt_q8act_row_bytes(k);
    for (int j = 0; j < n; j++) {
        const uint8_t *row = w + (size_t)j * rb;
        int i = 0;
        for (; i + 4 <= m; i += 4) qgi_rows(4, bits, k, qx + i * xb, xb, row, c + (size_t)i * ldc + j, ldc);
        switch (m - i) {
        case 3: qgi_rows(3, bits, k, qx + i * xb, xb, row, c + (size_t)i * ldc + j, ldc); break;
        case 2: qgi_rows(2, bits, k, qx + i * xb, xb, row, c + (size_t)i * ldc + j, ldc); break;
        case 1: qgi_rows(1, bits, k, qx + i * xb, xb, row, c + (size_t)i * ldc + j, ldc); break;
        default: break;
        }
    }
}

void llmopt_qgroup_qgemm_avx512(int m, int n, int k, const void *qx, const void *w, size_t rb, float *c, int ldc) {
    if (((const uint8_t *)w)[0] == 8) qgi_typed(8, m, n, k, qx, w, rb, c, ldc);
    else qgi_typed(4, m, n, k, qx, w, rb, c, ldc);
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
void llmopt_qgroup_qgemm_avx512(int m, int n, int k, const void *qx, const void *w, size_t rb, float *c, int ldc) {
    llmopt_qgroup_qgemm_generic(m, n, k, qx, w, rb, c, ldc);
}
#endif

int llmopt_qgroup_integer_ok(const void *row, int k) {
    qg_row r = qg_parse(row);
    return (r.bits == 4 || r.bits == 8) && r.columns == k && k % 32 == 0 && r.group % 32 == 0;
}

void llmopt_qgroup_qgemm(int m, int n, int k, const void *qx, const void *w, size_t rb, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) llmopt_qgroup_qgemm_avx512(m, n, k, qx, w, rb, c, ldc);
    else llmopt_qgroup_qgemm_generic(m, n, k, qx, w, rb, c, ldc);
}

void llmopt_qgroup_gemm_small(int m, int n, int k, const float *x, int ldx, const void *b, size_t rb, float *y, int ldy) {
    if (m <= 0 || n <= 0) return;
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) llmopt_qgroup_gemm_small_avx512(m, n, k, x, ldx, b, rb, y, ldy);
    else llmopt_qgroup_gemm_small_generic(m, n, k, x, ldx, b, rb, y, ldy);
}
