// Binary and multiclass metrics against brute-force definitions (every pair for ROC AUC, every
// threshold for average precision) on random data with heavy ties, several groups, one class
// only, empty and one-row groups, and the caller errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "../error_message.h"
#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"
#include "seawall/evaluation/classification.h"

namespace seawall::evaluation {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double metric(const BinaryMetrics& m, BinaryMetric which) {
  return m.values[static_cast<int>(which)];
}

// Every (positive, negative) pair: 1 when the positive scores higher, 1/2 on a tie.
double brute_auc(const std::vector<double>& s, const std::vector<double>& y) {
  double wins = 0, pairs = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (y[i] != 1) continue;
    for (size_t j = 0; j < s.size(); ++j) {
      if (y[j] != 0) continue;
      pairs += 1;
      wins += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
    }
  }
  return pairs > 0 ? wins / pairs : kNaN;
}

// sum over distinct thresholds t (falling) of (recall(t) - recall(previous)) * precision(t).
double brute_ap(const std::vector<double>& s, const std::vector<double>& y) {
  std::vector<double> thresholds(s);
  std::sort(thresholds.begin(), thresholds.end(), std::greater<>());
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
  const double positives = std::accumulate(y.begin(), y.end(), 0.0);
  if (positives == 0) return kNaN;
  double ap = 0, previous_recall = 0;
  for (double t : thresholds) {
    double tp = 0, fp = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] >= t) (y[i] == 1 ? tp : fp) += 1;
    }
    const double recall = tp / positives;
    ap += (recall - previous_recall) * tp / (tp + fp);
    previous_recall = recall;
  }
  return ap;
}

struct Data {
  std::vector<double> scores, labels;
  std::vector<int32_t> groups;
};

Data random_data(std::mt19937_64& rng, int64_t n, int32_t groups, int levels) {
  Data d;
  std::uniform_int_distribution<int> level(0, levels);
  std::uniform_int_distribution<int32_t> group(-1, groups - 1);
  std::bernoulli_distribution coin(0.3);
  for (int64_t i = 0; i < n; ++i) {
    const double s = static_cast<double>(level(rng)) / levels;  // ties at every level
    const double y = coin(rng) || s > 0.8 ? 1 : 0;
    d.scores.push_back(s);
    d.labels.push_back(y);
    d.groups.push_back(group(rng));
  }
  return d;
}

