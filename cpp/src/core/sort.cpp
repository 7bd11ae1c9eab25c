#include "seawall/core/sort.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

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

// Keys live in double-typed storage (the caller's vector and the scratch buffer), moved in and
// out with memcpy: no second array of keys, and no aliasing of a double as an integer.
inline uint64_t load_key(const double* p) {
  uint64_t k;
  std::memcpy(&k, p, sizeof k);
  return k;
}

inline void store_key(double* p, uint64_t k) { std::memcpy(p, &k, sizeof k); }

// Scratch up to this many values is kept per thread between calls: sorting a column at a time,
// the drift statistics would otherwise fault in fresh pages for every column.
constexpr size_t kKeepScratch = size_t{1} << 21;  // 16 MiB

}  // namespace

void sort_doubles(std::vector<double>& values) { sort_doubles(values.data(), values.size()); }

void sort_doubles(double* data, size_t n) {
  if (n < kRadixMin) {
    std::sort(data, data + n);
    return;
  }
  thread_local std::vector<double> kept_scratch;
  std::vector<double> own_scratch;
  std::vector<double>& scratch = n <= kKeepScratch ? kept_scratch : own_scratch;
  if (scratch.size() < n) scratch.resize(n);
  // One pass turns values into keys and builds every digit's histogram.
  std::vector<std::array<size_t, size_t{1} << kDigitBits>> counts(kPasses);
  for (auto& c : counts) c.fill(0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k = key_of(data[i]);
    store_key(data + i, k);
    for (int p = 0; p < kPasses; ++p) ++counts[p][(k >> (p * kDigitBits)) & kDigitMask];
  }
  double* from = data;
  double* to = scratch.data();
  for (int p = 0; p < kPasses; ++p) {
    auto& c = counts[p];
    // A digit every key shares (common in the exponent bits of real data) orders nothing.
    if (c[(load_key(from) >> (p * kDigitBits)) & kDigitMask] == n) continue;
    size_t offset = 0;
    for (auto& slot : c) {
      const size_t count = slot;
      slot = offset;
      offset += count;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint64_t k = load_key(from + i);
      store_key(to + c[(k >> (p * kDigitBits)) & kDigitMask]++, k);
    }
    std::swap(from, to);
  }
  for (size_t i = 0; i < n; ++i) data[i] = value_of(load_key(from + i));
}

namespace {

// Floats: the same LSD radix sort on 32-bit keys, three passes of 11 bits.
constexpr int kFloatPasses = (32 + kDigitBits - 1) / kDigitBits;

inline uint32_t float_key(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return (bits >> 31) != 0 ? ~bits : bits | (uint32_t{1} << 31);
}

inline float float_value(uint32_t key) {
  const uint32_t bits = (key >> 31) != 0 ? key & ~(uint32_t{1} << 31) : ~key;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

}  // namespace

void sort_floats(float* data, size_t n) {
  if (n < kRadixMin) {
    std::sort(data, data + n);
    return;
  }
  std::vector<uint32_t> keys(n), scratch(n);
  std::vector<std::array<size_t, size_t{1} << kDigitBits>> counts(kFloatPasses);
  for (auto& c : counts) c.fill(0);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t k = float_key(data[i]);
    keys[i] = k;
    for (int p = 0; p < kFloatPasses; ++p) ++counts[p][(k >> (p * kDigitBits)) & kDigitMask];
  }
  uint32_t* from = keys.data();
  uint32_t* to = scratch.data();
  for (int p = 0; p < kFloatPasses; ++p) {
    auto& c = counts[p];
    if (c[(from[0] >> (p * kDigitBits)) & kDigitMask] == n) continue;  // a digit all share
    size_t offset = 0;
    for (auto& slot : c) {
      const size_t count = slot;
      slot = offset;
      offset += count;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint32_t k = from[i];
      to[c[(k >> (p * kDigitBits)) & kDigitMask]++] = k;
    }
    std::swap(from, to);
  }
  for (size_t i = 0; i < n; ++i) data[i] = float_value(from[i]);
}

}  // namespace seawall
