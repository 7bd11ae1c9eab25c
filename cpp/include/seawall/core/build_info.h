#pragma once

#include <string>

namespace seawall {

// The instruction set the SIMD kernels run with on this CPU: "avx2" or "baseline (sse2)".
std::string simd_level();
// The compiler that built the core, e.g. "GCC 12.2.0".
std::string compiler_name();

}  // namespace seawall
