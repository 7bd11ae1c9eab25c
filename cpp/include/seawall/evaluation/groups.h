// What every evaluation kernel shares: rows split into groups (the slices of an evaluation, or
// the groups of a sensitive column), and the bootstrap that gives each metric an interval.
#pragma once

#include <cstdint>
#include <limits>

namespace seawall::evaluation {

// The group of each row: ids[i] in [0, count), or -1 for a row that belongs to no group. With
// ids == nullptr every row is in one group (count must then be 1).
struct Groups {
  const int32_t* ids = nullptr;
  int32_t count = 1;
};

// Percentile intervals from a Poisson bootstrap: each resample weighs every row by an
// independent Poisson(1) count (the bootstrap TensorFlow Model Analysis uses), so resamples need
// no copy of the data and each is one pass over rows already in order.
struct Bootstrap {
  int32_t resamples = 0;     // 0: no intervals
  double confidence = 0.95;  // in (0, 1)
  uint64_t seed = 0;         // the same seed gives the same intervals on any thread count
};

// A metric's bootstrap interval: the (1 - confidence) / 2 and (1 + confidence) / 2 percentiles
// (numpy's "linear" definition) of its resampled values. A resample where the metric is
// undefined (no positive drawn, say) is left out; with fewer than half the resamples defined the
// interval is NaN, as it is without a bootstrap.
struct Interval {
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
  int32_t resamples = 0;  // resamples in which the metric was defined
};

}  // namespace seawall::evaluation
