// Declarations shared by the kernel files: one implementation per instruction-set path.
#ifndef LLMOPT_KERNELS_INTERNAL_H
#define LLMOPT_KERNELS_INTERNAL_H

#include "llmopt_kernels.h"

/// The active path (LLMOPT_ISA_*), chosen once at start; see isa.c.
extern int llmopt_isa_active;

/// GEMM register tile: rows of A per packed panel, and weight rows per micro-panel.
#define LLMOPT_MR LLMOPT_GEMM_MR
#define LLMOPT_NR LLMOPT_GEMM_NR


/// f16 bits to float, exactly (no F16C needed).
float llmopt_half_to_float(uint16_t h);

/// Converts values [p0, p0 + len) of one weight row to float32 (p0, len multiples of 32 for block types).
void llmopt_dequant_range_generic(int wtype, const void *row, int p0, int len, float *dst);

/// Values [p0, p0 + len) of one LLMOPT_W_QGROUP row as float32 (any p0, len), exactly as the
/// Swift reference dequantizes them.
void llmopt_qgroup_convert_generic(const void *row, int p0, int len, float *dst);
void llmopt_qgroup_convert_avx512(const void *row, int p0, int len, float *dst);
void llmopt_qgroup_gemm_small_generic(int m, int n, int k, const float *x, int ldx, const void *b, size_t rb, float *y, int ldy);
void llmopt_qgroup_gemm_small_avx512(int m, int n, int k, const float *x, int ldx, const void *b, size_t rb, float *y, int ldy);
void llmopt_qgroup_qgemm_generic(int m, int n, int k, const void *qx, const void *w, size_t rb, float *c, int ldc);
void llmopt_qgroup_qgemm_avx512(int m, int n, int k, const void *qx, const void *w, size_t rb, float *c, int ldc);

// Per-path implementations.
void llmopt_gemm_nt_packed_avx512(int m, int n, int k, const float *pa, const void *b, int wtype, size_t rb, float *c, int ldc);
void llmopt_gemm_nt_packed_avx2(int m, int n, int k, const float *pa, const void *b, int wtype, size_t rb, float *c, int ldc);
void llmopt_gemm_nt_packed_generic(int m, int n, int k, const float *pa, const void *b, int wtype, size_t rb, float *c, int ldc);

void llmopt_gemm_nn_packed_avx512(int m, int n, int k, const float *pa, const float *b, int ldb, float *c, int ldc, int accumulate);
void llmopt_gemm_nn_packed_avx2(int m, int n, int k, const float *pa, const float *b, int ldb, float *c, int ldc, int accumulate);
void llmopt_gemm_nn_packed_generic(int m, int n, int k, const float *pa, const float *b, int ldb, float *c, int ldc, int accumulate);

void llmopt_gemv_avx512(int n, int k, const float *x, const void *b, int wtype, size_t rb, float *y);
void llmopt_gemv_avx2(int n, int k, const float *x, const void *b, int wtype, size_t rb, float *y);
void llmopt_gemv_generic(int n, int k, const float *x, const void *b, int wtype, size_t rb, float *y);

void llmopt_gemm_small_avx512(int m, int n, int k, const float *x, int ldx, const void *b, int wtype, size_t rb, float *y, int ldy);
void llmopt_gemm_small_avx2(int m, int n, int k, const float *x, int ldx, const void *b, int wtype, size_t rb, float *y, int ldy);
void llmopt_gemm_small_generic(int m, int n, int k, const float *x, int ldx, const void *b, int wtype, size_t rb, float *y, int ldy);

void llmopt_q8act_quantize_avx512(int k, const float *x, void *dst);
void llmopt_round_through_half_avx512(float *dst, const float *src, size_t n);
/// The reference of `llmopt_round_through_half`: the scalar conversion both ways.
void llmopt_round_through_half_ref(float *dst, const float *src, size_t n);
void llmopt_qgemm_nt_avx512(int m, int n, int k, const void *qx, const void *w, int wtype, size_t rb, float *c, int ldc);
void llmopt_qgemm_nt_avx2(int m, int n, int k, const void *qx, const void *w, int wtype, size_t rb, float *c, int ldc);
void llmopt_qgemm_nt_generic(int m, int n, int k, const void *qx, const void *w, int wtype, size_t rb, float *c, int ldc);


/// The integer form of one K-quant super-block (Q2_K ... Q6_K) against a Q8_K block x:
/// block · x = d_x (d Σ_s scales[s] (Σ_{16 values of s} codes · q_x − offset · bsums_x[s])
///                 − dmin Σ_s mins[s] bsums_x[s]), for the 16 sub-blocks s of 16 values.
/// Codes are unsigned (0..63); Q4_K/Q5_K repeat their per-32 scales and mins for both halves.
void llmopt_kquant_scales(int wtype, const uint8_t *blk, int16_t scales[16], int16_t mins[16], int *offset, float *d,
                          float *dmin);
void llmopt_kquant_codes(int wtype, const uint8_t *blk, uint8_t codes[256]);

/// One K-quant row of k values against one Q8_K row, by the formula above (the plain loop).
float llmopt_kquant_dot_q8k(int wtype, int k, const void *row, const void *qx);

/// The integers of one 32-value block of Q8_0, Q4_0, Q4_1, Q5_0 or Q5_1: value = d * q + mn
/// (the Q4_0/Q5_0 offset folded into q).
void llmopt_block32_ints(int wtype, const uint8_t *blk, int8_t q[32], float *d, float *mn);

// Quantized activation row layout (k values, nb = k / 32 blocks, nc = ceil(nb / 2) chunks of 64):
//   int8  q[nc * 64]      values, zero padded
//   float lane_d[nc * 16] per 32-bit lane of a 64-byte chunk: the scale of the block that lane belongs to
//   int32 lane_s[nc * 16] per lane: the sum of the 4 values that lane covers (what dpbusd(1, q) gives)
//   float d[nb]           per block scale
//   int32 s[nb]           per block integer sum
typedef struct {
    int8_t *q;
    float *lane_d;
    int32_t *lane_s;
    float *d;
    int32_t *s;
} llmopt_q8act_view;

llmopt_q8act_view llmopt_q8act_make_view(int k, const void *row);

#endif
