// Forward of the parameter-free layers; each is a thin wrapper over one op in engine/.
#include "nn/layers_basic.h"

#include <sstream>

#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"

namespace tg::nn {

namespace {
void check_image(const Tensor& x, const std::string& who) {
  TG_CHECK(x.defined() && x.dim() == 4, who << ": expected an (N, C, H, W) input, got "
                                            << (x.defined() ? shape_str(x.shape()) : std::string("undefined")));
}
}  // namespace

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x); }

Dropout::Dropout(float p_, uint64_t seed) : Module("Dropout"), p(p_), gen(seed) {
  TG_CHECK(p >= 0.f && p < 1.f, "Dropout: p must be in [0, 1), got " << p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, training_, gen); }

std::string Dropout::describe() const {
  std::ostringstream os;
  os << "Dropout(p=" << p << ")";
  return os.str();
}

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim); }

Tensor Scale::forward(const Tensor& x) { return mul(x, factor); }

std::string Scale::describe() const {
  std::ostringstream os;
  os << "Scale(" << factor << ")";
  return os.str();
}

MaxPool2d::MaxPool2d(int kernel_, int stride_, int padding_)
    : Module("MaxPool2d"), kernel(kernel_), stride(stride_ < 0 ? kernel_ : stride_), padding(padding_) {
  TG_CHECK(kernel > 0 && stride > 0 && padding >= 0 && 2 * padding <= kernel,
           "MaxPool2d: invalid kernel " << kernel << ", stride " << stride << ", padding " << padding
                                        << " (padding must be at most kernel/2)");
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_image(x, describe());
  return max_pool2d(x, kernel, stride, padding);
}

std::string MaxPool2d::describe() const {
  std::ostringstream os;
  os << "MaxPool2d(kernel=" << kernel << ", stride=" << stride << ", padding=" << padding << ")";
  return os.str();
}

AvgPool2d::AvgPool2d(int kernel_, int stride_, int padding_)
    : Module("AvgPool2d"), kernel(kernel_), stride(stride_ < 0 ? kernel_ : stride_), padding(padding_) {
  TG_CHECK(kernel > 0 && stride > 0 && padding >= 0 && 2 * padding <= kernel,
           "AvgPool2d: invalid kernel " << kernel << ", stride " << stride << ", padding " << padding
                                        << " (padding must be at most kernel/2)");
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_image(x, describe());
  return avg_pool2d(x, kernel, stride, padding);
}

std::string AvgPool2d::describe() const {
  std::ostringstream os;
  os << "AvgPool2d(kernel=" << kernel << ", stride=" << stride << ", padding=" << padding << ")";
  return os.str();
}

Tensor GlobalAvgPool::forward(const Tensor& x) {
  check_image(x, "GlobalAvgPool");
  return global_avg_pool2d(x);
}

}  // namespace tg::nn
