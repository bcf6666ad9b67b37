// Conv2d and Linear: argument checks with layer-level messages, PyTorch-default init, forward.
#include "nn/layers_conv.h"

#include <sstream>

#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "nn/init.h"

namespace tg::nn {

Conv2d::Conv2d(const Conv2dOptions& options_, Generator& gen) : Module("Conv2d"), options(options_) {
  const int in = options.in_channels(), out = options.out_channels(), k = options.kernel_size(),
            groups = options.groups();
  TG_CHECK(in > 0 && out > 0 && k > 0 && options.stride() > 0 && options.padding() >= 0 && groups > 0,
           "Conv2d: invalid configuration " << describe());
  TG_CHECK(in % groups == 0 && out % groups == 0,
           "Conv2d: in_channels " << in << " and out_channels " << out << " must both be divisible by groups " << groups);
  weight = register_parameter("weight", Tensor::empty({out, in / groups, k, k}));
  if (options.bias()) bias = register_parameter("bias", Tensor::empty({out}));
  init_default_weight_and_bias(weight, bias, static_cast<int64_t>(in / groups) * k * k, gen);
}

void Conv2d::check_input(const Tensor& x) const {
  TG_CHECK(x.defined() && x.dim() == 4 && x.size(1) == options.in_channels(),
           describe() << ": expected input (N, " << options.in_channels() << ", H, W), got "
                      << (x.defined() ? shape_str(x.shape()) : std::string("undefined")));
}

Tensor Conv2d::forward(const Tensor& x) {
  check_input(x);
  return conv2d(x, weight, bias, options.stride(), options.padding(), options.groups(), algorithm, precision);
}

std::string Conv2d::describe() const {
  std::ostringstream os;
  os << "Conv2d(" << options.in_channels() << ", " << options.out_channels() << ", kernel_size=" << options.kernel_size();
  if (options.stride() != 1) os << ", stride=" << options.stride();
  if (options.padding() != 0) os << ", padding=" << options.padding();
  if (options.groups() != 1) os << ", groups=" << options.groups();
  os << ", bias=" << (options.bias() ? "true" : "false");
  if (algorithm == ConvAlgorithm::Gemm) os << ", algorithm=gemm";
  if (precision == ConvPrecision::Bf16) os << ", precision=bf16";
  os << ")";
  return os.str();
}

namespace {

// Calls f on every Conv2d in `model` (itself included); returns how many.
template <class F>
int for_each_conv(Module& model, F&& f) {
  int count = 0;
  for (auto& [name, m] : model.named_modules())
    if (auto* conv = dynamic_cast<Conv2d*>(m)) {
      f(*conv);
      ++count;
    }
  return count;
}

}  // namespace

int set_conv_algorithm(Module& model, ConvAlgorithm algorithm) {
  return for_each_conv(model, [&](Conv2d& conv) { conv.algorithm = algorithm; });
}

int set_conv_precision(Module& model, ConvPrecision precision) {
  return for_each_conv(model, [&](Conv2d& conv) { conv.precision = precision; });
}

const char* conv_precision_name(ConvPrecision precision) {
  return precision == ConvPrecision::Bf16 ? "bf16" : "fp32";
}

ConvPrecision parse_conv_precision(const std::string& name) {
  if (name == "fp32") return ConvPrecision::Fp32;
  if (name == "bf16") return ConvPrecision::Bf16;
  throw Error("precision '" + name + "' is not known; use fp32 or bf16");
}

Linear::Linear(const LinearOptions& options_, Generator& gen) : Module("Linear"), options(options_) {
  const int in = options.in_features(), out = options.out_features();
  TG_CHECK(in > 0 && out > 0, "Linear: in_features " << in << " and out_features " << out << " must be positive");
  weight = register_parameter("weight", Tensor::empty({out, in}));
  if (options.bias()) bias = register_parameter("bias", Tensor::empty({out}));
  init_default_weight_and_bias(weight, bias, in, gen);
}

Tensor Linear::forward(const Tensor& x) {
  TG_CHECK(x.defined() && x.dim() == 2 && x.size(1) == options.in_features(),
           describe() << ": expected input (N, " << options.in_features() << "), got "
                      << (x.defined() ? shape_str(x.shape()) : std::string("undefined"))
                      << (x.defined() && x.dim() > 2 ? " (add a Flatten before it)" : ""));
  return linear(x, weight, bias);
}

std::string Linear::describe() const {
  std::ostringstream os;
  os << "Linear(" << options.in_features() << ", " << options.out_features() << ", bias=" << (options.bias() ? "true" : "false")
     << ")";
  return os.str();
}

}  // namespace tg::nn
