#include <cuda_runtime.h>

#include <string>

#include "seawall/cuda/device.h"
#include "seawall/errors.h"

namespace seawall::cuda {

bool built_with_cuda() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
    return 0;
  }
  return n;
}

std::string runtime_version() {
  return std::to_string(CUDART_VERSION / 1000) + "." + std::to_string((CUDART_VERSION % 1000) / 10);
}

void require_device() {
  if (device_count() == 0) {
    throw CudaUnavailable("device='cuda' was requested but no CUDA device is visible to this process");
  }
}

}  // namespace seawall::cuda