TEST(BinaryMetrics, MatchBruteForceWithTiesPerGroup) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (int levels : {3, 20, 1000}) {
    const Data d = random_data(rng, 1500, 4, levels);
    BinaryOptions o;
    o.threshold = 0.5;
    const auto results = binary_metrics(d.scores.data(), d.labels.data(),
                                        static_cast<int64_t>(d.scores.size()),
                                        Groups{d.groups.data(), 4}, o);
    ASSERT_EQ(results.size(), 4u);
    for (int32_t g = 0; g < 4; ++g) {
      std::vector<double> s, y;
      for (size_t i = 0; i < d.scores.size(); ++i) {
        if (d.groups[i] == g) s.push_back(d.scores[i]), y.push_back(d.labels[i]);
      }
      const BinaryMetrics& m = results[g];
      ASSERT_EQ(m.count, static_cast<int64_t>(s.size()));
      EXPECT_NEAR(metric(m, BinaryMetric::kRocAuc), brute_auc(s, y), 1e-12);
      EXPECT_NEAR(metric(m, BinaryMetric::kAveragePrecision), brute_ap(s, y), 1e-12);
      double ll = 0, brier = 0, tp = 0, fp = 0, fn = 0, tn = 0;
      const double eps = std::numeric_limits<double>::epsilon();
      for (size_t i = 0; i < s.size(); ++i) {
        const double p = y[i] == 1 ? s[i] : 1 - s[i];
        ll -= std::log(std::min(std::max(p, eps), 1 - eps));
        brier += (y[i] - s[i]) * (y[i] - s[i]);
        const bool predicted = s[i] >= 0.5;
        (y[i] == 1 ? (predicted ? tp : fn) : (predicted ? fp : tn)) += 1;
      }
      const double n = static_cast<double>(s.size());
      EXPECT_NEAR(metric(m, BinaryMetric::kLogLoss), ll / n, 1e-12);
      EXPECT_NEAR(metric(m, BinaryMetric::kBrier), brier / n, 1e-12);
      EXPECT_EQ(m.tp, tp);
      EXPECT_EQ(m.fp, fp);
      EXPECT_EQ(m.fn, fn);
      EXPECT_EQ(m.tn, tn);
      EXPECT_NEAR(metric(m, BinaryMetric::kAccuracy), (tp + tn) / n, 1e-15);
      EXPECT_NEAR(metric(m, BinaryMetric::kPrecision), tp / (tp + fp), 1e-15);
      EXPECT_NEAR(metric(m, BinaryMetric::kRecall), tp / (tp + fn), 1e-15);
      EXPECT_NEAR(metric(m, BinaryMetric::kF1), 2 * tp / (2 * tp + fp + fn), 1e-15);
      // Calibration: ten uniform bins, a score on an edge goes to the bin below it.
      std::vector<double> count(10, 0), pos(10, 0), sum(10, 0);
      for (size_t i = 0; i < s.size(); ++i) {
        int b = 0;
        while (b < 9 && s[i] > (b + 1) * 0.1) ++b;
        count[b] += 1, pos[b] += y[i], sum[b] += s[i];
      }
      double ece = 0;
      size_t bin = 0;
      for (int b = 0; b < 10; ++b) {
        if (count[b] == 0) continue;
        ASSERT_LT(bin, m.calibration.size());
        EXPECT_EQ(m.calibration[bin].count, count[b]);
        EXPECT_NEAR(m.calibration[bin].fraction_positive, pos[b] / count[b], 1e-15);
        EXPECT_NEAR(m.calibration[bin].mean_predicted, sum[b] / count[b], 1e-12);
        ece += count[b] / n * std::fabs(pos[b] / count[b] - sum[b] / count[b]);
        ++bin;
      }
      EXPECT_EQ(bin, m.calibration.size());
      EXPECT_NEAR(metric(m, BinaryMetric::kExpectedCalibrationError), ece, 1e-12);
    }
  }
}

TEST(BinaryMetrics, LargeGroupsTakeTheRadixSortOfDoublesOrOfFloats) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  Data d = random_data(rng, 20000, 1, 5000);
  for (bool float_values : {false, true}) {
    SCOPED_TRACE(float_values ? "float32 values" : "float64 values");
    if (float_values) {  // a model's float32 outputs: sorted as 32-bit keys
      for (double& s : d.scores) s = static_cast<float>(s);
    }
    const auto m = binary_metrics(d.scores.data(), d.labels.data(), 20000, Groups{}, {})[0];
    // The pair count, in O(n log n): ranks with ties averaged (Mann-Whitney).
    std::vector<size_t> order(d.scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return d.scores[a] < d.scores[b]; });
    double rank_sum = 0, positives = 0;
    for (size_t i = 0; i < order.size();) {
      size_t j = i;
      while (j < order.size() && d.scores[order[j]] == d.scores[order[i]]) ++j;
      const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
      for (size_t k = i; k < j; ++k) {
        if (d.labels[order[k]] == 1) rank_sum += rank, positives += 1;
      }
      i = j;
    }
    const double negatives = 20000 - positives;
    const double u = rank_sum - positives * (positives + 1) / 2;
    EXPECT_NEAR(metric(m, BinaryMetric::kRocAuc), u / (positives * negatives), 1e-12);
    double ll = 0;
    for (size_t i = 0; i < d.scores.size(); ++i) {
      const double p = d.labels[i] == 1 ? d.scores[i] : 1 - d.scores[i];
      ll -= std::log(std::min(std::max(p, 2.220446049250313e-16), 1 - 2.220446049250313e-16));
    }
    EXPECT_NEAR(metric(m, BinaryMetric::kLogLoss), ll / 20000, 1e-12);
  }
}

