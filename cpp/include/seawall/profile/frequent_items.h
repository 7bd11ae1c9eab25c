// Frequent values of a string column: a mergeable Misra–Gries summary (Misra & Gries 1982; the
// merge of Agarwal, Cormode, Huang, Phillips, Wei & Yi, "Mergeable Summaries", 2012). It is
// isomorphic to SpaceSaving with capacity + 1 counters; the Misra–Gries form is kept because its
// counts are lower bounds and its merge needs no tie-breaking order.
//
// Guarantee: with n the total weight added and capacity c, every value's stored count f' (0 when
// absent) satisfies  f - error_bound() <= f' <= f,  error_bound() = (n - sum of stored counts) /
// (c + 1) <= n / (c + 1). While the distinct values ever added fit in c, nothing is ever pruned:
// the summary is exact (error_bound() == 0), and then every grouping of merges gives the same
// counters.
//
// Pruning: when more than c counters remain, the (c+1)-th largest count is subtracted from all
// and counters that reach 0 are dropped. This depends only on the multiset of counts, never on
// insertion order, so equal inputs give equal summaries.
//
// Long values: a value longer than kMaxValueBytes is counted under a key of at most kMaxValueBytes:
// its first bytes (cut back to a UTF-8 character boundary) followed by "…(N bytes)", N its full
// length, so that a summary holds at most capacity * kMaxValueBytes bytes of keys whatever the
// data. Every summary keys values the same way (adding, merging, restoring), so a reference
// profile and a live one name a long value alike; two long values of one length and one prefix
// share a key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace seawall::profile {

class FrequentItems {
 public:
  static constexpr uint32_t kDefaultCapacity = 64;
  static constexpr uint32_t kMaxCapacity = 4096;
  static constexpr size_t kMaxValueBytes = 256;

  // `value` itself when it is at most kMaxValueBytes long, else its truncated key (see above).
  static std::string key_of(std::string_view value);

  // Throws InvalidInput unless 1 <= capacity <= kMaxCapacity.
  explicit FrequentItems(uint32_t capacity = kDefaultCapacity);

  // Adds `count` occurrences of `value` without pruning; call prune() after a batch of adds (the
  // bound holds for any batch: an exact batch is itself a summary with no error).
  void add(std::string_view value, uint64_t count = 1);
  void prune();
  // Adds other's counters, then prunes. Throws InvalidInput if the capacities differ.
  void merge(const FrequentItems& other);

  uint32_t capacity() const { return capacity_; }
  uint64_t total() const { return n_; }
  uint64_t stored_total() const;
  // (n - stored_total()) / (capacity + 1), rounded down (counts are integers).
  uint64_t error_bound() const;
  bool exact() const { return stored_total() == n_; }
  size_t size() const { return counters_.size(); }

  // Stored values, by count descending, then bytes ascending; at most `limit` of them.
  std::vector<std::pair<std::string, uint64_t>> top(size_t limit) const;

  // Rebuilding from stored state (deserialization); the caller validates.
  void restore(uint64_t total, std::vector<std::pair<std::string, uint64_t>> counters);

 private:
  uint32_t capacity_;
  uint64_t n_ = 0;
  std::unordered_map<std::string, uint64_t> counters_;
};

}  // namespace seawall::profile
