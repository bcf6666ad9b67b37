// BasicBlock: two 3x3 conv + BN, ReLU, and the identity or 1x1-conv shortcut.
#include "nn/basic_block.h"

#include <sstream>

#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "nn/fold_bn.h"

namespace tg::nn {

BasicBlock::BasicBlock(int in_channels_, int out_channels_, int stride_, Generator& gen)
    : Module("BasicBlock"), in_channels(in_channels_), out_channels(out_channels_), stride(stride_) {
  const BatchNorm2dOptions bn_options(out_channels);
  conv1 = register_module(
      "conv1", std::make_shared<Conv2d>(Conv2dOptions(in_channels, out_channels, 3).stride(stride).padding(1).bias(false), gen));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(bn_options));
  conv2 = register_module(
      "conv2", std::make_shared<Conv2d>(Conv2dOptions(out_channels, out_channels, 3).padding(1).bias(false), gen));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(bn_options));
  shortcut = register_module("shortcut", std::make_shared<Sequential>());
  if (stride != 1 || in_channels != out_channels) {
    shortcut->add(std::make_shared<Conv2d>(Conv2dOptions(in_channels, out_channels, 1).stride(stride).bias(false), gen));
    shortcut->add(std::make_shared<BatchNorm2d>(bn_options));
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  if (can_fold_batch_norm(*conv1, *bn1) && can_fold_batch_norm(*conv2, *bn2)) {  // inference (fold_bn.h)
    Tensor y = conv_bn_forward(*conv1, *bn1, x, ConvEpilogue::Relu);  // (N, out, H/s, W/s)
    y = conv_bn_forward(*conv2, *bn2, y, ConvEpilogue::None);
    return add_relu(y, (*shortcut)(x));  // relu(y + shortcut); the shortcut Sequential folds its own pair
  }
  Tensor y = bn1->forward_relu((*conv1)(x));  // relu(bn1(conv1(x))), fused: (N, out, H/s, W/s)
  y = (*bn2)((*conv2)(y));
  return add_relu(y, (*shortcut)(x));  // relu(y + shortcut(x)), one pass
}

std::string BasicBlock::describe() const {
  std::ostringstream os;
  os << "BasicBlock(" << in_channels << ", " << out_channels << ", stride=" << stride << ")";
  return os.str();
}

}  // namespace tg::nn
