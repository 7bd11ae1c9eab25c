#include <algorithm>
#include <cmath>
#include <limits>

#include "binary_internal.h"
#include "bootstrap_internal.h"
#include "grouping_internal.h"
#include "ranking_internal.h"
#include "seawall/core/sort.h"
#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"

namespace seawall::evaluation {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kEps = std::numeric_limits<double>::epsilon();  // sklearn's log_loss clip
constexpr int32_t kMaxBins = 10000;

void check_options(const BinaryOptions& o) {
  SEAWALL_CHECK(!std::isnan(o.threshold), "threshold must be a number, got NaN");
  SEAWALL_CHECK(o.calibration_bins >= 1 && o.calibration_bins <= kMaxBins,
                "calibration_bins must be from 1 to ", kMaxBins, ", got ", o.calibration_bins);
  SEAWALL_CHECK(o.curve_points >= 0, "curve_points must not be negative, got ", o.curve_points);
  SEAWALL_CHECK(o.bootstrap.resamples >= 0, "bootstrap resamples must not be negative, got ",
                o.bootstrap.resamples);
  SEAWALL_CHECK(o.bootstrap.confidence > 0 && o.bootstrap.confidence < 1,
                "confidence must be in (0, 1), got ", o.bootstrap.confidence);
}

// Throws InvalidInput naming row i when its label or score cannot be used.
inline void check_row(const double* scores, const double* labels, int64_t i, bool probabilities) {
  const double y = labels[i];
  const double s = scores[i];
  if ((y == 0 || y == 1) && (probabilities ? (s >= 0 && s <= 1) : !std::isnan(s))) return;
  SEAWALL_CHECK(!std::isnan(y), "the label of row ", i, " is missing (NaN)");
  SEAWALL_CHECK(y == 0 || y == 1, "the label of row ", i, " is ", y, ": binary labels are 0 or 1");
  SEAWALL_CHECK(!std::isnan(s), "the score of row ", i, " is NaN");
  SEAWALL_CHECK(false, "the probability of row ", i, " is ", s, ", outside [0, 1]");
}

void check_rows(const double* scores, const double* labels, int64_t n, bool probabilities) {
  check_all_rows(n, [&](int64_t i) { check_row(scores, labels, i, probabilities); });
}

// Whether every score is a float32 value (a model's float32 outputs): those sort as floats.
bool all_float32(const double* scores, int64_t n) {
  std::vector<uint8_t> piece_ok(static_cast<size_t>(piece_count(n)), 1);
  parallel_for(piece_count(n), 1, [&](int64_t first, int64_t last) {
    for (int64_t p = first; p < last; ++p) {
      bool ok = true;
      const int64_t end = std::min(n, (p + 1) * kPieceRows);
      for (int64_t i = p * kPieceRows; i < end; ++i) {
        ok &= static_cast<double>(static_cast<float>(scores[i])) == scores[i];
      }
      piece_ok[p] = ok;
    }
  });
  return std::all_of(piece_ok.begin(), piece_ok.end(), [](uint8_t ok) { return ok != 0; });
}

// term(v, count, sums) for each run of equal values v of sorted[begin, end): one term per
// distinct score (model scores tie a lot: float32 outputs, rounded probabilities). Large ranges
// go in parallel over fixed pieces (a run cut in two adds up the same), whose sums are added in
// order: the same result on any thread count.
template <int K, typename Term>
std::array<double, K> sum_runs(const double* sorted, int64_t begin, int64_t end, Term&& term) {
  auto piece = [&](int64_t from, int64_t to, std::array<AccurateSum, K>& sums) {
    int64_t i = from;
    while (i < to) {
      const double v = sorted[i];
      int64_t j = i + 1;
      while (j < to && sorted[j] == v) ++j;
      term(v, static_cast<double>(j - i), sums);
      i = j;
    }
  };
  const int64_t pieces = piece_count(end - begin);
  std::vector<std::array<AccurateSum, K>> partial(static_cast<size_t>(pieces));
  parallel_for(pieces, 1, [&](int64_t first, int64_t last) {
    for (int64_t p = first; p < last; ++p) {
      piece(begin + p * kPieceRows, std::min(end, begin + (p + 1) * kPieceRows), partial[p]);
    }
  });
  std::array<double, K> out{};
  for (int k = 0; k < K; ++k) {
    AccurateSum total;
    for (const auto& sums : partial) total.add(sums[k].value());
    out[k] = total.value();
  }
  return out;
}

// numpy.linspace(0, 1, bins + 1), as calibration_curve's uniform strategy makes its edges.
std::vector<double> uniform_edges(int32_t bins) {
  std::vector<double> edges(static_cast<size_t>(bins) + 1);
  const double step = 1.0 / bins;
  for (int32_t k = 0; k <= bins; ++k) edges[k] = k * step;
  edges[bins] = 1.0;
  return edges;
}

// numpy.percentile(scores, numpy.linspace(0, 1, bins + 1) * 100) on sorted scores: the quantile
// strategy's edges.
std::vector<double> quantile_edges(const std::vector<double>& sorted, int32_t bins) {
  std::vector<double> edges = uniform_edges(bins);
  for (double& q : edges) {
    q = percentile_of_sorted(sorted.data(), static_cast<int64_t>(sorted.size()), q * 100 / 100);
  }
  return edges;
}

// The bin of a score: how many interior edges lie below it (numpy.searchsorted, side "left").
int32_t bin_of(const std::vector<double>& edges, double score) {
  const auto first = edges.begin() + 1;
  const auto last = edges.end() - 1;
  return static_cast<int32_t>(std::lower_bound(first, last, score) - first);
}

int64_t at_least(const double* sorted, int64_t n, double threshold) {
  return n - (std::lower_bound(sorted, sorted + n, threshold) - sorted);
}

double ratio(double num, double den) { return den > 0 ? num / den : kNaN; }

struct GroupRows {
  const double* neg;
  int64_t n_neg;
  const double* pos;
  int64_t n_pos;
};

void calibration(const GroupRows& g, const std::vector<double>& edges, BinaryMetrics& m) {
  const auto bins = static_cast<int32_t>(edges.size()) - 1;
  // first row above edge k, in each class (edge 0 takes every row at or below edge 1)
  auto start = [&](const double* sorted, int64_t n, int32_t k) -> int64_t {
    if (k == 0) return 0;
    if (k == bins) return n;
    return std::upper_bound(sorted, sorted + n, edges[k]) - sorted;
  };
  AccurateSum gap;
  const auto total = static_cast<double>(g.n_pos + g.n_neg);
  for (int32_t k = 0; k < bins; ++k) {
    const int64_t p0 = start(g.pos, g.n_pos, k), p1 = start(g.pos, g.n_pos, k + 1);
    const int64_t n0 = start(g.neg, g.n_neg, k), n1 = start(g.neg, g.n_neg, k + 1);
    const int64_t count = (p1 - p0) + (n1 - n0);
    if (count == 0) continue;
    auto add = [](double v, double count, std::array<AccurateSum, 1>& sums) {
      sums[0].add(count * v);
    };
    const double score_sum = sum_runs<1>(g.pos, p0, p1, add)[0] + sum_runs<1>(g.neg, n0, n1, add)[0];
    CalibrationBin bin;
    bin.lower = edges[k];
    bin.upper = edges[k + 1];
    bin.count = count;
    bin.positives = p1 - p0;
    bin.mean_predicted = score_sum / static_cast<double>(count);
    bin.fraction_positive = static_cast<double>(p1 - p0) / static_cast<double>(count);
    gap.add(static_cast<double>(count) / total * std::fabs(bin.fraction_positive - bin.mean_predicted));
    m.calibration.push_back(bin);
  }
  m.values[static_cast<int>(BinaryMetric::kExpectedCalibrationError)] = gap.value();
}

void losses(const GroupRows& g, BinaryMetrics& m) {
  // [0]: log loss, [1]: Brier
  const auto pos = sum_runs<2>(g.pos, 0, g.n_pos, [](double p, double count, auto& sums) {
    sums[0].add(count * -std::log(std::clamp(p, kEps, 1 - kEps)));
    sums[1].add(count * ((1 - p) * (1 - p)));
  });
  const auto neg = sum_runs<2>(g.neg, 0, g.n_neg, [](double p, double count, auto& sums) {
    sums[0].add(count * -std::log(std::clamp(1 - p, kEps, 1 - kEps)));
    sums[1].add(count * (p * p));
  });
  const auto n = static_cast<double>(g.n_pos + g.n_neg);
  m.values[static_cast<int>(BinaryMetric::kLogLoss)] = (pos[0] + neg[0]) / n;
  m.values[static_cast<int>(BinaryMetric::kBrier)] = (pos[1] + neg[1]) / n;
}

void threshold_metrics(const GroupRows& g, double threshold, BinaryMetrics& m) {
  m.tp = at_least(g.pos, g.n_pos, threshold);
  m.fp = at_least(g.neg, g.n_neg, threshold);
  m.fn = g.n_pos - m.tp;
  m.tn = g.n_neg - m.fp;
  const auto tp = static_cast<double>(m.tp), fp = static_cast<double>(m.fp);
  const auto fn = static_cast<double>(m.fn), tn = static_cast<double>(m.tn);
  m.values[static_cast<int>(BinaryMetric::kAccuracy)] = ratio(tp + tn, tp + tn + fp + fn);
  m.values[static_cast<int>(BinaryMetric::kPrecision)] = ratio(tp, tp + fp);
  m.values[static_cast<int>(BinaryMetric::kRecall)] = ratio(tp, tp + fn);
  m.values[static_cast<int>(BinaryMetric::kF1)] = ratio(2 * tp, 2 * tp + fp + fn);
}

void fill_rows(const GroupRows& g, const BinaryOptions& o, uint32_t metrics,
               const std::vector<double>& edges, BinaryRows& rows) {
  const int64_t n = g.n_pos + g.n_neg;
  rows.code.reserve(static_cast<size_t>(n));
  const bool losses_wanted =
      wants(metrics, BinaryMetric::kLogLoss) || wants(metrics, BinaryMetric::kBrier);
  const bool calibration_wanted = wants(metrics, BinaryMetric::kExpectedCalibrationError);
  if (losses_wanted) {
    rows.log_loss.reserve(static_cast<size_t>(n));
    rows.brier.reserve(static_cast<size_t>(n));
  }
  if (calibration_wanted) {
    rows.score.reserve(static_cast<size_t>(n));
    rows.bin.reserve(static_cast<size_t>(n));
    rows.bins = static_cast<int32_t>(edges.size()) - 1;
  }
  walk_descending(g.pos, g.n_pos, g.neg, g.n_neg, [&](double v, int64_t dp, int64_t dn) {
    if (v >= o.threshold) rows.predicted_positive += dp + dn;
    if (dp + dn > 1) rows.distinct = false;
    const auto bin = calibration_wanted ? static_cast<uint16_t>(bin_of(edges, v)) : uint16_t{0};
    for (int64_t k = 0; k < dp + dn; ++k) {
      const bool positive = k < dp;
      rows.code.push_back(static_cast<uint8_t>((positive ? 1 : 0) | (k == dp + dn - 1 ? 2 : 0)));
      if (losses_wanted) {
        const double p = positive ? v : 1 - v;
        rows.log_loss.push_back(static_cast<float>(-std::log(std::clamp(p, kEps, 1 - kEps))));
        rows.brier.push_back(static_cast<float>((1 - p) * (1 - p)));
      }
      if (calibration_wanted) {
        rows.score.push_back(static_cast<float>(v));
        rows.bin.push_back(bin);
      }
    }
  });
}

}  // namespace

