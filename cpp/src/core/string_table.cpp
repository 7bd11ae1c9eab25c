#include "seawall/core/string_table.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "seawall/core/hash.h"
#include "seawall/errors.h"

namespace seawall {

StringTable::StringTable() : slots_(16, 0), mask_(15) {}

uint64_t StringTable::hash(std::string_view key) { return xxh64(key.data(), key.size()); }

bool StringTable::holds(int64_t id, std::string_view key) const {
  if (lengths_[id] != key.size()) return false;
  // While only empty keys were inserted the arena has no buffer, and memcmp must not see null.
  return key.empty() || std::memcmp(arena_.data() + starts_[id], key.data(), key.size()) == 0;
}

int64_t StringTable::find(std::string_view key, uint64_t h) const {
  for (uint64_t slot = h & mask_;; slot = (slot + 1) & mask_) {
    const int64_t entry = slots_[slot];
    if (entry == 0) return kAbsent;
    const int64_t id = entry - 1;
    if (hashes_[id] == h && holds(id, key)) return id;
  }
}

int64_t StringTable::insert(std::string_view key, uint64_t h) {
  SEAWALL_CHECK(key.size() <= std::numeric_limits<uint32_t>::max(), "a category value longer than 4 GiB");
  for (uint64_t slot = h & mask_;; slot = (slot + 1) & mask_) {
    const int64_t entry = slots_[slot];
    if (entry == 0) {
      const int64_t id = size();
      starts_.push_back(arena_.size());
      lengths_.push_back(static_cast<uint32_t>(key.size()));
      hashes_.push_back(h);
      arena_.insert(arena_.end(), key.begin(), key.end());
      slots_[slot] = id + 1;
      // Keep the load factor at or under one half so probe runs stay short.
      if (static_cast<uint64_t>(size()) * 2 > mask_ + 1) grow();
      return id;
    }
    const int64_t id = entry - 1;
    if (hashes_[id] == h && holds(id, key)) return id;
  }
}

void StringTable::reserve(int64_t keys, int64_t bytes) {
  if (keys <= 0) return;
  starts_.reserve(static_cast<size_t>(keys));
  lengths_.reserve(static_cast<size_t>(keys));
  hashes_.reserve(static_cast<size_t>(keys));
  arena_.reserve(static_cast<size_t>(std::max<int64_t>(bytes, 0)));
  uint64_t capacity = mask_ + 1;
  while (static_cast<uint64_t>(keys) * 2 > capacity) capacity *= 2;
  if (capacity > mask_ + 1) rehash(capacity);
}

void StringTable::grow() { rehash((mask_ + 1) * 2); }

void StringTable::rehash(uint64_t capacity) {
  slots_.assign(capacity, 0);
  mask_ = capacity - 1;
  for (int64_t id = 0; id < size(); ++id) {
    uint64_t slot = hashes_[id] & mask_;
    while (slots_[slot] != 0) slot = (slot + 1) & mask_;
    slots_[slot] = id + 1;
  }
}

}  // namespace seawall
