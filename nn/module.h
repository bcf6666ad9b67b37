// nn::Module: the runtime base class of every layer and model. It owns named parameters, buffers
// and child modules, and yields dotted names (layer1.0.conv1.weight) identical to PyTorch's
// state_dict keys for the same architecture, so checkpoints interoperate through safetensors.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/named_tensors.h"
#include "engine/tensor.h"
#include "io/safetensors.h"

namespace tg::nn {

// A user-defined module registers its pieces in the constructor and overrides forward():
//
//   struct TwoLayer : Module {
//     std::shared_ptr<Linear> fc1, fc2;
//     TwoLayer(Generator& gen) : Module("TwoLayer") {
//       fc1 = register_module("fc1", std::make_shared<Linear>(LinearOptions(784, 128), gen));
//       fc2 = register_module("fc2", std::make_shared<Linear>(LinearOptions(128, 10), gen));
//     }
//     Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
//   };                                  // state_dict: fc1.weight, fc1.bias, fc2.weight, fc2.bias
//
// Registered tensors are handles: update them in place (copy_, fill_, an optimizer's step), never
// by assigning a new tensor to the member, or the registry and the member would part ways.

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- forward ----
  // Single-input forward. Subclasses override it; the base throws naming the module type.
  virtual Tensor forward(const Tensor& x);
  // Calls forward(); also records the output shape when a summary() is being taken.
  // Call children through operator() (not forward()) so summary() sees them.
  Tensor operator()(const Tensor& x);

  // ---- registration (names must be unique within this module and contain no '.') ----
  // Registers a trainable parameter (sets requires_grad unless `requires_grad` is false: such a
  // tensor is still a parameter, saved and loaded, like PyTorch's frozen weights). Returns the handle.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // Registers persistent state that is saved but not trained (BN running stats). Returns the handle.
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- traversal (PyTorch order: own tensors first, then each child in registration order) ----
  // A tensor reachable under several names (a module shared by two parents, a tied weight) is one
  // parameter: named_parameters(), named_buffers(), parameters() and named_modules() list it once,
  // under its first name, as PyTorch's do; state_dict() keeps every name, as PyTorch's does.
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  // Parameters then buffers per module, recursively: exactly PyTorch's state_dict() key order.
  NamedTensors state_dict() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  // This module ("") and every descendant with its dotted path (a shared module once).
  std::vector<std::pair<std::string, Module*>> named_modules();
  int64_t num_parameters() const;  // total elements over all parameters

  // ---- modes and devices ----
  void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves every parameter, buffer (and existing .grad) to `device` IN PLACE: the tensor handles
  // keep their identity (their storage is swapped), so an optimizer built earlier stays valid.
  void to(Device device);
  void zero_grad();  // clears every parameter's .grad (sets it undefined)

  // ---- checkpoints (safetensors) ----
  // Writes state_dict() (params + buffers) with metadata {"format": "pt", "producer": "trustgrad", ...}.
  void save(const std::string& path, const io::Metadata& metadata = {}) const;
  // Copies tensors from a file into this module's parameters and buffers (in place, any device).
  // strict: every name must match both ways and every shape must agree; otherwise one tg::Error
  // lists all missing, unexpected and mis-shaped tensors. Non-strict ignores missing/unexpected
  // names but never mis-shaped ones.
  void load(const std::string& path, bool strict = true);
  void load_state_dict(const NamedTensors& tensors, bool strict = true, const std::string& source = "state dict");

  // ---- description ----
  const std::string& type_name() const { return type_name_; }
  // One line describing this module's configuration, e.g. "Conv2d(3, 32, kernel_size=3, padding=1, bias=false)".
  virtual std::string describe() const { return type_name_; }
  // Table of every module: name, description, output shape for `input_shape` (batch included),
  // parameter count; runs one forward in eval mode under NoGradGuard (state is restored).
  std::string summary(const Shape& input_shape);
  // True while summary() runs its forward on this thread: fused forwards (BatchNorm2d::forward_relu)
  // then run their parts as separate modules so that every module gets its row.
  static bool recording_summary();

 protected:
  bool training_ = true;

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;

  std::string type_name_;
  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Moves one tensor (and its .grad) to `device` keeping the handle: swaps the storage in place.
void move_tensor_in_place(const Tensor& t, Device device);

}  // namespace tg::nn
