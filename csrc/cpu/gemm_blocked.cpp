// The BLIS frame: five loops around the micro-kernel, each labelled below.
//
//   loop 5  jc over N in steps of NC     (B block sized for L3)
//   loop 4  pc over K in steps of KC     pack B: KC x NC
//   loop 3  ic over M in steps of MC     pack A: MC x KC (L2)
//   loop 2  jr over the block's NR-wide panels of B (one panel in L1)
//   loop 1  ir over the block's MR-high panels of A
//           micro-kernel: MR x NR tile of C += panel of A x panel of B
//
// Threads: C is cut into a grid of blocks, one per thread, and each thread runs the five
// loops on its block with its own packing buffers. No barrier is ever needed (idle OpenMP
// threads sleep, so each barrier would cost a wake-up); the price is that threads in the
// same grid row pack the same A and threads in the same column the same B, which the
// grid choice (choose_thread_grid) weighs against load balance. With a small A (packed,
// up to 1 MiB) that each thread would pack whole anyway, the threads instead take chunks
// of columns from a shared counter (gemm_column_chunks): still no barrier, and a thread
// slowed by another process on its core does less of the work.
#include <algorithm>
#include <atomic>
#include <numeric>

#include "common/parallel.h"
#include "common/thread_buffer.h"
#include "cpu/gemm_config.h"
#include "cpu/gemm_kernels.h"

