// A HyperLogLog distinct-count sketch (Flajolet, Fusy, Gandouet & Meunier 2007) over 64-bit
// hashes, with Ertl's improved raw estimator ("New cardinality estimation algorithms for
// HyperLogLog sketches", 2017, algorithm 6).
//
// Why Ertl's estimator: the classic estimator is biased between the linear-counting range and
// about 5m, which HLL++ repairs with large empirical bias tables. Ertl's estimator folds the
// small-range correction (it reduces to linear counting when most registers are empty) and the
// large-range one into closed-form series, so it is nearly unbiased over the whole range with no
// tables. Its relative standard error is about 1.04 / sqrt(m), m = 2^p registers.
//
// Registers merge by max, so merging is associative and commutative and bit-identical whatever
// the grouping; add_hash of a value already seen never changes anything (re-adding is harmless).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace seawall::profile {

// XXH64 (seed 0) of the 8 little-endian bytes of x, with -0.0 hashed as +0.0 so that equal
// numbers hash equally. Equal to seawall::xxh64(&x, 8) on little-endian hosts for x != -0.0;
// inline because it runs once per value on the profiling hot path.
inline uint64_t hash_double(double x) {
  constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
  constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;
  constexpr uint64_t kPrime3 = 0x165667B19E3779F9ULL;
  constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ULL;
  constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ULL;
  x += 0.0;  // -0.0 + 0.0 == +0.0 under round-to-nearest; every other value is unchanged
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  auto rotl = [](uint64_t v, int r) { return (v << r) | (v >> (64 - r)); };
  uint64_t h = kPrime5 + 8;
  uint64_t k1 = bits * kPrime2;
  k1 = rotl(k1, 31) * kPrime1;
  h ^= k1;
  h = rotl(h, 27) * kPrime1 + kPrime4;
  h ^= h >> 33;
  h *= kPrime2;
  h ^= h >> 29;
  h *= kPrime3;
  h ^= h >> 32;
  return h;
}

class HyperLogLog {
 public:
  static constexpr uint8_t kMinPrecision = 4;
  // 2^14 one-byte registers (16 KiB): keeps a numeric column's profile under its 64 KiB budget.
  static constexpr uint8_t kMaxPrecision = 14;
  static constexpr uint8_t kDefaultPrecision = 12;

  // Throws InvalidInput unless kMinPrecision <= p <= kMaxPrecision.
  explicit HyperLogLog(uint8_t p = kDefaultPrecision);

  void add_hash(uint64_t h) {
    const uint64_t index = h >> (64 - p_);
    const uint64_t rest = h << p_;
    // Leading zeros of the remaining 64 - p bits, plus one; 65 - p when they are all zero.
    const uint8_t rank = rest == 0 ? static_cast<uint8_t>(65 - p_)
                                   : static_cast<uint8_t>(__builtin_clzll(rest) + 1);
    if (rank > registers_[index]) registers_[index] = rank;
  }
  // Numbers are hashed by their float64 bytes (see hash_double); the caller excludes NaN.
  void add_double(double x) { add_hash(hash_double(x)); }
  // Strings are hashed by their UTF-8 bytes with seawall::xxh64, seed 0.
  void add_bytes(std::string_view s);

  // Register-wise max. Throws InvalidInput if the precisions differ.
  void merge(const HyperLogLog& other);

  // Estimated number of distinct hashes added (0 when empty).
  double estimate() const;
  // 1.04 / sqrt(2^p): the estimator's relative standard error.
  static double relative_standard_error(uint8_t p);

  uint8_t precision() const { return p_; }
  size_t num_registers() const { return registers_.size(); }
  const std::vector<uint8_t>& registers() const { return registers_; }
  // Rebuilds a sketch from registers() of one with precision p; throws CorruptState if the size is
  // not 2^p or a register exceeds 65 - p (no hash can produce that).
  static HyperLogLog from_registers(uint8_t p, const uint8_t* data, size_t size);

  bool operator==(const HyperLogLog& o) const { return p_ == o.p_ && registers_ == o.registers_; }

 private:
  uint8_t p_;
  std::vector<uint8_t> registers_;
};

}  // namespace seawall::profile
