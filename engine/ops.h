// Differentiable op functions. Each checks its arguments (throwing tg::Error with the offending
// shapes), dispatches on the input's device to a kernel (engine/cpu/, cuda/), and records an
// autograd node when needed. Shapes use NCHW for images.
#pragma once
#include <vector>

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace tg {

// ---- elementwise binary, with broadcasting ----
// Broadcasting follows NumPy rules (align trailing dims; size-1 dims stretch). The backward of a
// broadcast input sums the gradient over the stretched dims.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float s);
Tensor sub(const Tensor& a, float s);
Tensor mul(const Tensor& a, float s);
Tensor div(const Tensor& a, float s);
Tensor rsub(float s, const Tensor& a);  // s - a
Tensor rdiv(float s, const Tensor& a);  // s / a

// ---- broadcasting primitives (each is the other's backward) ----
Tensor expand(const Tensor& x, const Shape& shape);  // stretch size-1 / missing leading dims to `shape`
Tensor sum_to(const Tensor& x, const Shape& shape);  // sum over the dims that `shape` broadcasts along

// ---- elementwise unary ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, float exponent);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);  // exact: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's default
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// ---- reductions ----
Tensor sum(const Tensor& x);                                  // all elements -> shape {}
Tensor sum(const Tensor& x, int dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int dim, bool keepdim = false);
// max and argmax follow PyTorch: a NaN is the maximum (its first occurrence), ties go to the first.
Tensor max(const Tensor& x);                                  // gradient to the first max
Tensor max(const Tensor& x, int dim, bool keepdim = false);   // gradient to the first max along dim
Tensor argmax(const Tensor& x, int dim);                      // indices as float, no grad
Tensor norm(const Tensor& x);                                 // L2 norm of all elements, shape {}

// ---- linear algebra and shape ----
Tensor matmul(const Tensor& a, const Tensor& b);  // (M, K) x (K, N) -> (M, N)
Tensor transpose(const Tensor& x);                // 2-D only, materialises
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int start_dim = 1);
// y = x W^T + b with x (N, in), W (out, in), b (out) or undefined — PyTorch's Linear convention.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

// ---- softmax family ----
Tensor softmax(const Tensor& x, int dim = -1);
Tensor log_softmax(const Tensor& x, int dim = -1);
// Fused softmax + cross-entropy, mean over the batch. logits (N, C), targets (N) class indices
// stored as float. label_smoothing eps mixes the one-hot target with the uniform 1/C (PyTorch's).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, float label_smoothing = 0.f);

// ---- operator sugar ----
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return sub(a, s); }
inline Tensor operator*(const Tensor& a, float s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return div(a, s); }
inline Tensor operator+(float s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(float s, const Tensor& a) { return rsub(s, a); }
inline Tensor operator*(float s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(float s, const Tensor& a) { return rdiv(s, a); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace tg
