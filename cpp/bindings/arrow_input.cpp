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

std::vector<Column> columns_from_python(const py::list& columns, int64_t row_offset,
                                        bool check_utf8) {
  // The C structs, taken from their capsules with the GIL held; the import, which reads every
  // string's bytes to check they are UTF-8, then runs without it.
  struct Pending {
    size_t column;
    const ArrowSchema* schema;
    const ArrowArray* array;
  };
  std::vector<Column> out(columns.size());
  std::vector<Pending> pending;
  for (size_t k = 0; k < out.size(); ++k) {
    const auto pair = columns[k].cast<py::tuple>();
    out[k].name = pair[0].cast<std::string>();
    for (const py::handle chunk : pair[1].cast<py::list>()) {
      const auto capsules = chunk.cast<py::tuple>();
      pending.push_back({k, capsule_pointer<ArrowSchema>(capsules[0], "arrow_schema", out[k].name),
                         capsule_pointer<ArrowArray>(capsules[1], "arrow_array", out[k].name)});
    }
  }
  py::gil_scoped_release release;
  std::vector<int64_t> rows(out.size(), row_offset);
  for (const Pending& p : pending) {
    Column& column = out[p.column];
    column.chunks.push_back(
        import_arrow_chunk(*p.schema, *p.array, column.name, rows[p.column], check_utf8));
    rows[p.column] += column.chunks.back().length;
  }
  return out;
}

}  // namespace seawall::bindings
