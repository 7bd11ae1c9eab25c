// The CPU-only twin of device.cu, compiled when the build has no CUDA.
#ifndef SEAWALL_WITH_CUDA

#include "seawall/cuda/device.h"
#include "seawall/errors.h"

namespace seawall::cuda {

bool built_with_cuda() { return false; }
int device_count() { return 0; }
std::string runtime_version() { return ""; }
void require_device() {
  throw CudaUnavailable(
      "device='cuda' was requested but seawall was built without CUDA (rebuild with the CUDA "
      "toolkit installed, or SEAWALL_CUDA=ON)");
}

}  // namespace seawall::cuda

#endif
