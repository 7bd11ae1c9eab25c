// One bootstrap resample of a group's binary metrics: Poisson weights for its rows (by falling
// score), added up in blocks that stay in the L1 cache.
#include <algorithm>
#include <cmath>
#include <limits>

#include "binary_internal.h"
#include "bootstrap_internal.h"
#include "ranking_internal.h"

namespace seawall::evaluation {
namespace {

constexpr int64_t kBlock = 4096;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double ratio(double num, double den) { return den > 0 ? num / den : kNaN; }

}  // namespace

void resample_binary(const BinaryRows& rows, uint32_t metrics, uint64_t seed,
                     std::array<double, kBinaryMetricCount>& values) {
  const auto n = static_cast<int64_t>(rows.code.size());
  const bool ranking =
      wants(metrics, BinaryMetric::kRocAuc) || wants(metrics, BinaryMetric::kAveragePrecision);
  const bool losses = !rows.log_loss.empty();
  const bool calibration = !rows.bin.empty();

  PoissonWeights draw(seed);
  thread_local std::vector<uint8_t> w;
  w.resize(kBlock);
  RankingSums ranks;
  const bool precision_wanted = wants(metrics, BinaryMetric::kAveragePrecision);
  const bool counts_wanted = !ranking || losses || calibration ||
                             wants(metrics, BinaryMetric::kAccuracy) ||
                             wants(metrics, BinaryMetric::kPrecision) ||
                             wants(metrics, BinaryMetric::kRecall) ||
                             wants(metrics, BinaryMetric::kF1);
  int64_t weight_pos = 0, weight_neg = 0;  // all rows
  int64_t tp = 0, fp = 0;                  // rows predicted positive
  double log_loss = 0, brier = 0;
  std::vector<int64_t> bin_weight(static_cast<size_t>(rows.bins), 0);
  std::vector<int64_t> bin_pos(static_cast<size_t>(rows.bins), 0);
  std::vector<double> bin_score(static_cast<size_t>(rows.bins), 0);
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t len = std::min(kBlock, n - start);
    draw.fill(w.data(), len);
    const uint8_t* code = rows.code.data() + start;
    if (ranking) {
      if (rows.distinct && !precision_wanted) {
        ranks.add_distinct(code, w.data(), len);
      } else {
        ranks.add(code, w.data(), len, precision_wanted);
      }
    }
    const int64_t cut = std::clamp<int64_t>(rows.predicted_positive - start, 0, len);
    for (int64_t i = 0; i < (counts_wanted ? len : 0); ++i) {
      const int64_t label = code[i] & 1;
      const int64_t weighted_pos = label * w[i];
      const int64_t weighted_neg = (1 - label) * w[i];
      weight_pos += weighted_pos;
      weight_neg += weighted_neg;
      if (i < cut) {
        tp += weighted_pos;
        fp += weighted_neg;
      }
    }
    if (losses) {
      const float* ll = rows.log_loss.data() + start;
      const float* sq = rows.brier.data() + start;
      double a = 0, b = 0;
      for (int64_t i = 0; i < len; ++i) {
        a += static_cast<double>(w[i]) * ll[i];
        b += static_cast<double>(w[i]) * sq[i];
      }
      log_loss += a;
      brier += b;
    }
    if (calibration) {
      const uint16_t* bin = rows.bin.data() + start;
      const float* score = rows.score.data() + start;
      for (int64_t i = 0; i < len; ++i) {
        bin_weight[bin[i]] += w[i];
        bin_pos[bin[i]] += (code[i] & 1) * w[i];
        bin_score[bin[i]] += static_cast<double>(w[i]) * score[i];
      }
    }
  }
  if (!counts_wanted) weight_pos = ranks.pos, weight_neg = ranks.neg;
  const auto wp = static_cast<double>(weight_pos), wn = static_cast<double>(weight_neg);
  const double total = wp + wn;
  auto set = [&](BinaryMetric m, double v) {
    if (wants(metrics, m)) values[static_cast<int>(m)] = v;
  };
  set(BinaryMetric::kRocAuc, ranks.roc_auc());
  set(BinaryMetric::kAveragePrecision, ranks.average_precision());
  const auto t = static_cast<double>(tp), f = static_cast<double>(fp);
  set(BinaryMetric::kAccuracy, ratio(t + (wn - f), total));
  set(BinaryMetric::kPrecision, ratio(t, t + f));
  set(BinaryMetric::kRecall, ratio(t, wp));
  set(BinaryMetric::kF1, ratio(2 * t, t + f + wp));
  set(BinaryMetric::kLogLoss, ratio(log_loss, total));
  set(BinaryMetric::kBrier, ratio(brier, total));
  if (calibration && total > 0) {
    double gap = 0;
    for (int32_t b = 0; b < rows.bins; ++b) {
      gap += std::fabs(static_cast<double>(bin_pos[b]) - bin_score[b]);
    }
    set(BinaryMetric::kExpectedCalibrationError, gap / total);
  }
}

}  // namespace seawall::evaluation
