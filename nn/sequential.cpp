// Sequential container: index-named children, forward in order.
#include "nn/sequential.h"

#include <string>

#include "engine/error.h"

namespace tg::nn {

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) : Module("Sequential") {
  for (auto& m : modules) add(std::move(m));
}

Sequential& Sequential::add(std::shared_ptr<Module> module) {
  register_module(std::to_string(size()), std::move(module));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& [name, child] : named_children()) y = (*child)(y);
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
