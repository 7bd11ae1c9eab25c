#include "seawall/profile/frequent_items.h"

#include <algorithm>
#include <limits>

#include "seawall/errors.h"

namespace seawall::profile {

FrequentItems::FrequentItems(uint32_t capacity) : capacity_(capacity) {
  SEAWALL_CHECK(capacity >= 1 && capacity <= kMaxCapacity, "FrequentItems: capacity must be in [1, ",
                kMaxCapacity, "], got ", capacity);
}

std::string FrequentItems::key_of(std::string_view value) {
  if (value.size() <= kMaxValueBytes) return std::string(value);
  // The marker, U+2026 HORIZONTAL ELLIPSIS and the full length; the key fits in kMaxValueBytes,
  // so a key is its own key (restoring or merging truncated keys changes nothing).
  const std::string marker = "\xE2\x80\xA6(" + std::to_string(value.size()) + " bytes)";
  size_t cut = kMaxValueBytes - marker.size();
  // Back off continuation bytes (10xxxxxx) so the prefix ends on a whole character.
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  std::string key(value.substr(0, cut));
  key += marker;
  return key;
}

void FrequentItems::add(std::string_view value, uint64_t count) {
  if (count == 0) return;
  SEAWALL_CHECK(count <= std::numeric_limits<uint64_t>::max() - n_, "FrequentItems: count overflow");
  n_ += count;
  counters_[key_of(value)] += count;
}

void FrequentItems::prune() {
  if (counters_.size() <= capacity_) return;
  std::vector<uint64_t> counts;
  counts.reserve(counters_.size());
  for (const auto& kv : counters_) counts.push_back(kv.second);
  // The (capacity + 1)-th largest count: subtracting it leaves at most `capacity` positive ones.
  std::nth_element(counts.begin(), counts.begin() + capacity_, counts.end(), std::greater<>());
  const uint64_t cut = counts[capacity_];
  for (auto it = counters_.begin(); it != counters_.end();) {
    if (it->second <= cut) {
      it = counters_.erase(it);
    } else {
      it->second -= cut;
      ++it;
    }
  }
}

void FrequentItems::merge(const FrequentItems& other) {
  SEAWALL_CHECK(other.capacity_ == capacity_, "FrequentItems::merge: capacity differs (", capacity_,
                " vs ", other.capacity_, ")");
  SEAWALL_CHECK(other.n_ <= std::numeric_limits<uint64_t>::max() - n_, "FrequentItems: count overflow");
  if (&other == this) {
    const FrequentItems copy(other);
    merge(copy);
    return;
  }
  n_ += other.n_;
  for (const auto& kv : other.counters_) counters_[kv.first] += kv.second;
  prune();
}

uint64_t FrequentItems::stored_total() const {
  uint64_t s = 0;
  for (const auto& kv : counters_) s += kv.second;
  return s;
}

uint64_t FrequentItems::error_bound() const { return (n_ - stored_total()) / (uint64_t{capacity_} + 1); }

std::vector<std::pair<std::string, uint64_t>> FrequentItems::top(size_t limit) const {
  std::vector<std::pair<std::string, uint64_t>> out(counters_.begin(), counters_.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

void FrequentItems::restore(uint64_t total, std::vector<std::pair<std::string, uint64_t>> counters) {
  n_ = total;
  counters_.clear();
  // Profiles saved before long values were truncated may hold them whole: key them as add() does.
  for (const auto& kv : counters) counters_[key_of(kv.first)] += kv.second;
}

}  // namespace seawall::profile
