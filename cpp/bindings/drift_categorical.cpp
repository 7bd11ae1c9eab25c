// Drift statistics (binned and categorical): exposed to seawall.stats. Python validates and
// converts the samples (seawall/stats/categorical.py); here they become spans or Arrow views with
// the GIL held, and the binning runs without it.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings.h"
#include "seawall/drift/binning.h"
#include "seawall/drift/categorical.h"
#include "seawall/errors.h"
#include "../src/drift/special_functions_gamma_internal.h"

namespace seawall::bindings {

namespace {

using drift::BinCounts;
using drift::BinRule;
using drift::Bins;
using drift::BinSpec;


BinRule rule_from(const std::string& name) {
  if (name == "auto") return BinRule::kAuto;
  if (name == "values") return BinRule::kValues;
  if (name == "sturges") return BinRule::kSturges;
  if (name == "sturges_distinct") return BinRule::kSturgesDistinct;
  if (name == "count") return BinRule::kCount;
  if (name == "quantile") return BinRule::kQuantile;
  if (name == "edges") return BinRule::kEdges;
  throw InvalidInput("unknown binning rule '" + name + "'");
}

template <typename T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

const BinCounts& counts_of(const Bins& bins) { return bins.counts; }

}  // namespace

void bind_drift_categorical(py::module_& m) {
  py::class_<Bins>(m, "DriftBins", "Counts of a reference and a current sample over shared bins")
      .def_property_readonly("reference_counts",
                             [](const Bins& b) { return to_numpy(b.counts.reference); })
      .def_property_readonly("current_counts",
                             [](const Bins& b) { return to_numpy(b.counts.current); })
      .def_property_readonly("reference_total",
                             [](const Bins& b) { return b.counts.reference_total; })
      .def_property_readonly("current_total", [](const Bins& b) { return b.counts.current_total; })
      .def_property_readonly("edges", [](const Bins& b) { return to_numpy(b.edges); })
      .def_property_readonly("values", [](const Bins& b) { return to_numpy(b.values); })
      .def_property_readonly("categories", [](const Bins& b) { return b.categories; })
      .def(
          "shares",
          [](const Bins& b, bool fill_empty) {
            const drift::Shares s = drift::shares(b.counts, fill_empty);
            return py::make_tuple(to_numpy(s.reference), to_numpy(s.current));
          },
          py::arg("fill_empty"));

  m.def(
      "bin_numbers",
      [](Float64Array reference, Float64Array current, const std::string& rule, int64_t count,
         std::optional<Float64Array> edges, bool integer_input) {
        SEAWALL_CHECK(reference.ndim() == 1 && current.ndim() == 1,
                      "the samples must be one-dimensional");
        BinSpec spec;
        spec.rule = rule_from(rule);
        spec.count = count;
        spec.integer_input = integer_input;
        if (edges) {
          SEAWALL_CHECK(edges->ndim() == 1, "bin edges must be one-dimensional");
          spec.edges.assign(edges->data(), edges->data() + edges->size());
        }
        const double* ref = reference.data();
        const double* cur = current.data();
        const int64_t nref = reference.size();
        const int64_t ncur = current.size();
        py::gil_scoped_release release;
        return drift::bin_numbers(ref, nref, cur, ncur, spec);
      },
      py::arg("reference"), py::arg("current"), py::arg("rule"), py::arg("count"),
      py::arg("edges"), py::arg("integer_input"));

  m.def(
      "bin_categories",
      [](const py::list& reference_chunks, const py::list& current_chunks) {
        py::list columns;
        columns.append(py::make_tuple("reference", reference_chunks));
        columns.append(py::make_tuple("current", current_chunks));
        const std::vector<Column> views = columns_from_python(columns);
        py::gil_scoped_release release;
        return drift::bin_categories(views[0], views[1]);
      },
      py::arg("reference_chunks"), py::arg("current_chunks"));

  auto on_counts = [&m](const char* name, auto fn) {
    m.def(name, [fn](const Bins& bins) { return fn(counts_of(bins)); }, py::arg("bins"));
  };
  on_counts("psi", [](const BinCounts& c) { return drift::psi(c); });
  on_counts("hellinger", [](const BinCounts& c) { return drift::hellinger(c); });
  on_counts("total_variation", [](const BinCounts& c) { return drift::total_variation(c); });
  on_counts("l_infinity", [](const BinCounts& c) { return drift::l_infinity(c); });
  on_counts("chi2_contingency", [](const BinCounts& c) {
    const drift::ChiSquareResult r = drift::chi2_contingency(c);
    return py::make_tuple(r.statistic, r.pvalue, r.dof);
  });
  on_counts("z_test_proportions", [](const BinCounts& c) {
    const drift::ZTestResult r = drift::z_test_proportions(c);
    return py::make_tuple(r.statistic, r.pvalue);
  });
  m.def(
      "kl_divergence",
      [](const Bins& bins, std::optional<double> base) {
        return drift::kl_divergence(bins.counts, base);
      },
      py::arg("bins"), py::arg("base"));
  m.def(
      "jensenshannon",
      [](const Bins& bins, std::optional<double> base) {
        return drift::jensenshannon(bins.counts, base);
      },
      py::arg("bins"), py::arg("base"));

  // The p-value machinery, exposed for the tests that hold it against scipy.
  m.def("gamma_q", &drift::detail::gamma_q, py::arg("a"), py::arg("x"));
  m.def("gamma_p", &drift::detail::gamma_p, py::arg("a"), py::arg("x"));
  m.def("chi2_sf", &drift::detail::chi2_sf, py::arg("x"), py::arg("dof"));
  m.def("normal_sf", &drift::detail::normal_sf, py::arg("z"));
}

}  // namespace seawall::bindings
