// CIFAR ResNet-18: stem, four BasicBlock stages, global average pool, linear.
#include "nn/models/resnet.h"

#include "engine/nn_ops.h"
#include "engine/ops.h"

namespace tg::nn {

ResNet18::ResNet18(int num_classes, int in_channels, Generator& gen) : Module("ResNet18") {
  conv1 =
      register_module("conv1", std::make_shared<Conv2d>(Conv2dOptions(in_channels, 64, 3).padding(1).bias(false), gen));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(BatchNorm2dOptions(64)));
  int in = 64;
  auto stage = [&](const char* name, int out, int stride) {
    auto s = std::make_shared<Sequential>();
    s->add(std::make_shared<BasicBlock>(in, out, stride, gen));
    s->add(std::make_shared<BasicBlock>(out, out, 1, gen));
    in = out;
    return register_module(name, s);
  };
  layer1 = stage("layer1", 64, 1);
  layer2 = stage("layer2", 128, 2);
  layer3 = stage("layer3", 256, 2);
  layer4 = stage("layer4", 512, 2);
  linear = register_module("linear", std::make_shared<Linear>(LinearOptions(512, num_classes), gen));
}

Tensor ResNet18::forward(const Tensor& x) {
  Tensor y = bn1->forward_relu((*conv1)(x));                          // relu(bn1(conv1(x))): (N, 64, H, W)
  y = (*layer4)((*layer3)((*layer2)((*layer1)(y))));                  // (N, 512, H/8, W/8)
  return (*linear)(global_avg_pool2d(y));                             // (N, 512) -> (N, classes)
}

std::shared_ptr<ResNet18> resnet18_cifar(int num_classes, int in_channels, Generator& gen) {
  return std::make_shared<ResNet18>(num_classes, in_channels, gen);
}

}  // namespace tg::nn