TEST(BinaryMetrics, UndefinedMetricsAreNaNWithTheirCounts) {
  const std::vector<double> s{0.2, 0.7, 0.4}, only_negatives{0, 0, 0}, only_positives{1, 1, 1};
  const auto neg = binary_metrics(s.data(), only_negatives.data(), 3, Groups{}, {})[0];
  EXPECT_EQ(neg.count, 3);
  EXPECT_EQ(neg.positives, 0);
  EXPECT_TRUE(std::isnan(metric(neg, BinaryMetric::kRocAuc)));
  EXPECT_TRUE(std::isnan(metric(neg, BinaryMetric::kAveragePrecision)));
  EXPECT_TRUE(std::isnan(metric(neg, BinaryMetric::kRecall)));
  EXPECT_FALSE(std::isnan(metric(neg, BinaryMetric::kLogLoss)));
  const auto pos = binary_metrics(s.data(), only_positives.data(), 3, Groups{}, {})[0];
  EXPECT_TRUE(std::isnan(metric(pos, BinaryMetric::kRocAuc)));
  EXPECT_DOUBLE_EQ(metric(pos, BinaryMetric::kAveragePrecision), 1.0);
  // Empty: every metric NaN, count 0; one row: defined where one row allows.
  const auto empty = binary_metrics(nullptr, nullptr, 0, Groups{}, {})[0];
  EXPECT_EQ(empty.count, 0);
  for (double v : empty.values) EXPECT_TRUE(std::isnan(v));
  const double one_score = 0.9, one_label = 1;
  const auto one = binary_metrics(&one_score, &one_label, 1, Groups{}, {})[0];
  EXPECT_TRUE(std::isnan(metric(one, BinaryMetric::kRocAuc)));
  EXPECT_DOUBLE_EQ(metric(one, BinaryMetric::kAccuracy), 1.0);
  EXPECT_NEAR(metric(one, BinaryMetric::kLogLoss), -std::log(0.9), 1e-15);
}

TEST(BinaryMetrics, CallerErrorsNameTheRow) {
  const std::vector<double> s{0.2, 0.7, 0.4};
  std::vector<double> y{0, kNaN, 1};
  EXPECT_THROW(binary_metrics(s.data(), y.data(), 3, Groups{}, {}), InvalidInput);
  EXPECT_NE(message_of([&] { binary_metrics(s.data(), y.data(), 3, Groups{}, {}); })
                .find("label of row 1 is missing"),
            std::string::npos);
  y = {0, 2, 1};
  EXPECT_NE(message_of([&] { binary_metrics(s.data(), y.data(), 3, Groups{}, {}); })
                .find("0 or 1"),
            std::string::npos);
  y = {0, 1, 1};
  const std::vector<double> outside{0.2, 1.5, 0.4};
  EXPECT_NE(message_of([&] { binary_metrics(outside.data(), y.data(), 3, Groups{}, {}); })
                .find("probability of row 1 is 1.5, outside [0, 1]"),
            std::string::npos);
  BinaryOptions ranking_only;
  ranking_only.probabilities = false;
  const auto r = binary_metrics(outside.data(), y.data(), 3, Groups{}, ranking_only)[0];
  EXPECT_DOUBLE_EQ(metric(r, BinaryMetric::kRocAuc), 1.0);
  EXPECT_TRUE(std::isnan(metric(r, BinaryMetric::kLogLoss)));
  const std::vector<double> nan_score{0.2, kNaN, 0.4};
  EXPECT_THROW(binary_metrics(nan_score.data(), y.data(), 3, Groups{}, ranking_only), InvalidInput);
  const std::vector<int32_t> bad_group{0, 2, 1};
  EXPECT_NE(message_of([&] { binary_metrics(s.data(), y.data(), 3, Groups{bad_group.data(), 2}, {}); })
                .find("group id of row 1 is 2"),
            std::string::npos);
  EXPECT_THROW(binary_metrics(s.data(), y.data(), 3, Groups{nullptr, 2}, {}), InvalidInput);
  BinaryOptions bad_bins;
  bad_bins.calibration_bins = 0;
  EXPECT_THROW(binary_metrics(s.data(), y.data(), 3, Groups{}, bad_bins), InvalidInput);
}

