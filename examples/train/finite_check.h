// Finding NaN/Inf in a run's tensors: parameters, buffers (BatchNorm running statistics) and
// optimizer state, so that a non-finite value is named where it first appears and never reaches
// a checkpoint or the final model.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/named_tensors.h"

namespace tg::train {

struct NonFiniteTensor {
  std::string source;  // "model parameter", "model buffer", "optimizer state", ...
  std::string name;    // the tensor's name within its source
  float value = 0;     // its first non-finite element (NaN, +Inf or -Inf)
  std::string describe() const;  // "model buffer 'bn1.running_var' holds inf"
};

// "NaN", "+Inf" or "-Inf" for a non-finite value (else the number).
std::string value_text(double v);

// The first non-finite element of `t` (copied to the host when on a device), or nullopt.
std::optional<float> first_non_finite_value(const Tensor& t);

// The first tensor of `tensors`, in order, holding a non-finite value, labelled with `source`.
std::optional<NonFiniteTensor> first_non_finite(const NamedTensors& tensors, const std::string& source);

}  // namespace tg::train
