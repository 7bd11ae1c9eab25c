// The set of distinct numbers a unique column has held: open addressing on a canonical 64-bit key,
// so that equal numbers are one entry whatever their type (3, 3.0 and uint64 3 are the same value,
// -0.0 is 0) and no two different numbers share one.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace seawall::contracts::internal {

// A number as (key, tag): integral values an int64 holds are keyed as that integer (tag 0),
// larger uint64 values as themselves (tag 1), every other double by its bits (tag 2).
struct NumberKey {
  uint64_t key;
  uint8_t tag;

  static NumberKey of_signed(int64_t v) { return {static_cast<uint64_t>(v), 0}; }
  static NumberKey of_unsigned(uint64_t v) {
    return v <= static_cast<uint64_t>(INT64_MAX) ? NumberKey{v, 0} : NumberKey{v, 1};
  }
  // x must not be NaN.
  static NumberKey of_double(double x) {
    if (x == std::trunc(x)) {
      if (x >= -9223372036854775808.0 && x < 9223372036854775808.0) {
        return of_signed(static_cast<int64_t>(x));
      }
      if (x >= 0 && x < 18446744073709551616.0) return of_unsigned(static_cast<uint64_t>(x));
    }
    uint64_t bits;
    static_assert(sizeof bits == sizeof x);
    std::memcpy(&bits, &x, sizeof bits);
    return {bits, 2};
  }

  uint64_t hash() const {
    // splitmix64's finaliser: consecutive ids spread over the whole table.
    uint64_t z = key + 0x9E3779B97F4A7C15ULL * (tag + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
};

class NumberSet {
 public:
  NumberSet() : keys_(16), tags_(16, kEmpty), mask_(15) {}

  // Inserts the number whose hash is `h` (k.hash()); true when it was not there before.
  bool insert(NumberKey k, uint64_t h) {
    for (uint64_t slot = h & mask_;; slot = (slot + 1) & mask_) {
      if (tags_[slot] == kEmpty) {
        keys_[slot] = k.key;
        tags_[slot] = k.tag;
        ++size_;
        if (size_ * 2 > mask_ + 1) grow();  // load factor at most one half
        return true;
      }
      if (keys_[slot] == k.key && tags_[slot] == k.tag) return false;
    }
  }
  bool insert(NumberKey k) { return insert(k, k.hash()); }
  uint64_t size() const { return size_; }

  // Makes room for `n` numbers in all, so that inserting up to that many does not grow it again.
  void reserve(uint64_t n) {
    uint64_t capacity = mask_ + 1;
    while (n * 2 > capacity) capacity *= 2;
    if (capacity > mask_ + 1) rehash(capacity);
  }

 private:
  static constexpr uint8_t kEmpty = 0xFF;

  void grow() { rehash(keys_.size() * 2); }

  void rehash(uint64_t capacity) {
    std::vector<uint64_t> keys(capacity);
    std::vector<uint8_t> tags(capacity, kEmpty);
    const uint64_t mask = keys.size() - 1;
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (tags_[i] == kEmpty) continue;
      uint64_t slot = NumberKey{keys_[i], tags_[i]}.hash() & mask;
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
