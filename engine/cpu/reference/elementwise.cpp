// Reference elementwise kernels (elementwise.h): a switch per element, index arithmetic per element.
#include "engine/cpu/reference/elementwise.h"

#include <cmath>
#include <vector>

namespace tg::cpu::reference {
namespace {

float binary_value(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
  }
  return 0.f;
}

constexpr float kInvSqrt2 = 0.70710678118654752f;    // 1/sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1/sqrt(2 pi)

// f(x)
float unary_value(UnaryOp op, float x, float param) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Pow: return std::pow(x, param);
    case UnaryOp::Relu: return x > 0.f ? x : 0.f;
    case UnaryOp::Gelu: return 0.5f * x * (1.f + std::erf(x * kInvSqrt2));  // x Phi(x)
    case UnaryOp::Sigmoid: return 1.f / (1.f + std::exp(-x));
    case UnaryOp::Tanh: return std::tanh(x);
  }
  return 0.f;
}

// dout * f'(x), with y = f(x) where f' is simplest in it.
float unary_gradient(UnaryOp op, float dout, float x, float y, float param) {
  switch (op) {
    case UnaryOp::Neg: return -dout;
    case UnaryOp::Exp: return dout * y;                                      // (e^x)' = e^x
    case UnaryOp::Log: return dout * (1.f / x);                              // 1/x
    case UnaryOp::Sqrt: return dout * (0.5f / y);                            // 1/(2 sqrt x)
    case UnaryOp::Pow: return dout * (param * std::pow(x, param - 1.f));     // p x^(p-1)
    case UnaryOp::Relu: return x > 0.f ? dout : 0.f;                         // 0 at x = 0, as PyTorch
    case UnaryOp::Gelu:                                                      // Phi(x) + x phi(x)
      return dout * (0.5f * (1.f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x));
    case UnaryOp::Sigmoid: return dout * (y * (1.f - y));                    // s (1 - s)
    case UnaryOp::Tanh: return dout * (1.f - y * y);                         // 1 - tanh^2
  }
  return 0.f;
}

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
