// Python access to fitted transform plans. Python builds the programs (it owns the op
// definitions and their JSON form); here they become native structs once, and the hot calls
// (transform, transform_one, collect) run without per-value Python work.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>

#include "bindings.h"
#include "seawall/errors.h"
#include "seawall/transforms/program.h"

namespace seawall::bindings {

using transforms::CategoricalKind;
using transforms::CollectSpec;
using transforms::ColumnProgram;
using transforms::FitState;
using transforms::NumericOp;
using transforms::NumericOpKind;
using transforms::Plan;
using transforms::RowValue;

namespace {

template <typename T>
T get(const py::dict& d, const char* key, T fallback) {
  return d.contains(key) && !d[key].is_none() ? d[key].cast<T>() : fallback;
}

NumericOp numeric_op_from(const py::dict& d) {
  NumericOp op;
  const auto kind = d["kind"].cast<std::string>();
  const double inf = std::numeric_limits<double>::infinity();
  if (kind == "scale") {
    op.kind = NumericOpKind::kScale;
    op.shift = d["shift"].cast<double>();
    op.scale = d["scale"].cast<double>();
    op.clip = get<bool>(d, "clip", false);
  } else if (kind == "clip") {
    op.kind = NumericOpKind::kClip;
  } else if (kind == "log1p") {
    op.kind = NumericOpKind::kLog1p;
  } else if (kind == "bucketize") {
    op.kind = NumericOpKind::kBucketize;
    op.boundaries = d["boundaries"].cast<std::vector<double>>();
  } else {
    throw InvalidInput("unknown numeric op '" + kind + "'");
  }
  op.lower = get<double>(d, "lower", -inf);
  op.upper = get<double>(d, "upper", inf);
  SEAWALL_CHECK(!(op.scale == 0.0) && std::isfinite(op.scale) && std::isfinite(op.shift),
                "op '", kind, "' has a non-finite or zero scale");
  return op;
}

ColumnProgram program_from(const py::dict& d) {
  ColumnProgram p;
  p.column = d["column"].cast<std::string>();
  p.input = d["input"].cast<int>();
  p.string_input = d["string_input"].cast<bool>();
  if (d.contains("impute") && !d["impute"].is_none()) {
    const auto imp = d["impute"].cast<py::dict>();
    p.impute.enabled = true;
    p.impute.number = get<double>(imp, "number", 0.0);
    p.impute.text = get<std::string>(imp, "text", "");
    p.impute.indicator = get<bool>(imp, "indicator", false);
  }
  for (const py::handle op : d["numeric_ops"].cast<py::list>()) {
    p.numeric_ops.push_back(numeric_op_from(op.cast<py::dict>()));
  }
  if (d.contains("categorical") && !d["categorical"].is_none()) {
    const auto c = d["categorical"].cast<py::dict>();
    const auto kind = c["kind"].cast<std::string>();
    if (kind == "categorify") {
      p.categorical.kind = CategoricalKind::kCategorify;
    } else if (kind == "onehot") {
      p.categorical.kind = CategoricalKind::kOneHot;
    } else if (kind == "hash_bucket") {
      p.categorical.kind = CategoricalKind::kHashBucket;
    } else {
      throw InvalidInput("unknown categorical op '" + kind + "'");
    }
    p.categorical.categories = get<std::vector<std::string>>(c, "categories", {});
    p.categorical.infrequent = get<std::vector<std::string>>(c, "infrequent", {});
    p.categorical.infrequent_column = get<bool>(c, "infrequent_column", false);
    p.categorical.unknown_column = get<bool>(c, "unknown_column", false);
    p.categorical.buckets = get<uint64_t>(c, "buckets", 0);
  }
  return p;
}

CollectSpec collect_spec_from(const py::dict& d) {
  CollectSpec s;
  s.skip_missing = get<bool>(d, "skip_missing", false);
  s.moments = get<bool>(d, "moments", false);
  const auto q = get<std::string>(d, "quantiles", "none");
  if (q == "sketch") {
    s.quantiles = CollectSpec::Quantiles::kSketch;
  } else if (q == "exact") {
    s.quantiles = CollectSpec::Quantiles::kExact;
  } else {
    SEAWALL_CHECK(q == "none", "quantiles must be 'none', 'sketch' or 'exact', got '", q, "'");
  }
  s.sketch_k = get<uint32_t>(d, "sketch_k", s.sketch_k);
  s.number_counts = get<bool>(d, "number_counts", false);
  s.string_counts = get<bool>(d, "string_counts", false);
  return s;
}

// A Plan plus the names of its inputs as Python strings, for transform_one's dict lookups.
struct PyPlan {
  std::shared_ptr<const Plan> plan;
  std::vector<py::object> input_names;
  std::vector<bool> input_is_string;

  py::array_t<float> transform(const py::list& columns, py::object out_obj) const {
    std::vector<Column> cols = columns_from_python(columns);
    const int64_t rows = cols.empty() ? 0 : cols.front().length();
    py::array_t<float, py::array::c_style> out;
    const bool fresh = out_obj.is_none();
    if (fresh) {
      // np.zeros maps zero pages the kernel fills on first touch: no separate zeroing pass.
      out = py::module_::import("numpy").attr("zeros")(py::make_tuple(rows, plan->width()), "float32")
                .cast<py::array_t<float, py::array::c_style>>();
    } else {
      out = out_obj.cast<py::array_t<float, py::array::c_style>>();
      SEAWALL_CHECK(out.ndim() == 2 && out.shape(0) == rows && out.shape(1) == plan->width() &&
                        out.writeable(),
                    "out must be a writeable C-contiguous float32 array of shape (", rows, ", ",
                    plan->width(), ")");
    }
    float* data = out.mutable_data();
    {
      py::gil_scoped_release release;
      plan->transform(cols, data, fresh);
    }
    return out;
  }

