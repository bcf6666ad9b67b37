// NaN/Inf search over named tensors (see finite_check.h).
#include "examples/train/finite_check.h"

#include <cmath>
#include <sstream>

namespace tg::train {

std::string value_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string NonFiniteTensor::describe() const { return source + " '" + name + "' holds " + value_text(value); }

std::optional<float> first_non_finite_value(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return std::nullopt;
  std::vector<float> host;
  const float* p = nullptr;
  if (t.device().is_cuda()) {
    host = t.to_vector();
    p = host.data();
  } else {
    p = t.data();
  }
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return p[i];
  return std::nullopt;
}

std::optional<NonFiniteTensor> first_non_finite(const NamedTensors& tensors, const std::string& source) {
  for (const auto& [name, t] : tensors)
    if (const auto v = first_non_finite_value(t)) return NonFiniteTensor{source, name, *v};
  return std::nullopt;
}

}  // namespace tg::train