TEST(BinaryMetrics, CurvesEndAtTheCornersAndAreThinned) {
  std::mt19937_64 rng(std::random_device{}());
  const Data d = random_data(rng, 50000, 1, 100000);
  BinaryOptions o;
  o.curve_points = 50;
  const auto m = binary_metrics(d.scores.data(), d.labels.data(), 50000, Groups{}, o)[0];
  ASSERT_GE(m.roc.x.size(), 2u);
  EXPECT_LE(m.roc.x.size(), 2u * 50 + 2);
  EXPECT_EQ(m.roc.x.front(), 0);
  EXPECT_EQ(m.roc.y.front(), 0);
  EXPECT_EQ(m.roc.x.back(), 1);
  EXPECT_EQ(m.roc.y.back(), 1);
  EXPECT_TRUE(std::is_sorted(m.roc.x.begin(), m.roc.x.end()));
  EXPECT_LE(m.pr.x.size(), 50u + 2);
  EXPECT_EQ(m.pr.x.back(), 1);
  EXPECT_TRUE(std::is_sorted(m.pr.x.begin(), m.pr.x.end()));
}

TEST(BinaryMetrics, QuantileCalibrationBinsHoldAboutEqualCounts) {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> s(10000), y(10000);
  for (size_t i = 0; i < s.size(); ++i) s[i] = u(rng), y[i] = u(rng) < s[i] ? 1 : 0;
  BinaryOptions o;
  o.calibration_strategy = CalibrationStrategy::kQuantile;
  o.calibration_bins = 5;
  const auto m = binary_metrics(s.data(), y.data(), 10000, Groups{}, o)[0];
  ASSERT_EQ(m.calibration.size(), 5u);
  for (const auto& bin : m.calibration) EXPECT_NEAR(bin.count, 2000, 1);
}

TEST(Bootstrap, IntervalsAreReproducibleOnAnyThreadCountAndCoverTheEstimate) {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> s(30000), y(30000);
  std::vector<int32_t> g(30000);
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = std::round(u(rng) * 200) / 200;
    y[i] = u(rng) < s[i] ? 1 : 0;
    g[i] = static_cast<int32_t>(i % 3);
  }
  BinaryOptions o;
  o.bootstrap.resamples = 200;
  o.bootstrap.seed = 42;
  const int before = num_threads();
  set_num_threads(1);
  const auto one = binary_metrics(s.data(), y.data(), 30000, Groups{g.data(), 3}, o);
  set_num_threads(3);
  const auto three = binary_metrics(s.data(), y.data(), 30000, Groups{g.data(), 3}, o);
  set_num_threads(before);
  for (int32_t k = 0; k < 3; ++k) {
    for (int m = 0; m < kBinaryMetricCount; ++m) {
      const Interval& a = one[k].intervals[m];
      EXPECT_EQ(a.low, three[k].intervals[m].low);
      EXPECT_EQ(a.high, three[k].intervals[m].high);
      EXPECT_EQ(a.resamples, 200);
      EXPECT_LT(a.low, a.high) << "metric " << m;
      // The calibration error is biased upwards (an absolute value of noise): its interval may
      // lie above a well-calibrated model's estimate.
      if (m == static_cast<int>(BinaryMetric::kExpectedCalibrationError)) continue;
      EXPECT_LE(a.low, one[k].values[m]) << "metric " << m;
      EXPECT_GE(a.high, one[k].values[m]) << "metric " << m;
    }
    // A 95% interval of AUC on 10,000 rows is a few hundredths wide.
    const Interval& auc = one[k].intervals[static_cast<int>(BinaryMetric::kRocAuc)];
    EXPECT_LT(auc.high - auc.low, 0.05);
  }
  o.bootstrap.seed = 43;
  const auto other = binary_metrics(s.data(), y.data(), 30000, Groups{g.data(), 3}, o);
  EXPECT_NE(other[0].intervals[0].low, one[0].intervals[0].low);
}

TEST(Bootstrap, TooFewDefinedResamplesGiveNoInterval) {
  // One positive in 200 rows: most resamples draw it (1 - e^-1 of them), the AUC interval is
  // kept; with no positive at all it is undefined in every resample.
  std::vector<double> s(200), y(200, 0);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<double>(i) / 200;
  BinaryOptions o;
  o.bootstrap.resamples = 100;
  auto m = binary_metrics(s.data(), y.data(), 200, Groups{}, o)[0];
  EXPECT_TRUE(std::isnan(m.intervals[0].low));
  EXPECT_EQ(m.intervals[0].resamples, 0);
  y[150] = 1;
  m = binary_metrics(s.data(), y.data(), 200, Groups{}, o)[0];
  EXPECT_GT(m.intervals[0].resamples, 50);
  EXPECT_LT(m.intervals[0].resamples, 80);
  EXPECT_FALSE(std::isnan(m.intervals[0].low));
}

