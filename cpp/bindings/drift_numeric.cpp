// Drift statistics (numeric): exposed to seawall.stats. Python converts the samples to
// contiguous float64 and validates the options; here they become spans, and the statistics run
// without the GIL.
#include <pybind11/numpy.h>

#include <string>

#include "bindings.h"
#include "seawall/drift/numeric.h"
#include "seawall/errors.h"

namespace seawall::bindings {

using drift::CvmMethod;
using drift::KsAlternative;
using drift::KsFallback;
using drift::KsMethod;
using drift::Sample;

namespace {


Sample sample_of(const Float64Array& values, const char* name) {
  SEAWALL_CHECK(values.ndim() == 1, name, " must be 1-D, got ", values.ndim(), " dimensions");
  return Sample{values.data(), static_cast<int64_t>(values.size())};
}

KsAlternative ks_alternative_of(const std::string& s) {
  if (s == "two-sided") return KsAlternative::kTwoSided;
  if (s == "less") return KsAlternative::kLess;
  if (s == "greater") return KsAlternative::kGreater;
  throw InvalidInput("alternative must be 'two-sided', 'less' or 'greater', got '" + s + "'");
}

KsMethod ks_method_of(const std::string& s) {
  if (s == "auto") return KsMethod::kAuto;
  if (s == "exact") return KsMethod::kExact;
  if (s == "asymp") return KsMethod::kAsymptotic;
  throw InvalidInput("method must be 'auto', 'exact' or 'asymp', got '" + s + "'");
}

CvmMethod cvm_method_of(const std::string& s) {
  if (s == "auto") return CvmMethod::kAuto;
  if (s == "exact") return CvmMethod::kExact;
  if (s == "asymptotic") return CvmMethod::kAsymptotic;
  throw InvalidInput("method must be 'auto', 'exact' or 'asymptotic', got '" + s + "'");
}

const char* fallback_name(KsFallback f) {
  switch (f) {
    case KsFallback::kSizesTooLarge:
      return "sizes_too_large";
    case KsFallback::kExactFailed:
      return "exact_failed";
    default:
      return "";
  }
}

// f(reference, current) on two arrays, the GIL released while it runs.
template <typename Fn>
auto on_samples(const Float64Array& reference, const Float64Array& current, Fn fn) {
  const Sample ref = sample_of(reference, "reference");
  const Sample cur = sample_of(current, "current");
  py::gil_scoped_release release;
  return fn(ref, cur);
}

}  // namespace

void bind_drift_numeric(py::module_& m) {
  m.def(
      "ks_2samp",
      [](const Float64Array& reference, const Float64Array& current, const std::string& alternative,
         const std::string& method) {
        const KsAlternative alt = ks_alternative_of(alternative);
        const KsMethod mode = ks_method_of(method);
        const drift::KsResult r = on_samples(reference, current, [&](Sample a, Sample b) {
          return drift::ks_2samp(a, b, alt, mode);
        });
        return py::make_tuple(r.statistic, r.pvalue, r.statistic_location, r.statistic_sign,
                              r.method == KsMethod::kExact ? "exact" : "asymp",
                              fallback_name(r.fallback));
      },
      py::arg("reference"), py::arg("current"), py::arg("alternative"), py::arg("method"),
      "(statistic, pvalue, statistic_location, statistic_sign, method_used, fallback)");
  m.def(
      "cramervonmises_2samp",
      [](const Float64Array& reference, const Float64Array& current, const std::string& method) {
        const CvmMethod mode = cvm_method_of(method);
        const drift::CvmResult r = on_samples(reference, current, [&](Sample a, Sample b) {
          return drift::cramervonmises_2samp(a, b, mode);
        });
        return py::make_tuple(r.statistic, r.pvalue,
                              r.method == CvmMethod::kExact ? "exact" : "asymptotic");
      },
      py::arg("reference"), py::arg("current"), py::arg("method"),
      "(statistic, pvalue, method_used)");
  m.def(
      "wasserstein_distance",
      [](const Float64Array& reference, const Float64Array& current) {
        return on_samples(reference, current, drift::wasserstein_distance);
      },
      py::arg("reference"), py::arg("current"));
  m.def(
      "wasserstein_distance_norm",
      [](const Float64Array& reference, const Float64Array& current) {
        return on_samples(reference, current, drift::wasserstein_distance_norm);
      },
      py::arg("reference"), py::arg("current"));
  m.def(
      "energy_distance",
      [](const Float64Array& reference, const Float64Array& current) {
        return on_samples(reference, current, drift::energy_distance);
      },
      py::arg("reference"), py::arg("current"));
}

}  // namespace seawall::bindings
