// Reference elementwise kernels (elementwise.h): a switch per element, index arithmetic per element.
#include "engine/cpu/reference/elementwise.h"

#include <cmath>
#include <vector>

#include "engine/kernel_params/elementwise_math.h"  // binary_value, unary_value, unary_gradient

namespace tg::cpu::reference {
namespace {

// The offset sum_d i_d * strides[d] of flat index `flat` over the dims `dims` (row-major, last fastest).
int64_t offset_of(int64_t flat, const int64_t* dims, const int64_t* strides, int ndim) {
  int64_t offset = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    offset += (flat % dims[d]) * strides[d];
    flat /= dims[d];
  }
  return offset;
}

// Index of the element of `small` (which broadcasts to `big`) that lands at flat index i of `big`:
// offset_of(i, big, small's strides with 0 where stretched).
struct BroadcastSource {
  BroadcastShape s;
  BroadcastSource(const Shape& big, const Shape& small) : s(make_broadcast(big, small, small)) {}
  int64_t operator()(int64_t i) const { return offset_of(i, s.out, s.a_stride, s.ndim); }
};

}  // namespace

void binary_forward(float* out, const float* a, const float* b, BinaryOp op, const BroadcastShape& s) {
  for (int64_t i = 0; i < s.numel(); ++i)
    out[i] = binary_value(op, a[offset_of(i, s.out, s.a_stride, s.ndim)], b[offset_of(i, s.out, s.b_stride, s.ndim)]);
}

void binary_scalar(float* out, const float* a, float s, BinaryOp op, bool scalar_first, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = scalar_first ? binary_value(op, s, a[i]) : binary_value(op, a[i], s);
}

void add_inplace(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i];
}

void add_relu_forward(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = unary_value(UnaryOp::Relu, binary_value(BinaryOp::Add, a[i], b[i]), 0.f);
}

void unary_forward(float* y, const float* x, UnaryOp op, float param, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = unary_value(op, x[i], param);
}

void unary_backward(float* dx, const float* dout, const float* x, const float* y, UnaryOp op, float param, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = unary_gradient(op, dout[i], x[i], y[i], param);
}

void sum_to_shape(float* out, const Shape& to, const float* in, const Shape& from) {
  const BroadcastSource source_of(from, to);
  std::vector<double> sums(static_cast<size_t>(numel_of(to)), 0.0);
  for (int64_t i = 0; i < numel_of(from); ++i) sums[static_cast<size_t>(source_of(i))] += in[i];
  for (size_t j = 0; j < sums.size(); ++j) out[j] = static_cast<float>(sums[j]);
}

void broadcast_to(float* out, const Shape& to, const float* in, const Shape& from) {
  const BroadcastSource source_of(to, from);
  for (int64_t i = 0; i < numel_of(to); ++i) out[i] = in[source_of(i)];
}

}  // namespace tg::cpu::reference
