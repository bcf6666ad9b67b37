// Helpers shared by the tests/nn suites: the closed-form "formula" weights that tests/reference/gen_nn.py
// computes identically on the PyTorch side, a normalised-error comparison, and model builders by fixture name.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "nn/nn.h"

namespace tg::nn::testing {

// Mirror of gen_nn.py formula_tensor(name, shape, p), p = index in state_dict order:
//   base[i] = sin(0.37 i + 0.5 p + 1) * cos(1.71 i + 0.3 p)   (float64, then cast to float32)
//   multi-dim: base * sqrt(3 / fan_in); 1-D weight: 1 + 0.1 base; other 1-D: 0.1 base;
//   running_var: 1 + 0.25 base^2; num_batches_tracked: 0.
// base[i] for i in [0, n): sin and cos advanced by rotation (angle addition), re-anchored with
// std::sin/std::cos every 256 steps, so the error stays ~1e-13 (float32 casts match) at a tenth of the cost.
inline void formula_base(double* base, int64_t n, int p) {
  const double a = 0.37, b = 0.5 * p + 1.0, c = 1.71, d = 0.3 * p;
  const double ca = std::cos(a), sa = std::sin(a), cc = std::cos(c), sc = std::sin(c);
  const int64_t kBlock = 256;
#pragma omp parallel for schedule(static)
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const double x0 = a * static_cast<double>(i0) + b, y0 = c * static_cast<double>(i0) + d;
    double s1 = std::sin(x0), c1 = std::cos(x0), s2 = std::sin(y0), c2 = std::cos(y0);
    for (int64_t i = i0; i < std::min(n, i0 + kBlock); ++i) {
      base[i] = s1 * c2;  // sin(a i + b) * cos(c i + d)
      const double ns1 = s1 * ca + c1 * sa, nc1 = c1 * ca - s1 * sa;
      const double ns2 = s2 * cc + c2 * sc, nc2 = c2 * cc - s2 * sc;
      s1 = ns1, c1 = nc1, s2 = ns2, c2 = nc2;
    }
  }
}

inline Tensor formula_tensor(const std::string& name, const Shape& shape, int p) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  const int64_t n = numel_of(shape);
  std::vector<double> base(static_cast<size_t>(n));
  formula_base(base.data(), n, p);
  std::vector<float> v(static_cast<size_t>(n));
  // v = mul * base + add, or 1 + 0.25 base^2 for running_var (the kind is decided once per tensor).
  const bool var = ends_with("running_var");
  double mul = 0.1, add = 0.0;
  if (ends_with("num_batches_tracked")) mul = 0.0;
  else if (shape.size() >= 2) mul = std::sqrt(3.0 / static_cast<double>(n / shape[0]));
  else if (ends_with("weight")) add = 1.0;
  for (int64_t i = 0; i < n; ++i) {
    const double bi = base[static_cast<size_t>(i)];
    v[static_cast<size_t>(i)] = static_cast<float>(var ? 1.0 + 0.25 * bi * bi : mul * bi + add);
  }
  return Tensor::from_vector(v, shape);
}

inline void load_formula_weights(Module& m) {
  NoGradGuard no_grad;
  int p = 0;
  for (auto& [name, t] : m.state_dict()) t.copy_(formula_tensor(name, t.shape(), p++));
}

// Mirror of gen_nn.py formula_input: sin(0.23 i + 0.1 + phase) + 0.5 sin(0.0517 i + 0.7 phase).
inline Tensor formula_input(const Shape& shape, int phase = 0) {
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    const double di = static_cast<double>(i);
    v[i] = static_cast<float>(std::sin(0.23 * di + 0.1 + phase) + 0.5 * std::sin(0.0517 * di + 0.7 * phase));
  }
  return Tensor::from_vector(v, shape);
}

// max |a - e| / max |e|: the error relative to the tensor's scale (elementwise relative error is
// meaningless for entries near zero). Returns +inf on a shape mismatch.
inline double normalized_max_error(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape()) return INFINITY;
  const auto a = actual.to_vector(), e = expected.to_vector();
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(a[i]) - e[i]));
    scale = std::max(scale, std::abs(static_cast<double>(e[i])));
  }
  return scale == 0 ? err : err / scale;
}

// The tiny net of the interop fixtures, same as gen_nn.py mini_net():
// 0 Conv2d(3, 4, 3, pad 1, bias), 1 BN(4), 2 ReLU, 3 BasicBlock(4, 8, stride 2), 4 GlobalAvgPool,
// 5 Flatten, 6 Linear(8, 5).
inline std::shared_ptr<Sequential> mini_net(Generator& gen) {
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Conv2d>(Conv2dOptions(3, 4, 3).padding(1), gen));
  net->add(std::make_shared<BatchNorm2d>(BatchNorm2dOptions(4)));
  net->add(std::make_shared<ReLU>());
  net->add(std::make_shared<BasicBlock>(4, 8, 2, gen));
  net->add(std::make_shared<GlobalAvgPool>());
  net->add(std::make_shared<Flatten>());
  net->add(std::make_shared<Linear>(LinearOptions(8, 5), gen));
  return net;
}

// The models named in tests/fixtures/nn_state_dict_keys.txt, built with trustgrad.
inline std::shared_ptr<Module> model_by_fixture_name(const std::string& name, Generator& gen) {
  if (name == "small_cnn_3_32") return small_cnn(3, 32, 10, gen);
  if (name == "small_cnn_1_28") return small_cnn(1, 28, 10, gen);
  if (name == "resnet18") return resnet18_cifar(10, 3, gen);
  if (name == "airbench") return airbench_net(3, 32, 10, gen);
  if (name == "mini") return mini_net(gen);
  return nullptr;
}

}  // namespace tg::nn::testing
