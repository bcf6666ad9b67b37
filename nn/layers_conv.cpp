// Conv2d and Linear: argument checks with layer-level messages, PyTorch-default init, forward.
#include "nn/layers_conv.h"

#include <sstream>

#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "nn/init.h"

namespace tg::nn {

Conv2d::Conv2d(int in_channels_, int out_channels_, int kernel_, int stride_, int padding_, bool bias_,
               int groups_, Generator& gen)
    : Module("Conv2d"),
      in_channels(in_channels_),
      out_channels(out_channels_),
      kernel(kernel_),
      stride(stride_),
      padding(padding_),
      groups(groups_) {
  TG_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0 && stride > 0 && padding >= 0 && groups > 0,
           "Conv2d: invalid configuration " << describe());
  TG_CHECK(in_channels % groups == 0 && out_channels % groups == 0,
           "Conv2d: in_channels " << in_channels << " and out_channels " << out_channels
                                  << " must both be divisible by groups " << groups);
  weight = register_parameter("weight", Tensor::empty({out_channels, in_channels / groups, kernel, kernel}));
  if (bias_) bias = register_parameter("bias", Tensor::empty({out_channels}));
  init_default_weight_and_bias(weight, bias, static_cast<int64_t>(in_channels / groups) * kernel * kernel, gen);
}

void Conv2d::check_input(const Tensor& x) const {
  TG_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_channels,
           describe() << ": expected input (N, " << in_channels << ", H, W), got "
                      << (x.defined() ? shape_str(x.shape()) : std::string("undefined")));
}

Tensor Conv2d::forward(const Tensor& x) {
  check_input(x);
  return conv2d(x, weight, bias, stride, padding, groups, algorithm);
}

std::string Conv2d::describe() const {
  std::ostringstream os;
  os << "Conv2d(" << in_channels << ", " << out_channels << ", kernel=" << kernel;
  if (stride != 1) os << ", stride=" << stride;
  if (padding != 0) os << ", padding=" << padding;
  if (groups != 1) os << ", groups=" << groups;
  os << ", bias=" << (bias.defined() ? "true" : "false");
  if (algorithm == ConvAlgorithm::Gemm) os << ", algorithm=gemm";
  os << ")";
  return os.str();
}

int set_conv_algorithm(Module& model, ConvAlgorithm algorithm) {
  int set = 0;
  for (auto& [name, m] : model.named_modules())
    if (auto* conv = dynamic_cast<Conv2d*>(m)) {
      conv->algorithm = algorithm;
      ++set;
    }
  return set;
}

Linear::Linear(int in_features_, int out_features_, bool bias_, Generator& gen)
    : Module("Linear"), in_features(in_features_), out_features(out_features_) {
  TG_CHECK(in_features > 0 && out_features > 0,
           "Linear: in_features " << in_features << " and out_features " << out_features << " must be positive");
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}));
  if (bias_) bias = register_parameter("bias", Tensor::empty({out_features}));
  init_default_weight_and_bias(weight, bias, in_features, gen);
}

Tensor Linear::forward(const Tensor& x) {
  TG_CHECK(x.defined() && x.dim() == 2 && x.size(1) == in_features,
           describe() << ": expected input (N, " << in_features << "), got "
                      << (x.defined() ? shape_str(x.shape()) : std::string("undefined"))
                      << (x.defined() && x.dim() > 2 ? " (add a Flatten before it)" : ""));
  return linear(x, weight, bias);
}

std::string Linear::describe() const {
  std::ostringstream os;
  os << "Linear(" << in_features << ", " << out_features << ", bias=" << (bias.defined() ? "true" : "false") << ")";
  return os.str();
}

}  // namespace tg::nn
