// Softmax, log-softmax and the fused softmax-cross-entropy, with autograd.
#include <cmath>

#include "engine/cpu/softmax.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace tg {

namespace {

Tensor softmax_impl(const Tensor& x, int dim, bool log, const char* name) {
  check_defined(x, name);
  if (!x.device().is_cpu()) throw_no_kernel(name, x.device());
  const int d = normalize_dim(dim, x.dim(), name);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= x.size(i);
  for (int i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  const int64_t n = x.size(d);
  Tensor y = Tensor::empty(x.shape(), x.device());
  cpu::softmax_forward(y.data(), x.data(), outer, n, inner, log);
  Tensor yd = y.detach();
  return record_op(y, name, {&x}, [yd, outer, n, inner, log](const Tensor& g) {
    Tensor dx = Tensor::empty(yd.shape(), yd.device());
    cpu::softmax_backward(dx.data(), g.data(), yd.data(), outer, n, inner, log);
    return std::vector<Tensor>{dx};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int dim) { return softmax_impl(x, dim, false, "softmax"); }
Tensor log_softmax(const Tensor& x, int dim) { return softmax_impl(x, dim, true, "log_softmax"); }

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, float label_smoothing) {
  check_defined(logits, "cross_entropy", "logits");
  check_defined(targets, "cross_entropy", "targets");
  check_same_device(logits, targets, "cross_entropy");
  TG_CHECK(logits.dim() == 2, "cross_entropy: logits must be (N, C), got " << shape_str(logits.shape()));
  TG_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0),
           "cross_entropy: targets must be (N,) = (" << logits.size(0) << ",), got " << shape_str(targets.shape()));
  TG_CHECK(label_smoothing >= 0.f && label_smoothing <= 1.f,
           "cross_entropy: label_smoothing must be in [0, 1], got " << label_smoothing);
  TG_CHECK(!targets.requires_grad(), "cross_entropy: targets are class indices and cannot require grad");
  if (!logits.device().is_cpu()) throw_no_kernel("cross_entropy", logits.device());
  const int64_t N = logits.size(0), C = logits.size(1);
  const float* t = targets.data();
  for (int64_t n = 0; n < N; ++n) {
    TG_CHECK(t[n] >= 0.f && t[n] < static_cast<float>(C) && t[n] == std::floor(t[n]),
             "cross_entropy: target[" << n << "] = " << t[n] << " is not a class index in [0, " << C << ")");
  }
  Tensor probs = Tensor::empty({N, C}, logits.device());  // (N, C) softmax, saved for the backward
  const double loss = cpu::cross_entropy_forward(probs.data(), logits.data(), t, N, C, label_smoothing);
  Tensor out = Tensor::scalar(static_cast<float>(loss), logits.device());
  Tensor td = targets.detach();
  return record_op(out, "cross_entropy", {&logits, &targets}, [probs, td, N, C, label_smoothing](const Tensor& g) {
    Tensor dlogits = Tensor::empty({N, C}, probs.device());
    cpu::cross_entropy_backward(dlogits.data(), probs.data(), td.data(), N, C, label_smoothing, g.item());
    return std::vector<Tensor>{dlogits, Tensor()};
  });
}

}  // namespace tg
