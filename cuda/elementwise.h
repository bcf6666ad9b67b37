// CUDA elementwise launchers with the same signatures as engine/cpu/elementwise.h: binary ops with
// NumPy broadcasting, scalar ops, unary forward/backward, and the sum_to_shape/broadcast_to pair.
// Pointers are device pointers; launches are asynchronous on the default stream.
#pragma once
#include <cstdint>

#include "engine/kernel_params/elementwise.h"  // BinaryOp, UnaryOp, BroadcastShape: shared with the CPU kernels
#include "engine/shape.h"

namespace tg::cuda {

// out[i] = value for i < n.
void fill(float* out, float value, int64_t n);

// out = a (op) b over the broadcast shape s (strides 0 on stretched dims).
void binary_forward(float* out, const float* a, const float* b, BinaryOp op, const BroadcastShape& s);
// out = a (op) s, or s (op) a when scalar_first.
void binary_scalar(float* out, const float* a, float s, BinaryOp op, bool scalar_first, int64_t n);
void add_inplace(float* acc, const float* x, int64_t n);  // acc += x

// y = f(x); `param` is the exponent for Pow. Gelu is the exact x * Phi(x).
void unary_forward(float* y, const float* x, UnaryOp op, float param, int64_t n);
// dx = dout * f'(x); uses x and/or y = f(x) (both always passed).
void unary_backward(float* dx, const float* dout, const float* x, const float* y, UnaryOp op, float param, int64_t n);

// out (shape `to`) = sum of `in` (shape `from`) over the dims broadcasting stretched (double accumulation).
void sum_to_shape(float* out, const Shape& to, const float* in, const Shape& from);
// out (shape `to`) = `in` (shape `from`) stretched along broadcast dims.
void broadcast_to(float* out, const Shape& to, const float* in, const Shape& from);

}  // namespace tg::cuda
