// Multiclass metrics per group. The one-vs-rest ROC AUC sorts each class's column once (split
// by whether the row is of that class); the bootstrap walks those orders with each resample's
// weights.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "bootstrap_internal.h"
#include "grouping_internal.h"
#include "ranking_internal.h"
#include "seawall/core/sort.h"
#include "seawall/core/thread_pool.h"
#include "seawall/errors.h"
#include "seawall/evaluation/classification.h"

namespace seawall::evaluation {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr double kRowSumTolerance = 1e-4;  // float32 probabilities sum to 1 within ~1e-6
constexpr int32_t kMaxClasses = 1 << 16;

inline bool wants(uint32_t mask, MulticlassMetric m) { return (mask >> static_cast<int>(m)) & 1u; }

void check_row(const double* p, const double* labels, int64_t i, int32_t k) {
  const double y = labels[i];
  if (!(y >= 0 && y < k && y == std::floor(y))) {
    SEAWALL_CHECK(!std::isnan(y), "the label of row ", i, " is missing (NaN)");
    SEAWALL_CHECK(false, "the label of row ", i, " is ", y, ": class indices are 0 to ", k - 1);
  }
  AccurateSum sum;
  for (int32_t c = 0; c < k; ++c) {
    const double v = p[i * k + c];
    SEAWALL_CHECK(!std::isnan(v), "the probability of class ", c, " in row ", i, " is NaN");
    SEAWALL_CHECK(v >= 0 && v <= 1, "the probability of class ", c, " in row ", i, " is ", v,
                  ", outside [0, 1]");
    sum.add(v);
  }
  SEAWALL_CHECK(std::fabs(sum.value() - 1) <= kRowSumTolerance, "the probabilities of row ", i,
                " sum to ", sum.value(), ", not 1");
}

int32_t argmax(const double* row, int32_t k) {
  int32_t best = 0;
  for (int32_t c = 1; c < k; ++c) {
    if (row[c] > row[best]) best = c;
  }
  return best;
}

// One group's rows, with what every resample reads.
struct GroupData {
  std::vector<int64_t> rows;        // row numbers of the input
  std::vector<int32_t> label;       // per group row
  std::vector<int32_t> predicted;   // argmax
  std::vector<float> log_loss;      // each row's term
  std::vector<float> brier;
  // per class: group rows by falling probability of that class, and their codes (bit 0: of
  // that class; bit 1: last of a run of equal probabilities)
  std::vector<std::vector<int32_t>> order;
  std::vector<std::vector<uint8_t>> code;
};

double macro_from_confusion(const std::vector<double>& cm, int32_t k, MulticlassMetric which) {
  AccurateSum sum;
  for (int32_t c = 0; c < k; ++c) {
    double tp = cm[c * k + c], actual = 0, predicted = 0;
    for (int32_t j = 0; j < k; ++j) {
      actual += cm[c * k + j];
      predicted += cm[j * k + c];
    }
    const double fp = predicted - tp, fn = actual - tp;
    double v = 0;  // sklearn's zero_division=0
    if (which == MulticlassMetric::kPrecision && predicted > 0) v = tp / predicted;
    if (which == MulticlassMetric::kRecall && actual > 0) v = tp / actual;
    if (which == MulticlassMetric::kF1 && 2 * tp + fp + fn > 0) v = 2 * tp / (2 * tp + fp + fn);
    sum.add(v);
  }
  return sum.value() / k;
}

void set_confusion_metrics(const std::vector<double>& cm, int32_t k, double total,
                           std::array<double, kMulticlassMetricCount>& values) {
  double correct = 0;
  for (int32_t c = 0; c < k; ++c) correct += cm[c * k + c];
  values[static_cast<int>(MulticlassMetric::kAccuracy)] = correct / total;
  for (MulticlassMetric m :
       {MulticlassMetric::kPrecision, MulticlassMetric::kRecall, MulticlassMetric::kF1}) {
    values[static_cast<int>(m)] = macro_from_confusion(cm, k, m);
  }
}

double macro_auc(const std::vector<double>& per_class) {
  AccurateSum sum;
  for (double v : per_class) {
    if (std::isnan(v)) return kNaN;
    sum.add(v);
  }
  return sum.value() / static_cast<double>(per_class.size());
}

void resample(const GroupData& d, int32_t k, uint32_t metrics, uint64_t seed,
              std::array<double, kMulticlassMetricCount>& values) {
  const auto n = static_cast<int64_t>(d.rows.size());
  thread_local std::vector<uint8_t> w;
  thread_local std::vector<uint8_t> gathered;
  w.resize(static_cast<size_t>(n));
  PoissonWeights(seed).fill(w.data(), n);
  std::vector<double> cm(static_cast<size_t>(k) * k, 0);
  double total = 0, log_loss = 0, brier = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double wi = w[i];
    total += wi;
    cm[static_cast<size_t>(d.label[i]) * k + d.predicted[i]] += wi;
    log_loss += wi * d.log_loss[i];
    brier += wi * d.brier[i];
  }
  if (total == 0) return;
  set_confusion_metrics(cm, k, total, values);
  values[static_cast<int>(MulticlassMetric::kLogLoss)] = log_loss / total;
  values[static_cast<int>(MulticlassMetric::kBrier)] = brier / total;
  if (wants(metrics, MulticlassMetric::kRocAuc)) {
    std::vector<double> per_class(static_cast<size_t>(k));
    gathered.resize(static_cast<size_t>(n));
    for (int32_t c = 0; c < k; ++c) {
      const auto& order = d.order[c];
      for (int64_t i = 0; i < n; ++i) gathered[i] = w[order[i]];
      RankingSums sums;
      sums.add(d.code[c].data(), gathered.data(), n, false);
      per_class[c] = sums.roc_auc();
    }
    values[static_cast<int>(MulticlassMetric::kRocAuc)] = macro_auc(per_class);
  }
}

}  // namespace

