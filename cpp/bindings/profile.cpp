// Data profiles: exposed to seawall.profiles. Python decides which columns are profiled and how
// (kinds, options, merge policy); this file turns Arrow columns into native profiles with the GIL
// released and hands statistics back.
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <unordered_map>

#include "bindings.h"
#include "seawall/errors.h"
#include "seawall/profile/column_profile.h"

namespace seawall::bindings {

using profile::ColumnKind;
using profile::ColumnProfile;
using profile::ProfileOptions;

namespace {

struct ProfileState {
  ProfileOptions options;
  std::vector<ColumnProfile> columns;

  const ColumnProfile& at(int64_t i) const {
    SEAWALL_CHECK(i >= 0 && i < static_cast<int64_t>(columns.size()), "column index ", i,
                  " out of range");
    return columns[i];
  }

  // Merges by column name; the sets of names must be equal (Python says which differ).
  void merge(const ProfileState& other) {
    SEAWALL_CHECK(other.options == options,
                  "profiles made with different options (sketch_k, hll_precision, top_k) cannot "
                  "be merged");
    SEAWALL_CHECK(other.columns.size() == columns.size(), "profiles have different columns");
    std::unordered_map<std::string, size_t> index;
    for (size_t i = 0; i < other.columns.size(); ++i) index[other.columns[i].name] = i;
    std::vector<const ColumnProfile*> matched;
    for (const auto& c : columns) {
      const auto it = index.find(c.name);
      if (it == index.end()) throw InvalidInput("column '" + c.name + "' is in only one profile");
      const ColumnProfile& o = other.columns[it->second];
      SEAWALL_CHECK_TYPE(o.kind == c.kind, "column '", c.name, "' is ",
                         profile::column_kind_name(c.kind), " in one profile and ",
                         profile::column_kind_name(o.kind), " in the other");
      matched.push_back(&o);
    }
    // Checked in full before anything changes, so a failed merge leaves this profile intact.
    for (size_t i = 0; i < columns.size(); ++i) columns[i].merge(*matched[i]);
  }
};

py::str utf8(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

py::bytes as_bytes(const std::vector<uint8_t>& v) {
  return py::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}

ColumnKind kind_from(const std::string& k) {
  if (k == "numeric") return ColumnKind::kNumeric;
  if (k == "string") return ColumnKind::kString;
  throw InvalidInput("column kind must be 'numeric' or 'string', got '" + k + "'");
}

py::dict summary(const ColumnProfile& c) {
  const double nan = std::nan("");
  py::dict d;
  d["kind"] = profile::column_kind_name(c.kind);
  d["rows"] = c.rows;
  d["nulls"] = c.nulls;
  d["nans"] = c.nans;
  d["count"] = c.count;
  d["pos_inf"] = c.pos_inf;
  d["neg_inf"] = c.neg_inf;
  d["finite_mean"] = c.finite_mean;
  d["finite_m2"] = c.finite_m2;
  d["mean"] = c.mean();
  d["variance"] = c.variance();
  d["min"] = c.count > 0 && c.kind == ColumnKind::kNumeric ? c.min : nan;
  d["max"] = c.count > 0 && c.kind == ColumnKind::kNumeric ? c.max : nan;
  d["distinct"] = c.distinct.estimate();
  d["sketch_exact"] = c.sketch.is_exact();
  d["frequent_exact"] = c.frequent.exact();
  d["frequent_error_bound"] = c.frequent.error_bound();
  return d;
}

}  // namespace

void bind_profile(py::module_& m) {
  py::class_<ProfileState>(m, "ProfileState", "Native per-column statistics of a profile")
      .def_property_readonly("names",
                             [](const ProfileState& s) {
                               py::list out;
                               for (const auto& c : s.columns) out.append(utf8(c.name));
                               return out;
                             })
      .def_property_readonly("kinds",
                             [](const ProfileState& s) {
                               std::vector<std::string> out;
                               for (const auto& c : s.columns) out.emplace_back(profile::column_kind_name(c.kind));
                               return out;
                             })
      .def_property_readonly("options",
                             [](const ProfileState& s) {
                               return py::make_tuple(s.options.sketch_k, int(s.options.hll_precision),
                                                     s.options.top_k);
                             })
      .def("copy", [](const ProfileState& s) { return ProfileState(s); })
      .def("merge",
           [](ProfileState& s, const ProfileState& other) {
             py::gil_scoped_release release;
             s.merge(other);
           },
           py::arg("other"))
      .def("summary", [](const ProfileState& s, int64_t i) { return summary(s.at(i)); }, py::arg("i"))
      // Every column's exact counts in one call, without the estimates summary() computes
      // (the distinct estimate reads every register): what checking a schema reads first.
      .def("counts",
           [](const ProfileState& s) {
             const double nan = std::nan("");
             py::list out;
             for (const ColumnProfile& c : s.columns) {
               const bool numeric = c.kind == ColumnKind::kNumeric;
               out.append(py::make_tuple(
                   profile::column_kind_name(c.kind), c.rows, c.nulls, c.nans, c.count, c.pos_inf,
                   c.neg_inf, c.count > 0 && numeric ? c.min : nan,
                   c.count > 0 && numeric ? c.max : nan, c.sketch.is_exact(), c.frequent.exact()));
             }
             return out;
           })
      .def("quantiles",
           [](const ProfileState& s, int64_t i, const Float64Array& qs) {
             return to_numpy(s.at(i).sketch.quantiles(qs.data(), static_cast<size_t>(qs.size())));
           },
           py::arg("i"), py::arg("qs"))
      .def("ranks",
           [](const ProfileState& s, int64_t i, const Float64Array& xs) {
             return to_numpy(s.at(i).sketch.ranks(xs.data(), static_cast<size_t>(xs.size())));
           },
           py::arg("i"), py::arg("xs"))
      .def("top",
           [](const ProfileState& s, int64_t i, size_t limit) {
             py::list out;
             for (const auto& [value, count] : s.at(i).frequent.top(limit)) {
               out.append(py::make_tuple(utf8(value), count));
             }
             return out;
           },
           py::arg("i"), py::arg("limit"))
      .def("registers", [](const ProfileState& s, int64_t i) { return as_bytes(s.at(i).distinct.registers()); },
           py::arg("i"))
      .def("sketch_bytes", [](const ProfileState& s, int64_t i) { return as_bytes(s.at(i).sketch.serialize()); },
           py::arg("i"))
      .def("serialize",
           [](const ProfileState& s) {
             std::vector<uint8_t> bytes;
             {
               py::gil_scoped_release release;
               bytes = profile::serialize_profile(s.columns, s.options);
             }
             return as_bytes(bytes);
           })
      .def_static("deserialize",
                  [](const py::bytes& b) {
                    const std::string_view v = b;
                    ProfileState s;
                    s.columns = profile::deserialize_profile(
                        reinterpret_cast<const uint8_t*>(v.data()), v.size(), &s.options);
                    return s;
                  },
                  py::arg("data"));

  // Values longer than this are counted under a truncated key (FrequentItems::key_of).
  m.attr("TOP_VALUE_MAX_BYTES") = profile::FrequentItems::kMaxValueBytes;

  m.def("profile_batch",
        [](const py::list& columns, const std::vector<std::string>& kinds, uint32_t sketch_k,
           int hll_precision, uint32_t top_k) {
          ProfileState s;
          s.options.sketch_k = sketch_k;
          SEAWALL_CHECK(hll_precision >= 0 && hll_precision <= 255, "bad hll_precision ", hll_precision);
          s.options.hll_precision = static_cast<uint8_t>(hll_precision);
          s.options.top_k = top_k;
          std::vector<ColumnKind> native_kinds;
          for (const auto& k : kinds) native_kinds.push_back(kind_from(k));
          std::vector<Column> cols = columns_from_python(columns);
          py::gil_scoped_release release;
          s.columns = profile::profile_columns(cols, native_kinds, s.options);
          return s;
        },
        py::arg("columns"), py::arg("kinds"), py::arg("sketch_k"), py::arg("hll_precision"),
        py::arg("top_k"));
  m.def("profile_hll_standard_error", &profile::HyperLogLog::relative_standard_error, py::arg("p"));
  m.def("profile_hash_double", &profile::hash_double, py::arg("x"));
}

}  // namespace seawall::bindings
