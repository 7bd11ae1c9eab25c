// An insert-only set of byte strings that hands out dense ids (0, 1, 2, ... in insertion order).
// Used to count category frequencies while fitting and to look categories up while transforming.
// Keys are copied into an arena the table owns, so input buffers may go away after insert().
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace seawall {

class StringTable {
 public:
  static constexpr int64_t kAbsent = -1;

  StringTable();

  // The id of `key`, inserting it if new.
  int64_t insert(std::string_view key) { return insert(key, hash(key)); }
  int64_t insert(std::string_view key, uint64_t h);
  // The id of `key`, or kAbsent.
  int64_t find(std::string_view key) const { return find(key, hash(key)); }
  int64_t find(std::string_view key, uint64_t h) const;

  int64_t size() const { return static_cast<int64_t>(starts_.size()); }
  // Makes room for `keys` keys holding `bytes` bytes in all, so that inserting them does not
  // grow the table again.
  void reserve(int64_t keys, int64_t bytes);
  std::string_view key(int64_t id) const {
    return {arena_.data() + starts_[id], static_cast<size_t>(lengths_[id])};
  }
  static uint64_t hash(std::string_view key);

 private:
  // Whether entry `id` has exactly the bytes of `key`.
  bool holds(int64_t id, std::string_view key) const;
  void grow();
  void rehash(uint64_t capacity);

  std::vector<char> arena_;
  std::vector<uint64_t> starts_;
  std::vector<uint32_t> lengths_;
  std::vector<uint64_t> hashes_;
  // Open addressing with linear probing; each slot holds id + 1 (0 = empty).
  std::vector<int64_t> slots_;
  uint64_t mask_;
};

}  // namespace seawall