uint32_t resampled_binary_metrics(const BinaryOptions& options) {
  uint32_t m = options.bootstrap_metrics & ((1u << kBinaryMetricCount) - 1);
  if (!options.probabilities) {
    for (BinaryMetric dropped : {BinaryMetric::kLogLoss, BinaryMetric::kBrier,
                                 BinaryMetric::kExpectedCalibrationError}) {
      m &= ~(1u << static_cast<int>(dropped));
    }
  }
  return m;
}

std::vector<BinaryMetrics> binary_metrics(const double* scores, const double* labels, int64_t n,
                                          Groups groups, const BinaryOptions& options) {
  check_options(options);
  check_groups(groups, n);
  const int32_t count = groups.count;
  // Bucket 2g holds group g's negatives, 2g + 1 its positives; each is sorted once.
  auto bucket_of = [&](int64_t i) -> int64_t {
    const int32_t g = group_of(groups, i);
    return g < 0 ? -1 : 2 * int64_t{g} + (labels[i] == 1 ? 1 : 0);
  };
  check_rows(scores, labels, n, options.probabilities);  // every row, in a group or not
  const int64_t buckets = 2 * int64_t{count};
  const Buckets layout(n, buckets, bucket_of);
  const std::vector<int64_t>& offsets = layout.offsets();
  std::vector<double> sorted(static_cast<size_t>(offsets.back()));
  if (all_float32(scores, n)) {  // float32 values sort as 32-bit keys, about twice as fast
    std::vector<float> narrow(sorted.size());
    layout.scatter(bucket_of, [&](int64_t row, int64_t at) {
      narrow[at] = static_cast<float>(scores[row]);
    });
    parallel_for(buckets, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        sort_floats(narrow.data() + offsets[b], static_cast<size_t>(offsets[b + 1] - offsets[b]));
        std::copy(narrow.begin() + offsets[b], narrow.begin() + offsets[b + 1],
                  sorted.begin() + offsets[b]);
      }
    });
  } else {
    layout.scatter(bucket_of, [&](int64_t row, int64_t at) { sorted[at] = scores[row]; });
    parallel_for(buckets, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        sort_doubles(sorted.data() + offsets[b], static_cast<size_t>(offsets[b + 1] - offsets[b]));
      }
    });
  }

  const uint32_t resampled = options.bootstrap.resamples > 0 ? resampled_binary_metrics(options) : 0;
  const std::vector<double> fixed_edges = uniform_edges(options.calibration_bins);
  std::vector<BinaryMetrics> results(static_cast<size_t>(count));
  std::vector<BinaryRows> rows(resampled != 0 ? static_cast<size_t>(count) : 0);
  parallel_for(count, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> merged;
    for (int64_t g = begin; g < end; ++g) {
      const GroupRows group{sorted.data() + offsets[2 * g], offsets[2 * g + 1] - offsets[2 * g],
                            sorted.data() + offsets[2 * g + 1],
                            offsets[2 * g + 2] - offsets[2 * g + 1]};
      BinaryMetrics& m = results[g];
      m.values.fill(kNaN);
      m.positives = group.n_pos;
      m.count = group.n_pos + group.n_neg;
      const Ranking r = ranking_metrics(group.pos, group.n_pos, group.neg, group.n_neg,
                                        options.curve_points, &m.roc, &m.pr);
      m.values[static_cast<int>(BinaryMetric::kRocAuc)] = r.roc_auc;
      m.values[static_cast<int>(BinaryMetric::kAveragePrecision)] = r.average_precision;
      threshold_metrics(group, options.threshold, m);
      if (m.count == 0) continue;
      const std::vector<double>* edges = &fixed_edges;
      std::vector<double> own_edges;
      if (options.probabilities) {
        losses(group, m);
        if (options.calibration_strategy == CalibrationStrategy::kQuantile) {
          merged.resize(static_cast<size_t>(m.count));
          std::merge(group.neg, group.neg + group.n_neg, group.pos, group.pos + group.n_pos,
                     merged.begin());
          own_edges = quantile_edges(merged, options.calibration_bins);
          edges = &own_edges;
        }
        calibration(group, *edges, m);
      }
      if (resampled != 0) fill_rows(group, options, resampled, *edges, rows[g]);
    }
  });

  if (resampled != 0) {
    const int64_t resamples = options.bootstrap.resamples;
    // values[g][metric * resamples + r]
    std::vector<std::vector<double>> values(static_cast<size_t>(count));
    for (auto& v : values) v.assign(static_cast<size_t>(kBinaryMetricCount * resamples), kNaN);
    parallel_for(int64_t{count} * resamples, 1, [&](int64_t begin, int64_t end) {
      std::array<double, kBinaryMetricCount> one{};
      for (int64_t task = begin; task < end; ++task) {
        const int64_t g = task / resamples, r = task % resamples;
        if (rows[g].code.empty()) continue;
        one.fill(kNaN);
        resample_binary(rows[g], resampled, resample_seed(options.bootstrap.seed, g, r), one);
        for (int k = 0; k < kBinaryMetricCount; ++k) values[g][k * resamples + r] = one[k];
      }
    });
    for (int32_t g = 0; g < count; ++g) {
      for (int k = 0; k < kBinaryMetricCount; ++k) {
        if (!((resampled >> k) & 1u)) continue;
        std::vector<double> v(values[g].begin() + k * resamples,
                              values[g].begin() + (k + 1) * resamples);
        results[g].intervals[k] = interval_of(v, options.bootstrap);
      }
    }
  }
  return results;
}

