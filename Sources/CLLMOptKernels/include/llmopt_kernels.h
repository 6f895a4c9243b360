#ifndef LLMOPT_KERNELS_H
#define LLMOPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// Hot loops of the engine. Every kernel is single-threaded: callers split the output columns
// (weight rows) across threads. Fast kernels pick an instruction-set path once at run time
// (AVX-512 with VNNI, AVX2 with FMA, or portable C) and are tested against the `_ref` loops.

// MARK: Instruction-set path

/// The path in use: "avx512-vnni", "avx2-fma" or "generic".
const char *llmopt_kernels_isa(void);

/// Paths, from slowest to fastest.
enum { LLMOPT_ISA_GENERIC = 0, LLMOPT_ISA_AVX2 = 1, LLMOPT_ISA_AVX512 = 2 };

/// The fastest path this CPU supports.
int llmopt_kernels_isa_best(void);

/// Selects a path (clamped to what the CPU supports) and returns the one now in use.
/// For tests and benchmarks; `LLMOPT_ISA=generic|avx2|avx512` in the environment does the same at start.
int llmopt_kernels_set_isa(int isa);

/// A 64-byte aligned buffer of at least `bytes` bytes owned by the calling thread, kept and
/// grown across calls (so hot paths do not fault in fresh pages). `slot` 0..3 names independent
/// buffers; a slot's contents are valid until the same thread asks for that slot again.
void *llmopt_scratch(int slot, size_t bytes);

// MARK: Thread pool

/// A task of a parallel run: called once for each index 0 ..< tasks, on any pool thread.
typedef void (*llmopt_pool_task)(void *context, int index);

/// Starts the pool's worker threads (threads - 1 of them; the caller of a run is the other)
/// on the first call; later calls change nothing. Returns the threads a run can use.
int llmopt_pool_start(int threads);

/// Runs task(context, i) for every i in 0 ..< tasks across the pool and returns when all are
/// done. Runs them on the calling thread when the pool is busy (a nested or concurrent run).
void llmopt_pool_run(int tasks, llmopt_pool_task task, void *context);

// MARK: Weight element types understood by the kernels (values match nothing outside this header)

enum {
    LLMOPT_W_F32 = 0,
    LLMOPT_W_F16 = 1,
    LLMOPT_W_BF16 = 2,
    LLMOPT_W_Q8_0 = 3,  // per 32 values: f16 scale d, 32 int8; value = d * q
    LLMOPT_W_Q4_0 = 4,  // per 32 values: f16 d, 16 bytes; byte j: value j (low nibble), j + 16 (high); value = d * (q - 8)
    LLMOPT_W_Q4_1 = 5,  // per 32 values: f16 d, f16 m, 16 bytes of nibbles as Q4_0; value = d * q + m
    /// A row of GroupQuantLayout (Swift `.qgroup`), self-describing: u8 bits (2..8), u8 flags
    /// (bit 0: asymmetric), u16 0, u32 group size, u32 columns, f32 scales[groups], u8 zeros[groups]
    /// (asymmetric only), then the codes bit-packed LSB first; value = (code - offset) * scale with
    /// offset the zero point, or 2^(bits-1) for symmetric rows. Rows are read whole by the kernels.
    LLMOPT_W_QGROUP = 6,
    // ggml's 5-bit blocks and K-quants (layouts in kquants.c): integer kernels for few rows,
    // converted to float32 as they are read for the float kernels.
    LLMOPT_W_Q5_0 = 7,  // per 32 values: f16 d, u32 high bits, 16 bytes of nibbles; value = d * (q - 16)
    LLMOPT_W_Q5_1 = 8,  // per 32 values: f16 d, f16 m, u32 high bits, 16 bytes of nibbles; value = d * q + m
    LLMOPT_W_Q2_K = 9,  // per 256 values, 84 bytes: 4-bit scales and mins per 16, 2-bit codes
    LLMOPT_W_Q3_K = 10, // per 256 values, 110 bytes: 6-bit scales per 16, 3-bit codes
    LLMOPT_W_Q4_K = 11, // per 256 values, 144 bytes: 6-bit scales and mins per 32, 4-bit codes
    LLMOPT_W_Q5_K = 12, // per 256 values, 176 bytes: 6-bit scales and mins per 32, 5-bit codes
    LLMOPT_W_Q6_K = 13, // per 256 values, 210 bytes: int8 scales per 16, 6-bit codes
};