TEST(ConfusionByGroup, CountsEachCell) {
  std::mt19937_64 rng(std::random_device{}());
  const Data d = random_data(rng, 200000, 7, 10);
  const auto counts = confusion_by_group(d.scores.data(), d.labels.data(), 200000,
                                         Groups{d.groups.data(), 7}, 0.4);
  std::vector<ConfusionCounts> expected(7);
  for (size_t i = 0; i < d.scores.size(); ++i) {
    if (d.groups[i] < 0) continue;
    auto& c = expected[d.groups[i]];
    const bool p = d.scores[i] >= 0.4;
    (d.labels[i] == 1 ? (p ? c.tp : c.fn) : (p ? c.fp : c.tn)) += 1;
  }
  for (int g = 0; g < 7; ++g) {
    EXPECT_EQ(counts[g].tp, expected[g].tp);
    EXPECT_EQ(counts[g].fp, expected[g].fp);
    EXPECT_EQ(counts[g].tn, expected[g].tn);
    EXPECT_EQ(counts[g].fn, expected[g].fn);
  }
}

TEST(MulticlassMetrics, MatchDirectDefinitions) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const int32_t k = 4;
  const int64_t n = 3000;
  std::uniform_int_distribution<int> level(1, 5);
  std::uniform_int_distribution<int> cls(0, k - 1);
  std::vector<double> p(n * k), y(n);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int c = 0; c < k; ++c) sum += p[i * k + c] = level(rng);  // ties across rows
    for (int c = 0; c < k; ++c) p[i * k + c] /= sum;
    y[i] = cls(rng);
  }
  MulticlassOptions o;
  for (int resamples : {0, 50}) {
    o.bootstrap.resamples = resamples;
    const auto m = multiclass_metrics(p.data(), y.data(), n, k, Groups{}, o)[0];
    double correct = 0, ll = 0, brier = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double* row = p.data() + i * k;
      const int pred = static_cast<int>(std::max_element(row, row + k) - row);
      correct += pred == y[i];
      ll -= std::log(row[static_cast<int>(y[i])]);
      for (int c = 0; c < k; ++c) brier += std::pow((c == y[i]) - row[c], 2);
    }
    EXPECT_NEAR(m.values[static_cast<int>(MulticlassMetric::kAccuracy)], correct / n, 1e-15);
    EXPECT_NEAR(m.values[static_cast<int>(MulticlassMetric::kLogLoss)], ll / n, 1e-12);
    EXPECT_NEAR(m.values[static_cast<int>(MulticlassMetric::kBrier)], brier / n, 1e-12);
    double macro = 0;
    for (int c = 0; c < k; ++c) {
      std::vector<double> s(n), is_c(n);
      for (int64_t i = 0; i < n; ++i) s[i] = p[i * k + c], is_c[i] = y[i] == c;
      const double auc = brute_auc(s, is_c);
      EXPECT_NEAR(m.class_roc_auc[c], auc, 1e-12);
      macro += auc / k;
    }
    EXPECT_NEAR(m.values[static_cast<int>(MulticlassMetric::kRocAuc)], macro, 1e-12);
    if (resamples > 0) {
      const Interval& auc = m.intervals[static_cast<int>(MulticlassMetric::kRocAuc)];
      EXPECT_LE(auc.low, macro);
      EXPECT_GE(auc.high, macro);
    }
  }
  std::vector<double> bad_row(p.begin(), p.begin() + 2 * k), labels{0, 1};
  bad_row[k] += 0.1;
  EXPECT_NE(message_of([&] { multiclass_metrics(bad_row.data(), labels.data(), 2, k, Groups{}, o); })
                .find("probabilities of row 1 sum to"),
            std::string::npos);
  labels = {0, 4};
  EXPECT_NE(message_of([&] { multiclass_metrics(p.data(), labels.data(), 2, k, Groups{}, o); })
                .find("class indices are 0 to 3"),
            std::string::npos);
}

}  // namespace
}  // namespace seawall::evaluation
