// tg::NamedTensors: an ordered list of (name, tensor) pairs, the one type for named parameters,
// buffers, state dicts and optimizer parameter lists (names as PyTorch writes them, e.g. "0.weight").
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace tg {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace tg
