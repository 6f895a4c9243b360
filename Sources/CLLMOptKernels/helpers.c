// Vector helpers for the forward pass: dot, axpy, softmax, RMSNorm and LayerNorm rows, GELU and SwiGLU, the
// probability-weighted sum of attention values.
// Each has a portable loop and an AVX-512 version picked at run time.
#include "kernels_internal.h"
#include <math.h>

#if defined(__x86_64__)
#define LLMOPT_HELPERS_AVX512 1
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,fma"))), apply_to = function)

static inline __mmask16 tail_mask(int left) { return left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1); }

static float llmopt_dot_f32_avx512(int n, const float *a, const float *b) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + i), _mm512_maskz_loadu_ps(mk, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static void llmopt_axpy_f32_avx512(int n, float alpha, const float *x, float *y) {
    __m512 va = _mm512_set1_ps(alpha);
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, mk, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(mk, x + i), _mm512_maskz_loadu_ps(mk, y + i)));
    }
}

/// exp(x) for x <= 0 (softmax inputs after subtracting the max): x = n ln2 + r with |r| <= ln2 / 2,
/// exp(r) by its degree-7 Taylor polynomial (error below 1 ulp of float), times 2^n by scalef.
static inline __m512 exp_nonpositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // below this exp underflows to 0
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static float llmopt_softmax_f32_avx512(int n, float *x) {
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16) vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(n - i), x + i));
    __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        __m512 e = _mm512_maskz_mov_ps(mk, exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), mx)));
        _mm512_mask_storeu_ps(x + i, mk, e);
        sum = _mm512_add_ps(sum, e);
    }
    float total = _mm512_reduce_add_ps(sum);
    __m512 inv = _mm512_set1_ps(1.0f / total);
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + i), inv));
    }
    return total;
}

static void llmopt_rmsnorm_f32_avx512(int n, const float *x, const float *w, float eps, float *y) {
    __m512 ss = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        ss = _mm512_fmadd_ps(v, v, ss);
    }
    __m512 r = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(ss) / (float)n + eps));
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + i), r);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(mk, w + i));
        _mm512_mask_storeu_ps(y + i, mk, v);
    }
}

static void llmopt_layernorm_f32_avx512(int n, const float *x, const float *w, const float *b, float eps, float *y) {
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
    float mean = _mm512_reduce_add_ps(s) / (float)n;
    __m512 mu = _mm512_set1_ps(mean), ss = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        __m512 d = _mm512_maskz_sub_ps(mk, _mm512_maskz_loadu_ps(mk, x + i), mu);
        ss = _mm512_fmadd_ps(d, d, ss);
    }
    __m512 r = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(ss) / (float)n + eps));
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), mu), r);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(mk, w + i));
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, b + i));
        _mm512_mask_storeu_ps(y + i, mk, v);
    }
}

/// exp(x) for any x: clamped to [-104, 88.5] (below, exp underflows to 0; above, it overflows),
/// then the reduction and polynomial of `exp_nonpositive`.
static inline __m512 exp_clamped(__m512 x) {
    return exp_nonpositive(_mm512_min_ps(x, _mm512_set1_ps(88.5f)));
}

static void llmopt_gelu_tanh_f32_avx512(int n, float *x) {
    const __m512 c2 = _mm512_set1_ps(-2 * 0.7978845608028654f), c3 = _mm512_set1_ps(0.044715f), one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(mk, x + i);
        __m512 u = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(v, v), v), c3, v);
        __m512 e = exp_clamped(_mm512_mul_ps(u, c2));
        _mm512_mask_storeu_ps(x + i, mk, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
}

static void llmopt_swiglu_f32_avx512(int n, float *gate, const float *up) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        __m512 g = _mm512_maskz_loadu_ps(mk, gate + i);
        __m512 e = exp_clamped(_mm512_sub_ps(_mm512_setzero_ps(), g));
        __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(gate + i, mk, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(mk, up + i)));
    }
}

