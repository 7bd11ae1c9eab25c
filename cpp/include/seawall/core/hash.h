// A stable 64-bit hash of bytes: XXH64 (seed 0 unless given), the same on every platform and
// run, so hashed features computed in training are the ones computed in serving.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace seawall {

uint64_t xxh64(const void* data, size_t size, uint64_t seed = 0);

inline uint64_t xxh64(std::string_view s, uint64_t seed = 0) { return xxh64(s.data(), s.size(), seed); }

}  // namespace seawall
