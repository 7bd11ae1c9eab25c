#include "bindings.h"
#include "seawall/errors.h"

namespace seawall::bindings {

namespace {

template <typename T>
const T* capsule_pointer(const py::handle& capsule, const char* name, const std::string& column) {
  void* p = PyCapsule_GetPointer(capsule.ptr(), name);
  if (p == nullptr) {
    PyErr_Clear();
    throw InvalidInput("column '" + column + "': expected an Arrow PyCapsule named '" + name + "'");
  }
  return static_cast<const T*>(p);
}

}  // namespace

std::vector<Column> columns_from_python(const py::list& columns) {
  std::vector<Column> out;
  out.reserve(columns.size());
  for (const py::handle item : columns) {
    const auto pair = item.cast<py::tuple>();
    Column column;
    column.name = pair[0].cast<std::string>();
    for (const py::handle chunk : pair[1].cast<py::list>()) {
      const auto capsules = chunk.cast<py::tuple>();
      const auto* schema = capsule_pointer<ArrowSchema>(capsules[0], "arrow_schema", column.name);
      const auto* array = capsule_pointer<ArrowArray>(capsules[1], "arrow_array", column.name);
      column.chunks.push_back(import_arrow_chunk(*schema, *array, column.name));
    }
    out.push_back(std::move(column));
  }
  return out;
}

}  // namespace seawall::bindings
