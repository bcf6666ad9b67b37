// Tensor handle: factories, metadata, views, device copies, printing.
#include "engine/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/random.h"
#ifdef TRUSTGRAD_WITH_CUDA
#include "cuda/elementwise.h"
#endif

namespace tg {

namespace {
std::shared_ptr<TensorImpl> make_impl(const Shape& shape, Device device) {
  for (int64_t d : shape) TG_CHECK(d >= 0, "cannot create a tensor with negative size: shape " << shape_str(shape));
  const auto bytes = static_cast<size_t>(nbytes_of(shape, sizeof(float)));  // throws past 2^63 - 1 bytes
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->storage = std::make_shared<Storage>(bytes, device);
  return impl;
}

const TensorImpl& impl_of(const std::shared_ptr<TensorImpl>& p) {
  if (!p) throw Error("operation on an undefined tensor (default-constructed tg::Tensor with no data)");
  return *p;
}

// Fills a host buffer, then moves it to `device` when needed.
Tensor from_host(std::vector<float> host, const Shape& shape, Device device) {
  Tensor t(make_impl(shape, device));
  copy_bytes(t.raw_data(), device, host.data(), Device::cpu(), host.size() * sizeof(float));
  return t;
}
}  // namespace

// ---- factories ----
Tensor Tensor::empty(const Shape& shape, Device device) { return Tensor(make_impl(shape, device)); }

Tensor Tensor::zeros(const Shape& shape, Device device) { return full(shape, 0.f, device); }
Tensor Tensor::ones(const Shape& shape, Device device) { return full(shape, 1.f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  t.fill_(value);
  t.storage()->reset_version();  // a new tensor starts at version 0, however it was initialised
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  TG_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape),
           "from_vector: " << values.size() << " values do not fill shape " << shape_str(shape) << " ("
                           << numel_of(shape) << " elements)");
  return from_host(values, shape, device);
}

Tensor Tensor::scalar(float value, Device device) { return from_host({value}, {}, device); }

Tensor Tensor::arange(int64_t n, Device device) {
  TG_CHECK(n >= 0, "arange: n must be >= 0, got " << n);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return from_host(std::move(v), {n}, device);
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, Device device) {
  Tensor t = empty(shape);  // checks the shape before anything is allocated
  float* p = t.data();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = gen.normal();
  return t.to(device);
}

Tensor Tensor::rand(const Shape& shape, Generator& gen, Device device) {
  Tensor t = empty(shape);  // checks the shape before anything is allocated
  float* p = t.data();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = gen.uniform();
  return t.to(device);
}

Tensor Tensor::randn(const Shape& shape) { return randn(shape, default_generator()); }
Tensor Tensor::rand(const Shape& shape) { return rand(shape, default_generator()); }

// ---- metadata ----
const Shape& Tensor::shape() const { return impl_of(impl_).shape; }
int Tensor::dim() const { return static_cast<int>(shape().size()); }
int64_t Tensor::size(int d) const { return shape()[static_cast<size_t>(normalize_dim(d, dim(), "size"))]; }
int64_t Tensor::numel() const { return numel_of(shape()); }
DType Tensor::dtype() const { return impl_of(impl_).dtype; }
Device Tensor::device() const { return impl_of(impl_).storage->device(); }
bool Tensor::is_leaf() const { return impl_of(impl_).grad_fn == nullptr; }

void* Tensor::raw_data() const {
  const TensorImpl& i = impl_of(impl_);
  return static_cast<char*>(i.storage->data()) + i.offset * dtype_size(i.dtype);
}
float* Tensor::data() const {
  TG_CHECK(dtype() == DType::Float32, "data(): tensor has dtype " << dtype_name(dtype()) << ", not float32");
  return static_cast<float*>(raw_data());
}
const std::shared_ptr<Storage>& Tensor::storage() const { return impl_of(impl_).storage; }
int64_t Tensor::storage_offset() const { return impl_of(impl_).offset; }

// ---- values ----
float Tensor::item() const {
  TG_CHECK(numel() == 1, "item(): tensor must hold exactly one element, but has shape " << shape_str(shape()));
  float v = 0.f;
  copy_bytes(&v, Device::cpu(), raw_data(), device(), sizeof(float));
  return v;
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  copy_bytes(v.data(), Device::cpu(), raw_data(), device(), v.size() * sizeof(float));
  return v;
}

Tensor Tensor::to(Device target) const {
  if (device() == target) return *this;
  Tensor out = empty(shape(), target);
  copy_bytes(out.raw_data(), target, raw_data(), device(), static_cast<size_t>(numel()) * sizeof(float));
  out.impl_->requires_grad = requires_grad() && is_leaf();
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), device());
  copy_bytes(out.raw_data(), device(), raw_data(), device(), static_cast<size_t>(numel()) * sizeof(float));
  return out;
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape();
  impl->dtype = dtype();
  impl->storage = storage();
  impl->offset = storage_offset();
  return Tensor(impl);
}

