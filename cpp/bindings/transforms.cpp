// Python access to fitted transform plans. Python builds the programs (it owns the op
// definitions and their JSON form); here they become native structs once, and the hot calls
// (transform, transform_one, collect) run without per-value Python work.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string_view>

#include "bindings.h"
#include "seawall/core/utf8.h"
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

  std::string name_of(size_t i) const { return input_names[i].cast<std::string>(); }
  std::string where(size_t i) const { return "column '" + name_of(i) + "': "; }

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
        throw MissingColumn("column '" + name_of(i) + "' is missing from the request");
      }
      RowValue& r = values[i];
      if (v == Py_None) continue;  // missing
      if (PyUnicode_Check(v)) {
        Py_ssize_t size = 0;
        const char* s = PyUnicode_AsUTF8AndSize(v, &size);
        if (s == nullptr) {  // a lone surrogate: str can hold one, UTF-8 cannot
          PyErr_Clear();
          throw InvalidInput(where(i) + "the string is not valid Unicode text (it holds a lone "
                                        "surrogate, which has no UTF-8 form)");
        }
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
        // Bytes are read as the UTF-8 text they encode, as string columns are.
        const std::string_view b(PyBytes_AS_STRING(v), static_cast<size_t>(PyBytes_GET_SIZE(v)));
        if (!is_valid_utf8(b)) {
          throw InvalidInput(where(i) + "the bytes are not valid UTF-8 (string columns hold UTF-8 text)");
        }
        r = RowValue{false, true, 0.0, b};
      } else if (PyNumber_Check(v) && !PySequence_Check(v)) {  // not numpy arrays, even of size 1
        const double x = PyFloat_AsDouble(v);
        if (x == -1.0 && PyErr_Occurred()) {
          const bool too_large = PyErr_ExceptionMatches(PyExc_OverflowError);
          PyErr_Clear();
          if (too_large) throw InvalidInput(where(i) + "the number is too large for a float64");
          throw TypeMismatch(where(i) + "expected a real number, a string or None, got " +
                             Py_TYPE(v)->tp_name);
        }
        r = RowValue{false, false, x, {}};
      } else {
        throw TypeMismatch(where(i) + "expected a number, a string or None, got " +
                           Py_TYPE(v)->tp_name);
      }
    }
    py::array_t<float> out(plan->width());
    plan->transform_row(values, out.mutable_data());
    return out;
  }
};

}  // namespace

}  // namespace seawall::bindings

namespace seawall::transforms {

namespace py = pybind11;

// FitState's pickled form, version 1: a tuple of plain values. Arrays of numbers travel as bytes
// in the machine's byte order (every supported platform is little-endian), the quantile sketch
// in its own checked binary form. Restoring replays the strings in their id order, so a restored
// state merges, and answers, exactly as the original would.
struct FitStatePickle {
  static constexpr int kVersion = 1;

  template <typename T>
  static py::bytes raw(const std::vector<T>& v) {
    return py::bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }

  template <typename T>
  static std::vector<T> unraw(const py::handle& h, const char* what) {
    const auto bytes = h.cast<py::bytes>();
    const std::string_view b = bytes;
    if (b.size() % sizeof(T) != 0) corrupt(std::string(what) + " has a partial value");
    std::vector<T> out(b.size() / sizeof(T));
    if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
    return out;
  }

  [[noreturn]] static void corrupt(const std::string& what) {
    throw CorruptState("FitState pickle: " + what);
  }

