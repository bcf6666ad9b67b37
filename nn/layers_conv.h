// Conv2d and Linear layers: learnable weights with PyTorch-default init and PyTorch's names
// ("weight", "bias"). The math lives in the fused ops tg::conv2d and tg::linear.
#pragma once
#include "engine/kernel_params/conv2d.h"  // ConvAlgorithm, ConvPrecision
#include "engine/random.h"
#include "nn/layer_options.h"
#include "nn/module.h"

namespace tg::nn {

// y = conv2d(x, weight, bias): x (N, C, H, W), weight (K, C/groups, k, k), bias (K) -> (N, K, P, Q),
// P = (H + 2*padding - k) / stride + 1. `gen` draws the initial weights.
class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& options, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  // Throws, naming the layer, unless x is (N, in_channels, H, W). forward() and the folded
  // inference path (fold_bn.h) both call it.
  void check_input(const Tensor& x) const;

  Conv2dOptions options;
  // Auto lets 3x3 stride-1 layers use Winograd on the CPU; Gemm keeps every output one dot product
  // (set_conv_algorithm below sets it for a whole model).
  ConvAlgorithm algorithm = ConvAlgorithm::Auto;
  // Fp32, or Bf16: the conv's GEMMs on bfloat16 operands with fp32 sums, CPU only (ConvPrecision,
  // engine/kernel_params/conv2d.h; set_conv_precision below sets it for a whole model).
  ConvPrecision precision = ConvPrecision::Fp32;
  Tensor weight;  // (K, C/groups, k, k)
  Tensor bias;    // (K) or undefined
};

// Sets `algorithm` on every Conv2d in `model` (itself included); returns how many it set.
int set_conv_algorithm(Module& model, ConvAlgorithm algorithm);

// Sets `precision` on every Conv2d in `model` (itself included); returns how many it set.
int set_conv_precision(Module& model, ConvPrecision precision);

// "fp32" or "bf16", and back (a flag's value; throws tg::Error naming anything else).
const char* conv_precision_name(ConvPrecision precision);
ConvPrecision parse_conv_precision(const std::string& name);

// y = x W^T + b: x (N, in), W (out, in), b (out).
class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  LinearOptions options;
  Tensor weight;  // (out, in)
  Tensor bias;    // (out) or undefined
};

}  // namespace tg::nn
