// Softmax, log-softmax and the fused softmax-cross-entropy, with autograd.
#include <cmath>

#include "engine/cpu/softmax.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#ifdef TRUSTGRAD_WITH_CUDA
#include "cuda/softmax.h"
#endif

namespace tg {

namespace {

Tensor softmax_impl(const Tensor& x, int dim, bool log, const char* name) {
  check_defined(x, name);
  const int d = normalize_dim(dim, x.dim(), name);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= x.size(i);
  for (int i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  const int64_t n = x.size(d);
  Tensor y = Tensor::empty(x.shape(), x.device());
  switch (x.device().type) {
    case DeviceType::CPU: cpu::softmax_forward(y.data(), x.data(), outer, n, inner, log); break;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::softmax_forward(y.data(), x.data(), outer, n, inner, log)); break;
  }
  Tensor yd = y.detach();
  return record_op(y, name, {&x}, [yd, outer, n, inner, log](const Tensor& g) {
    Tensor dx = Tensor::empty(yd.shape(), yd.device());
    switch (yd.device().type) {
      case DeviceType::CPU: cpu::softmax_backward(dx.data(), g.data(), yd.data(), outer, n, inner, log); break;
      case DeviceType::CUDA:
        TG_CUDA_CALL(cuda::softmax_backward(dx.data(), g.data(), yd.data(), outer, n, inner, log));
        break;
    }
    return std::vector<Tensor>{dx};
  }, {&yd});
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
  const int64_t N = logits.size(0), C = logits.size(1);
  const std::vector<float> host_targets = targets.to_vector();  // validated on the host (N floats)
  const float* t = host_targets.data();
  for (int64_t n = 0; n < N; ++n) {
    TG_CHECK(t[n] >= 0.f && t[n] < static_cast<float>(C) && t[n] == std::floor(t[n]),
             "cross_entropy: target[" << n << "] = " << t[n] << " is not a class index in [0, " << C << ")");
  }
  Tensor probs = Tensor::empty({N, C}, logits.device());  // (N, C) softmax, saved for the backward
  double loss = 0.0;
  switch (logits.device().type) {
    case DeviceType::CPU:
      loss = cpu::cross_entropy_forward(probs.data(), logits.data(), targets.data(), N, C, label_smoothing);
      break;
    case DeviceType::CUDA:
      loss = TG_CUDA_CALL(cuda::cross_entropy_forward(probs.data(), logits.data(), targets.data(), N, C, label_smoothing));
      break;
  }
  Tensor out = Tensor::scalar(static_cast<float>(loss), logits.device());
  Tensor td = targets.detach();
  return record_op(out, "cross_entropy", {&logits, &targets}, [probs, td, N, C, label_smoothing](const Tensor& g) {
    Tensor dlogits = Tensor::empty({N, C}, probs.device());
    const float dloss = g.item();
    switch (probs.device().type) {
      case DeviceType::CPU:
        cpu::cross_entropy_backward(dlogits.data(), probs.data(), td.data(), N, C, label_smoothing, dloss);
        break;
      case DeviceType::CUDA:
        TG_CUDA_CALL(cuda::cross_entropy_backward(dlogits.data(), probs.data(), td.data(), N, C, label_smoothing, dloss));
        break;
    }
    return std::vector<Tensor>{dlogits, Tensor()};
  }, {&td});
}

}  // namespace tg