namespace fastcnn::cpu {

using namespace gemm_config;

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// [begin, end) of `count` items for part `part` of `parts`, sizes differing by at most one.
void split_range(int64_t count, int parts, int part, int64_t& begin, int64_t& end) {
  begin = count * part / parts;
  end = count * (part + 1) / parts;
}

// Packing buffers, one per thread (see thread_buffer.h).
struct PackingTag;
float* packing_workspace(size_t floats) { return detail::thread_buffer<PackingTag>(floats); }

// Loops 2 and 1 over one block: the mc x nc block of C at (ic, jc). B's panel jr starts
// at b + jr * b_panel_step, its rows ldb floats apart (packed: NR and NR * kc).
void macro_kernel(const GemmParams& p, const GemmKernels& kernels, const float* packed_a, const float* b, int64_t ldb,
                  int64_t b_panel_step, int64_t ic, int64_t mc, int64_t jc, int64_t nc, int64_t kc, bool first_k,
                  bool last_k) {
  const bool bias_per_row = last_k && p.epilogue.bias_mode == BiasMode::PerRow;
  const bool bias_per_col = last_k && p.epilogue.bias_mode == BiasMode::PerColumn;
  TileEpilogue ep;
  ep.alpha = p.alpha;
  ep.beta = first_k ? p.beta : 1.0f;  // later K blocks accumulate onto the first's result
  ep.relu = last_k && p.epilogue.relu;

  for (int64_t jr = 0; jr * NR < nc; ++jr) {  // loop 2
    const int64_t j = jc + jr * NR;
    const int64_t nr = std::min(NR, nc - jr * NR);
    const float* b_panel = b + jr * b_panel_step;
    for (int64_t ir = 0; ir * MR < mc; ++ir) {  // loop 1
      const int64_t i = ic + ir * MR;
      const int64_t mr = std::min(MR, mc - ir * MR);
      const float* a_panel = packed_a + ir * MR * kc;
      float* c = p.c + i * p.ldc + j;
      ep.row_bias = bias_per_row ? p.epilogue.bias + i : nullptr;
      ep.col_bias = bias_per_col ? p.epilogue.bias + j : nullptr;
      if (mr == MR && nr == NR) {
        kernels.tile(kc, a_panel, b_panel, ldb, c, p.ldc, ep);
        continue;
      }
      kernels.edge(mr, nr, kc, a_panel, b_panel, ldb, c, p.ldc, ep);
    }
  }
}

// Whether loop 2 reads B's full panels where they are instead of packing them: B stored
// K x N has each panel row contiguous already, so with one A block (each panel meets A
// once) packing is a copy that saves nothing unless the panel's rows collide in L1.
// A panel's rows lie ldb floats apart; those that map to few of L1's 64 sets (a stride
// near a multiple of 4 KiB) evict each other, and then the packed copy is faster
// (32 x 12544 x 144: 85 GFLOP/s in place, 87 packed) unless few A panels reuse it
// (m <= 4 MR: 6 x 784 x 25 went from 48 to 70 GFLOP/s). Otherwise in place measured
// 1-14% faster on one thread (36 x 3136 x 576: 93 -> 106).
bool b_read_in_place(const GemmParams& p) {
  if (p.trans_b) return false;
  if (ceil_div(p.m, MR) <= 4) return true;
  const int64_t line_step = (p.ldb * static_cast<int64_t>(sizeof(float)) / 64) % 64;
  const int64_t sets = 64 / std::gcd<int64_t>(line_step, 64);  // L1 sets a panel's rows use
  return sets >= 16;
}

// Loops 5 to 1 on one thread, for the whole of `p`. With a pre-packed A (p.packed_a, made
// for `a_rows` rows), p's row 0 is row `a_row0` of it.
void gemm_serial(const GemmParams& p, const GemmKernels& kernels, int64_t a_row0, int64_t a_rows) {
  const int64_t kc_max = gemm_kc_block(p.k);
  const int64_t nc_max = std::min(NC, ceil_div(p.n, NR) * NR);
  const int64_t mc_max = std::min(MC, ceil_div(p.m, MR) * MR);
  // With a single A block (M <= MC, the usual convolution), each packed B panel meets A
  // once: pack it just before its micro-kernels, into one L1-sized panel, instead of
  // writing a whole KC x NC block out to L3 and reading it back.
  const bool single_a_block = p.m <= MC;
  const bool b_in_place = single_a_block && b_read_in_place(p);
  const int64_t b_floats = kc_max * (single_a_block ? NR : nc_max);
  float* packed_b = packing_workspace(static_cast<size_t>(b_floats + kc_max * mc_max));
  float* packed_a = packed_b + b_floats;  // 64-byte aligned: b_floats is a multiple of 16
  for (int64_t jc = 0; jc < p.n; jc += NC) {  // loop 5
    const int64_t nc = std::min(NC, p.n - jc);
    for (int64_t pc = 0; pc < p.k; pc += kc_max) {  // loop 4
      const int64_t kc = std::min(kc_max, p.k - pc);
      const bool first_k = pc == 0, last_k = pc + kc == p.k;
      // Loop 3's A block of rows [ic, ic + mc): packed now, or found in the pre-packed A.
      auto a_block = [&](int64_t ic, int64_t mc) -> const float* {
        if (p.packed_a) return prepacked_a_block(p.packed_a, a_rows, a_row0 + ic, pc, kc);
        pack_a_block(p, ic, mc, pc, kc, packed_a);
        return packed_a;
      };
      if (single_a_block) {
        const float* a = a_block(0, p.m);
        for (int64_t jr = 0; jr < nc; jr += NR) {  // loop 2, packing B as it goes
          const int64_t nr = std::min(NR, nc - jr);
          if (b_in_place && nr == NR) {
            macro_kernel(p, kernels, a, p.b + pc * p.ldb + jc + jr, p.ldb, NR, 0, p.m, jc + jr, nr, kc, first_k,
                         last_k);
            continue;
          }
          pack_b_panels(p, pc, kc, jc + jr, nr, packed_b);
          macro_kernel(p, kernels, a, packed_b, NR, NR * kc, 0, p.m, jc + jr, nr, kc, first_k, last_k);
        }
        continue;
      }
      pack_b_panels(p, pc, kc, jc, nc, packed_b);
      for (int64_t ic = 0; ic < p.m; ic += MC) {  // loop 3
        const int64_t mc = std::min(MC, p.m - ic);
        macro_kernel(p, kernels, a_block(ic, mc), packed_b, NR, NR * kc, ic, mc, jc, nc, kc, first_k, last_k);
      }
    }
  }
}

// The rows [i0, i1) and columns [j0, j1) of the product, as a GEMM of its own.
GemmParams sub_gemm(const GemmParams& p, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  GemmParams sub = p;
  sub.m = i1 - i0;
  sub.n = j1 - j0;
  if (!p.packed_a) sub.a += p.trans_a ? i0 : i0 * p.lda;  // else gemm_serial's a_row0 says where
  sub.b += p.trans_b ? j0 * p.ldb : j0;
  sub.c += i0 * p.ldc + j0;
  if (p.epilogue.bias_mode == BiasMode::PerRow) sub.epilogue.bias += i0;
  if (p.epilogue.bias_mode == BiasMode::PerColumn) sub.epilogue.bias += j0;
  return sub;
}

// The smallest chunk of gemm_column_chunks, in multiply-adds (about a microsecond): its
// setup stays negligible, and the threads finish at most this far apart.
constexpr int64_t kMinChunkFmas = int64_t(1) << 16;
// The largest A that gemm_column_chunks packs whole (1 MiB, one L2): each chunk reads all
// of it again, so a larger one (a long K) would come from L3 or memory once per chunk.
constexpr int64_t kMaxWholeAFloats = int64_t(1) << 18;

struct ThreadGrid {
  int rows = 1, cols = 1;
};

// The grid of C blocks with the least work on the busiest thread: its share of the
// multiply-adds (whole register tiles, so uneven splits show) plus the packing it does,
// each packed float weighted as kPackCost multiply-adds.
ThreadGrid choose_thread_grid(const GemmParams& p, int threads) {
  constexpr double kPackCost = 16.0;
  const int64_t m_panels = ceil_div(p.m, MR), n_panels = ceil_div(p.n, NR);
  ThreadGrid best;
  double best_cost = -1;
  for (int cols = threads; cols >= 1; --cols) {
    if (threads % cols) continue;
    const int rows = threads / cols;
    const double block_m = static_cast<double>(ceil_div(m_panels, rows) * MR);
    const double block_n = static_cast<double>(ceil_div(n_panels, cols) * NR);
    const double a_packs = static_cast<double>(ceil_div(static_cast<int64_t>(block_n), NC));
    const double cost = block_m * block_n * p.k + kPackCost * p.k * (block_m * a_packs + block_n);
    if (best_cost < 0 || cost < best_cost) best_cost = cost, best = {rows, cols};
  }
  return best;
}

// A whole op(A) packed by each thread for gemm_column_chunks (see thread_buffer.h).
struct WholeATag;

// A small A (a convolution's usual GEMM) on several threads: each thread packs all of A
// (as a 1 x T grid would), then takes chunks of B's panels from a shared counter
// until none are left, each a 1/(2T) share of what is left (large chunks first, small
// ones to even out the end). A thread that loses its core to another process for a
// while (a shared machine) then computes fewer chunks instead of holding up the whole
// call, as a fixed split makes it. Each chunk is a GEMM of its own over all of K, with
// the K blocks and tiles one thread would use, so the result does not depend on the split.
void gemm_column_chunks(const GemmParams& p, const GemmKernels& kernels, int threads) {
  const int64_t n_panels = ceil_div(p.n, NR);
  const int64_t panel_fmas = ceil_div(p.m, MR) * MR * NR * p.k;
  const int64_t min_chunk = std::max<int64_t>(1, kMinChunkFmas / panel_fmas);
  std::atomic<int64_t> next_panel{0};
  detail::parallel_region(threads, [&](int, int team) {
    GemmParams whole = p;
    if (!p.packed_a) {
      float* packed = detail::thread_buffer<WholeATag>(static_cast<size_t>(gemm_packed_a_floats(p.m, p.k)));
      gemm_pack_a(p, packed);
      whole.packed_a = packed;
    }
    int64_t begin = next_panel.load(std::memory_order_relaxed);
    while (begin < n_panels) {
      const int64_t size = std::max(min_chunk, (n_panels - begin) / (2 * team));
      const int64_t end = std::min(n_panels, begin + size);
      if (!next_panel.compare_exchange_weak(begin, end, std::memory_order_relaxed)) continue;  // begin reloaded
      gemm_serial(sub_gemm(whole, 0, p.m, begin * NR, std::min(p.n, end * NR)), kernels, 0, p.m);
      begin = next_panel.load(std::memory_order_relaxed);
    }
  });
}

}  // namespace

