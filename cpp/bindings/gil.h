// Releasing the GIL around pure C++ work, shared by the bindings that block (the batcher, the
// load generator).
#pragma once

#include <pybind11/pybind11.h>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace seawall::bindings {

inline bool finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// Runs fn() with the GIL released, and takes the GIL back in ordinary code. Not with
// py::gil_scoped_release: it takes the GIL back in a (noexcept) destructor, and a daemon thread
// that takes the GIL while the interpreter finalizes is ended by CPython with a forced unwind
// (up to Python 3.13), which std::terminate()s when it starts in a noexcept function. fn() must
// not touch Python.
template <typename F>
auto without_gil(F&& fn) {
  using Result = decltype(fn());
  PyThreadState* state = PyEval_SaveThread();
  std::exception_ptr error;
  if constexpr (std::is_void_v<Result>) {
    try {
      fn();
    } catch (...) {
      error = std::current_exception();
    }
    PyEval_RestoreThread(state);
    if (error) std::rethrow_exception(error);
  } else {
    std::optional<Result> result;
    try {
      result.emplace(fn());
    } catch (...) {
      error = std::current_exception();
    }
    PyEval_RestoreThread(state);
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }
}

}  // namespace seawall::bindings
