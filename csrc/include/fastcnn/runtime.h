// Process-wide run-time settings shared by every CPU kernel: which instruction set the
// kernels use, how many threads they run on, and whether denormals are flushed.
#pragma once

#include <string>

namespace fastcnn {

struct CpuFeatures {
  bool avx = false;   // CPU and OS both support 256-bit AVX state
  bool avx2 = false;
  bool fma = false;
};
CpuFeatures detect_cpu_features();

// The kernel family in use. Ref is the portable path, always available and always tested.
enum class Isa { Ref, Avx2 };
const char* isa_name(Isa isa);
bool isa_supported(Isa isa);           // compiled in and supported by this CPU
Isa active_isa();                      // Avx2 where supported, unless FASTCNN_DISABLE_AVX2=1
void set_active_isa(Isa isa);          // throws std::invalid_argument if unsupported

// Threads. The default is the number of physical cores this process may use (affinity
// mask and cgroup CPU quota), overridden by FASTCNN_NUM_THREADS, then OMP_NUM_THREADS.
// A forked child process drops to one thread; if the parent's pool had started, it cannot
// go back up (set_num_threads(n > 1) throws std::runtime_error there).
int get_num_threads();
void set_num_threads(int n);           // effective for the next kernel call
int usable_physical_cores();
std::string num_threads_source();      // where the current count came from, for `fastcnn info`

// Flush denormals to zero (FTZ/DAZ) inside kernel threads; on by default,
// FASTCNN_FLUSH_DENORMAL=0 or set_flush_denormal(false) turns it off.
bool flush_denormal();
void set_flush_denormal(bool enabled);

// Deterministic mode (fastcnn.use_deterministic_algorithms): off by default. Kernels whose
// rounding would depend on the thread count when they split a reduction for speed take a
// fixed split instead while it is on (conv_gemm.cpp's backward-weight); the others always
// reduce in a fixed order.
bool deterministic();
void set_deterministic(bool enabled);

}  // namespace fastcnn
