// CPU elementwise kernels: binary ops with NumPy broadcasting, scalar ops, unary forward and
// backward, and the broadcast/reduce-to-shape pair that broadcasting's backward needs.
#pragma once
#include <cstdint>

#include "engine/kernel_params/elementwise.h"  // BinaryOp, UnaryOp, BroadcastShape
#include "engine/shape.h"

namespace tg::cpu {

// Output shape of broadcasting a with b; throws tg::Error naming `op` and both shapes if incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
BroadcastShape make_broadcast(const Shape& out, const Shape& a, const Shape& b);

void binary_forward(float* out, const float* a, const float* b, BinaryOp op, const BroadcastShape& s);
// out = a (op) s, or s (op) a when scalar_first.
void binary_scalar(float* out, const float* a, float s, BinaryOp op, bool scalar_first, int64_t n);
void add_inplace(float* acc, const float* x, int64_t n);  // acc += x
// out = max(a + b, 0) over n elements of the same shape: a residual block's sum and ReLU in one pass
// (two inputs read, one output written, instead of the sum written and read back). The gradient is
// unary_backward's ReLU rule on out, for both inputs.
void add_relu_forward(float* out, const float* a, const float* b, int64_t n);

// y = f(x); `param` is the exponent for Pow.
void unary_forward(float* y, const float* x, UnaryOp op, float param, int64_t n);
// dx = dout * f'(x) from x (neg, log, pow, gelu) or y = f(x) (exp, sqrt, sigmoid, tanh, relu: the
// ReLU rule v > 0 gives the same mask for v = x and v = y). Both pointers are always read, so a caller
// that kept only one of x, y passes it in both slots (ops_elementwise.cpp does).
void unary_backward(float* dx, const float* dout, const float* x, const float* y, UnaryOp op, float param, int64_t n);

// out (shape `to`) = sum of `in` (shape `from`) over the dims that broadcasting stretched.
// `to` must broadcast to `from`.
void sum_to_shape(float* out, const Shape& to, const float* in, const Shape& from);
// out (shape `to`) = `in` (shape `from`) stretched along broadcast dims.
void broadcast_to(float* out, const Shape& to, const float* in, const Shape& from);

}  // namespace tg::cpu
