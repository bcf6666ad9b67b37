// Sequential container: index-named children, forward in order (a BatchNorm2d directly followed by a
// ReLU runs as one fused op, BatchNorm2d::forward_relu; same results).
#include "nn/sequential.h"

#include <string>

#include "engine/error.h"
#include "nn/layers_basic.h"
#include "nn/layers_norm.h"

namespace tg::nn {

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
    // BatchNorm2d directly followed by ReLU: one fused op (same results, one memory pass less each way).
    auto* bn = dynamic_cast<BatchNorm2d*>(&child);
    if (fuse && bn && i + 1 < children.size() && dynamic_cast<ReLU*>(children[i + 1].second.get())) {
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
