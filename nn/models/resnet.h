// ResNet-18 in the CIFAR form of the LAMBC experiments (bench/torch_reference.py's ResNet18): 3x3 stem
// conv (64, stride 1) + BN + ReLU, four stages of two BasicBlocks (64, 128/2, 256/2, 512/2),
// global average pool, linear head. Names: conv1, bn1, layer1..layer4 (each Sequential "0", "1"
// of BasicBlocks with conv1, bn1, conv2, bn2, shortcut), linear.
#pragma once
#include <memory>

#include "engine/random.h"
#include "nn/basic_block.h"
#include "nn/layers_conv.h"
#include "nn/layers_norm.h"
#include "nn/sequential.h"

namespace tg::nn {

class ResNet18 : public Module {
 public:
  explicit ResNet18(int num_classes = 10, int in_channels = 3, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;  // (N, in_channels, H, W) -> (N, num_classes)

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<Linear> linear;
};

std::shared_ptr<ResNet18> resnet18_cifar(int num_classes = 10, int in_channels = 3,
                                         Generator& gen = default_generator());

}  // namespace tg::nn
