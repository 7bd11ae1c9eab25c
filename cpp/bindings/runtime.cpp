// Build facts and the thread pool's size.
#include <pybind11/stl.h>

#include "bindings.h"
#include "seawall/core/build_info.h"
#include "seawall/core/thread_pool.h"
#include "seawall/cuda/device.h"

#ifndef SEAWALL_VERSION
#define SEAWALL_VERSION "0.0.0+unknown"
#endif

namespace seawall::bindings {

void bind_runtime(py::module_& m) {
  m.attr("__version__") = SEAWALL_VERSION;
  m.def("build_info", [] {
    py::dict info;
    info["version"] = SEAWALL_VERSION;
    info["compiler"] = compiler_name();
    info["cuda_built"] = cuda::built_with_cuda();
    info["cuda_runtime"] = cuda::runtime_version();
    info["cuda_devices"] = cuda::device_count();
    info["simd"] = simd_level();
    info["num_threads"] = num_threads();
    return info;
  });
  m.def("num_threads", &num_threads);
  m.def("default_num_threads", &default_num_threads);
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("cuda_device_count", &cuda::device_count);
  m.def("require_cuda_device", &cuda::require_device);
}

}  // namespace seawall::bindings