/// M (up to 4) rows of weights against the same value rows: each value row is loaded once for all M.
static inline __attribute__((always_inline)) void weighted_rows_avx512(int M, int n, int width, const float *w, int ldw,
                                                                      const float *rows, int ld, float *out, int ldo) {
    for (int c = 0; c < width; c += 64) {
        // 64 output values per weight row in four registers across all value rows; masked for a narrower tail.
        __mmask16 mk[4];
        __m512 acc[4][4];
        for (int j = 0; j < 4; j++) {
            int left = width - c - 16 * j;
            mk[j] = left <= 0 ? 0 : tail_mask(left);
            for (int i = 0; i < M; i++) acc[i][j] = _mm512_setzero_ps();
        }
        for (int p = 0; p < n; p++) {
            const float *r = rows + (size_t)p * ld + c;
            __m512 v[4];
            for (int j = 0; j < 4; j++) v[j] = _mm512_maskz_loadu_ps(mk[j], r + 16 * j);
            for (int i = 0; i < M; i++) {
                __m512 wp = _mm512_set1_ps(w[(size_t)i * ldw + p]);
                for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(wp, v[j], acc[i][j]);
            }
        }
        for (int i = 0; i < M; i++)
            for (int j = 0; j < 4; j++) _mm512_mask_storeu_ps(out + (size_t)i * ldo + c + 16 * j, mk[j], acc[i][j]);
    }
}

static void llmopt_weighted_sum_f32_avx512(int m, int n, int width, const float *w, int ldw, const float *rows, int ld,
                                           float *out, int ldo) {
    int i = 0;
    for (; i + 4 <= m; i += 4) weighted_rows_avx512(4, n, width, w + (size_t)i * ldw, ldw, rows, ld, out + (size_t)i * ldo, ldo);
    switch (m - i) {
    case 3: weighted_rows_avx512(3, n, width, w + (size_t)i * ldw, ldw, rows, ld, out + (size_t)i * ldo, ldo); break;
    case 2: weighted_rows_avx512(2, n, width, w + (size_t)i * ldw, ldw, rows, ld, out + (size_t)i * ldo, ldo); break;
    case 1: weighted_rows_avx512(1, n, width, w + (size_t)i * ldw, ldw, rows, ld, out + (size_t)i * ldo, ldo); break;
    default: break;
    }
}

#pragma clang attribute pop
#endif

float llmopt_dot_f32(int n, const float *a, const float *b) {
#if LLMOPT_HELPERS_AVX512
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) return llmopt_dot_f32_avx512(n, a, b);
#endif
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[i + l] * b[i + l];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

void llmopt_axpy_f32(int n, float alpha, const float *x, float *y) {
#if LLMOPT_HELPERS_AVX512
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) { llmopt_axpy_f32_avx512(n, alpha, x, y); return; }
#endif
    for (int i = 0; i < n; i++) y[i] += alpha * x[i];
}

float llmopt_softmax_f32(int n, float *x) {
    if (n <= 0) return 0;
#if LLMOPT_HELPERS_AVX512
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) return llmopt_softmax_f32_avx512(n, x);
#endif
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
    return (float)sum;
}

void llmopt_rmsnorm_f32(int n, const float *x, const float *w, float eps, float *y) {
#if LLMOPT_HELPERS_AVX512
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) { llmopt_rmsnorm_f32_avx512(n, x, w, eps, y); return; }
#endif
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) y[i] = x[i] * r * (w ? w[i] : 1.0f);
}

void llmopt_layernorm_f32(int n, const float *x, const float *w, const float *b, float eps, float *y) {
#if LLMOPT_HELPERS_AVX512
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) { llmopt_layernorm_f32_avx512(n, x, w, b, eps, y); return; }
#endif
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[i];
    double mean = s / n;
    for (int i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    float r = (float)(1.0 / sqrt(ss / n + eps)), mu = (float)mean;
    for (int i = 0; i < n; i++) y[i] = (x[i] - mu) * r * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f);
}

// GELU as x · sigmoid(2u), which equals 0.5 x (1 + tanh(u)) exactly and needs one exp.
void llmopt_gelu_tanh_f32(int n, float *x) {
#if LLMOPT_HELPERS_AVX512
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) { llmopt_gelu_tanh_f32_avx512(n, x); return; }
#endif
    for (int i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

void llmopt_swiglu_f32(int n, float *gate, const float *up) {
#if LLMOPT_HELPERS_AVX512
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) { llmopt_swiglu_f32_avx512(n, gate, up); return; }
#endif
    for (int i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void llmopt_weighted_sum_f32(int m, int n, int width, const float *w, int ldw, const float *rows, int ld, float *out, int ldo) {
#if LLMOPT_HELPERS_AVX512
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) { llmopt_weighted_sum_f32_avx512(m, n, width, w, ldw, rows, ld, out, ldo); return; }
#endif
    for (int i = 0; i < m; i++) {
        float *o = out + (size_t)i * ldo;
        for (int c = 0; c < width; c++) o[c] = 0;
        for (int p = 0; p < n; p++)
            for (int c = 0; c < width; c++) o[c] += w[(size_t)i * ldw + p] * rows[(size_t)p * ld + c];
    }
}