/// Bytes of one weight row of `k` values (k a multiple of 32 for the block types).
size_t llmopt_weight_row_bytes(int wtype, int k);

// MARK: ggml 5-bit blocks and K-quants (kquants.c)

/// Values per block of LLMOPT_W_Q5_0 ... LLMOPT_W_Q6_K (32 or 256); 0 for other types.
int llmopt_kquant_block_values(int wtype);

/// Bytes per block of LLMOPT_W_Q5_0 ... LLMOPT_W_Q6_K; 0 for other types.
int llmopt_kquant_block_bytes(int wtype);

/// Quantizes k values (a multiple of the block) to Q5_0 ... Q6_K with llama.cpp's reference
/// quantizer (no importance matrix): the bytes `llama-quantize --pure` writes. -1 for another
/// type or a k that is not a whole number of blocks, else 0.
int llmopt_kquant_quantize_row(int wtype, int k, const float *x, void *dst);

/// Q2_K, Q4_K or Q5_K with an importance per value of the row (E[x²] of its input channel, as
/// llama.cpp's imatrix): the weights of every sub-block's scale and minimum search are
/// multiplied by it. -1 for another type or a k that is not a whole number of super-blocks.
int llmopt_kquant_quantize_row_weighted(int wtype, int k, const float *x, const float *importance, void *dst);

/// Converts k values of Q5_0 ... Q6_K to float32 as llama.cpp's `dequantize_row_*` does
/// (bit-identical results). -1 for another type or a partial block, else 0.
int llmopt_kquant_dequantize_row(int wtype, int k, const void *src, float *dst);

/// Values [p0, p0 + len) of a Q5_0 ... Q6_K row as float32 (any p0 and len within the row).
void llmopt_kquant_dequant_range(int wtype, const void *row, int p0, int len, float *dst);

/// float32 to float16 bits, rounded to nearest even.
uint16_t llmopt_float_to_half(float f);

/// dst[i] = src[i] rounded to the nearest float16 (ties to even, overflow to ±inf) and read back
/// as float32: fp16 autocast's rounding, with F16C where the CPU has it. dst may be src.
void llmopt_round_through_half(float *dst, const float *src, size_t n);

// MARK: Dense GEMM, C[m, n] = A[m, k] · B[n, k]ᵀ

/// C[m, n] (+)= sum_k A[m, k] * B[n, k]: activations times the transpose of a row-major
/// [out, in] weight. The plain triple loop; fast kernels are tested against it.
void llmopt_sgemm_nt_ref(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                         float *c, int ldc, int accumulate);

/// The GEMM register tile: activation rows per packed panel of A, and weight rows per
/// micro-panel (split weight rows across threads in multiples of LLMOPT_GEMM_NR).
enum { LLMOPT_GEMM_MR = 32, LLMOPT_GEMM_NR = 12 };

/// Depth of one packed block of A; chosen so that m x kc floats of A stay in L2 (2 MiB).
/// Always a multiple of 32, so block-quantized weights dequantize whole blocks.
int llmopt_gemm_kc(int m, int k);

/// Floats needed by `llmopt_gemm_pack_a` for an m x k activation matrix.
size_t llmopt_gemm_packed_a_floats(int m, int k);

/// Packs A (m x k, row stride lda) into the panel layout the GEMM reads. Pack once per call,
/// then let every thread run `llmopt_gemm_nt_packed` on its own range of weight rows.
void llmopt_gemm_pack_a(int m, int k, const float *a, int lda, float *packed);

/// Packs only the 32-row panels [first, end) of A (same layout), so threads can share the packing.
void llmopt_gemm_pack_a_panels(int m, int k, const float *a, int lda, float *packed, int first, int end);

/// C[m, n] = A · Bᵀ for B of `n` rows (weight rows, `b_row_bytes` apart) of any weight type;
/// non-f32 rows are converted to float32 a panel at a time (exact for f16/bf16, the reference
/// dequantization for block types, whose k must then be a multiple of 32).
void llmopt_gemm_nt_packed(int m, int n, int k, const float *packed_a, const void *b, int wtype,
                           size_t b_row_bytes, float *c, int ldc);

