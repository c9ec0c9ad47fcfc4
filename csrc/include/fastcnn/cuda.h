// The CUDA side of fastcnn, callable from host C++ (no CUDA types in this header).
// Every CUDA error becomes a std::runtime_error naming the operation.
#pragma once

#include <cstdint>
#include <string>

namespace fastcnn::cuda {

struct DeviceStatus {
  int device_count = 0;
  std::string reason;  // why no device can be used; empty when device_count > 0
  int runtime_version = 0;
  int driver_version = 0;  // 0 when no driver is installed
};
DeviceStatus device_status();

// y = alpha * x + y for n floats held in host memory: copies to the device, runs the
// kernel, copies back. The first kernel, proving the build and launch path.
void axpy_host(int64_t n, float alpha, const float* x, float* y);

}  // namespace fastcnn::cuda
