// Helpers shared by the tests/optim suites: parameter sets, gradients, optimizer factories,
// bitwise and scale-relative comparisons.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"
#include "optim/optim.h"

namespace tg::optim::testing {

// One CPU order of the LAMB family's step (LambFamilyOptions::staged_moments, cache_block_bytes).
struct CpuOrder {
  const char* name;
  bool staged;
  int64_t block_bytes;
};

// Builds an optimizer over the given parameters (the suites keep name -> factory tables).
using Factory = std::function<std::unique_ptr<Optimizer>(const NamedTensors&)>;

inline NamedTensors make_params(const std::vector<std::pair<std::string, Shape>>& shapes, uint64_t seed,
                               float scale = 1.f) {
  Generator gen(seed);
  NamedTensors params;
  for (const auto& [name, shape] : shapes) {
    Tensor t = Tensor::randn(shape, gen);
    float* d = t.data();
    for (int64_t i = 0; i < t.numel(); ++i) d[i] *= scale;
    t.set_requires_grad(true);
    params.emplace_back(name, t);
  }
  return params;
}

inline NamedTensors clone_params(const NamedTensors& params) {
  NamedTensors out;
  for (const auto& [name, t] : params) {
    Tensor c = t.clone();
    c.set_requires_grad(true);
    out.emplace_back(name, c);
  }
  return out;
}

// One random gradient per parameter (same shapes), scaled.
inline std::vector<Tensor> random_grads(const NamedTensors& params, Generator& gen, float scale = 1.f) {
  std::vector<Tensor> grads;
  for (const auto& [name, t] : params) {
    Tensor g = Tensor::randn(t.shape(), gen);
    float* d = g.data();
    for (int64_t i = 0; i < g.numel(); ++i) d[i] *= scale;
    grads.push_back(g);
  }
  return grads;
}

inline void set_grads(const NamedTensors& params, const std::vector<Tensor>& grads) {
  for (size_t i = 0; i < params.size(); ++i) params[i].second.set_grad(grads[i].clone());
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())) == 0;
}

inline bool bitwise_equal(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || !bitwise_equal(a[i].second, b[i].second)) return false;
  }
  return true;
}

// Tensors and metadata; `ignore` names a metadata key left out of the comparison.
inline bool bitwise_equal(const StateDict& a, const StateDict& b, const std::string& ignore = "") {
  io::Metadata ma = a.metadata, mb = b.metadata;
  ma.erase(ignore);
  mb.erase(ignore);
  if (ma != mb || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    if (a.tensors[i].first != b.tensors[i].first || !bitwise_equal(a.tensors[i].second, b.tensors[i].second)) {
      return false;
    }
  }
  return true;
}

// max |a - b| / max |b|: the error relative to the tensor's scale (an elementwise relative error
// is meaningless for entries near 0, where float rounding differences dominate); +inf when the
// sizes differ.
inline double max_rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double diff = 0.0, scale = 0.0;
  for (size_t k = 0; k < a.size(); ++k) {
    diff = std::max(diff, std::abs(static_cast<double>(a[k]) - b[k]));
    scale = std::max(scale, std::abs(static_cast<double>(b[k])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

inline double max_rel_err(const Tensor& a, const Tensor& b) {
  return max_rel_err(a.to(Device::cpu()).to_vector(), b.to(Device::cpu()).to_vector());
}

}  // namespace tg::optim::testing
