// Matrix ops with autograd: matmul, 2-D transpose, linear, reshape/flatten wrappers.
//   C = A B:          dA = dC B^T,  dB = A^T dC
//   y = x W^T + b:    dx = dy W,    dW = dy^T x,   db = sum_n dy
#include "engine/cpu/elementwise.h"
#include "engine/cpu/matmul.h"
#include "engine/cpu/reduce.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#ifdef TRUSTGRAD_WITH_CUDA
#include "cuda/elementwise.h"
#include "cuda/gemm.h"
#include "cuda/reduce.h"
#endif

namespace tg {

namespace {
// C = alpha op(A) op(B) + beta C on the device that holds the buffers.
void gemm_on(Device d, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
             float beta, float* C) {
  switch (d.type) {
    case DeviceType::CPU: cpu::gemm(ta, tb, M, N, K, alpha, A, B, beta, C); break;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::gemm(ta, tb, M, N, K, alpha, A, B, beta, C)); break;
  }
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined(a, "matmul", "a");
  check_defined(b, "matmul", "b");
  check_same_device(a, b, "matmul");
  TG_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0),
           "matmul: expected (M, K) x (K, N), got " << shape_str(a.shape()) << " x " << shape_str(b.shape()));
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  Tensor out = Tensor::empty({M, N}, a.device());
  gemm_on(a.device(), false, false, M, N, K, 1.f, a.data(), b.data(), 0.f, out.data());
  Tensor ad = a.detach(), bd = b.detach();
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record_op(out, "matmul", {&a, &b}, [ad, bd, M, N, K, need_a, need_b](const Tensor& g) {
    Tensor da, db;
    if (need_a) {
      da = Tensor::empty({M, K}, g.device());
      gemm_on(g.device(), false, true, M, K, N, 1.f, g.data(), bd.data(), 0.f, da.data());  // (M,N) x (K,N)^T
    }
    if (need_b) {
      db = Tensor::empty({K, N}, g.device());
      gemm_on(g.device(), true, false, K, N, M, 1.f, ad.data(), g.data(), 0.f, db.data());  // (M,K)^T x (M,N)
    }
    return std::vector<Tensor>{da, db};
  }, {need_b ? &ad : nullptr, need_a ? &bd : nullptr});  // db reads a, da reads b
}

Tensor transpose(const Tensor& x) {
  check_defined(x, "transpose");
  TG_CHECK(x.dim() == 2, "transpose: expected a 2-D tensor, got shape " << shape_str(x.shape()));
  if (!x.device().is_cpu()) throw_no_kernel("transpose", x.device());
  const int64_t R = x.size(0), C = x.size(1);
  Tensor out = Tensor::empty({C, R}, x.device());
  const float* p = x.data();
  float* q = out.data();
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) q[c * R + r] = p[r * C + c];
  return record_op(out, "transpose", {&x}, [](const Tensor& g) { return std::vector<Tensor>{transpose(g)}; });
}

Tensor reshape(const Tensor& x, const Shape& shape) { return x.reshape(shape); }
Tensor flatten(const Tensor& x, int start_dim) { return x.flatten(start_dim); }

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_defined(x, "linear", "x");
  check_defined(w, "linear", "weight");
  check_same_device(x, w, "linear");
  TG_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1),
           "linear: expected x (N, in) and weight (out, in), got x " << shape_str(x.shape()) << " and weight "
                                                                     << shape_str(w.shape()));
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  if (b.defined())
    TG_CHECK(b.dim() == 1 && b.size(0) == O,
             "linear: bias must have shape (" << O << ",), got " << shape_str(b.shape()));
  if (b.defined()) check_same_device(x, b, "linear");
  Tensor out = Tensor::empty({N, O}, x.device());
  float* y = out.data();
  if (b.defined()) {  // y = b broadcast over rows, then the GEMM adds x W^T
    switch (x.device().type) {
      case DeviceType::CPU: cpu::broadcast_to(y, {N, O}, b.data(), {O}); break;
      case DeviceType::CUDA: TG_CUDA_CALL(cuda::broadcast_to(y, {N, O}, b.data(), {O})); break;
    }
  }
  gemm_on(x.device(), false, true, N, O, I, 1.f, x.data(), w.data(), b.defined() ? 1.f : 0.f, y);  // y (+)= x W^T
  Tensor xd = x.detach(), wd = w.detach();
  const bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = b.defined() && b.requires_grad();
  return record_op(out, "linear", {&x, &w, &b}, [xd, wd, N, I, O, need_x, need_w, need_b](const Tensor& g) {
    Tensor dx, dw, db;
    if (need_x) {
      dx = Tensor::empty({N, I}, g.device());
      gemm_on(g.device(), false, false, N, I, O, 1.f, g.data(), wd.data(), 0.f, dx.data());  // dy W
    }
    if (need_w) {
      dw = Tensor::empty({O, I}, g.device());
      gemm_on(g.device(), true, false, O, I, N, 1.f, g.data(), xd.data(), 0.f, dw.data());  // dy^T x
    }
    if (need_b) {
      db = Tensor::empty({O}, g.device());
      switch (g.device().type) {  // sum over the batch
        case DeviceType::CPU: cpu::sum_dim(db.data(), g.data(), 1, N, O); break;
        case DeviceType::CUDA: TG_CUDA_CALL(cuda::sum_dim(db.data(), g.data(), 1, N, O)); break;
      }
    }
    return std::vector<Tensor>{dx, dw, db};
  }, {need_w ? &xd : nullptr, need_x ? &wd : nullptr});  // dw reads x, dx reads w
}

}  // namespace tg
