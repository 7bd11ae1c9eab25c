// The Poisson bootstrap's pieces: weights, per-resample seeds, percentile intervals, and the
// accurate sums every metric uses.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "seawall/evaluation/groups.h"

namespace seawall::evaluation {

// Neumaier's compensated sum: the error does not grow with the count, so sums over millions of
// rows in any order agree with numpy's pairwise sums far below 1e-9.
class AccurateSum {
 public:
  void add(double x) {
    const double t = sum_ + x;
    if (std::fabs(sum_) >= std::fabs(x)) {
      compensation_ += (sum_ - t) + x;
    } else {
      compensation_ += (x - t) + sum_;
    }
    sum_ = t;
  }
  double value() const { return sum_ + compensation_; }

 private:
  double sum_ = 0;
  double compensation_ = 0;
};

// Independent Poisson(1) counts from SplitMix64 (a Weyl sequence through a 64-bit mix: each draw
// depends on the last by one addition, so the CPU overlaps many): each 64-bit draw gives five
// 12-bit table lookups; the few table entries that straddle two counts are resolved with 20
// more bits, so each count has Poisson(1)'s probabilities to within 2^-32 (counts above 15,
// probability below 1e-13, are cut to 15).
class PoissonWeights {
 public:
  explicit PoissonWeights(uint64_t seed);
  void fill(uint8_t* weights, int64_t n);

 private:
  uint64_t next();
  uint8_t resolve(uint32_t prefix);
  uint64_t state_;
};

// The seed of one resample of one group: independent of the thread that runs it.
uint64_t resample_seed(uint64_t seed, int64_t group, int64_t resample);

// numpy.percentile(values, q * 100) with the "linear" method, for sorted values (n > 0).
double percentile_of_sorted(const double* sorted, int64_t n, double q);

// The interval of resampled values (NaN entries are resamples where the metric was undefined).
Interval interval_of(std::vector<double>& values, const Bootstrap& bootstrap);

}  // namespace seawall::evaluation
