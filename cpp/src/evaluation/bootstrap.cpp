#include <algorithm>
#include <array>
#include <cmath>

#include "bootstrap_internal.h"
#include "seawall/core/sort.h"

namespace seawall::evaluation {
namespace {

constexpr int kMaxCount = 15;
constexpr int kPrefixBits = 12;
constexpr uint8_t kStraddles = 0xff;

// upper[k] = 2^32 * P(X <= k) for X ~ Poisson(1), rounded: a 32-bit uniform u gives the count
// min {k : u < upper[k]}.
struct PoissonTable {
  std::array<uint64_t, kMaxCount + 1> upper{};
  std::array<uint8_t, size_t{1} << kPrefixBits> by_prefix{};

  PoissonTable() {
    double p = std::exp(-1.0);
    double cdf = 0;
    for (int k = 0; k <= kMaxCount; ++k) {
      cdf += p;
      p /= (k + 1);
      upper[k] = static_cast<uint64_t>(std::llround(std::ldexp(std::min(cdf, 1.0), 32)));
    }
    upper[kMaxCount] = uint64_t{1} << 32;
    const int shift = 32 - kPrefixBits;
    for (uint64_t prefix = 0; prefix < by_prefix.size(); ++prefix) {
      const int first = count_of(prefix << shift);
      const int last = count_of(((prefix + 1) << shift) - 1);
      by_prefix[prefix] = first == last ? static_cast<uint8_t>(first) : kStraddles;
    }
  }

  int count_of(uint64_t u) const {
    int k = 0;
    while (u >= upper[k]) ++k;
    return k;
  }
};

const PoissonTable& table() {
  static const PoissonTable t;
  return t;
}

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t splitmix64(uint64_t& x) { return mix64(x += 0x9e3779b97f4a7c15ULL); }

}  // namespace

PoissonWeights::PoissonWeights(uint64_t seed) : state_(mix64(seed)) { (void)table(); }

uint64_t PoissonWeights::next() { return splitmix64(state_); }

uint8_t PoissonWeights::resolve(uint32_t prefix) {
  const uint64_t low = next() >> 44;  // 20 bits, from the strong high end
  return static_cast<uint8_t>(table().count_of((uint64_t{prefix} << 20) | low));
}

void PoissonWeights::fill(uint8_t* weights, int64_t n) {
  const uint8_t* by_prefix = table().by_prefix.data();
  constexpr uint64_t kMask = (uint64_t{1} << kPrefixBits) - 1;
  auto five = [&](uint8_t* out) {
    const uint64_t bits = next() >> 4;
    bool straddles = false;
    for (int j = 0; j < 5; ++j) {
      out[j] = by_prefix[(bits >> (kPrefixBits * j)) & kMask];
      straddles |= out[j] == kStraddles;
    }
    if (straddles) {  // rare (about one lookup in 300): take 20 more bits
      for (int j = 0; j < 5; ++j) {
        if (out[j] == kStraddles) {
          out[j] = resolve(static_cast<uint32_t>((bits >> (kPrefixBits * j)) & kMask));
        }
      }
    }
  };
  int64_t i = 0;
  for (; i + 5 <= n; i += 5) five(weights + i);
  if (i < n) {
    uint8_t last[5];
    five(last);
    std::copy(last, last + (n - i), weights + i);
  }
}

uint64_t resample_seed(uint64_t seed, int64_t group, int64_t resample) {
  uint64_t x = seed ^ 0x5eafa11ULL;
  uint64_t mixed = splitmix64(x) ^ static_cast<uint64_t>(group) * 0xd1b54a32d192ed03ULL;
  mixed = splitmix64(mixed) ^ static_cast<uint64_t>(resample) * 0x8cb92ba72f3d8dd7ULL;
  return splitmix64(mixed);
}

double percentile_of_sorted(const double* sorted, int64_t n, double q) {
  const double virtual_index = static_cast<double>(n - 1) * q;
  if (virtual_index >= static_cast<double>(n - 1)) return sorted[n - 1];
  const double previous = std::floor(virtual_index);
  const auto i = static_cast<int64_t>(previous);
  const double a = sorted[i];
  const double b = sorted[i + 1];
  const double gamma = virtual_index - previous;
  const double diff = b - a;
  // numpy's _lerp: from the nearer end, so that gamma = 1 gives b exactly
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

Interval interval_of(std::vector<double>& values, const Bootstrap& bootstrap) {
  Interval out;
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  out.resamples = static_cast<int32_t>(values.size());
  if (values.empty() || 2 * static_cast<int64_t>(values.size()) < bootstrap.resamples) return out;
  sort_doubles(values);
  const double tail = (1 - bootstrap.confidence) / 2;
  const auto n = static_cast<int64_t>(values.size());
  out.low = percentile_of_sorted(values.data(), n, tail);
  out.high = percentile_of_sorted(values.data(), n, 1 - tail);
  return out;
}

}  // namespace seawall::evaluation
