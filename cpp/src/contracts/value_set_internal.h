// The set of distinct numbers a unique column has held: open addressing on a canonical 64-bit key,
// so that equal numbers are one entry whatever their type (3, 3.0 and uint64 3 are the same value,
// -0.0 is 0) and no two different numbers share one.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace seawall::contracts::internal {

class NumberSet {
 public:
  NumberSet() : keys_(16), tags_(16, kEmpty), mask_(15) {}

  // Inserts the value; true when it was not there before.
  bool insert_signed(int64_t v) { return insert(static_cast<uint64_t>(v), kInt64); }
  bool insert_unsigned(uint64_t v) {
    return v <= static_cast<uint64_t>(INT64_MAX) ? insert(v, kInt64) : insert(v, kBigUnsigned);
  }
  // x must not be NaN.
  bool insert_double(double x) {
    // Integral values that an int64 or uint64 holds exactly are keyed as those integers.
    if (x == std::trunc(x)) {
      if (x >= -9223372036854775808.0 && x < 9223372036854775808.0) {
        return insert_signed(static_cast<int64_t>(x));
      }
      if (x >= 0 && x < 18446744073709551616.0) return insert_unsigned(static_cast<uint64_t>(x));
    }
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return insert(bits, kDoubleBits);
  }
  uint64_t size() const { return size_; }

 private:
  enum Tag : uint8_t { kInt64 = 0, kBigUnsigned = 1, kDoubleBits = 2, kEmpty = 0xFF };

  static uint64_t mix(uint64_t key, uint8_t tag) {
    // splitmix64's finaliser: consecutive ids spread over the whole table.
    uint64_t z = key + 0x9E3779B97F4A7C15ULL * (tag + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  bool insert(uint64_t key, uint8_t tag) {
    for (uint64_t slot = mix(key, tag) & mask_;; slot = (slot + 1) & mask_) {
      if (tags_[slot] == kEmpty) {
        keys_[slot] = key;
        tags_[slot] = tag;
        ++size_;
        if (size_ * 2 > mask_ + 1) grow();  // load factor at most one half
        return true;
      }
      if (keys_[slot] == key && tags_[slot] == tag) return false;
    }
  }

  void grow() {
    std::vector<uint64_t> keys(keys_.size() * 2);
    std::vector<uint8_t> tags(tags_.size() * 2, kEmpty);
    const uint64_t mask = keys.size() - 1;
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (tags_[i] == kEmpty) continue;
      uint64_t slot = mix(keys_[i], tags_[i]) & mask;
      while (tags[slot] != kEmpty) slot = (slot + 1) & mask;
      keys[slot] = keys_[i];
      tags[slot] = tags_[i];
    }
    keys_.swap(keys);
    tags_.swap(tags);
    mask_ = mask;
  }

  std::vector<uint64_t> keys_;
  std::vector<uint8_t> tags_;
  uint64_t mask_;
  uint64_t size_ = 0;
};

}  // namespace seawall::contracts::internal
