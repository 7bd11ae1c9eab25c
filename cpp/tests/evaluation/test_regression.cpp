// Regression metrics against their direct definitions; the Poisson weights' distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "../../src/evaluation/bootstrap_internal.h"
#include "../error_message.h"
#include "seawall/errors.h"
#include "seawall/evaluation/regression.h"

namespace seawall::evaluation {
namespace {

TEST(RegressionMetrics, MatchDirectDefinitionsPerGroup) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0, 1);
  const int64_t n = 5000;
  std::vector<double> y(n), pred(n);
  std::vector<int32_t> g(n);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = std::round(normal(rng) * 4) * 1e6;  // ties and large values
    pred[i] = y[i] + normal(rng) * 1e6;
    g[i] = static_cast<int32_t>(i % 3) - 1;
  }
  RegressionOptions o;
  o.quantile = 0.9;
  o.bootstrap.resamples = 50;
  const auto results = regression_metrics(pred.data(), y.data(), n, Groups{g.data(), 2}, o);
  for (int32_t k = 0; k < 2; ++k) {
    double count = 0, abs_error = 0, sq_error = 0, sum = 0, loss = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (g[i] != k) continue;
      const double e = y[i] - pred[i];
      count += 1, abs_error += std::fabs(e), sq_error += e * e, sum += y[i];
      loss += e >= 0 ? 0.9 * e : -0.1 * e;
    }
    double spread = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (g[i] == k) spread += (y[i] - sum / count) * (y[i] - sum / count);
    }
    const auto& m = results[k];
    EXPECT_EQ(m.count, count);
    EXPECT_NEAR(m.values[0], abs_error / count, 1e-9 * abs_error / count);
    EXPECT_NEAR(m.values[1], std::sqrt(sq_error / count), 1e-9 * std::sqrt(sq_error / count));
    EXPECT_NEAR(m.values[2], 1 - sq_error / spread, 1e-9);
    EXPECT_NEAR(m.values[3], loss / count, 1e-9 * loss / count);
    for (int metric = 0; metric < kRegressionMetricCount; ++metric) {
      EXPECT_LE(m.intervals[metric].low, m.values[metric]);
      EXPECT_GE(m.intervals[metric].high, m.values[metric]);
    }
  }
}

TEST(RegressionMetrics, EdgeCasesAndErrors) {
  const std::vector<double> same{2, 2, 2}, exact{2, 2, 2}, off{2, 3, 2};
  EXPECT_EQ(regression_metrics(exact.data(), same.data(), 3, Groups{}, {})[0].values[2], 1.0);
  EXPECT_EQ(regression_metrics(off.data(), same.data(), 3, Groups{}, {})[0].values[2], 0.0);
  const auto one = regression_metrics(off.data(), same.data(), 1, Groups{}, {})[0];
  EXPECT_TRUE(std::isnan(one.values[2]));  // R² needs two rows
  EXPECT_EQ(one.values[0], 0.0);
  const auto empty = regression_metrics(nullptr, nullptr, 0, Groups{}, {})[0];
  EXPECT_EQ(empty.count, 0);
  EXPECT_TRUE(std::isnan(empty.values[0]));
  const std::vector<double> nan_label{1, std::numeric_limits<double>::quiet_NaN()};
  EXPECT_NE(message_of([&] { regression_metrics(same.data(), nan_label.data(), 2, Groups{}, {}); })
                .find("label of row 1 is missing"),
            std::string::npos);
  const std::vector<double> inf{1, std::numeric_limits<double>::infinity()};
  EXPECT_NE(message_of([&] { regression_metrics(inf.data(), same.data(), 2, Groups{}, {}); })
                .find("prediction of row 1 is infinite"),
            std::string::npos);
  RegressionOptions bad;
  bad.quantile = 1.5;
  EXPECT_THROW(regression_metrics(same.data(), same.data(), 3, Groups{}, bad), InvalidInput);
}

TEST(PoissonWeights, HavePoissonOnesMoments) {
  PoissonWeights draw(std::random_device{}());
  const int64_t n = 4'000'000;
  std::vector<uint8_t> w(n);
  draw.fill(w.data(), n);
  std::vector<double> freq(16, 0);
  double mean = 0;
  for (uint8_t v : w) mean += v, freq[v] += 1;
  mean /= n;
  double var = 0;
  for (uint8_t v : w) var += (v - mean) * (v - mean);
  var /= n;
  EXPECT_NEAR(mean, 1.0, 0.003);
  EXPECT_NEAR(var, 1.0, 0.005);
  double p = std::exp(-1.0);
  for (int k = 0; k < 6; ++k) {
    EXPECT_NEAR(freq[k] / n, p, 5 * std::sqrt(p / n)) << "count " << k;
    p /= (k + 1);
  }
}

TEST(Percentile, IsNumpysLinearMethod) {
  const std::vector<double> v{1, 2, 4, 8};
  EXPECT_DOUBLE_EQ(percentile_of_sorted(v.data(), 4, 0.0), 1);
  EXPECT_DOUBLE_EQ(percentile_of_sorted(v.data(), 4, 1.0), 8);
  EXPECT_DOUBLE_EQ(percentile_of_sorted(v.data(), 4, 0.5), 3);     // index 1.5
  EXPECT_DOUBLE_EQ(percentile_of_sorted(v.data(), 4, 0.25), 1.75); // index 0.75
  EXPECT_DOUBLE_EQ(percentile_of_sorted(v.data(), 1, 0.3), 1);
}

}  // namespace
}  // namespace seawall::evaluation