Tensor Tensor::reshape(const Shape& new_shape) const {
  Shape s = new_shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      TG_CHECK(infer < 0, "reshape: only one dimension may be -1, got " << shape_str(new_shape));
      infer = static_cast<int>(i);
    } else {
      TG_CHECK(s[i] >= 0, "reshape: invalid size in " << shape_str(new_shape));
      TG_CHECK(!mul_overflows(known, s[i], known), "reshape: shape " << shape_str(shape()) << " (" << numel()
                                                       << " elements) cannot be viewed as " << shape_str(new_shape)
                                                       << ": its sizes multiply to more than 2^63 - 1");
    }
  }
  if (infer >= 0) {
    TG_CHECK(known > 0 && numel() % known == 0,
             "reshape: cannot infer -1 in " << shape_str(new_shape) << " for " << numel() << " elements of shape "
                                            << shape_str(shape()));
    s[static_cast<size_t>(infer)] = numel() / known;
  }
  TG_CHECK(numel_of(s) == numel(), "reshape: shape " << shape_str(shape()) << " (" << numel()
                                                     << " elements) cannot be viewed as " << shape_str(new_shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = s;
  impl->dtype = dtype();
  impl->storage = storage();
  impl->offset = storage_offset();
  Tensor out(impl);
  // A view of a tensor that requires grad is a differentiable op: dout is reshaped back.
  const Shape in_shape = shape();
  record_op(out, "reshape", {this}, [in_shape](const Tensor& dout) {
    return std::vector<Tensor>{dout.reshape(in_shape)};
  });
  return out;
}

Tensor Tensor::flatten(int start_dim) const {
  const int d = normalize_dim(start_dim, std::max(dim(), 1), "flatten");
  Shape s(shape().begin(), shape().begin() + std::min<int>(d, dim()));
  int64_t rest = 1;
  for (int i = d; i < dim(); ++i) rest *= shape()[static_cast<size_t>(i)];
  s.push_back(rest);
  return reshape(s);
}

void Tensor::fill_(float value) const {
  const int64_t n = numel();
  if (device().is_cpu()) {
    float* p = data();
    std::fill(p, p + n, value);
  } else {
#ifdef TRUSTGRAD_WITH_CUDA
    cuda::fill(data(), value, n);
#else
    throw Error("fill_: tensor on " + device().str() + " but this build has no CUDA backend");
#endif
  }
  bump_version();
}

void Tensor::copy_(const Tensor& src) const {
  // The same shape, as PyTorch (which also broadcasts): a (3, 2) source into a (2, 3) tensor
  // is a mistake, not a copy. To copy across shapes, reshape() one side first.
  TG_CHECK(src.shape() == shape(), "copy_: source shape " << shape_str(src.shape()) << " does not match destination "
                                                          << shape_str(shape()) << " (reshape() one side to copy across shapes)");
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), static_cast<size_t>(numel()) * sizeof(float));
  bump_version();
}

uint64_t Tensor::version() const { return defined() && storage() ? storage()->version() : 0; }

void Tensor::bump_version() const {
  if (defined() && storage()) storage()->bump_version();
}

std::string Tensor::str(int max_values) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(shape=" << shape_str(shape()) << ", " << device().str();
  if (requires_grad()) os << ", requires_grad";
  os << ", [";
  const std::vector<float> v = to_vector();
  const size_t n = std::min<size_t>(v.size(), static_cast<size_t>(std::max(max_values, 0)));
  os << std::setprecision(5);
  for (size_t i = 0; i < n; ++i) os << (i ? ", " : "") << v[i];
  if (v.size() > n) os << ", ...";
  os << "])";
  return os.str();
}

// ---- autograd ----
bool Tensor::requires_grad() const { return impl_of(impl_).requires_grad; }

Tensor& Tensor::set_requires_grad(bool value) {
  TG_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can change requires_grad (this one was produced by '"
                          << impl_->grad_fn->name << "'); use detach() first");
  impl_->requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const { return impl_of(impl_).grad; }
void Tensor::set_grad(const Tensor& g) const {
  if (g.defined()) check_same_shape(*this, g, "set_grad");
  impl_of(impl_);
  impl_->grad = g;
}
const std::shared_ptr<Node>& Tensor::grad_fn() const { return impl_of(impl_).grad_fn; }

void Tensor::set_post_accumulate_grad_hook(std::function<void()> hook) const {
  TG_CHECK(is_leaf(), "set_post_accumulate_grad_hook: only leaf tensors (parameters) accumulate a .grad");
  impl_->post_accumulate_grad_hook = std::move(hook);
}

void Tensor::backward(const Tensor& dout, bool retain_graph) const { run_backward(*this, dout, retain_graph); }

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- argument checks shared by the ops ----
void check_defined(const Tensor& t, const char* op, const char* arg) {
  TG_CHECK(t.defined(), op << ": " << arg << " is an undefined tensor");
  TG_CHECK(t.numel() > 0, op << ": " << arg << " is empty (shape " << shape_str(t.shape()) << ")");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  TG_CHECK(a.device() == b.device(), op << ": tensors are on different devices (" << a.device().str() << " and "
                                        << b.device().str() << "); move one with .to(device)");
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  TG_CHECK(a.shape() == b.shape(), op << ": shapes differ: " << shape_str(a.shape()) << " vs " << shape_str(b.shape()));
}

}  // namespace tg
