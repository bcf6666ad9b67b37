// Sequential: runs its children in order; children are named "0", "1", ... like PyTorch's,
// so a Sequential's state_dict keys ("3.weight", "layer1.0.conv1.weight") match.
#pragma once
#include <memory>
#include <vector>

#include "nn/module.h"

namespace tg::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  // Appends a module named by its index; returns *this for chaining.
  Sequential& add(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;  // an empty Sequential is the identity
  size_t size() const { return named_children().size(); }
  bool empty() const { return size() == 0; }
  const std::shared_ptr<Module>& operator[](size_t i) const;
  template <class M>
  std::shared_ptr<M> at(size_t i) const {  // typed access; throws when the type differs
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    if (!m) throw_type_mismatch(i);
    return m;
  }

 private:
  [[noreturn]] void throw_type_mismatch(size_t i) const;
};

}  // namespace tg::nn
