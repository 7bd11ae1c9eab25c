// Each file in bindings/ exposes one capability of the core to Python; module.cpp calls them.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "seawall/core/column.h"

namespace seawall::bindings {

namespace py = pybind11;

void bind_errors(py::module_& m);
void bind_runtime(py::module_& m);
void bind_transforms(py::module_& m);
void bind_sketch(py::module_& m);
void bind_drift_numeric(py::module_& m);
void bind_drift_categorical(py::module_& m);
void bind_profile(py::module_& m);
void bind_serving(py::module_& m);
void bind_loadgen(py::module_& m);
void bind_contracts(py::module_& m);
void bind_evaluation(py::module_& m);

// Columns given from Python as [(name, [(schema_capsule, array_capsule), ...]), ...]: the Arrow
// C data interface's PyCapsules (pyarrow's __arrow_c_array__). The views borrow the capsules,
// which the caller's list keeps alive for the call. Errors name rows counted from row_offset.
// Strings that are not UTF-8 are an error unless check_utf8 is false (the caller checks them).
std::vector<Column> columns_from_python(const py::list& columns, int64_t row_offset = 0,
                                        bool check_utf8 = true);

// A float64 vector argument: numpy arrays of float64 pass without a copy, other sequences of
// numbers are converted once (cheaper than pybind11's element-by-element list conversion).
using Float64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

// A 1-D numpy array that takes over `values` (no copy).
inline py::array_t<double> to_numpy(std::vector<double>&& values) {
  auto* owned = new std::vector<double>(std::move(values));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<double>*>(p); });
  return py::array_t<double>(static_cast<py::ssize_t>(owned->size()), owned->data(),
                             free_when_done);
}

}  // namespace seawall::bindings
