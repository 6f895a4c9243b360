// Run-time choice of the instruction-set path, and the public entry points that dispatch on it.
#include "kernels_internal.h"
#include <stdlib.h>
#include <string.h>

static int detect_best(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return LLMOPT_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return LLMOPT_ISA_AVX2;
#endif
    return LLMOPT_ISA_GENERIC;
}

int llmopt_isa_active = LLMOPT_ISA_GENERIC;

__attribute__((constructor)) static void choose_isa(void) {
    int best = detect_best();
    const char *env = getenv("LLMOPT_ISA");
    int want = best;
    if (env) {
        if (!strcmp(env, "generic")) want = LLMOPT_ISA_GENERIC;
        else if (!strcmp(env, "avx2")) want = LLMOPT_ISA_AVX2;
    }
    llmopt_isa_active = want < best ? want : best;
}

int llmopt_kernels_isa_best(void) { return detect_best(); }

int llmopt_kernels_set_isa(int isa) {
    int best = detect_best();
    if (isa < LLMOPT_ISA_GENERIC) isa = LLMOPT_ISA_GENERIC;
    llmopt_isa_active = isa < best ? isa : best;
    return llmopt_isa_active;
}

const char *llmopt_kernels_isa(void) {
    switch (llmopt_isa_active) {
    case LLMOPT_ISA_AVX512: return "avx512-vnni";
    case LLMOPT_ISA_AVX2: return "avx2-fma";
    default: return "generic";
    }
}

/// The path for the GEMV and small-GEMM float kernels on weights of `wtype`: they read only the
/// types up to LLMOPT_W_QGROUP themselves at AVX-512; 5-bit blocks and K-quants take the AVX2 (or
/// generic) kernels, which convert rows through `llmopt_dequant_range_generic`. (The packed GEMM
/// converts every type at AVX-512; decode of K-quants runs on the integer kernels.)
static int isa_for(int wtype) {
    if (llmopt_kquant_block_values(wtype) && llmopt_isa_active == LLMOPT_ISA_AVX512) return LLMOPT_ISA_AVX2;
    return llmopt_isa_active;
}

void llmopt_gemm_nt_packed(int m, int n, int k, const float *pa, const void *b, int wtype, size_t rb, float *c, int ldc) {
    switch (llmopt_isa_active) {
    case LLMOPT_ISA_AVX512: llmopt_gemm_nt_packed_avx512(m, n, k, pa, b, wtype, rb, c, ldc); break;
    case LLMOPT_ISA_AVX2: llmopt_gemm_nt_packed_avx2(m, n, k, pa, b, wtype, rb, c, ldc); break;
    default: llmopt_gemm_nt_packed_generic(m, n, k, pa, b, wtype, rb, c, ldc); break;
    }
}

void llmopt_gemm_nn_packed(int m, int n, int k, const float *pa, const float *b, int ldb, float *c, int ldc, int accumulate) {
    switch (llmopt_isa_active) {
    case LLMOPT_ISA_AVX512: llmopt_gemm_nn_packed_avx512(m, n, k, pa, b, ldb, c, ldc, accumulate); break;
    case LLMOPT_ISA_AVX2: llmopt_gemm_nn_packed_avx2(m, n, k, pa, b, ldb, c, ldc, accumulate); break;
    default: llmopt_gemm_nn_packed_generic(m, n, k, pa, b, ldb, c, ldc, accumulate); break;
    }
}

void llmopt_gemv(int n, int k, const float *x, const void *b, int wtype, size_t rb, float *y) {
    switch (isa_for(wtype)) {
    case LLMOPT_ISA_AVX512: llmopt_gemv_avx512(n, k, x, b, wtype, rb, y); break;
    case LLMOPT_ISA_AVX2: llmopt_gemv_avx2(n, k, x, b, wtype, rb, y); break;
    default: llmopt_gemv_generic(n, k, x, b, wtype, rb, y); break;
    }
}

void llmopt_gemm_small(int m, int n, int k, const float *x, int ldx, const void *b, int wtype, size_t rb, float *y, int ldy) {
    switch (isa_for(wtype)) {
    case LLMOPT_ISA_AVX512: llmopt_gemm_small_avx512(m, n, k, x, ldx, b, wtype, rb, y, ldy); break;
    case LLMOPT_ISA_AVX2: llmopt_gemm_small_avx2(m, n, k, x, ldx, b, wtype, rb, y, ldy); break;
    default: llmopt_gemm_small_generic(m, n, k, x, ldx, b, wtype, rb, y, ldy); break;
    }
}

void llmopt_q8act_quantize(int k, const float *x, void *dst) {
    if (llmopt_isa_active == LLMOPT_ISA_AVX512) llmopt_q8act_quantize_avx512(k, x, dst);
    else llmopt_q8act_quantize_ref(k, x, dst);
}

void llmopt_qgemm_nt(int m, int n, int k, const void *qx, const void *w, int wtype, size_t rb, float *c, int ldc) {
    switch (llmopt_isa_active) {
    case LLMOPT_ISA_AVX512: llmopt_qgemm_nt_avx512(m, n, k, qx, w, wtype, rb, c, ldc); break;
    case LLMOPT_ISA_AVX2: llmopt_qgemm_nt_avx2(m, n, k, qx, w, wtype, rb, c, ldc); break;
    default: llmopt_qgemm_nt_generic(m, n, k, qx, w, wtype, rb, c, ldc); break;
    }
}
