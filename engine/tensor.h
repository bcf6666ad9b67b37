// Tensor: a cheap, shallow-copied handle to shape + dtype + device + shared storage + autograd
// state, like PyTorch's. Layout is always row-major contiguous (NCHW for images); reshape and
// flatten are views on the same storage, everything else that reorders elements materialises.
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/shape.h"
#include "engine/storage.h"

namespace tg {

struct Node;
class Generator;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // undefined tensor (no storage); defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories (all contiguous, float32 unless said otherwise) ----
  static Tensor empty(const Shape& shape, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device = Device::cpu());
  static Tensor scalar(float value, Device device = Device::cpu());  // shape {}
  static Tensor arange(int64_t n, Device device = Device::cpu());   // 0, 1, ..., n-1 as float
  static Tensor randn(const Shape& shape, Generator& gen, Device device = Device::cpu());  // N(0, 1)
  static Tensor rand(const Shape& shape, Generator& gen, Device device = Device::cpu());   // U[0, 1)
  static Tensor randn(const Shape& shape);  // from the default generator
  static Tensor rand(const Shape& shape);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int dim() const;
  int64_t size(int d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_leaf() const;  // true when no grad_fn (user-created or detached)

  // ---- raw data (contiguous, starting at the view's offset) ----
  float* data() const;          // float32 pointer on the tensor's device
  template <class T> T* data_as() const { return static_cast<T*>(raw_data()); }
  void* raw_data() const;
  const std::shared_ptr<Storage>& storage() const;
  int64_t storage_offset() const;  // in elements

  // ---- values ----
  float item() const;                  // single-element tensor -> float (copies from the device)
  std::vector<float> to_vector() const;  // all elements, copied to the host
  Tensor to(Device device) const;      // copy to another device (returns *this when already there)
  Tensor clone() const;                // deep copy, detached from the graph
  Tensor detach() const;               // shares storage, no grad history, requires_grad false
  Tensor reshape(const Shape& shape) const;  // view; one dim may be -1
  Tensor flatten(int start_dim = 1) const;   // view merging dims [start_dim, end]
  void fill_(float value) const;           // in place, ignores autograd (use under NoGradGuard or on leaves)
  void copy_(const Tensor& src) const;     // in place copy of same-shaped data, any devices
  // In-place writes seen by this tensor's storage (shared by its views): fill_ and copy_ count one
  // each, an optimizer step one per updated parameter. A backward() that needs a tensor whose
  // version moved since its forward throws instead of computing a wrong gradient. Code that writes
  // through data() calls bump_version() to take part.
  uint64_t version() const;
  void bump_version() const;
  std::string str(int max_values = 6) const;  // "Tensor(shape=(2, 3), cpu, [0.1, ...])"

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool value);  // only on leaves
  Tensor grad() const;                    // undefined until a backward reaches this leaf
  void set_grad(const Tensor& g) const;       // replaces .grad (undefined clears it)
  // Leaves only: called once per backward() after the last gradient that backward() sends to this
  // tensor has been added to .grad (PyTorch's post-accumulate-grad hook; data-parallel training
  // starts a bucket's all-reduce from it). One hook per tensor; an empty function removes it.
  void set_post_accumulate_grad_hook(std::function<void()> hook) const;
  const std::shared_ptr<Node>& grad_fn() const;
  // Reverse-mode backward from this tensor. Without `dout`, the tensor must hold one element
  // and dout = 1. The graph is freed unless retain_graph.
  void backward(const Tensor& dout = Tensor(), bool retain_graph = false) const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  bool same_as(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// The state behind a Tensor handle. Views share `storage` and differ in `offset`/`shape`.
struct TensorImpl {
  Shape shape;
  DType dtype = DType::Float32;
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  bool requires_grad = false;
  Tensor grad;                     // accumulated gradient (leaves only)
  std::shared_ptr<Node> grad_fn;   // the op that produced this tensor (non-leaves only)
  std::function<void()> post_accumulate_grad_hook;  // see Tensor::set_post_accumulate_grad_hook
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Throws tg::Error naming `op` when t is undefined or empty.
void check_defined(const Tensor& t, const char* op, const char* arg = "input");
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);

}  // namespace tg
