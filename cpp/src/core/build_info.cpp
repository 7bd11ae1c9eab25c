#include "seawall/core/build_info.h"

namespace seawall {

std::string simd_level() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
  // Mirrors the target_clones("avx2", "default") dispatch of the numeric kernels.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return "avx2";
  return "baseline (sse2)";
#elif defined(__x86_64__)
  return "baseline (sse2)";
#elif defined(__aarch64__)
  return "neon";
#else
  return "baseline";
#endif
}

std::string compiler_name() {
#if defined(__clang__)
  return std::string("Clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("GCC ") + __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace seawall
