// Per-thread scratch buffers of the CPU kernels: grown on demand, kept (a steady state allocates
// nothing), and handed out 64-byte aligned.
//
//   float* p = grow_aligned(t_buf, n);   // p[0, n) usable; p % 64 == 0; contents not kept on growth
//
// Defined out of line in scratch.cpp, built for the baseline ISA: the per-ISA kernel sources
// (kernels/isa_kernels.h) call it instead of instantiating std::vector's growth code themselves.
//
// The alignment matters: with malloc's 16-byte alignment half of the 8-float vectors of a packed
// GEMM panel or a Winograd plane straddle two cache lines (measured on the Winograd-sized products,
// 32 x 80 x 32, one thread: 22-31 -> 34-36 GFLOP/s).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tg::cpu {

float* grow_aligned(std::vector<float>& buf, size_t n);
double* grow_aligned(std::vector<double>& buf, size_t n);

}  // namespace tg::cpu
