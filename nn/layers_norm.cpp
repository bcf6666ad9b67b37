// BatchNorm2d: mode selection (batch vs running statistics) on top of the fused tg::batch_norm2d.
#include "nn/layers_norm.h"

#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"

namespace tg::nn {

BatchNorm2d::BatchNorm2d(const BatchNorm2dOptions& options_) : Module("BatchNorm2d"), options(options_) {
  const int num_features = options.num_features();
  TG_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive, got " << num_features);
  TG_CHECK(options.eps() > 0.f, "BatchNorm2d: eps must be positive, got " << options.eps());
  TG_CHECK(options.momentum() >= 0.f && options.momentum() <= 1.f,
           "BatchNorm2d: momentum must be in [0, 1], got " << options.momentum());
  if (options.affine()) {
    weight = register_parameter("weight", Tensor::ones({num_features}));
    bias = register_parameter("bias", Tensor::zeros({num_features}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
    running_var = register_buffer("running_var", Tensor::ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}));
  }
}

// Shared by forward and forward_relu: checks x, counts the batch, says which statistics to use.
bool BatchNorm2d::prepare(const Tensor& x) {
  TG_CHECK(x.defined() && x.dim() == 4 && x.size(1) == options.num_features(),
           describe() << ": expected input (N, " << options.num_features() << ", H, W), got "
                      << (x.defined() ? shape_str(x.shape()) : std::string("undefined")));
  const bool use_batch_stats = training_ || !options.track_running_stats();
  if (use_batch_stats && options.track_running_stats()) {  // training with tracking: count the batch
    NoGradGuard no_grad;
    num_batches_tracked.copy_(add(num_batches_tracked, 1.f));
  }
  return use_batch_stats;
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  const bool use_batch_stats = prepare(x);
  if (use_batch_stats && stats_sync) {
    return sync_batch_norm2d(x, weight, bias, running_mean, running_var, options.momentum(), options.eps(), stats_sync);
  }
  // Running buffers are undefined when not tracking; with batch statistics the op updates them.
  return batch_norm2d(x, weight, bias, running_mean, running_var, use_batch_stats, options.momentum(), options.eps());
}

Tensor BatchNorm2d::forward_relu(const Tensor& x) {
  if (recording_summary()) return relu((*this)(x));  // keeps this module's summary row
  const bool use_batch_stats = prepare(x);
  if (use_batch_stats && stats_sync) {
    return relu(sync_batch_norm2d(x, weight, bias, running_mean, running_var, options.momentum(), options.eps(), stats_sync));
  }
  return batch_norm2d_relu(x, weight, bias, running_mean, running_var, use_batch_stats, options.momentum(), options.eps());
}

Tensor BatchNorm2d::forward_relu_maxpool2x2(const Tensor& x) {
  if (recording_summary()) return max_pool2d(relu((*this)(x)), 2);  // keeps this module's summary row
  const bool use_batch_stats = prepare(x);
  if (use_batch_stats && stats_sync) {
    return max_pool2d(relu(sync_batch_norm2d(x, weight, bias, running_mean, running_var, options.momentum(),
                                             options.eps(), stats_sync)),
                      2);
  }
  return batch_norm2d_relu_maxpool2x2(x, weight, bias, running_mean, running_var, use_batch_stats, options.momentum(),
                                      options.eps());
}

std::string BatchNorm2d::describe() const {
  std::ostringstream os;
  os << "BatchNorm2d(" << options.num_features() << ", eps=" << options.eps() << ", momentum=" << options.momentum();
  if (!options.affine()) os << ", affine=false";
  if (!options.track_running_stats()) os << ", track_running_stats=false";
  os << ")";
  return os.str();
}

}  // namespace tg::nn
