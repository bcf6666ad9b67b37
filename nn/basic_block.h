// Residual BasicBlock of CIFAR ResNet-18 (He et al. 2016), with PyTorch's names:
//   y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
// conv1 3x3 stride s, conv2 3x3 stride 1, no biases; shortcut is empty (identity) or, when
// stride != 1 or channels change, Sequential(0 = 1x1 conv stride s, 1 = BatchNorm2d).
#pragma once
#include <memory>

#include "engine/random.h"
#include "nn/layers_conv.h"
#include "nn/layers_norm.h"
#include "nn/sequential.h"

namespace tg::nn {

class BasicBlock : public Module {
 public:
  BasicBlock(int in_channels, int out_channels, int stride = 1, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  int in_channels, out_channels, stride;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Conv2d> conv2;
  std::shared_ptr<BatchNorm2d> bn2;
  std::shared_ptr<Sequential> shortcut;
};

}  // namespace tg::nn