void gemm_blocked(const GemmParams& p, const GemmKernels& kernels, int threads) {
  if (threads <= 1) {
    detail::parallel_region(1, [&](int, int) { gemm_serial(p, kernels, 0, p.m); });
    return;
  }
  const ThreadGrid grid = choose_thread_grid(p, threads);
  // Where every thread would pack all of A anyway (one A block, or a 1 x T grid) and A is
  // small, deal the columns out in chunks instead of a fixed split.
  if ((p.m <= MC || grid.rows == 1) && gemm_packed_a_floats(p.m, p.k) <= kMaxWholeAFloats) {
    return gemm_column_chunks(p, kernels, threads);
  }
  const int64_t m_panels = ceil_div(p.m, MR), n_panels = ceil_div(p.n, NR);
  detail::parallel_region(grid.rows * grid.cols, [&](int tid, int team) {
    // The runtime may grant fewer threads than asked: then each takes several blocks.
    for (int block = tid; block < grid.rows * grid.cols; block += team) {
      int64_t row_begin, row_end, col_begin, col_end;
      split_range(m_panels, grid.rows, block / grid.cols, row_begin, row_end);
      split_range(n_panels, grid.cols, block % grid.cols, col_begin, col_end);
      if (row_begin == row_end || col_begin == col_end) continue;
      gemm_serial(sub_gemm(p, row_begin * MR, std::min(p.m, row_end * MR), col_begin * NR,
                           std::min(p.n, col_end * NR)),
                  kernels, row_begin * MR, p.m);
    }
  });
}

}  // namespace fastcnn::cpu
