// axpy: y = alpha * x + y, one thread per element (grid-stride loop).
// The first CUDA kernel: it proves compile, launch, copy and error paths end to end.
// Test: tests/test_cuda.py (runs only where a GPU is present).
#include <algorithm>
#include <cstdint>

#include "cuda/common.cuh"
#include "fastcnn/cuda.h"

namespace fastcnn::cuda {

// ---------------------------------------------------------------------------------------
// kernel

__global__ void axpy_kernel(int64_t n, float alpha, const float* __restrict__ x, float* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    y[i] = fmaf(alpha, x[i], y[i]);
  }
}

// ---------------------------------------------------------------------------------------
// launcher

void axpy_host(int64_t n, float alpha, const float* x, float* y) {
  if (n == 0) return;
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  float *x_dev = nullptr, *y_dev = nullptr;
  CUDA_CHECK(cudaMalloc(&x_dev, bytes), "axpy: cudaMalloc");
  try {
    CUDA_CHECK(cudaMalloc(&y_dev, bytes), "axpy: cudaMalloc");
    CUDA_CHECK(cudaMemcpy(x_dev, x, bytes, cudaMemcpyHostToDevice), "axpy: copy x to device");
    CUDA_CHECK(cudaMemcpy(y_dev, y, bytes, cudaMemcpyHostToDevice), "axpy: copy y to device");
    constexpr int kThreads = 256;
    const int blocks = static_cast<int>(std::min<int64_t>(ceil_div<int64_t>(n, kThreads), 65535));
    axpy_kernel<<<blocks, kThreads>>>(n, alpha, x_dev, y_dev);
    CUDA_CHECK(cudaGetLastError(), "axpy: kernel launch");
    CUDA_CHECK(cudaMemcpy(y, y_dev, bytes, cudaMemcpyDeviceToHost), "axpy: copy y to host");
  } catch (...) {
    cudaFree(x_dev);
    cudaFree(y_dev);
    throw;
  }
  cudaFree(x_dev);
  CUDA_CHECK(cudaFree(y_dev), "axpy: cudaFree");
}

}  // namespace fastcnn::cuda
