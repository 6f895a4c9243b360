#ifndef LLMOPT_KERNELS_H
#define LLMOPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// C[m, n] (+)= sum_k A[m, k] * B[n, k]: activations times the transpose of a row-major
/// [out, in] weight. Single-threaded; callers split n across threads.
/// The plain triple loop; fast kernels are tested against it.
void llmopt_sgemm_nt_ref(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                         float *c, int ldc, int accumulate);

#endif
