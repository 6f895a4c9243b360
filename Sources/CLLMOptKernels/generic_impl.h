// The portable kernels, written with clang/GCC vector extensions. Included twice: by generic.c
// for the baseline target and by avx2.c under target("avx2,fma"), where the same code compiles
// to 256-bit vectors. LLMOPT_SUFFIX names the instance.
#include "kernels_internal.h"
#include <stdlib.h>
#include <string.h>

#define LLMOPT_CAT2(a, b) a##b
#define LLMOPT_CAT(a, b) LLMOPT_CAT2(a, b)
#define LLMOPT_FN(name) LLMOPT_CAT(name, LLMOPT_SUFFIX)

typedef float llmopt_v8f __attribute__((vector_size(32), aligned(4)));

/// Eight floats from an unaligned address, and one float in every lane (macros: vectors are
/// never passed to or returned from functions, whose ABI differs between the two targets).
#define LLMOPT_LOAD8(p) (*(const llmopt_v8f *)(p))
#define LLMOPT_SPLAT(x) ((llmopt_v8f){(x), (x), (x), (x), (x), (x), (x), (x)})

/// One 8 x 8 tile of C (8 rows of a packed A panel, 8 weight rows) over kl steps.
static void LLMOPT_FN(tile_8x8_)(int kl, const float *pa, const float *b, size_t ldb, float *c, int ldc,
                                 int mrows, int ncols, int overwrite) {
    llmopt_v8f acc[8] = {0};
    for (int p = 0; p < kl; p++) {
        llmopt_v8f a = LLMOPT_LOAD8(pa + (size_t)p * LLMOPT_MR);
        for (int j = 0; j < 8; j++) acc[j] += a * LLMOPT_SPLAT(b[j * ldb + p]);
    }
    for (int i = 0; i < mrows; i++)
        for (int j = 0; j < ncols; j++) {
            float *ci = c + (size_t)i * ldc + j;
            *ci = overwrite ? acc[j][i] : *ci + acc[j][i];
        }
}

void LLMOPT_FN(llmopt_gemm_nt_packed_)(int m, int n, int k, const float *pa, const void *b, int wtype, size_t rb,
                                        float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, (size_t)n * 4);
        return;
    }
    int kc = llmopt_gemm_kc(m, k);
    int panels = (m + LLMOPT_MR - 1) / LLMOPT_MR;
    float *buf = llmopt_scratch(3, (size_t)8 * kc * 4);
    for (int p0 = 0; p0 < k; p0 += kc) {
        int kl = k - p0 < kc ? k - p0 : kc;
        const float *pblock = pa + (size_t)p0 * panels * LLMOPT_MR;
        for (int j0 = 0; j0 < n; j0 += 8) {
            int nr = n - j0 < 8 ? n - j0 : 8;
            for (int j = 0; j < 8; j++) {
                if (j < nr) llmopt_dequant_range_generic(wtype, (const uint8_t *)b + (size_t)(j0 + j) * rb, p0, kl, buf + (size_t)j * kl);
                else memset(buf + (size_t)j * kl, 0, (size_t)kl * 4);
            }
            for (int i0 = 0; i0 < m; i0 += 8) {
                int rows = m - i0 < 8 ? m - i0 : 8;
                const float *panel = pblock + (size_t)(i0 / LLMOPT_MR) * kl * LLMOPT_MR + i0 % LLMOPT_MR;
                LLMOPT_FN(tile_8x8_)(kl, panel, buf, (size_t)kl, c + (size_t)i0 * ldc + j0, ldc, rows, nr, p0 == 0);
            }
        }
    }
}

