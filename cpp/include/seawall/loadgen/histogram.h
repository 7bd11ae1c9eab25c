// A log-linear latency histogram, as HdrHistogram: exact below 128, then 128 equal buckets per
// power of two, so any recorded value is known to within 1/128 of itself (the quantiles to within
// half of that). Fixed memory (about 60 KB), O(1) record, and mergeable: two histograms of
// disjoint samples merge into the histogram of the union, exactly.
#pragma once

#include <cstdint>
#include <vector>

namespace seawall::loadgen {

class LatencyHistogram {
 public:
  // Sub-bucket bits: 2^kSubBits buckets per power of two.
  static constexpr int kSubBits = 7;

  LatencyHistogram();

  void record(uint64_t value) { record_n(value, 1); }
  void record_n(uint64_t value, uint64_t n);
  // Adds every sample of `other` to this one.
  void merge(const LatencyHistogram& other);
  void clear();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  // The q-quantile (q in [0, 1]) by nearest rank: the ceil(q * count)-th smallest sample (the
  // smallest for q = 0), within relative_error() of it; 0 when empty. Throws InvalidInput for a q
  // outside [0, 1] or NaN.
  uint64_t quantile(double q) const;
  // The most a quantile may differ from the exact one, relative to it.
  static constexpr double relative_error() { return 1.0 / (1 << kSubBits); }

  // Bucket layout, for tests and for readers of counts().
  static std::size_t bucket_of(uint64_t value);
  static uint64_t bucket_lower(std::size_t bucket);
  static uint64_t bucket_width(std::size_t bucket);
  const std::vector<uint64_t>& counts() const { return counts_; }

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_ = 0.0;
};

}  // namespace seawall::loadgen
