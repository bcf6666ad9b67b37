// BatchNorm2d with PyTorch's parameter and buffer names: weight, bias, running_mean, running_var,
// num_batches_tracked (kept as a float32 scalar; PyTorch's int64 one loads and saves across).
#pragma once
#include <memory>

#include "nn/layer_options.h"
#include "nn/module.h"
#include "nn/sync_batch_norm.h"

namespace tg::nn {

// Training (or track_running_stats=false): normalise with the batch's biased variance over (N, H, W)
//   y = (x - mean) / sqrt(var + eps) * weight + bias
// and, when tracking, running = (1 - momentum) * running + momentum * batch_stat (unbiased var),
// num_batches_tracked += 1. Eval with tracking: normalise with running_mean / running_var.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(const BatchNorm2dOptions& options);
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) as one fused op (tg::batch_norm2d_relu): what Sequential runs for a
  // BatchNorm2d directly followed by a ReLU, and what BasicBlock uses. Same results.
  Tensor forward_relu(const Tensor& x);
  // max_pool2d(relu(forward(x)), 2) as one fused op (tg::batch_norm2d_relu_maxpool2x2): what Sequential
  // runs for BatchNorm2d, ReLU, MaxPool2d(2) (stride 2, no padding). Same results.
  Tensor forward_relu_maxpool2x2(const Tensor& x);
  std::string describe() const override;

  BatchNorm2dOptions options;
  Tensor weight, bias;                 // (C) each, ones / zeros; undefined when !affine
  Tensor running_mean, running_var;    // (C) zeros / ones; undefined when !track_running_stats
  Tensor num_batches_tracked;          // () float32 count; undefined when !track_running_stats
  // Set (dist::convert_sync_batchnorm): batch statistics over every rank (sync_batch_norm2d).
  std::shared_ptr<const BatchStatsSync> stats_sync;

 private:
  bool prepare(const Tensor& x);  // checks x, counts the batch; true = use batch statistics
};

}  // namespace tg::nn
