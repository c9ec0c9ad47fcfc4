// Packing for the blocked GEMM: copies op(A) and op(B) into the contiguous panels the
// micro-kernel streams through, zero-padding the edges so it never needs a partial path.
#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "cpu/gemm_config.h"
#include "cpu/gemm_kernels.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

using gemm_config::KC;
using gemm_config::MR;
using gemm_config::NR;

namespace {

bool avx2_packs() {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  return active_isa() == Isa::Avx2;
#else
  return false;
#endif
}

// Rows padded to whole MR panels: every K block of a pre-packed A holds this many.
int64_t padded_rows(int64_t m) { return (m + MR - 1) / MR * MR; }

void pack_a_panel(const GemmParams& p, int64_t i0, int64_t mr, int64_t p0, int64_t kc, float* dst) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (!p.trans_a && avx2_packs()) return pack_a_panel_rows_avx2(p.a + i0 * p.lda + p0, p.lda, mr, kc, dst);
#endif
  if (mr < MR) std::fill(dst, dst + kc * MR, 0.0f);
  if (p.trans_a) {  // A stored K x M: each k's MR values are contiguous
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = p.a + (p0 + k) * p.lda + i0;
      if (mr == MR) {
        std::memcpy(dst + k * MR, src, sizeof(float) * MR);  // fixed size: inlined
      } else {
        for (int64_t i = 0; i < mr; ++i) dst[k * MR + i] = src[i];
      }
    }
  } else {  // A stored M x K: read each row once, contiguously
    for (int64_t i = 0; i < mr; ++i) {
      const float* src = p.a + (i0 + i) * p.lda + p0;
      for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = src[k];
    }
  }
}

}  // namespace

void pack_a_block(const GemmParams& p, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* packed) {
  for (int64_t i = 0; i < mc; i += MR) {
    pack_a_panel(p, i0 + i, std::min(MR, mc - i), p0, kc, packed + i * kc);
  }
}

int64_t gemm_kc_block(int64_t k) {
  if (k <= 0) return 0;
  const int64_t blocks = (k + KC - 1) / KC;
  return (k + blocks - 1) / blocks;
}

const float* prepacked_a_block(const float* packed, int64_t m, int64_t row, int64_t pc, int64_t kc) {
  return packed + pc * padded_rows(m) + row * kc;
}

int64_t gemm_packed_a_floats(int64_t m, int64_t k) { return padded_rows(m) * k; }

// The frame's K loop and pack_a_block over all rows: each K block [pc, pc + kc) is the
// block loop 3 would pack for rows [0, m), so any MR-aligned row range of it is too.
void gemm_pack_a(const GemmParams& p, float* packed) {
  FASTCNN_CHECK(p.m >= 0 && p.k >= 0, "gemm_pack_a: sizes must be >= 0, got M=", p.m, " K=", p.k);
  if (p.m == 0 || p.k == 0) return;
  const int64_t a_cols = p.trans_a ? p.m : p.k;
  FASTCNN_CHECK(p.lda >= a_cols, "gemm_pack_a: lda=", p.lda, " is smaller than A's row length ", a_cols);
  FASTCNN_CHECK(p.a != nullptr && packed != nullptr, "gemm_pack_a: A or the packed buffer is null");
  gemm_pack_a_rows(p, p.m, 0, packed);
}

void gemm_pack_a_rows(const GemmParams& p, int64_t m_total, int64_t row0, float* packed) {
  const int64_t kc_max = gemm_kc_block(p.k);
  for (int64_t pc = 0; pc < p.k; pc += kc_max) {
    const int64_t kc = std::min(kc_max, p.k - pc);
    pack_a_block(p, 0, p.m, pc, kc, packed + pc * padded_rows(m_total) + row0 * kc);
  }
}

void pack_b_panels(const GemmParams& p, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
  const int64_t full_panels = nc / NR, tail = nc % NR;
  if (p.trans_b) {  // B stored N x K: read each column's K values contiguously
    if (tail) std::fill(dst + full_panels * NR * kc, dst + (full_panels + 1) * NR * kc, 0.0f);
    int64_t j = 0;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
    if (avx2_packs()) {
      for (; j + NR <= nc; j += NR) pack_b_panel_columns_avx2(p.b + (j0 + j) * p.ldb + p0, p.ldb, kc, dst + j * kc);
    }
#endif
    for (; j < nc; ++j) {
      const float* src = p.b + (j0 + j) * p.ldb + p0;
      float* panel = dst + (j / NR) * NR * kc + j % NR;
      for (int64_t k = 0; k < kc; ++k) panel[k * NR] = src[k];
    }
    return;
  }
  // B stored K x N: fill one panel at a time, so writes are sequential; each step reads
  // NR contiguous floats of a row.
  // Reads stride down the rows of B, so prefetch the next panel's lines meanwhile: they
  // arrive while this panel's micro-kernels run. (A prefetch never faults, even past B.)
  for (int64_t q = 0; q < full_panels; ++q) {
    const float* src = p.b + p0 * p.ldb + j0 + q * NR;
    float* panel = dst + q * NR * kc;
    for (int64_t k = 0; k < kc; ++k) {
      __builtin_prefetch(src + k * p.ldb + 2 * NR - 1);
      std::memcpy(panel + k * NR, src + k * p.ldb, sizeof(float) * NR);  // fixed size: inlined
    }
  }
  if (tail) {
    const float* src = p.b + p0 * p.ldb + j0 + full_panels * NR;
    float* panel = dst + full_panels * NR * kc;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
    if (avx2_packs()) return pack_b_panel_rows_tail_avx2(src, p.ldb, tail, kc, panel);
#endif
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t j = 0; j < tail; ++j) panel[k * NR + j] = src[k * p.ldb + j];
      for (int64_t j = tail; j < NR; ++j) panel[k * NR + j] = 0.0f;
    }
  }
}

}  // namespace fastcnn::cpu