  static py::tuple get(const FitState& s) {
    const CollectSpec& c = s.spec_;
    py::object sketch = py::none();
    if (s.sketch_) {
      const std::vector<uint8_t> b = s.sketch_->serialize();
      sketch = py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
    }
    std::vector<uint64_t> keys;
    std::vector<int64_t> counts;
    for (const auto& [key, n] : s.number_counts_) {
      keys.push_back(key);
      counts.push_back(n);
    }
    py::list strings;
    for (int64_t id = 0; id < s.strings_.size(); ++id) {
      const std::string_view key = s.strings_.key(id);
      strings.append(py::bytes(key.data(), key.size()));
    }
    return py::make_tuple(kVersion,
                          py::make_tuple(c.skip_missing, c.moments, static_cast<int>(c.quantiles),
                                         c.sketch_k, c.number_counts, c.string_counts),
                          py::make_tuple(s.rows, s.missing, s.count, s.mean, s.m2, s.min, s.max),
                          sketch, raw(s.exact_), raw(keys), raw(counts), strings,
                          raw(s.string_counts_));
  }

  static FitState set(const py::tuple& t) {
    if (t.size() != 9 || t[0].cast<int>() != kVersion) corrupt("unknown layout or version");
    const auto spec_t = t[1].cast<py::tuple>();
    if (spec_t.size() != 6) corrupt("bad collect spec");
    CollectSpec c;
    c.skip_missing = spec_t[0].cast<bool>();
    c.moments = spec_t[1].cast<bool>();
    const int quantiles = spec_t[2].cast<int>();
    if (quantiles < 0 || quantiles > 2) corrupt("bad quantile kind");
    c.quantiles = static_cast<CollectSpec::Quantiles>(quantiles);
    c.sketch_k = spec_t[3].cast<uint32_t>();
    c.number_counts = spec_t[4].cast<bool>();
    c.string_counts = spec_t[5].cast<bool>();

    FitState s;
    s.spec_ = c;
    const auto m = t[2].cast<py::tuple>();
    if (m.size() != 7) corrupt("bad moments");
    s.rows = m[0].cast<int64_t>();
    s.missing = m[1].cast<int64_t>();
    s.count = m[2].cast<int64_t>();
    s.mean = m[3].cast<double>();
    s.m2 = m[4].cast<double>();
    s.min = m[5].cast<double>();
    s.max = m[6].cast<double>();
    if (t[3].is_none() != (c.quantiles != CollectSpec::Quantiles::kSketch)) {
      corrupt("a sketch must be present exactly when sketch quantiles were collected");
    }
    if (!t[3].is_none()) {
      const auto bytes = t[3].cast<py::bytes>();
      const std::string_view b = bytes;
      s.sketch_.emplace(
          sketch::KllSketch::deserialize(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
      if (s.sketch_->k() != c.sketch_k) corrupt("the sketch's k differs from the spec's");
    }
    s.exact_ = unraw<double>(t[4], "exact values");
    const auto keys = unraw<uint64_t>(t[5], "number keys");
    const auto counts = unraw<int64_t>(t[6], "number counts");
    if (keys.size() != counts.size()) corrupt("number keys and counts differ in length");
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!s.number_counts_.emplace(keys[i], counts[i]).second) corrupt("a number repeats");
    }
    const auto strings = t[7].cast<py::list>();
    const auto string_counts = unraw<int64_t>(t[8], "string counts");
    if (strings.size() != string_counts.size()) corrupt("strings and counts differ in length");
    for (size_t i = 0; i < string_counts.size(); ++i) {
      const auto bytes = strings[i].cast<py::bytes>();
      s.count_string(std::string_view(bytes), string_counts[i]);
      if (s.strings_.size() != static_cast<int64_t>(i) + 1) corrupt("a string repeats");
    }
    return s;
  }
};

}  // namespace seawall::transforms

namespace seawall::bindings {

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
      .def("string_counts", &FitState::string_counts)
      .def(py::pickle(&transforms::FitStatePickle::get, &transforms::FitStatePickle::set));

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
             std::vector<Column> cols = columns_from_python(columns, row_offset);
             std::vector<CollectSpec> native;
             for (const py::handle s : specs) native.push_back(collect_spec_from(s.cast<py::dict>()));
             py::gil_scoped_release release;
             return p.plan->collect(cols, native, row_offset);
           },
           py::arg("columns"), py::arg("specs"), py::arg("row_offset") = 0);
}

}  // namespace seawall::bindings
