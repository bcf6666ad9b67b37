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

// "MaxPool2d(kernel_size=2, stride=2, padding=0)"
std::string describe_pool(const std::string& layer, const Pool2dOptions& o) {
  std::ostringstream os;
  os << layer << "(kernel_size=" << o.kernel_size() << ", stride=" << o.stride() << ", padding=" << o.padding() << ")";
  return os.str();
}

void check_pool_options(const std::string& layer, const Pool2dOptions& o) {
  TG_CHECK(o.kernel_size() > 0 && o.stride() > 0 && o.padding() >= 0 && 2 * int64_t{o.padding()} <= o.kernel_size(),
           layer << ": invalid kernel_size " << o.kernel_size() << ", stride " << o.stride() << ", padding "
                 << o.padding() << " (padding must be at most kernel_size/2)");
}
}  // namespace

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x); }

Dropout::Dropout(const DropoutOptions& options_, uint64_t seed) : Module("Dropout"), options(options_), gen(seed) {
  TG_CHECK(options.p() >= 0.f && options.p() < 1.f, "Dropout: p must be in [0, 1), got " << options.p());
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, options.p(), training_, gen); }

std::string Dropout::describe() const {
  std::ostringstream os;
  os << "Dropout(p=" << options.p() << ")";
  return os.str();
}

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim); }

Tensor Scale::forward(const Tensor& x) { return mul(x, factor); }

std::string Scale::describe() const {
  std::ostringstream os;
  os << "Scale(" << factor << ")";
  return os.str();
}

MaxPool2d::MaxPool2d(const MaxPool2dOptions& options_) : Module("MaxPool2d"), options(options_) {
  check_pool_options("MaxPool2d", options);
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_image(x, describe());
  return max_pool2d(x, options.kernel_size(), options.stride(), options.padding());
}

std::string MaxPool2d::describe() const { return describe_pool("MaxPool2d", options); }

AvgPool2d::AvgPool2d(const AvgPool2dOptions& options_) : Module("AvgPool2d"), options(options_) {
  check_pool_options("AvgPool2d", options);
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_image(x, describe());
  return avg_pool2d(x, options.kernel_size(), options.stride(), options.padding());
}

std::string AvgPool2d::describe() const { return describe_pool("AvgPool2d", options); }

Tensor GlobalAvgPool::forward(const Tensor& x) {
  check_image(x, "GlobalAvgPool");
  return global_avg_pool2d(x);
}

}  // namespace tg::nn
