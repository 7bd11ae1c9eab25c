// What CUDA support this build and this machine have. Never throws: a machine without a driver
// or device simply has zero devices.
#pragma once

#include <string>

namespace seawall::cuda {

bool built_with_cuda();
// Devices visible to this process (0 without CUDA, a driver or a device).
int device_count();
// The CUDA runtime version the core was built against, e.g. "13.0", or "" without CUDA.
std::string runtime_version();
// Throws CudaUnavailable with a message saying why, unless a device can be used.
void require_device();

}  // namespace seawall::cuda
