// Each file in bindings/ exposes one capability of the core to Python; module.cpp calls them.
#pragma once

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

// Columns given from Python as [(name, [(schema_capsule, array_capsule), ...]), ...]: the Arrow
// C data interface's PyCapsules (pyarrow's __arrow_c_array__). The views borrow the capsules,
// which the caller's list keeps alive for the call.
std::vector<Column> columns_from_python(const py::list& columns);

}  // namespace seawall::bindings
