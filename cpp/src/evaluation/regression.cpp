#include "seawall/evaluation/regression.h"

#include <cmath>
#include <limits>

#include "bootstrap_internal.h"
#include "grouping_internal.h"
#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"

namespace seawall::evaluation {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_value(double v, const char* what, int64_t row) {
  if (std::isfinite(v)) return;
  SEAWALL_CHECK(!std::isnan(v), "the ", what, " of row ", row, " is missing (NaN)");
  SEAWALL_CHECK(false, "the ", what, " of row ", row, " is infinite");
}

// sklearn's r2_score from the two sums of squares (force_finite: a constant label column gives
// 1 when fitted exactly, else 0); NaN below two rows, where sklearn warns and gives NaN.
double r2_of(double residual, double total, double count) {
  if (count < 2) return kNaN;
  if (total == 0) return residual == 0 ? 1.0 : 0.0;
  return 1 - residual / total;
}

double pinball(double y, double prediction, double alpha) {
  const double diff = y - prediction;
  return diff >= 0 ? alpha * diff : -(1 - alpha) * diff;
}

struct Pair {
  double y;
  double prediction;
};

// Metrics of rows [0, n), each weighted by w[i] (all 1 when w is null).
std::array<double, kRegressionMetricCount> metrics_of(const Pair* rows, int64_t n,
                                                      const uint8_t* w, double alpha) {
  AccurateSum weight, abs_error, sq_error, y_sum, loss;
  for (int64_t i = 0; i < n; ++i) {
    const double wi = w == nullptr ? 1.0 : w[i];
    const double e = rows[i].y - rows[i].prediction;
    weight.add(wi);
    abs_error.add(wi * std::fabs(e));
    sq_error.add(wi * (e * e));
    y_sum.add(wi * rows[i].y);
    loss.add(wi * pinball(rows[i].y, rows[i].prediction, alpha));
  }
  std::array<double, kRegressionMetricCount> out;
  out.fill(kNaN);
  const double total = weight.value();
  if (total == 0) return out;
  const double mean = y_sum.value() / total;
  AccurateSum spread;
  for (int64_t i = 0; i < n; ++i) {
    const double wi = w == nullptr ? 1.0 : w[i];
    const double d = rows[i].y - mean;
    spread.add(wi * (d * d));
  }
  out[static_cast<int>(RegressionMetric::kMae)] = abs_error.value() / total;
  out[static_cast<int>(RegressionMetric::kRmse)] = std::sqrt(sq_error.value() / total);
  out[static_cast<int>(RegressionMetric::kR2)] = r2_of(sq_error.value(), spread.value(), total);
  out[static_cast<int>(RegressionMetric::kPinball)] = loss.value() / total;
  return out;
}

}  // namespace

std::vector<RegressionMetrics> regression_metrics(const double* predictions, const double* labels,
                                                  int64_t n, Groups groups,
                                                  const RegressionOptions& options) {
  SEAWALL_CHECK(options.quantile >= 0 && options.quantile <= 1,
                "the quantile of the pinball loss must be in [0, 1], got ", options.quantile);
  SEAWALL_CHECK(options.bootstrap.resamples >= 0, "bootstrap resamples must not be negative, got ",
                options.bootstrap.resamples);
  SEAWALL_CHECK(options.bootstrap.confidence > 0 && options.bootstrap.confidence < 1,
                "confidence must be in (0, 1), got ", options.bootstrap.confidence);
  check_groups(groups, n);
  check_all_rows(n, [&](int64_t i) {
    check_value(labels[i], "label", i);
    check_value(predictions[i], "prediction", i);
  });
  const int32_t count = groups.count;
  auto bucket_of = [&](int64_t i) -> int64_t { return group_of(groups, i); };
  const Buckets layout(n, count, bucket_of);
  const std::vector<int64_t>& offsets = layout.offsets();
  std::vector<Pair> rows(static_cast<size_t>(offsets.back()));
  layout.scatter(bucket_of, [&](int64_t row, int64_t at) {
    rows[at] = Pair{labels[row], predictions[row]};
  });
  std::vector<RegressionMetrics> results(static_cast<size_t>(count));
  parallel_for(count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      results[g].count = offsets[g + 1] - offsets[g];
      results[g].values =
          metrics_of(rows.data() + offsets[g], results[g].count, nullptr, options.quantile);
    }
  });
  const int64_t resamples = options.bootstrap.resamples;
  const uint32_t wanted = options.bootstrap_metrics & ((1u << kRegressionMetricCount) - 1);
  if (resamples == 0 || wanted == 0) return results;
  std::vector<std::vector<double>> values(static_cast<size_t>(count));
  for (auto& v : values) v.assign(static_cast<size_t>(kRegressionMetricCount * resamples), kNaN);
  parallel_for(int64_t{count} * resamples, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> w;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t g = task / resamples, r = task % resamples;
      const int64_t size = offsets[g + 1] - offsets[g];
      if (size == 0) continue;
      w.resize(static_cast<size_t>(size));
      PoissonWeights(resample_seed(options.bootstrap.seed, g, r)).fill(w.data(), size);
      const auto one = metrics_of(rows.data() + offsets[g], size, w.data(), options.quantile);
      for (int k = 0; k < kRegressionMetricCount; ++k) values[g][k * resamples + r] = one[k];
    }
  });
  for (int32_t g = 0; g < count; ++g) {
    for (int k = 0; k < kRegressionMetricCount; ++k) {
      if (!((wanted >> k) & 1u)) continue;
      std::vector<double> v(values[g].begin() + k * resamples,
                            values[g].begin() + (k + 1) * resamples);
      results[g].intervals[k] = interval_of(v, options.bootstrap);
    }
  }
  return results;
}

}  // namespace seawall::evaluation
