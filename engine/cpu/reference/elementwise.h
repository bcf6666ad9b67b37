// Reference elementwise kernels: one loop over the output's elements each, with NumPy broadcasting
// written out as index arithmetic. Same signatures as engine/cpu/elementwise.h (the shapes and the
// BroadcastShape built by cpu::make_broadcast are described there).
#pragma once
#include <cstdint>

#include "engine/cpu/elementwise.h"

namespace tg::cpu::reference {

// out[i] = a[ia] (op) b[ib]: i's coordinates (i_0, ..., i_{nd-1}) in s.out, ia = sum_d i_d * a_stride[d]
// (stride 0 on a stretched dim, so every i_d there reads a's single element), ib likewise.
void binary_forward(float* out, const float* a, const float* b, BinaryOp op, const BroadcastShape& s);
// out[i] = a[i] (op) s, or s (op) a[i] when scalar_first.
void binary_scalar(float* out, const float* a, float s, BinaryOp op, bool scalar_first, int64_t n);
// acc[i] += x[i]
void add_inplace(float* acc, const float* x, int64_t n);
// out[i] = max(a[i] + b[i], 0)
void add_relu_forward(float* out, const float* a, const float* b, int64_t n);

// y[i] = f(x[i]): -x, e^x, log x, sqrt x, x^param, max(x, 0), x Phi(x), 1/(1 + e^-x), tanh x.
void unary_forward(float* y, const float* x, UnaryOp op, float param, int64_t n);
// dx[i] = dout[i] * f'(x[i]), f' written with x or with y = f(x) as in the fast kernel.
void unary_backward(float* dx, const float* dout, const float* x, const float* y, UnaryOp op, float param, int64_t n);

// out[j] = sum of in[i] over every i (of shape `from`) whose broadcast source in `to` is j.
void sum_to_shape(float* out, const Shape& to, const float* in, const Shape& from);
// out[i] = in[j], j the element of `from` that broadcasts to position i of `to`.
void broadcast_to(float* out, const Shape& to, const float* in, const Shape& from);

}  // namespace tg::cpu::reference