// MARK: GEMM with a row-major right operand, C[m, n] (+)= A · B[k, n] (training)

/// Packs A given transposed, as the k x m matrix Aᵀ (element (i, p) of A at a[p * lda + i]),
/// into the same panel layout as `llmopt_gemm_pack_a_panels` (panels [first, end)). The weight
/// gradient dW = dyᵀ · x reads dy [rows, out] this way, with no transposed copy.
void llmopt_gemm_pack_a_transposed_panels(int m, int k, const float *a, int lda, float *packed, int first, int end);

/// C[m, n] = A · B, or C += A · B when `accumulate`, for A packed (either packing) and a float32
/// B of k rows of n values, `ldb` floats apart. The backward pass of a linear layer uses it
/// twice: dx = dy · W and dW += dyᵀ · x, without transposing W, dy or x.
void llmopt_gemm_nn_packed(int m, int n, int k, const float *packed_a, const float *b, int ldb, float *c, int ldc,
                           int accumulate);

// MARK: GEMV (one activation row), y[n] = B[n, k] · x[k]

/// y[j] = sum_k x[k] * B[j, k] for rows `b_row_bytes` apart of any weight type: float activations,
/// weights converted to float32 as they are read (block types exactly, without rounding x).
void llmopt_gemv(int n, int k, const float *x, const void *b, int wtype, size_t b_row_bytes, float *y);

/// Y[m, n] = X[m, k] · B[n, k]ᵀ for a few rows of X (`ldx` apart; Y rows `ldy` apart) and weights
/// of any type (converted as `llmopt_gemv` does): each weight row is read once per four rows of X. For m up to about 8, where
/// the packed GEMM would waste most of its 32-row tile.
void llmopt_gemm_small(int m, int n, int k, const float *x, int ldx, const void *b, int wtype, size_t b_row_bytes,
                       float *y, int ldy);

/// Y[m, n] = X[m, k] · B[n, k]ᵀ for a few rows of X and LLMOPT_W_QGROUP weight rows (`b_row_bytes`
/// apart): codes are unpacked and converted to float as they are read, once per four rows of X;
/// activations stay float32. For decode (m up to about 8); more rows go to the packed GEMM.
void llmopt_qgroup_gemm_small(int m, int n, int k, const float *x, int ldx, const void *b, size_t b_row_bytes,
                              float *y, int ldy);

// MARK: Quantized activations and integer dot products (Q8_0, Q4_0, Q4_1 weights)

/// Bytes of one activation row of k values (k a multiple of 32) quantized for the integer kernels:
/// per 32-block an int8 vector with a float scale and the block's integer sum. Multiple of 64.
size_t llmopt_q8act_row_bytes(int k);

/// Quantizes one activation row, as llama.cpp's Q8 rows: d = max|x| / 127, q = round(x / d).
void llmopt_q8act_quantize(int k, const float *x, void *dst);

/// The reference of `llmopt_q8act_quantize`: the scalar loop (bit-identical output).
void llmopt_q8act_quantize_ref(int k, const float *x, void *dst);

/// Whether `llmopt_qgroup_qgemm` handles LLMOPT_W_QGROUP rows like `row` (of k columns): 4- or
/// 8-bit codes in groups of a multiple of 32 (or one group per row), k a multiple of 32.
int llmopt_qgroup_integer_ok(const void *row, int k);

/// C[m, n] = Xq · Wᵀ for m quantized activation rows (`llmopt_q8act_row_bytes(k)` apart) and n
/// LLMOPT_W_QGROUP rows that `llmopt_qgroup_integer_ok` accepts: per 32-block the exact integer
/// dot product of codes minus their offset with the 8-bit activations (VNNI), times both scales.
void llmopt_qgroup_qgemm(int m, int n, int k, const void *qx, const void *w, size_t w_row_bytes, float *c, int ldc);

// MARK: Activations for every integer kernel (Q8_0 ... Q4_1, Q5_0, Q5_1: the Q8 rows above; K-quants: Q8_K)

/// Whether `llmopt_qgemm_nt` multiplies weights of `wtype` with integer dot products: Q8_0,
/// Q4_0, Q4_1, Q5_0, Q5_1 against 8-bit rows per 32 values, Q2_K ... Q6_K against Q8_K rows.
int llmopt_qgemm_supports(int wtype);

