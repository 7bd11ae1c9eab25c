// Regression metrics per group, each equal to scikit-learn's on the same float64 input: mean
// absolute error, root mean squared error, R² (sklearn's r2_score, force_finite: 1 for a perfect
// fit of constant labels, 0 for an imperfect one; NaN below two rows) and the pinball (quantile)
// loss at a quantile. Labels and predictions must be finite (InvalidInput naming the row).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "seawall/evaluation/groups.h"

namespace seawall::evaluation {

enum class RegressionMetric : int { kMae, kRmse, kR2, kPinball };
inline constexpr int kRegressionMetricCount = 4;

struct RegressionOptions {
  double quantile = 0.5;  // the pinball loss's alpha, in (0, 1)
  Bootstrap bootstrap;
  uint32_t bootstrap_metrics = ~0u;
};

struct RegressionMetrics {
  int64_t count = 0;
  std::array<double, kRegressionMetricCount> values{};
  std::array<Interval, kRegressionMetricCount> intervals{};
};

std::vector<RegressionMetrics> regression_metrics(const double* predictions, const double* labels,
                                                  int64_t n, Groups groups,
                                                  const RegressionOptions& options);

}  // namespace seawall::evaluation
