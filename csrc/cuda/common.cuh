// Helpers shared by the CUDA kernels.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace fastcnn::cuda {

// Checks a CUDA call; a failure becomes a std::runtime_error (RuntimeError in Python).
#define CUDA_CHECK(call, what)                                                                    \
  do {                                                                                            \
    const cudaError_t status_ = (call);                                                           \
    if (status_ != cudaSuccess) {                                                                 \
      throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(status_) + " (" +      \
                               cudaGetErrorString(status_) + ")");                                \
    }                                                                                             \
  } while (0)

template <class T>
constexpr T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}

}  // namespace fastcnn::cuda
