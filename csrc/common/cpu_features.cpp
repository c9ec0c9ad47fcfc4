// Run-time CPU feature detection and the choice of kernel family.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "common/check.h"
#include "fastcnn/runtime.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace fastcnn {

CpuFeatures detect_cpu_features() {
  CpuFeatures features;
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return features;
  const bool osxsave = ecx & bit_OSXSAVE;
  const bool cpu_avx = ecx & bit_AVX;
  const bool cpu_fma = ecx & bit_FMA;
  bool os_saves_ymm = false;
  if (osxsave) {
    // XGETBV: the OS must save XMM (bit 1) and YMM (bit 2) state on context switches.
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    os_saves_ymm = (xcr0_lo & 0x6) == 0x6;
  }
  features.avx = cpu_avx && os_saves_ymm;
  features.fma = features.avx && cpu_fma;
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    features.avx2 = features.avx && (ebx & bit_AVX2);
  }
#endif
  return features;
}

const char* isa_name(Isa isa) { return isa == Isa::Avx2 ? "avx2" : "ref"; }

bool isa_supported(Isa isa) {
  if (isa == Isa::Ref) return true;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  const CpuFeatures features = detect_cpu_features();
  return features.avx2 && features.fma;
#else
  return false;
#endif
}

namespace {

Isa initial_isa() {
  const char* disable = std::getenv("FASTCNN_DISABLE_AVX2");
  const bool disabled = disable && *disable && std::strcmp(disable, "0") != 0;
  return !disabled && isa_supported(Isa::Avx2) ? Isa::Avx2 : Isa::Ref;
}

std::atomic<Isa> g_isa{initial_isa()};

}  // namespace

Isa active_isa() { return g_isa.load(std::memory_order_relaxed); }

void set_active_isa(Isa isa) {
  FASTCNN_CHECK(isa_supported(isa), "kernel path '", isa_name(isa),
                "' is not supported on this CPU or was not compiled in");
  g_isa.store(isa, std::memory_order_relaxed);
}

}  // namespace fastcnn
