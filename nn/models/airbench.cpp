// airbench94-style network: whitening stem, three conv groups, global max pool, scaled linear head.
#include "nn/models/airbench.h"

#include "engine/error.h"

namespace tg::nn {

namespace {
std::shared_ptr<BatchNorm2d> airbench_bn(int channels) {
  auto bn =
      std::make_shared<BatchNorm2d>(BatchNorm2dOptions(channels).eps(kAirbenchBnEps).momentum(kAirbenchBnMomentum));
  bn->weight.set_requires_grad(false);  // frozen at 1, as airbench's BatchNorm(weight=False)
  return bn;
}
}  // namespace

ConvGroup::ConvGroup(int in_channels, int out_channels, Generator& gen) : Module("ConvGroup") {
  conv1 = register_module("conv1",
                          std::make_shared<Conv2d>(Conv2dOptions(in_channels, out_channels, 3).padding(1).bias(false), gen));
  pool = register_module("pool", std::make_shared<MaxPool2d>(MaxPool2dOptions(2)));
  norm1 = register_module("norm1", airbench_bn(out_channels));
  conv2 = register_module("conv2",
                          std::make_shared<Conv2d>(Conv2dOptions(out_channels, out_channels, 3).padding(1).bias(false), gen));
  norm2 = register_module("norm2", airbench_bn(out_channels));
  activ = register_module("activ", std::make_shared<GELU>());
}

Tensor ConvGroup::forward(const Tensor& x) {
  Tensor y = (*activ)((*norm1)((*pool)((*conv1)(x))));  // (N, out, H/2, W/2)
  return (*activ)((*norm2)((*conv2)(y)));
}

std::shared_ptr<Sequential> airbench_net(int in_channels, int side, int num_classes, Generator& gen) {
  TG_CHECK(in_channels > 0 && num_classes > 0, "airbench_net: in_channels " << in_channels << " and num_classes "
                                                                           << num_classes << " must be positive");
  const int final_side = (side - 1) / 2 / 2 / 2;  // 2x2 stem (no padding), then three 2x2 max pools
  TG_CHECK(final_side >= 1, "airbench_net: side " << side << " is too small (need >= 17)");
  const int whiten_width = 2 * in_channels * 2 * 2;  // 24 for RGB
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Conv2d>(Conv2dOptions(in_channels, whiten_width, 2), gen));
  net->add(std::make_shared<GELU>());
  net->add(std::make_shared<ConvGroup>(whiten_width, 64, gen));
  net->add(std::make_shared<ConvGroup>(64, 256, gen));
  net->add(std::make_shared<ConvGroup>(256, 256, gen));
  net->add(std::make_shared<MaxPool2d>(MaxPool2dOptions(final_side)));
  net->add(std::make_shared<Flatten>());
  net->add(std::make_shared<Linear>(LinearOptions(256, num_classes).bias(false), gen));
  net->add(std::make_shared<Scale>(kAirbenchOutputScale));
  return net;
}

}  // namespace tg::nn
