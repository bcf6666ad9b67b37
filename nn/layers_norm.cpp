// BatchNorm2d: mode selection (batch vs running statistics) on top of the fused tg::batch_norm2d.
#include "nn/layers_norm.h"

#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"

namespace tg::nn {

BatchNorm2d::BatchNorm2d(int num_features_, float eps_, float momentum_, bool affine_, bool track)
    : Module("BatchNorm2d"),
      num_features(num_features_),
      eps(eps_),
      momentum(momentum_),
      affine(affine_),
      track_running_stats(track) {
  TG_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive, got " << num_features);
  TG_CHECK(eps > 0.f, "BatchNorm2d: eps must be positive, got " << eps);
  TG_CHECK(momentum >= 0.f && momentum <= 1.f, "BatchNorm2d: momentum must be in [0, 1], got " << momentum);
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({num_features}));
    bias = register_parameter("bias", Tensor::zeros({num_features}));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
    running_var = register_buffer("running_var", Tensor::ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}));
  }
}

// Shared by forward and forward_relu: checks x, counts the batch, says which statistics to use.
bool BatchNorm2d::prepare(const Tensor& x) {
  TG_CHECK(x.defined() && x.dim() == 4 && x.size(1) == num_features,
           describe() << ": expected input (N, " << num_features << ", H, W), got "
                      << (x.defined() ? shape_str(x.shape()) : std::string("undefined")));
  const bool use_batch_stats = training_ || !track_running_stats;
  if (use_batch_stats && track_running_stats) {  // training with tracking: count the batch
    NoGradGuard no_grad;
    num_batches_tracked.copy_(add(num_batches_tracked, 1.f));
  }
  return use_batch_stats;
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  const bool use_batch_stats = prepare(x);
  if (use_batch_stats && stats_sync) {
    return sync_batch_norm2d(x, weight, bias, running_mean, running_var, momentum, eps, stats_sync);
  }
  // Running buffers are undefined when not tracking; with batch statistics the op updates them.
  return batch_norm2d(x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps);
}

Tensor BatchNorm2d::forward_relu(const Tensor& x) {
  if (recording_summary()) return relu((*this)(x));  // keeps this module's summary row
  const bool use_batch_stats = prepare(x);
  if (use_batch_stats && stats_sync) {
    return relu(sync_batch_norm2d(x, weight, bias, running_mean, running_var, momentum, eps, stats_sync));
  }
  return batch_norm2d_relu(x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps);
}

std::string BatchNorm2d::describe() const {
  std::ostringstream os;
  os << "BatchNorm2d(" << num_features << ", eps=" << eps << ", momentum=" << momentum;
  if (!affine) os << ", affine=false";
  if (!track_running_stats) os << ", track_running_stats=false";
  os << ")";
  return os.str();
}

}  // namespace tg::nn