/// Whether the integer kernels of `wtype` read Q8_K activation rows (the K-quants), as
/// llama.cpp's `vec_dot_*_q8_K` do; otherwise they read `llmopt_q8act` rows.
int llmopt_act_is_q8k(int wtype);

/// Bytes of one activation row of k values quantized for the integer kernels of `wtype` (k a
/// multiple of 256 for K-quants, of 32 otherwise).
size_t llmopt_act_row_bytes(int wtype, int k);

/// Quantizes one activation row for the integer kernels of `wtype` (`llmopt_q8k_quantize` or
/// `llmopt_q8act_quantize`).
void llmopt_act_quantize(int wtype, int k, const float *x, void *dst);

/// Bytes of one Q8_K block (ggml's block_q8_K): float d, int8 q[256], int16 bsums[16] (the sum
/// of each 16 values of q); value = d * q.
enum { LLMOPT_Q8K_BLOCK_BYTES = 292 };

/// Quantizes k values (a multiple of 256) to Q8_K as ggml's `quantize_row_q8_K_ref`: per block,
/// m = the value of largest magnitude (sign kept), q = min(127, round_half_even(-127 / m * x)),
/// d = 1 / (-127 / m); an all-zero block gets d = 0.
void llmopt_q8k_quantize(int k, const float *x, void *dst);

/// Reads back block `block` of a quantized activation row: its scale, integer sum and 32 values.
void llmopt_q8act_block(int k, const void *qx, int block, float *scale, int32_t *sum, int8_t *values);

/// C[m, n] = Xq · Wᵀ for m quantized activation rows (`llmopt_act_row_bytes(wtype, k)` apart) and
/// n weight rows (`w_row_bytes` apart) of a type `llmopt_qgemm_supports` accepts. Each weight
/// block is unpacked once and used for up to four activation rows. Per block (K-quants: per 16 or
/// 32 values) the exact integer dot product, then llama.cpp's float scaling: Q5_0 d_w d_x dot;
/// K-quants d_x (d_w Σ scale_s dot_s − dmin_w Σ min_s bsum_s), codes offset as the format says.
void llmopt_qgemm_nt(int m, int n, int k, const void *qx, const void *w, int wtype, size_t w_row_bytes,
                     float *c, int ldc);

/// The reference of `llmopt_qgemm_nt`: per block the exact integer dot product, then
/// d_w * d_x * dot (minus the Q4_0/Q5_0 offset, plus the Q4_1/Q5_1 minimum; K-quants as above),
/// summed over blocks in order.
void llmopt_qgemm_nt_ref(int m, int n, int k, const void *qx, const void *w, int wtype, size_t w_row_bytes,
                         float *c, int ldc);

// MARK: Small vector helpers for the forward pass

/// sum_i a[i] * b[i].
float llmopt_dot_f32(int n, const float *a, const float *b);

/// y[i] += alpha * x[i].
void llmopt_axpy_f32(int n, float alpha, const float *x, float *y);

/// x = softmax(x) in place (max-subtracted), returns the sum of exponentials before normalizing.
float llmopt_softmax_f32(int n, float *x);

/// y = x / sqrt(mean(x²) + eps) * weight (weight may be NULL for none).
void llmopt_rmsnorm_f32(int n, const float *x, const float *weight, float eps, float *y);

/// y = (x - mean) / sqrt(var + eps) * weight + bias (weight, bias may be NULL).
void llmopt_layernorm_f32(int n, const float *x, const float *weight, const float *bias, float eps, float *y);

/// x = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) in place (GPT-2's `gelu_new`).
void llmopt_gelu_tanh_f32(int n, float *x);

/// gate = silu(gate) · up = gate / (1 + e^-gate) · up, in place (Llama's SwiGLU MLP).
void llmopt_swiglu_f32(int n, float *gate, const float *up);

/// out[i, c] = sum_p w[i, p] · rows[p, c] for i < m, c < width (w rows `ldw` apart, out rows `ldo`
/// apart): attention's probability-weighted sums of value rows (`ld` floats apart, as in a KV
/// cache holding several heads per row), for the m query heads that share those values.
void llmopt_weighted_sum_f32(int m, int n, int width, const float *w, int ldw, const float *rows, int ld, float *out, int ldo);

#endif
