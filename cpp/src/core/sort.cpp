#include "seawall/core/sort.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace seawall {
namespace {

constexpr int kDigitBits = 11;  // 6 passes over 64 bits, counts fit in L1
constexpr uint64_t kDigitMask = (uint64_t{1} << kDigitBits) - 1;
constexpr int kPasses = (64 + kDigitBits - 1) / kDigitBits;
constexpr size_t kRadixMin = 4096;  // below this, std::sort wins

// An unsigned key whose order is the doubles' order: flip every bit of negatives, only the sign
// bit of positives.
inline uint64_t key_of(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return (bits >> 63) != 0 ? ~bits : bits | (uint64_t{1} << 63);
}

inline double value_of(uint64_t key) {
  const uint64_t bits = (key >> 63) != 0 ? key & ~(uint64_t{1} << 63) : ~key;
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

}  // namespace

void sort_doubles(std::vector<double>& values) {
  const size_t n = values.size();
  if (n < kRadixMin) {
    std::sort(values.begin(), values.end());
    return;
  }
  std::vector<uint64_t> keys(n), scratch(n);
  // One pass builds every digit's histogram.
  std::vector<std::array<size_t, size_t{1} << kDigitBits>> counts(kPasses);
  for (auto& c : counts) c.fill(0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k = key_of(values[i]);
    keys[i] = k;
    for (int p = 0; p < kPasses; ++p) ++counts[p][(k >> (p * kDigitBits)) & kDigitMask];
  }
  uint64_t* from = keys.data();
  uint64_t* to = scratch.data();
  for (int p = 0; p < kPasses; ++p) {
    auto& c = counts[p];
    // A digit every key shares (common in the exponent bits of real data) orders nothing.
    if (c[(from[0] >> (p * kDigitBits)) & kDigitMask] == n) continue;
    size_t offset = 0;
    for (auto& slot : c) {
      const size_t count = slot;
      slot = offset;
      offset += count;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint64_t k = from[i];
      to[c[(k >> (p * kDigitBits)) & kDigitMask]++] = k;
    }
    std::swap(from, to);
  }
  for (size_t i = 0; i < n; ++i) values[i] = value_of(from[i]);
}

}  // namespace seawall
