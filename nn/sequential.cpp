// Sequential container: index-named children, forward in order. Fusions of adjacent children:
//   BatchNorm2d, ReLU                 one op, BatchNorm2d::forward_relu (same results)
//   BatchNorm2d, ReLU, MaxPool2d(2)   one op, BatchNorm2d::forward_relu_maxpool2x2 (same results)
//   Conv2d, BatchNorm2d[, ReLU[, MaxPool2d(2)]]
//                                     in inference (no grad, eval batch norm): one convolution with the
//                                     batch norm folded into its weights, the ReLU and a 2x2 stride-2
//                                     pool in its output stores (fold_bn.h; equal to rounding)
#include "nn/sequential.h"

#include <string>

#include "engine/error.h"
#include "nn/fold_bn.h"
#include "nn/layers_conv.h"
#include "nn/layers_basic.h"
#include "nn/layers_norm.h"

namespace tg::nn {
namespace {

// A MaxPool2d with a 2x2 window, stride 2 and no padding (the fused epilogues' pool).
bool is_pool2x2(Module* m) {
  auto* pool = dynamic_cast<MaxPool2d*>(m);
  return pool && pool->options.kernel_size() == 2 && pool->options.stride() == 2 && pool->options.padding() == 0;
}

}  // namespace

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) : Module("Sequential") {
  for (auto& m : modules) add(std::move(m));
}

Sequential& Sequential::add(std::shared_ptr<Module> module) {
  register_module(std::to_string(size()), std::move(module));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  const auto& children = named_children();
  const bool fuse = !recording_summary();  // a summary needs every child's own output
  Tensor y = x;
  for (size_t i = 0; i < children.size(); ++i) {
    Module& child = *children[i].second;
    auto next = [&](size_t j) { return i + j < children.size() ? children[i + j].second.get() : nullptr; };
    // Conv2d, BatchNorm2d (eval), optional ReLU: one folded convolution in inference.
    auto* conv = dynamic_cast<Conv2d*>(&child);
    auto* conv_bn = conv ? dynamic_cast<BatchNorm2d*>(next(1)) : nullptr;
    if (fuse && conv_bn && can_fold_batch_norm(*conv, *conv_bn)) {
      const bool with_relu = dynamic_cast<ReLU*>(next(2)) != nullptr;
      const bool with_pool = with_relu && is_pool2x2(next(3));
      const ConvEpilogue epi =
          with_pool ? ConvEpilogue::ReluMaxPool2x2 : with_relu ? ConvEpilogue::Relu : ConvEpilogue::None;
      y = conv_bn_forward(*conv, *conv_bn, y, epi);
      i += with_pool ? 3 : with_relu ? 2 : 1;
      continue;
    }
    // BatchNorm2d directly followed by ReLU (and a 2x2 stride-2 pool): one fused op (same results,
    // one memory pass less each way; with the pool, the full-size output is never stored).
    auto* bn = dynamic_cast<BatchNorm2d*>(&child);
    if (fuse && bn && dynamic_cast<ReLU*>(next(1)) && is_pool2x2(next(2))) {
      y = bn->forward_relu_maxpool2x2(y);
      i += 2;
      continue;
    }
    if (fuse && bn && dynamic_cast<ReLU*>(next(1))) {
      y = bn->forward_relu(y);
      ++i;
      continue;
    }
    y = child(y);
  }
  return y;
}

const std::shared_ptr<Module>& Sequential::operator[](size_t i) const {
  TG_CHECK(i < size(), "Sequential: index " << i << " out of range (size " << size() << ")");
  return named_children()[i].second;
}

void Sequential::throw_type_mismatch(size_t i) const {
  throw Error("Sequential: child " + std::to_string(i) + " is a " + (*this)[i]->type_name() +
              ", not the requested type");
}

}  // namespace tg::nn
