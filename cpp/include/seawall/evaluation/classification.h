// Classification metrics per group, each equal to scikit-learn's on the same float64 input
// (ties included): binary ROC AUC, average precision, log loss, Brier score, accuracy,
// precision, recall and F1 at a threshold, the confusion matrix and calibration; multiclass
// accuracy, log loss, Brier score, one-vs-rest ROC AUC and macro precision, recall and F1.
//
// Each group's scores are sorted once (split by label, which is the same work), and every
// ranking metric, curve and calibration bin is read off the sorted rows. A metric that is
// undefined for a group (ROC AUC with one class only, precision with no predicted positive) is
// NaN here, with the counts beside it that say why; the Python layer reports it as undefined.
// Caller errors throw seawall::InvalidInput naming the row: a label that is not a class (NaN
// included), a NaN score, a probability outside [0, 1], a group id out of range.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "seawall/evaluation/groups.h"

namespace seawall::evaluation {

enum class BinaryMetric : int {
  kRocAuc,
  kAveragePrecision,
  kLogLoss,
  kBrier,
  kAccuracy,
  kPrecision,
  kRecall,
  kF1,
  kExpectedCalibrationError,
};
inline constexpr int kBinaryMetricCount = 9;

enum class CalibrationStrategy {
  kUniform,   // bins of equal width on [0, 1]
  kQuantile,  // bins of (about) equal counts: edges at numpy's "linear" percentiles of the scores
};

struct BinaryOptions {
  double threshold = 0.5;      // a row is predicted positive when its score >= threshold
  bool probabilities = true;   // false: scores are any ranking (ROC AUC and AP only are computed)
  int32_t calibration_bins = 10;
  CalibrationStrategy calibration_strategy = CalibrationStrategy::kUniform;
  int32_t curve_points = 0;    // > 0: ROC and PR curves thinned to about this many points
  Bootstrap bootstrap;
  uint32_t bootstrap_metrics = ~0u;  // bit i: resample BinaryMetric i
};

// One bin of the reliability curve (sklearn.calibration.calibration_curve keeps the non-empty
// ones): rows with lower < score <= upper (the first bin also takes score == lower).
struct CalibrationBin {
  double lower = 0;
  double upper = 0;
  int64_t count = 0;
  int64_t positives = 0;
  double mean_predicted = 0;     // calibration_curve's prob_pred
  double fraction_positive = 0;  // calibration_curve's prob_true
};

// Points of a curve in order, each with the score threshold that gives it.
struct Curve {
  std::vector<double> x;
  std::vector<double> y;
  std::vector<double> threshold;
};

struct BinaryMetrics {
  int64_t count = 0;
  int64_t positives = 0;
  std::array<double, kBinaryMetricCount> values{};  // by BinaryMetric; NaN where undefined
  std::array<Interval, kBinaryMetricCount> intervals{};
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;     // at the threshold
  std::vector<CalibrationBin> calibration;  // non-empty bins, lowest first
  Curve roc;                                 // x: false positive rate, y: true positive rate
  Curve pr;                                  // x: recall, y: precision (recall falling)
};

// Metrics of scores[i] (the positive class's probability, or any score with probabilities
// false) against labels[i] (0 or 1) for each group; one result per group id.
std::vector<BinaryMetrics> binary_metrics(const double* scores, const double* labels, int64_t n,
                                          Groups groups, const BinaryOptions& options);

// Counts at a threshold, one linear pass (what fairness metrics need, no sort).
struct ConfusionCounts {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
};

std::vector<ConfusionCounts> confusion_by_group(const double* scores, const double* labels,
                                                int64_t n, Groups groups, double threshold);

enum class MulticlassMetric : int {
  kAccuracy,
  kLogLoss,
  kBrier,
  kRocAuc,     // one-vs-rest, macro average (sklearn's multi_class="ovr", average="macro")
  kPrecision,  // macro average; a class never predicted counts 0, as sklearn's zero_division
  kRecall,     // macro average; a class absent from the labels counts 0
  kF1,         // macro average
};
inline constexpr int kMulticlassMetricCount = 7;

struct MulticlassOptions {
  Bootstrap bootstrap;
  uint32_t bootstrap_metrics = ~0u;
};

struct MulticlassMetrics {
  int64_t count = 0;
  std::array<double, kMulticlassMetricCount> values{};
  std::array<Interval, kMulticlassMetricCount> intervals{};
  std::vector<int64_t> confusion;      // classes x classes, row: label, column: prediction
  std::vector<double> class_roc_auc;   // one-vs-rest, per class; NaN for a class absent or alone
};

// probabilities: n rows x classes, row-major, each row summing to 1 (within 1e-4); labels:
// class indices 0 .. classes-1 as float64. The prediction is the first class of highest
// probability (numpy's argmax).
std::vector<MulticlassMetrics> multiclass_metrics(const double* probabilities, const double* labels,
                                                  int64_t n, int32_t classes, Groups groups,
                                                  const MulticlassOptions& options);

}  // namespace seawall::evaluation
