// GEMM blocking, in one place. The sizes started from BLIS's choices for AMD Zen 3 and were
// re-measured on this machine's Zen 4 EPYC (32 KiB L1d and 1 MiB L2 per core, 32 MiB
// shared L3) with benchmarks/gemm.py and single-thread runs against OpenBLAS.
#pragma once

#include <cstdint>

namespace fastcnn::cpu::gemm_config {

// Register tile of the micro-kernel: 6 rows x 16 columns = 12 ymm accumulators, leaving
// 2 registers for B and 2 for broadcasts of A.
constexpr int64_t MR = 6;
constexpr int64_t NR = 16;

// KC: a KC x NR panel of packed B (384 * 16 * 4 B = 24 KiB) stays in L1 across the MR
// rows of A it meets. Longer than BLIS's 256: each K block ends in a read-modify-write of
// C, and 384 made square 1024-2048 12-14% faster on one thread (90 -> 103 GFLOP/s,
// 0.92-0.97x -> 1.02-1.04x OpenBLAS); 512 (all of L1) measured the same, within noise.
constexpr int64_t KC = 384;
// MC: an MC x KC block of packed A (144 * 384 * 4 B = 216 KiB) stays in L2.
constexpr int64_t MC = 144;
// NC: a KC x NC block of packed B (384 * 4080 * 4 B = 6 MiB) stays in L3.
constexpr int64_t NC = 4080;

static_assert(MC % MR == 0 && NC % NR == 0, "cache blocks must hold whole register tiles");

// Below this many multiply-adds a GEMM runs on one thread: waking the pool costs more
// than it saves.
constexpr int64_t kMinFmasPerThread = int64_t(1) << 18;

}  // namespace fastcnn::cpu::gemm_config
