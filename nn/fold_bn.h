// Inference fusion: a Conv2d followed by an eval-mode BatchNorm2d (and optionally a ReLU) run as ONE
// convolution whose weights have the batch norm folded in. Per output channel k,
//   bn(conv(x))_k = s_k (w_k * x + b_k - mean_k) + beta_k,      s_k = gamma_k / sqrt(running_var_k + eps)
//                 = (s_k w_k) * x + (beta_k + s_k (b_k - mean_k))
// so the pair is conv2d(x, w', b') with w'_k = s_k w_k and b'_k = beta_k + s_k (b_k - mean_k). A
// following ReLU, and a 2x2 stride-2 MaxPool2d after that, are applied as the outputs are stored
// (tg::conv2d_relu, tg::conv2d_relu_maxpool2x2): the batch norm's and the ReLU's passes over the
// activation are gone, and with the pool the full-size map is never written. The values agree with
// the unfused layers to rounding (w' is rounded once more; the tests bound the difference), not bit
// for bit.
//
// nn::Sequential (Conv2d, BatchNorm2d[, ReLU[, MaxPool2d(2)]]) and nn::BasicBlock use it when can_fold_batch_norm()
// holds: no autograd graph is being recorded (inference under NoGradGuard), the batch norm is in eval
// mode with running statistics, and no summary() is being taken. Training never folds.
#pragma once
#include "engine/kernel_params/conv2d.h"  // ConvEpilogue
#include "nn/layers_conv.h"
#include "nn/layers_norm.h"

namespace tg::nn {

bool can_fold_batch_norm(const Conv2d& conv, const BatchNorm2d& bn);

// The folded weight (K, C/groups, k, k) and bias (K) described above.
struct FoldedConv {
  Tensor weight, bias;
};
FoldedConv fold_batch_norm(const Conv2d& conv, const BatchNorm2d& bn);

// epi(bn(conv(x))) by the folded convolution: None, relu, or 2x2 max pool of the relu
// (ConvEpilogue). Throws like the layers on a wrong input shape, and when can_fold_batch_norm()
// does not hold.
Tensor conv_bn_forward(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, ConvEpilogue epi);

}  // namespace tg::nn
