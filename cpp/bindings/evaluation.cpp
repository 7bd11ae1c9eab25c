// Model evaluation metrics: exposed to seawall.evaluation. Python validates shapes and turns
// labels, scores and slices into contiguous float64 arrays and int32 group ids; here they become
// spans, the metrics run without the GIL, and the results come back as numpy arrays by group.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings.h"
#include "gil.h"
#include "seawall/errors.h"
#include "seawall/evaluation/classification.h"
#include "seawall/evaluation/regression.h"

namespace seawall::bindings {

namespace ev = seawall::evaluation;

namespace {

using Int32Array = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

const double* data_of(const Float64Array& a, int64_t n, const char* name) {
  SEAWALL_CHECK(a.ndim() == 1, name, " must be 1-D, got ", a.ndim(), " dimensions");
  SEAWALL_CHECK(static_cast<int64_t>(a.size()) == n, name, " has ", a.size(), " values, not ", n);
  return a.data();
}

ev::Groups groups_of(const std::optional<Int32Array>& ids, int32_t count, int64_t n) {
  if (!ids) return ev::Groups{nullptr, count};
  SEAWALL_CHECK(ids->ndim() == 1 && static_cast<int64_t>(ids->size()) == n,
                "group ids must be 1-D with one id per row (", n, ")");
  return ev::Groups{ids->data(), count};
}

ev::Bootstrap bootstrap_of(int32_t resamples, double confidence, uint64_t seed) {
  ev::Bootstrap b;
  b.resamples = resamples;
  b.confidence = confidence;
  b.seed = seed;
  return b;
}

template <typename T>
py::array_t<T> array_2d(int64_t rows, int64_t cols) {
  return py::array_t<T>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
}

template <typename T>
py::array_t<T> array_of(const std::vector<T>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

// values, interval ends and defined resamples, one row per group, one column per metric.
template <int kCount, typename Result>
py::dict metric_table(const std::vector<Result>& results) {
  const auto groups = static_cast<int64_t>(results.size());
  auto values = array_2d<double>(groups, kCount);
  auto low = array_2d<double>(groups, kCount);
  auto high = array_2d<double>(groups, kCount);
  auto resamples = array_2d<int32_t>(groups, kCount);
  auto count = py::array_t<int64_t>(static_cast<py::ssize_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    count.mutable_at(g) = results[g].count;
    for (int k = 0; k < kCount; ++k) {
      values.mutable_at(g, k) = results[g].values[k];
      low.mutable_at(g, k) = results[g].intervals[k].low;
      high.mutable_at(g, k) = results[g].intervals[k].high;
      resamples.mutable_at(g, k) = results[g].intervals[k].resamples;
    }
  }
  py::dict out;
  out["count"] = count;
  out["values"] = values;
  out["low"] = low;
  out["high"] = high;
  out["resamples"] = resamples;
  return out;
}

py::dict curve_dict(const ev::Curve& c) {
  py::dict d;
  d["x"] = array_of(c.x);
  d["y"] = array_of(c.y);
  d["threshold"] = array_of(c.threshold);
  return d;
}

}  // namespace

void bind_evaluation(py::module_& m) {
  m.attr("BINARY_METRICS") =
      py::make_tuple("roc_auc", "average_precision", "log_loss", "brier", "accuracy", "precision",
                     "recall", "f1", "expected_calibration_error");
  m.attr("MULTICLASS_METRICS") = py::make_tuple("accuracy", "log_loss", "brier", "roc_auc",
                                                "precision", "recall", "f1");
  m.attr("REGRESSION_METRICS") = py::make_tuple("mae", "rmse", "r2", "pinball");
  m.def(
      "binary_metrics",
      [](const Float64Array& scores, const Float64Array& labels,
         const std::optional<Int32Array>& group_ids, int32_t groups, double threshold,
         bool probabilities, int32_t calibration_bins, const std::string& calibration_strategy,
         int32_t curve_points, int32_t resamples, double confidence, uint64_t seed,
         uint32_t bootstrap_metrics) {
        const auto n = static_cast<int64_t>(scores.size());
        const double* s = data_of(scores, n, "scores");
        const double* y = data_of(labels, n, "labels");
        const ev::Groups g = groups_of(group_ids, groups, n);
        ev::BinaryOptions o;
        o.threshold = threshold;
        o.probabilities = probabilities;
        o.calibration_bins = calibration_bins;
        if (calibration_strategy == "uniform") {
          o.calibration_strategy = ev::CalibrationStrategy::kUniform;
        } else if (calibration_strategy == "quantile") {
          o.calibration_strategy = ev::CalibrationStrategy::kQuantile;
        } else {
          throw InvalidInput("calibration strategy must be 'uniform' or 'quantile', got '" +
                             calibration_strategy + "'");
        }
        o.curve_points = curve_points;
        o.bootstrap = bootstrap_of(resamples, confidence, seed);
        o.bootstrap_metrics = bootstrap_metrics;
        const auto results = without_gil([&] { return ev::binary_metrics(s, y, n, g, o); });
        py::dict out = metric_table<ev::kBinaryMetricCount>(results);
        const auto count = static_cast<int64_t>(results.size());
        auto positives = py::array_t<int64_t>(static_cast<py::ssize_t>(count));
        auto confusion = array_2d<int64_t>(count, 4);
        py::list calibration, roc, pr;
        for (int64_t i = 0; i < count; ++i) {
          const ev::BinaryMetrics& r = results[i];
          positives.mutable_at(i) = r.positives;
          confusion.mutable_at(i, 0) = r.tn;
          confusion.mutable_at(i, 1) = r.fp;
          confusion.mutable_at(i, 2) = r.fn;
          confusion.mutable_at(i, 3) = r.tp;
          auto bins = array_2d<double>(static_cast<int64_t>(r.calibration.size()), 6);
          for (size_t b = 0; b < r.calibration.size(); ++b) {
            const ev::CalibrationBin& c = r.calibration[b];
            const auto k = static_cast<py::ssize_t>(b);
            bins.mutable_at(k, 0) = c.lower;
            bins.mutable_at(k, 1) = c.upper;
            bins.mutable_at(k, 2) = static_cast<double>(c.count);
            bins.mutable_at(k, 3) = static_cast<double>(c.positives);
            bins.mutable_at(k, 4) = c.mean_predicted;
            bins.mutable_at(k, 5) = c.fraction_positive;
          }
          calibration.append(bins);
          roc.append(curve_dict(r.roc));
          pr.append(curve_dict(r.pr));
        }
        out["positives"] = positives;
        out["confusion"] = confusion;
        out["calibration"] = calibration;
        out["roc"] = roc;
        out["pr"] = pr;
        return out;
      },
      py::arg("scores"), py::arg("labels"), py::arg("group_ids"), py::arg("groups"),
      py::arg("threshold"), py::arg("probabilities"), py::arg("calibration_bins"),
      py::arg("calibration_strategy"), py::arg("curve_points"), py::arg("resamples"),
      py::arg("confidence"), py::arg("seed"), py::arg("bootstrap_metrics"),
      "{count, positives, values, low, high, resamples, confusion (tn fp fn tp), calibration "
      "(lower upper count positives mean_predicted fraction_positive), roc, pr} by group");
  m.def(
      "confusion_by_group",
      [](const Float64Array& scores, const Float64Array& labels,
         const std::optional<Int32Array>& group_ids, int32_t groups, double threshold) {
        const auto n = static_cast<int64_t>(scores.size());
        const double* s = data_of(scores, n, "scores");
        const double* y = data_of(labels, n, "labels");
        const ev::Groups g = groups_of(group_ids, groups, n);
        const auto counts =
            without_gil([&] { return ev::confusion_by_group(s, y, n, g, threshold); });
        auto out = array_2d<int64_t>(static_cast<int64_t>(counts.size()), 4);
        for (size_t i = 0; i < counts.size(); ++i) {
          const auto k = static_cast<py::ssize_t>(i);
          out.mutable_at(k, 0) = counts[i].tn;
          out.mutable_at(k, 1) = counts[i].fp;
          out.mutable_at(k, 2) = counts[i].fn;
          out.mutable_at(k, 3) = counts[i].tp;
        }
        return out;
      },
      py::arg("scores"), py::arg("labels"), py::arg("group_ids"), py::arg("groups"),
      py::arg("threshold"), "(tn, fp, fn, tp) by group");
  m.def(
      "multiclass_metrics",
      [](const Float64Array& probabilities, const Float64Array& labels,
         const std::optional<Int32Array>& group_ids, int32_t groups, int32_t resamples,
         double confidence, uint64_t seed, uint32_t bootstrap_metrics) {
        SEAWALL_CHECK(probabilities.ndim() == 2, "probabilities must be 2-D (rows x classes), got ",
                      probabilities.ndim(), " dimensions");
        const auto n = static_cast<int64_t>(probabilities.shape(0));
        const auto k = static_cast<int32_t>(probabilities.shape(1));
        const double* p = probabilities.data();
        const double* y = data_of(labels, n, "labels");
        const ev::Groups g = groups_of(group_ids, groups, n);
        ev::MulticlassOptions o;
        o.bootstrap = bootstrap_of(resamples, confidence, seed);
        o.bootstrap_metrics = bootstrap_metrics;
        const auto results =
            without_gil([&] { return ev::multiclass_metrics(p, y, n, k, g, o); });
        py::dict out = metric_table<ev::kMulticlassMetricCount>(results);
        const auto count = static_cast<py::ssize_t>(results.size());
        py::array_t<int64_t> confusion({count, static_cast<py::ssize_t>(k),
                                        static_cast<py::ssize_t>(k)});
        auto class_auc = array_2d<double>(count, k);
        for (py::ssize_t i = 0; i < count; ++i) {
          std::copy(results[i].confusion.begin(), results[i].confusion.end(),
                    confusion.mutable_data(i));
          for (int32_t c = 0; c < k; ++c) class_auc.mutable_at(i, c) = results[i].class_roc_auc[c];
        }
        out["confusion"] = confusion;
        out["class_roc_auc"] = class_auc;
        return out;
      },
      py::arg("probabilities"), py::arg("labels"), py::arg("group_ids"), py::arg("groups"),
      py::arg("resamples"), py::arg("confidence"), py::arg("seed"), py::arg("bootstrap_metrics"),
      "{count, values, low, high, resamples, confusion, class_roc_auc} by group");
  m.def(
      "regression_metrics",
      [](const Float64Array& predictions, const Float64Array& labels,
         const std::optional<Int32Array>& group_ids, int32_t groups, double quantile,
         int32_t resamples, double confidence, uint64_t seed, uint32_t bootstrap_metrics) {
        const auto n = static_cast<int64_t>(predictions.size());
        const double* p = data_of(predictions, n, "predictions");
        const double* y = data_of(labels, n, "labels");
        const ev::Groups g = groups_of(group_ids, groups, n);
        ev::RegressionOptions o;
        o.quantile = quantile;
        o.bootstrap = bootstrap_of(resamples, confidence, seed);
        o.bootstrap_metrics = bootstrap_metrics;
        const auto results = without_gil([&] { return ev::regression_metrics(p, y, n, g, o); });
        return metric_table<ev::kRegressionMetricCount>(results);
      },
      py::arg("predictions"), py::arg("labels"), py::arg("group_ids"), py::arg("groups"),
      py::arg("quantile"), py::arg("resamples"), py::arg("confidence"), py::arg("seed"),
      py::arg("bootstrap_metrics"), "{count, values, low, high, resamples} by group");
}

}  // namespace seawall::bindings