  py::array_t<float> transform_one(const py::handle& mapping) const {
    if (!PyDict_Check(mapping.ptr())) {
      throw TypeMismatch(std::string("transform_one takes a dict of column name to value, got ") +
                         Py_TYPE(mapping.ptr())->tp_name);
    }
    std::vector<RowValue> values(input_names.size());
    std::vector<std::string> texts;  // owns str() of ints fed to string columns
    texts.reserve(input_names.size());
    for (size_t i = 0; i < input_names.size(); ++i) {
      PyObject* v = PyDict_GetItemWithError(mapping.ptr(), input_names[i].ptr());
      if (v == nullptr) {
        if (PyErr_Occurred()) throw py::error_already_set();
        throw MissingColumn("column '" + input_names[i].cast<std::string>() +
                            "' is missing from the request");
      }
      RowValue& r = values[i];
      if (v == Py_None) continue;  // missing
      if (PyUnicode_Check(v)) {
        Py_ssize_t size = 0;
        const char* s = PyUnicode_AsUTF8AndSize(v, &size);
        if (s == nullptr) throw py::error_already_set();
        r = RowValue{false, true, 0.0, std::string_view(s, static_cast<size_t>(size))};
      } else if (PyFloat_Check(v)) {
        const double x = PyFloat_AS_DOUBLE(v);
        // pandas writes missing strings as NaN: let a NaN be missing for string columns.
        r = RowValue{input_is_string[i] && std::isnan(x), false, x, {}};
      } else if (PyLong_Check(v) && input_is_string[i]) {
        // Integer columns under categorical ops were cast to their decimal text when fitting.
        texts.push_back(py::str(v).cast<std::string>());
        r = RowValue{false, true, 0.0, texts.back()};
      } else if (PyBytes_Check(v)) {
        r = RowValue{false, true, 0.0,
                     std::string_view(PyBytes_AS_STRING(v), static_cast<size_t>(PyBytes_GET_SIZE(v)))};
      } else if (PyNumber_Check(v)) {
        const double x = PyFloat_AsDouble(v);
        if (x == -1.0 && PyErr_Occurred()) throw py::error_already_set();
        r = RowValue{false, false, x, {}};
      } else {
        throw TypeMismatch("column '" + input_names[i].cast<std::string>() +
                           "': expected a number, a string or None, got " + Py_TYPE(v)->tp_name);
      }
    }
    py::array_t<float> out(plan->width());
    plan->transform_row(values, out.mutable_data());
    return out;
  }
};

}  // namespace

void bind_transforms(py::module_& m) {
  py::class_<FitState>(m, "FitState", "Mergeable statistics gathered while fitting one feature")
      .def_readonly("rows", &FitState::rows)
      .def_readonly("missing", &FitState::missing)
      .def_readonly("count", &FitState::count)
      .def_readonly("mean", &FitState::mean)
      .def_readonly("m2", &FitState::m2)
      .def_readonly("min", &FitState::min)
      .def_readonly("max", &FitState::max)
      .def_property_readonly("exact_quantiles", &FitState::exact_quantiles)
      .def("merge", &FitState::merge, py::arg("other"))
      .def("quantiles", &FitState::quantiles, py::arg("qs"))
      .def("most_frequent_number", &FitState::most_frequent_number)
      .def("string_counts", &FitState::string_counts);

  py::class_<PyPlan>(m, "Plan", "A fitted feature pipeline, compiled")
      .def(py::init([](const py::list& programs, const py::list& input_names,
                       const std::vector<bool>& input_is_string) {
             std::vector<ColumnProgram> native;
             for (const py::handle p : programs) native.push_back(program_from(p.cast<py::dict>()));
             PyPlan plan;
             plan.plan = std::make_shared<const Plan>(std::move(native));
             SEAWALL_CHECK(static_cast<int64_t>(input_names.size()) >= plan.plan->num_inputs() &&
                               input_is_string.size() == input_names.size(),
                           "one name and one kind per input column are needed");
             for (const py::handle name : input_names) {
               plan.input_names.push_back(py::reinterpret_borrow<py::object>(name));
             }
             plan.input_is_string = input_is_string;
             return plan;
           }),
           py::arg("programs"), py::arg("input_names"), py::arg("input_is_string"))
      .def_property_readonly("width", [](const PyPlan& p) { return p.plan->width(); })
      .def("transform", &PyPlan::transform, py::arg("columns"), py::arg("out") = py::none())
      .def("transform_one", &PyPlan::transform_one, py::arg("mapping"))
      .def("collect",
           [](const PyPlan& p, const py::list& columns, const py::list& specs, int64_t row_offset) {
             std::vector<Column> cols = columns_from_python(columns);
             std::vector<CollectSpec> native;
             for (const py::handle s : specs) native.push_back(collect_spec_from(s.cast<py::dict>()));
             py::gil_scoped_release release;
             return p.plan->collect(cols, native, row_offset);
           },
           py::arg("columns"), py::arg("specs"), py::arg("row_offset") = 0);
}

}  // namespace seawall::bindings
