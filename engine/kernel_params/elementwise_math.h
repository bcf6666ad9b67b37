// The elementwise ops' element math, written once for the fast CPU kernels (engine/cpu/elementwise.cpp),
// the reference kernels (engine/cpu/reference/elementwise.cpp) and the CUDA kernels (cuda/elementwise.cu),
// and the max reductions' comparison (engine/cpu/reduce.cpp, its reference twin, cuda/reduce.cu).
// Inline functions of scalars (TG_HOST_DEVICE, host_device.h). A loop that calls them with an op known
// at compile time (a template parameter) gets the switch folded away and stays vectorisable.
#pragma once
#include <cmath>

#include "engine/kernel_params/elementwise.h"
#include "engine/kernel_params/host_device.h"

namespace tg {

// a (op) b
TG_HOST_DEVICE float binary_value(BinaryOp op, float a, float b) {
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

// y = f(x); `param` is the exponent p of Pow and unused otherwise.
TG_HOST_DEVICE float unary_value(UnaryOp op, float x, float param) {
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

// dx = dout * f'(x), with f' written in x or in y = f(x), whichever is simpler.
TG_HOST_DEVICE float unary_gradient(UnaryOp op, float dout, float x, float y, float param) {
  switch (op) {
    case UnaryOp::Neg: return -dout;
    case UnaryOp::Exp: return dout * y;                                   // (e^x)' = e^x
    case UnaryOp::Log: return dout * (1.f / x);                           // 1/x
    case UnaryOp::Sqrt: return dout * (0.5f / y);                         // 1/(2 sqrt x)
    // p x^(p-1), and 0 for p = 0 whatever x is (PyTorch's mask): 0 * 0^-1 would be NaN at x = 0.
    case UnaryOp::Pow: return param == 0.f ? 0.f : dout * (param * std::pow(x, param - 1.f));
    // A select, not dout * 0: 0 at x <= 0 even for dout = inf; 0 at x = 0, as PyTorch.
    case UnaryOp::Relu: return x > 0.f ? dout : 0.f;
    case UnaryOp::Gelu:  // Phi(x) + x phi(x)
      return dout * (0.5f * (1.f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x));
    case UnaryOp::Sigmoid: return dout * (y * (1.f - y));  // s (1 - s)
    case UnaryOp::Tanh: return dout * (1.f - y * y);       // 1 - tanh^2
  }
  return 0.f;
}

// The max reductions' rule (max, max over a dim, argmax), PyTorch's: scanning in index order, value v
// replaces the running best when it is greater, or when it is NaN and the best is not. So a NaN
// anywhere is the maximum (its first occurrence), and among equal values the first index wins.
TG_HOST_DEVICE bool takes_max_over(float v, float best) { return v > best || (v != v && best == best); }

// Whether unary_gradient reads y (the others read only x and dout).
TG_HOST_DEVICE bool unary_gradient_reads_output(UnaryOp op) {
  return op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Sigmoid || op == UnaryOp::Tanh;
}

// Fn<op>::run(args...) with the run-time op as a compile-time constant (host code): the CPU loops
// and the CUDA launches instantiate one loop or kernel per op, in which the switches above fold.
template <template <UnaryOp> class Fn, class... Args>
void dispatch_unary(UnaryOp op, Args... args) {
  switch (op) {
    case UnaryOp::Neg: return Fn<UnaryOp::Neg>::run(args...);
    case UnaryOp::Exp: return Fn<UnaryOp::Exp>::run(args...);
    case UnaryOp::Log: return Fn<UnaryOp::Log>::run(args...);
    case UnaryOp::Sqrt: return Fn<UnaryOp::Sqrt>::run(args...);
    case UnaryOp::Pow: return Fn<UnaryOp::Pow>::run(args...);
    case UnaryOp::Relu: return Fn<UnaryOp::Relu>::run(args...);
    case UnaryOp::Gelu: return Fn<UnaryOp::Gelu>::run(args...);
    case UnaryOp::Sigmoid: return Fn<UnaryOp::Sigmoid>::run(args...);
    case UnaryOp::Tanh: return Fn<UnaryOp::Tanh>::run(args...);
  }
}

}  // namespace tg
