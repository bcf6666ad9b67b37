// The parameters of the elementwise kernels shared by the CPU kernels (engine/cpu/elementwise.h) and
// the CUDA kernels (cuda/elementwise.h): the op enums and the broadcast description of out = f(a, b).
// Standard headers only, C++17 (nvcc compiles it too): every layer may include it.
#pragma once
#include <cstdint>

namespace tg {

enum class BinaryOp { Add, Sub, Mul, Div };
enum class UnaryOp { Neg, Exp, Log, Sqrt, Pow, Relu, Gelu, Sigmoid, Tanh };

constexpr int kMaxDims = 8;

// Describes out = f(a, b) over a broadcast output shape: strides are in elements, 0 on the dims
// where an input is stretched. Built by cpu::make_broadcast() (engine/cpu/elementwise.h).
struct BroadcastShape {
  int ndim = 0;
  int64_t out[kMaxDims] = {};
  int64_t a_stride[kMaxDims] = {};
  int64_t b_stride[kMaxDims] = {};
  // numel = prod_d out[d]
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= out[d];
    return n;
  }
};

}  // namespace tg
