// Conv2d + eval-mode BatchNorm2d (+ ReLU) as one convolution with folded weights (see fold_bn.h).
#include "nn/fold_bn.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"

namespace tg::nn {

bool can_fold_batch_norm(const Conv2d& conv, const BatchNorm2d& bn) {
  return !grad_mode_enabled() && !bn.is_training() && bn.options.track_running_stats() &&
         !Module::recording_summary() &&
         bn.options.num_features() == conv.options.out_channels() && conv.weight.device() == bn.running_mean.device();
}

FoldedConv fold_batch_norm(const Conv2d& conv, const BatchNorm2d& bn) {
  TG_CHECK(bn.options.num_features() == conv.options.out_channels(),
           "fold_batch_norm: " << bn.describe() << " cannot follow " << conv.describe() << " (channel counts differ)");
  TG_CHECK(bn.options.track_running_stats(),
           "fold_batch_norm: " << bn.describe() << " has no running statistics to fold");
  NoGradGuard no_grad;
  const int64_t K = conv.options.out_channels();
  Tensor s = rdiv(1.f, sqrt(add(bn.running_var, bn.options.eps())));  // s_k = gamma_k / sqrt(var_k + eps)
  if (bn.options.affine()) s = mul(s, bn.weight);
  // b'_k = beta_k + s_k (b_k - mean_k)
  Tensor b = conv.bias.defined() ? sub(conv.bias, bn.running_mean) : neg(bn.running_mean);
  b = mul(s, b);
  if (bn.options.affine()) b = add(b, bn.bias);
  return {mul(conv.weight, s.reshape({K, 1, 1, 1})), b};  // w'_k = s_k w_k
}

Tensor conv_bn_forward(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, ConvEpilogue epi) {
  TG_CHECK(can_fold_batch_norm(conv, bn),
           "conv_bn_forward: " << conv.describe() << " + " << bn.describe()
                               << " can be folded only in inference: grad mode off, the batch norm in eval mode with "
                                  "running statistics, on the conv's device");
  conv.check_input(x);
  const FoldedConv f = fold_batch_norm(conv, bn);
  const int stride = conv.options.stride(), padding = conv.options.padding(), groups = conv.options.groups();
  switch (epi) {
    case ConvEpilogue::Relu:
      return conv2d_relu(x, f.weight, f.bias, stride, padding, groups, conv.algorithm, conv.precision);
    case ConvEpilogue::ReluMaxPool2x2:
      return conv2d_relu_maxpool2x2(x, f.weight, f.bias, stride, padding, groups, conv.algorithm, conv.precision);
    case ConvEpilogue::None: break;
  }
  return conv2d(x, f.weight, f.bias, stride, padding, groups, conv.algorithm, conv.precision);
}

}  // namespace tg::nn
