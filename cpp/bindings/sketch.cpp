// The KLL quantile sketch, for Python code and tests that want quantiles of a stream.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "seawall/sketch/kll.h"

namespace seawall::bindings {

using sketch::KllSketch;

void bind_sketch(py::module_& m) {
  py::class_<KllSketch>(m, "KllSketch", "Mergeable quantile sketch (KLL)")
      .def(py::init<uint32_t, uint64_t>(), py::arg("k") = KllSketch::kDefaultK,
           py::arg("seed") = 0x5EA3A11u)
      .def("update",
           [](KllSketch& s, py::array_t<double, py::array::c_style | py::array::forcecast> values) {
             const double* data = values.data();
             const size_t n = static_cast<size_t>(values.size());
             py::gil_scoped_release release;
             s.update(data, n);
           },
           py::arg("values"))
      .def("merge", &KllSketch::merge, py::arg("other"))
      .def_property_readonly("count", &KllSketch::count)
      .def_property_readonly("nan_count", &KllSketch::nan_count)
      .def_property_readonly("k", &KllSketch::k)
      .def_property_readonly("min", &KllSketch::min)
      .def_property_readonly("max", &KllSketch::max)
      .def_property_readonly("num_retained", &KllSketch::num_retained)
      .def_property_readonly("is_exact", &KllSketch::is_exact)
      .def("quantile", &KllSketch::quantile, py::arg("q"))
      .def("quantiles",
           [](const KllSketch& s, const Float64Array& qs) {
             return to_numpy(s.quantiles(qs.data(), static_cast<size_t>(qs.size())));
           },
           py::arg("qs"))
      .def("rank", &KllSketch::rank, py::arg("x"))
      .def("ranks",
           [](const KllSketch& s, const Float64Array& xs) {
             return to_numpy(s.ranks(xs.data(), static_cast<size_t>(xs.size())));
           },
           py::arg("xs"))
      .def("serialize",
           [](const KllSketch& s) {
             const auto bytes = s.serialize();
             return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
           })
      .def_static("deserialize",
                  [](const py::bytes& b) {
                    const std::string_view v = b;
                    return KllSketch::deserialize(reinterpret_cast<const uint8_t*>(v.data()),
                                                  v.size());
                  },
                  py::arg("data"))
      .def_static("rank_error_bound", &KllSketch::rank_error_bound, py::arg("k"));
}

}  // namespace seawall::bindings
