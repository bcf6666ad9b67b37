// The airbench94-style fast CIFAR net (Keller Jordan's cifar10-airbench), same names as its
// PyTorch Sequential:
//   0 Conv2d(cin -> 2*cin*2*2 = 24, kernel 2, padding 0, bias)   ("whitening" stem; default init here)
//   1 GELU
//   2,3,4 ConvGroup(24 -> 64), (64 -> 256), (256 -> 256):
//         conv1 3x3 -> pool (max 2) -> norm1 (BN) -> activ (GELU) -> conv2 3x3 -> norm2 (BN) -> activ
//   5 MaxPool2d over the whole remaining map (3x3 for side 32)   6 Flatten
//   7 Linear(256 -> classes, no bias)                              8 Scale(1/9)
// BN as airbench's: eps 1e-12, PyTorch momentum 0.4 (airbench's "0.6" means 1 - 0.6), weight frozen
// at 1 (registered, requires_grad = false), bias trained. Convs 3x3 padding 1, no bias.
#pragma once
#include <memory>

#include "engine/random.h"
#include "nn/layers_basic.h"
#include "nn/layers_conv.h"
#include "nn/layers_norm.h"
#include "nn/sequential.h"

namespace tg::nn {

class ConvGroup : public Module {
 public:
  ConvGroup(int in_channels, int out_channels, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<MaxPool2d> pool;
  std::shared_ptr<BatchNorm2d> norm1;
  std::shared_ptr<Conv2d> conv2;
  std::shared_ptr<BatchNorm2d> norm2;
  std::shared_ptr<GELU> activ;
};

constexpr float kAirbenchBnMomentum = 0.4f;  // PyTorch convention (airbench writes 1 - 0.6)
constexpr float kAirbenchBnEps = 1e-12f;
constexpr float kAirbenchOutputScale = 1.f / 9.f;

std::shared_ptr<Sequential> airbench_net(int in_channels = 3, int side = 32, int num_classes = 10,
                                         Generator& gen = default_generator());

}  // namespace tg::nn
