// The one place native errors become Python exceptions. The classes themselves live in
// seawall/errors.py, so the exception tree is written once, in Python, where users read it.
#include <pybind11/gil_safe_call_once.h>

#include "bindings.h"
#include "seawall/errors.h"

namespace seawall::bindings {

namespace {

py::object error_class(const char* name) {
  return py::module_::import("seawall.errors").attr(name);
}

}  // namespace

void bind_errors(py::module_& m) {
  (void)m;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const MissingColumn& e) {
      PyErr_SetString(error_class("MissingColumnError").ptr(), e.what());
    } catch (const InvalidInput& e) {
      PyErr_SetString(error_class("InvalidInputError").ptr(), e.what());
    } catch (const TypeMismatch& e) {
      PyErr_SetString(error_class("DTypeError").ptr(), e.what());
    } catch (const CorruptState& e) {
      PyErr_SetString(error_class("IntegrityError").ptr(), e.what());
    } catch (const CudaUnavailable& e) {
      PyErr_SetString(error_class("CudaUnavailableError").ptr(), e.what());
    } catch (const QueueFull& e) {
      PyErr_SetString(error_class("QueueFullError").ptr(), e.what());
    } catch (const RequestTimeout& e) {
      PyErr_SetString(error_class("RequestTimeoutError").ptr(), e.what());
    } catch (const BatcherClosed& e) {
      PyErr_SetString(error_class("BatcherClosedError").ptr(), e.what());
    } catch (const Error& e) {
      PyErr_SetString(error_class("SeawallError").ptr(), e.what());
    }
  });
}

}  // namespace seawall::bindings
