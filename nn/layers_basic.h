// Parameter-free layers: ReLU, GELU, Dropout (seeded), Flatten, Scale (multiply by a constant),
// MaxPool2d, AvgPool2d, GlobalAvgPool (N, C, H, W) -> (N, C).
#pragma once
#include <cstdint>

#include "engine/random.h"
#include "nn/layer_options.h"
#include "nn/module.h"

namespace tg::nn {

class ReLU : public Module {  // max(x, 0)
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

class GELU : public Module {  // exact x * Phi(x), PyTorch's default
 public:
  GELU() : Module("GELU") {}
  Tensor forward(const Tensor& x) override;
};

// Inverted dropout in training (zero with probability p, scale survivors by 1/(1-p)); identity in eval.
// The layer owns its generator, seeded at construction, so a run is reproducible.
class Dropout : public Module {
 public:
  explicit Dropout(const DropoutOptions& options = DropoutOptions(), uint64_t seed = 0);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  DropoutOptions options;
  Generator gen;
};

class Flatten : public Module {  // merges dims [start_dim, end] (a view)
 public:
  explicit Flatten(int first_dim = 1) : Module("Flatten"), start_dim(first_dim) {}
  Tensor forward(const Tensor& x) override;
  int start_dim;
};

class Scale : public Module {  // y = x * factor (airbench's final Mul(1/9))
 public:
  explicit Scale(float multiplier) : Module("Scale"), factor(multiplier) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  float factor;
};

class MaxPool2d : public Module {  // ties go to the first maximum in the window
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  MaxPool2dOptions options;
};

class AvgPool2d : public Module {  // zero padding counts in the average (count_include_pad)
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  AvgPool2dOptions options;
};

class GlobalAvgPool : public Module {  // (N, C, H, W) -> (N, C), mean over H, W
 public:
  GlobalAvgPool() : Module("GlobalAvgPool") {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace tg::nn
