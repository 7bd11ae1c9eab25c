// Kernels marked SEAWALL_SIMD_CLONES are built twice, for AVX2 and for the x86-64 baseline, and
// the loader picks one at run time: the wheel stays portable without giving up wide vectors.
// -ffp-contract=off (set in CMake) keeps both clones free of fused multiply-adds, so they round
// identically.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define SEAWALL_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SEAWALL_SIMD_CLONES
#endif
