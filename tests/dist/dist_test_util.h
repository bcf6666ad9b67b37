// Helpers of the dist tests: the small CNN on synthetic 16x16 images, a training step with
// LAMBC (paper preset), batches cut into rank slices, and tensor comparisons.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dist/data_parallel.h"
#include "engine/error.h"
#include "dist/sharded_optimizer.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "nn/loss.h"
#include "nn/layers_conv.h"
#include "nn/models/small_cnn.h"
#include "optim/optim.h"

namespace tg::dist::testing {

constexpr double kLr = 0.01, kWd = 1e-4;

// The small CNN (3 -> 10 classes, 16x16 inputs), BatchNorm in eval mode so that the gradient of
// a batch is the mean of its samples' (the equivalence holds for any split of the batch).
inline std::shared_ptr<nn::Sequential> make_model(uint64_t seed) {
  Generator gen(seed);
  auto m = nn::small_cnn(3, 16, 10, gen);
  m->eval();
  return m;
}

struct Data {
  Tensor images;  // (n, 3, 16, 16)
  Tensor labels;  // (n) class indices as floats
};

// Batch `step` of the synthetic stream: the same on every rank and in every process.
inline Data batch(int64_t step, int64_t n = 128) {
  Generator gen(1000 + static_cast<uint64_t>(step));
  Data d{Tensor::randn({n, 3, 16, 16}, gen), Tensor::empty({n})};
  for (int64_t i = 0; i < n; ++i) d.labels.data()[i] = static_cast<float>((i * 7 + step) % 10);
  return d;
}

// Rows [begin, begin + count) of a batch (a copy).
inline Data rows(const Data& d, int64_t begin, int64_t count) {
  const int64_t per = d.images.numel() / d.images.size(0);
  Shape shape = d.images.shape();
  shape[0] = count;
  Data out{Tensor::empty(shape), Tensor::empty({count})};
  std::memcpy(out.images.data(), d.images.data() + begin * per, static_cast<size_t>(count * per) * sizeof(float));
  std::memcpy(out.labels.data(), d.labels.data() + begin, static_cast<size_t>(count) * sizeof(float));
  return out;
}

// loss = scale * mean cross-entropy over the rows; backward() accumulates into .grad.
inline void forward_backward(nn::Module& model, const Data& d, float scale = 1.f) {
  Tensor loss = cross_entropy(model(d.images), d.labels);
  if (scale != 1.f) loss = mul(loss, scale);
  loss.backward();
}

inline optim::LambOptions lambc_opts() { return optim::lambc_options(optim::LambcPreset::kPaper, kLr, kWd); }
inline std::vector<optim::ParamGroup> lambc_groups(nn::Module& m) {
  return optim::lambc_param_groups(optim::LambcPreset::kPaper, m.named_parameters(), kWd);
}
inline std::unique_ptr<optim::Optimizer> make_lambc(std::vector<optim::ParamGroup> groups) {
  return std::make_unique<optim::Lambc>(std::move(groups), lambc_opts());
}

// max |a - b| / max |b| (b the reference), over one tensor.
// ||a - b||_2 / ||b||_2 (0 when both are 0).
inline double rel_l2(const Tensor& a, const Tensor& b) {
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    const double d = static_cast<double>(a.data()[i]) - b.data()[i];
    diff += d * d;
    norm += static_cast<double>(b.data()[i]) * b.data()[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

inline double rel_diff(const Tensor& a, const Tensor& b) {
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a.data()[i] - b.data()[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b.data()[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

inline double max_rel_diff(nn::Module& a, nn::Module& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  double worst = 0.0;
  for (size_t i = 0; i < pa.size(); ++i) worst = std::max(worst, rel_diff(pa[i].second, pb[i].second));
  return worst;
}

inline double ratio_rel_diff(const std::vector<optim::TrustRatioRecord>& a, const std::vector<optim::TrustRatioRecord>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name) return INFINITY;
    worst = std::max(worst, std::fabs(a[i].applied_ratio - b[i].applied_ratio) / std::fabs(b[i].applied_ratio));
    worst = std::max(worst, std::fabs(a[i].raw_ratio - b[i].raw_ratio) / std::fabs(b[i].raw_ratio));
    worst = std::max(worst, std::fabs(a[i].u_norm - b[i].u_norm) / std::fabs(b[i].u_norm));
  }
  return worst;
}

// A model with a head that forward() uses only when asked: `second` gets a gradient on the ranks
// (or passes) that call forward_both, and none elsewhere.
struct TwoHeads : nn::Module {
  std::shared_ptr<nn::Linear> first, second;
  explicit TwoHeads(uint64_t seed) : Module("TwoHeads") {
    Generator gen(seed);
    first = register_module("first", std::make_shared<nn::Linear>(nn::LinearOptions(4, 3), gen));
    second = register_module("second", std::make_shared<nn::Linear>(nn::LinearOptions(4, 3), gen));
  }
  Tensor forward(const Tensor& x) override { return (*first)(x); }
  Tensor forward_both(const Tensor& x) { return add((*first)(x), (*second)(x)); }
};

// SGD with momentum and weight decay: a zero gradient would still move a parameter.
inline std::unique_ptr<optim::Optimizer> make_sgd_wd(nn::Module& m) {
  return optim::make_optimizer(optim::OptimizerConfig{.name = "sgd", .lr = 0.1, .weight_decay = 0.01, .momentum = 0.9,
                                                      .decay_1d = true},
                               m.named_parameters());
}

// All parameters concatenated.
inline Tensor flat_parameters(nn::Module& m) {
  std::vector<float> all;
  for (const auto& [name, t] : m.named_parameters()) all.insert(all.end(), t.data(), t.data() + t.numel());
  return Tensor::from_vector(all, {static_cast<int64_t>(all.size())});
}

}  // namespace tg::dist::testing
