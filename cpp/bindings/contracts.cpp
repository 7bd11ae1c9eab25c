// Data contracts: exposed to seawall.contracts. Python turns a schema into per-column rules
// (bounds, domains, which columns keep their distinct values) and decides what each count means;
// this file runs the native pass over Arrow batches with the GIL released and hands the tallies
// back.
#include <pybind11/stl.h>

#include <string>

#include "bindings.h"
#include "seawall/contracts/validator.h"
#include "seawall/errors.h"

namespace seawall::bindings {

using contracts::ColumnRule;
using contracts::Int128;
using contracts::Validator;

namespace {

py::str utf8(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

// An integer bound given as (high, low) 64-bit words of a 128-bit two's complement integer.
Int128 int128_from(const py::handle& words) {
  const auto pair = words.cast<py::tuple>();
  SEAWALL_CHECK(pair.size() == 2, "an integer bound is given as (high, low) words");
  const int64_t high = pair[0].cast<int64_t>();
  const uint64_t low = pair[1].cast<uint64_t>();
  return static_cast<Int128>((static_cast<unsigned __int128>(static_cast<uint64_t>(high)) << 64) | low);
}

ColumnRule rule_from(const py::dict& d) {
  ColumnRule r;
  r.name = d["name"].cast<std::string>();
  const std::string kind = d["kind"].cast<std::string>();
  SEAWALL_CHECK(kind == "numeric" || kind == "string", "column '", r.name,
                "': kind must be 'numeric' or 'string', got '", kind, "'");
  r.kind = kind == "numeric" ? contracts::ColumnKind::kNumeric : contracts::ColumnKind::kString;
  if (d.contains("float_lo") && !d["float_lo"].is_none()) r.float_lo = d["float_lo"].cast<double>();
  if (d.contains("float_hi") && !d["float_hi"].is_none()) r.float_hi = d["float_hi"].cast<double>();
  if (d.contains("int_lo") && !d["int_lo"].is_none()) {
    r.has_int_lo = true;
    r.int_lo = int128_from(d["int_lo"]);
  }
  if (d.contains("int_hi") && !d["int_hi"].is_none()) {
    r.has_int_hi = true;
    r.int_hi = int128_from(d["int_hi"]);
  }
  if (d.contains("domain") && !d["domain"].is_none()) {
    r.check_domain = true;
    r.domain = d["domain"].cast<std::vector<std::string>>();
  }
  if (d.contains("track_distinct")) r.track_distinct = d["track_distinct"].cast<bool>();
  return r;
}

py::list results(const Validator& v) {
  py::list out;
  for (const contracts::ColumnTally& t : v.tallies()) {
    py::dict d;
    d["rows"] = t.rows;
    py::dict checks;
    for (int k = 0; k < contracts::kCheckCount; ++k) {
      const contracts::CheckTally& c = t.checks[k];
      checks[contracts::check_name(static_cast<contracts::Check>(k))] =
          py::make_tuple(c.count, py::cast(c.rows));
    }
    d["checks"] = checks;
    py::list values;
    for (int64_t id = 0; id < t.off_domain.values.size(); ++id) {
      values.append(py::make_tuple(utf8(t.off_domain.values.key(id)), t.off_domain.counts[id]));
    }
    d["off_domain_values"] = values;
    d["off_domain_other"] = t.off_domain.other;
    d["distinct"] = t.distinct;
    out.append(d);
  }
  return out;
}

}  // namespace

void bind_contracts(py::module_& m) {
  py::class_<Validator>(m, "ContractValidator",
                        "Counts, per column, the values that break its rules, over batches")
      .def(py::init([](const py::list& rules, size_t row_limit) {
             std::vector<ColumnRule> native;
             for (const py::handle rule : rules) native.push_back(rule_from(rule.cast<py::dict>()));
             return Validator(std::move(native), row_limit);
           }),
           py::arg("rules"), py::arg("row_limit"))
      .def("update",
           [](Validator& v, const py::list& columns, int64_t row_offset) {
             std::vector<Column> cols = columns_from_python(columns, row_offset, false);
             py::gil_scoped_release release;
             v.update(cols, row_offset);
           },
           py::arg("columns"), py::arg("row_offset"))
      .def("results", &results)
      .def_property_readonly("row_limit", &Validator::row_limit);
}

}  // namespace seawall::bindings
