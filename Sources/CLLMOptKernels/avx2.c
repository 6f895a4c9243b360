// The AVX2 + FMA path: the portable kernels of generic_impl.h compiled for 256-bit vectors,
// with multiply-adds allowed to fuse.
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#pragma clang fp contract(fast)
#define LLMOPT_SUFFIX avx2
#include "generic_impl.h"
#pragma clang attribute pop
#else
#define LLMOPT_SUFFIX avx2
#include "generic_impl.h"
#endif
