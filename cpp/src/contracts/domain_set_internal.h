// The allowed strings of a column: a small open-addressing set whose hash, for the short strings
// categories usually are, is read straight from their bytes (the length, the first and the last
// eight bytes) rather than a hash of every byte. Every hit is confirmed by comparing the bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "seawall/core/hash.h"

namespace seawall::contracts::internal {

class DomainSet {
 public:
  DomainSet() = default;
  explicit DomainSet(const std::vector<std::string>& values) {
    size_t capacity = 16;
    while (capacity < values.size() * 4) capacity *= 2;  // load factor at most one quarter
    slots_.assign(capacity, 0);
    mask_ = capacity - 1;
    for (const std::string& v : values) {
      if (contains(v)) continue;
      entries_.push_back({hash(v), v, words(v)});
      uint64_t slot = entries_.back().hash & mask_;
      while (slots_[slot] != 0) slot = (slot + 1) & mask_;
      slots_[slot] = static_cast<uint32_t>(entries_.size());
    }
  }

  bool contains(std::string_view s) const {
    if (slots_.empty()) return false;
    Words w = words(s);
    const uint64_t h = s.size() > 16 ? xxh64(s) : mix(w);
    for (uint64_t slot = h & mask_;; slot = (slot + 1) & mask_) {
      const uint32_t e = slots_[slot];
      if (e == 0) return false;
      const Entry& entry = entries_[e - 1];
      if (entry.hash != h || entry.value.size() != s.size()) continue;
      // up to 16 bytes, the two words hold every byte
      if (s.size() <= 16 ? entry.words.head == w.head && entry.words.tail == w.tail
                         : std::memcmp(entry.value.data(), s.data(), s.size()) == 0) {
        return true;
      }
    }
  }

  static uint64_t hash(std::string_view s) { return s.size() > 16 ? xxh64(s) : mix(words(s)); }

 private:
  // The length, the first and the last eight bytes (zero-padded below eight bytes).
  struct Words {
    uint64_t head = 0, tail = 0, size = 0;
  };
  static Words words(std::string_view s) {
    Words w;
    const size_t n = s.size();
    w.size = n;
    if (n >= 8) {
      std::memcpy(&w.head, s.data(), 8);
      std::memcpy(&w.tail, s.data() + n - 8, 8);
    } else if (n > 0) {
      std::memcpy(&w.head, s.data(), n);
    }
    return w;
  }
  static uint64_t mix(const Words& w) {
    // splitmix64's finaliser over the three words
    uint64_t z = w.head * 0x9E3779B97F4A7C15ULL ^ (w.tail + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL ^ w.size;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  struct Entry {
    uint64_t hash;
    std::string value;
    Words words;
  };
  std::vector<Entry> entries_;
  std::vector<uint32_t> slots_;  // entry index + 1; 0 is empty
  uint64_t mask_ = 0;
};

}  // namespace seawall::contracts::internal
