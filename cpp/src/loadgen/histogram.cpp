#include "seawall/loadgen/histogram.h"

#include <algorithm>
#include <cmath>

#include "seawall/errors.h"

namespace seawall::loadgen {

namespace {

constexpr uint64_t kSub = uint64_t{1} << LatencyHistogram::kSubBits;
// Values below kSub have a bucket each; each power of two from kSub up to 2^63 has kSub.
constexpr std::size_t kBuckets = (64 - LatencyHistogram::kSubBits + 1) * kSub;

// v > 0.
int floor_log2(uint64_t v) {
#if defined(__GNUC__) || defined(__clang__)
  return 63 - __builtin_clzll(v);
#else
  int n = 0;
  while (v >>= 1) ++n;
  return n;
#endif
}

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

std::size_t LatencyHistogram::bucket_of(uint64_t value) {
  if (value < kSub) return static_cast<std::size_t>(value);
  const int shift = floor_log2(value) - kSubBits;  // >= 0
  // value >> shift is in [kSub, 2 * kSub): the linear position within its power of two.
  return static_cast<std::size_t>((shift + 1) * kSub + ((value >> shift) - kSub));
}

uint64_t LatencyHistogram::bucket_lower(std::size_t bucket) {
  if (bucket < kSub) return bucket;
  const uint64_t shift = bucket / kSub - 1;
  return (kSub + bucket % kSub) << shift;
}

uint64_t LatencyHistogram::bucket_width(std::size_t bucket) {
  return bucket < kSub ? 1 : uint64_t{1} << (bucket / kSub - 1);
}

void LatencyHistogram::record_n(uint64_t value, uint64_t n) {
  if (n == 0) return;
  counts_[bucket_of(value)] += n;
  count_ += n;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<double>(value) * static_cast<double>(n);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0.0;
}

uint64_t LatencyHistogram::quantile(double q) const {
  SEAWALL_CHECK(q >= 0.0 && q <= 1.0, "a quantile must be in [0, 1], got ", q);
  if (count_ == 0) return 0;
  const double exact_rank = std::ceil(q * static_cast<double>(count_));
  const uint64_t rank = std::clamp<uint64_t>(static_cast<uint64_t>(exact_rank), 1, count_);
  if (rank == 1) return min_;  // the extremes are known exactly
  if (rank == count_) return max_;
  uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      // The bucket's middle, within the samples' range (exact for the smallest and largest).
      const uint64_t middle = bucket_lower(i) + bucket_width(i) / 2;
      return std::clamp(middle, min_, max_);
    }
  }
  return max_;
}

}  // namespace seawall::loadgen
