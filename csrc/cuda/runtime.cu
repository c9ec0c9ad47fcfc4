// Device discovery: how many GPUs this process can use, and if none, why.
#include "cuda/common.cuh"
#include "fastcnn/cuda.h"

namespace fastcnn::cuda {

DeviceStatus device_status() {
  DeviceStatus status;
  cudaRuntimeGetVersion(&status.runtime_version);
  if (cudaDriverGetVersion(&status.driver_version) != cudaSuccess) status.driver_version = 0;
  const cudaError_t error = cudaGetDeviceCount(&status.device_count);
  if (error != cudaSuccess) {
    status.device_count = 0;
    if (error == cudaErrorNoDevice) {
      status.reason = "no CUDA device found";
    } else if (error == cudaErrorInsufficientDriver && status.driver_version == 0) {
      status.reason = "no NVIDIA driver installed";
    } else {
      status.reason = std::string(cudaGetErrorName(error)) + ": " + cudaGetErrorString(error);
    }
    cudaGetLastError();  // clear the sticky error so later calls report their own
  } else if (status.device_count == 0) {
    status.reason = "no CUDA device found";
  }
  return status;
}

}  // namespace fastcnn::cuda