void LLMOPT_FN(llmopt_gemm_nn_packed_)(int m, int n, int k, const float *pa, const float *b, int ldb, float *c, int ldc,
                                        int accumulate) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (!accumulate) for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, (size_t)n * 4);
        return;
    }
    int kc = llmopt_gemm_kc(m, k);
    int panels = (m + LLMOPT_MR - 1) / LLMOPT_MR;
    float *buf = llmopt_scratch(3, (size_t)8 * kc * 4);
    for (int p0 = 0; p0 < k; p0 += kc) {
        int kl = k - p0 < kc ? k - p0 : kc;
        const float *pblock = pa + (size_t)p0 * panels * LLMOPT_MR;
        for (int j0 = 0; j0 < n; j0 += 8) {
            int nr = n - j0 < 8 ? n - j0 : 8;
            // Columns j0..j0+7 of B as 8 rows of kl values (the layout the 8 x 8 tile reads).
            for (int j = 0; j < 8; j++)
                for (int p = 0; p < kl; p++) buf[(size_t)j * kl + p] = j < nr ? b[(size_t)(p0 + p) * ldb + j0 + j] : 0;
            for (int i0 = 0; i0 < m; i0 += 8) {
                int rows = m - i0 < 8 ? m - i0 : 8;
                const float *panel = pblock + (size_t)(i0 / LLMOPT_MR) * kl * LLMOPT_MR + i0 % LLMOPT_MR;
                LLMOPT_FN(tile_8x8_)(kl, panel, buf, (size_t)kl, c + (size_t)i0 * ldc + j0, ldc, rows, nr, p0 == 0 && !accumulate);
            }
        }
    }
}

void LLMOPT_FN(llmopt_gemv_)(int n, int k, const float *x, const void *b, int wtype, size_t rb, float *y) {
    enum { CHUNK = 256 };
    float w[CHUNK];
    for (int j = 0; j < n; j++) {
        const uint8_t *row = (const uint8_t *)b + (size_t)j * rb;
        llmopt_v8f acc = {0};
        float tail = 0;
        for (int p0 = 0; p0 < k; p0 += CHUNK) {
            int len = k - p0 < CHUNK ? k - p0 : CHUNK;
            const float *wp = w;
            if (wtype == LLMOPT_W_F32) wp = (const float *)row + p0;
            else llmopt_dequant_range_generic(wtype, row, p0, len, w);
            int p = 0;
            for (; p + 8 <= len; p += 8) acc += LLMOPT_LOAD8(wp + p) * LLMOPT_LOAD8(x + p0 + p);
            for (; p < len; p++) tail += wp[p] * x[p0 + p];
        }
        float s = tail;
        for (int l = 0; l < 8; l++) s += acc[l];
        y[j] = s;
    }
}

void LLMOPT_FN(llmopt_gemm_small_)(int m, int n, int k, const float *x, int ldx, const void *b, int wtype, size_t rb,
                                     float *y, int ldy) {
    for (int i = 0; i < m; i++) {
        float *yi = y + (size_t)i * ldy;
        LLMOPT_FN(llmopt_gemv_)(n, k, x + (size_t)i * ldx, b, wtype, rb, yi);
    }
}

void LLMOPT_FN(llmopt_qgemm_nt_)(int m, int n, int k, const void *qx, const void *w, int wtype, size_t rb,
                                  float *c, int ldc) {
    size_t xb = llmopt_act_row_bytes(wtype, k);
    if (llmopt_act_is_q8k(wtype)) {
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++)
                c[(size_t)i * ldc + j] = llmopt_kquant_dot_q8k(wtype, k, (const uint8_t *)w + (size_t)j * rb, (const uint8_t *)qx + (size_t)i * xb);
        return;
    }
    int nb = k / 32;
    size_t bb = llmopt_weight_row_bytes(wtype, 32);
    for (int j = 0; j < n; j++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)j * rb;
        for (int i = 0; i < m; i++) {
            llmopt_q8act_view v = llmopt_q8act_make_view(k, (const uint8_t *)qx + (size_t)i * xb);
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                int8_t q[32];
                float d, mn;
                llmopt_block32_ints(wtype, row + (size_t)b * bb, q, &d, &mn);
                const int8_t *xq = v.q + b * 32;
                int32_t dot = 0;
                for (int t = 0; t < 32; t++) dot += (int32_t)q[t] * xq[t];
                acc += d * v.d[b] * (float)dot;
                if (mn != 0) acc += mn * v.d[b] * (float)v.s[b];
            }
            c[(size_t)i * ldc + j] = acc;
        }
    }
}
