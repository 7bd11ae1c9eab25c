// A group's rows laid out for the bootstrap of binary metrics: by falling score, so that each
// resample is one pass that adds up Poisson weights.
#pragma once

#include <cstdint>
#include <vector>

#include "seawall/evaluation/classification.h"

namespace seawall::evaluation {

inline bool wants(uint32_t mask, BinaryMetric m) { return (mask >> static_cast<int>(m)) & 1u; }

struct BinaryRows {
  std::vector<uint8_t> code;  // bit 0: a positive; bit 1: the last row of a run of equal scores
  int64_t predicted_positive = 0;  // rows [0, k) have score >= threshold
  bool distinct = true;            // no two rows share a score
  // Filled only for the metrics resampled:
  std::vector<float> log_loss;  // each row's term of the log loss
  std::vector<float> brier;     // each row's squared error
  std::vector<float> score;     // the calibration's mean predicted
  std::vector<uint16_t> bin;    // the calibration bin
  int32_t bins = 0;
};

// Which metrics the bootstrap resamples (those the options ask for that the scores allow).
uint32_t resampled_binary_metrics(const BinaryOptions& options);

// One resample: values[m] for each resampled metric m (NaN where undefined); others untouched.
void resample_binary(const BinaryRows& rows, uint32_t metrics, uint64_t seed,
                     std::array<double, kBinaryMetricCount>& values);

}  // namespace seawall::evaluation