std::vector<MulticlassMetrics> multiclass_metrics(const double* probabilities, const double* labels,
                                                  int64_t n, int32_t classes, Groups groups,
                                                  const MulticlassOptions& options) {
  SEAWALL_CHECK(classes >= 2 && classes <= kMaxClasses, "classes must be from 2 to ", kMaxClasses,
                ", got ", classes);
  SEAWALL_CHECK(options.bootstrap.resamples >= 0, "bootstrap resamples must not be negative, got ",
                options.bootstrap.resamples);
  SEAWALL_CHECK(options.bootstrap.confidence > 0 && options.bootstrap.confidence < 1,
                "confidence must be in (0, 1), got ", options.bootstrap.confidence);
  check_groups(groups, n);
  check_all_rows(n, [&](int64_t i) { check_row(probabilities, labels, i, classes); });
  const int32_t k = classes;
  const int32_t count = groups.count;
  auto bucket_of = [&](int64_t i) -> int64_t { return group_of(groups, i); };
  const Buckets layout(n, count, bucket_of);
  const std::vector<int64_t>& offsets = layout.offsets();
  std::vector<int64_t> rows(static_cast<size_t>(offsets.back()));
  layout.scatter(bucket_of, [&](int64_t row, int64_t at) { rows[at] = row; });

  const int64_t resamples = options.bootstrap.resamples;
  const uint32_t wanted = resamples > 0 ? options.bootstrap_metrics & ((1u << kMulticlassMetricCount) - 1) : 0;
  std::vector<MulticlassMetrics> results(static_cast<size_t>(count));
  std::vector<GroupData> data(static_cast<size_t>(count));
  parallel_for(count, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> pos, neg;
    std::vector<std::pair<double, int32_t>> by_score;
    std::vector<uint8_t> ones;
    for (int64_t g = begin; g < end; ++g) {
      MulticlassMetrics& m = results[g];
      GroupData& d = data[g];
      m.values.fill(kNaN);
      d.rows.assign(rows.begin() + offsets[g], rows.begin() + offsets[g + 1]);
      const auto size = static_cast<int64_t>(d.rows.size());
      m.count = size;
      m.confusion.assign(static_cast<size_t>(k) * k, 0);
      m.class_roc_auc.assign(static_cast<size_t>(k), kNaN);
      if (size == 0) continue;
      d.label.resize(size);
      d.predicted.resize(size);
      d.log_loss.resize(size);
      d.brier.resize(size);
      AccurateSum log_loss, brier;
      for (int64_t i = 0; i < size; ++i) {
        const double* p = probabilities + d.rows[i] * k;
        const auto y = static_cast<int32_t>(labels[d.rows[i]]);
        d.label[i] = y;
        d.predicted[i] = argmax(p, k);
        ++m.confusion[static_cast<size_t>(y) * k + d.predicted[i]];
        const double ll = -std::log(std::clamp(p[y], kEps, 1 - kEps));
        double sq = 0;
        for (int32_t c = 0; c < k; ++c) {
          const double diff = (c == y ? 1.0 : 0.0) - p[c];
          sq += diff * diff;
        }
        if (k < 3) sq *= 0.5;  // sklearn's scale_by_half="auto" for two columns
        log_loss.add(ll);
        brier.add(sq);
        d.log_loss[i] = static_cast<float>(ll);
        d.brier[i] = static_cast<float>(sq);
      }
      std::vector<double> cm(m.confusion.begin(), m.confusion.end());
      set_confusion_metrics(cm, k, static_cast<double>(size), m.values);
      m.values[static_cast<int>(MulticlassMetric::kLogLoss)] = log_loss.value() / size;
      m.values[static_cast<int>(MulticlassMetric::kBrier)] = brier.value() / size;
      const bool resample_auc = wants(wanted, MulticlassMetric::kRocAuc);
      if (resample_auc) {
        d.order.resize(k);
        d.code.resize(k);
      }
      for (int32_t c = 0; c < k; ++c) {
        if (!resample_auc) {
          pos.clear();
          neg.clear();
          for (int64_t i = 0; i < size; ++i) {
            (d.label[i] == c ? pos : neg).push_back(probabilities[d.rows[i] * k + c]);
          }
          sort_doubles(pos);
          sort_doubles(neg);
          m.class_roc_auc[c] = ranking_metrics(pos.data(), static_cast<int64_t>(pos.size()),
                                               neg.data(), static_cast<int64_t>(neg.size()), 0,
                                               nullptr, nullptr)
                                   .roc_auc;
          continue;
        }
        // The resampled walk needs each row's place: one sort of (probability, row) pairs.
        by_score.resize(static_cast<size_t>(size));
        for (int64_t i = 0; i < size; ++i) {
          by_score[i] = {probabilities[d.rows[i] * k + c], static_cast<int32_t>(i)};
        }
        std::sort(by_score.begin(), by_score.end(),
                  [](const auto& a, const auto& b) { return a.first > b.first; });
        auto& order = d.order[c];
        auto& code = d.code[c];
        order.resize(size);
        code.resize(size);
        for (int64_t i = 0; i < size; ++i) {
          order[i] = by_score[i].second;
          const bool last = i + 1 == size || by_score[i + 1].first != by_score[i].first;
          code[i] = static_cast<uint8_t>((d.label[order[i]] == c ? 1 : 0) | (last ? 2 : 0));
        }
        ones.assign(static_cast<size_t>(size), 1);
        RankingSums sums;
        sums.add(code.data(), ones.data(), size, false);
        m.class_roc_auc[c] = sums.roc_auc();
      }
      m.values[static_cast<int>(MulticlassMetric::kRocAuc)] = macro_auc(m.class_roc_auc);
    }
  });
  if (wanted == 0) return results;
  std::vector<std::vector<double>> values(static_cast<size_t>(count));
  for (auto& v : values) v.assign(static_cast<size_t>(kMulticlassMetricCount * resamples), kNaN);
  parallel_for(int64_t{count} * resamples, 1, [&](int64_t begin, int64_t end) {
    std::array<double, kMulticlassMetricCount> one{};
    for (int64_t task = begin; task < end; ++task) {
      const int64_t g = task / resamples, r = task % resamples;
      if (data[g].rows.empty()) continue;
      one.fill(kNaN);
      resample(data[g], k, wanted, resample_seed(options.bootstrap.seed, g, r), one);
      for (int c = 0; c < kMulticlassMetricCount; ++c) values[g][c * resamples + r] = one[c];
    }
  });
  for (int32_t g = 0; g < count; ++g) {
    for (int c = 0; c < kMulticlassMetricCount; ++c) {
      if (!((wanted >> c) & 1u)) continue;
      std::vector<double> v(values[g].begin() + c * resamples, values[g].begin() + (c + 1) * resamples);
      results[g].intervals[c] = interval_of(v, options.bootstrap);
    }
  }
  return results;
}

}  // namespace seawall::evaluation