std::vector<ConfusionCounts> confusion_by_group(const double* scores, const double* labels,
                                                int64_t n, Groups groups, double threshold) {
  SEAWALL_CHECK(!std::isnan(threshold), "threshold must be a number, got NaN");
  check_groups(groups, n);
  check_rows(scores, labels, n, false);
  const int32_t count = groups.count;
  // Per piece of rows, counts per group and cell; merged in piece order.
  const int64_t pieces = piece_count(n);
  std::vector<int64_t> cells(static_cast<size_t>(pieces * count * 4), 0);
  parallel_for(pieces, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      int64_t* c = cells.data() + p * count * 4;
      const int64_t last = std::min(n, (p + 1) * kPieceRows);
      for (int64_t i = p * kPieceRows; i < last; ++i) {
        const int32_t g = group_of(groups, i);
        if (g < 0) continue;
        const int predicted = scores[i] >= threshold ? 1 : 0;
        const int actual = labels[i] == 1 ? 1 : 0;
        ++c[int64_t{g} * 4 + actual * 2 + predicted];
      }
    }
  });
  std::vector<ConfusionCounts> out(static_cast<size_t>(count));
  for (int64_t p = 0; p < pieces; ++p) {
    const int64_t* c = cells.data() + p * count * 4;
    for (int32_t g = 0; g < count; ++g) {
      out[g].tn += c[g * 4 + 0];
      out[g].fp += c[g * 4 + 1];
      out[g].fn += c[g * 4 + 2];
      out[g].tp += c[g * 4 + 3];
    }
  }
  return out;
}

}  // namespace seawall::evaluation
