// make_model(name, ...): builds a model by name for the CLI, benchmarks and tests.
// Names: "small_cnn" (alias "small"), "resnet18", "airbench".
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/random.h"
#include "nn/module.h"

namespace tg::nn {

std::shared_ptr<Module> make_model(const std::string& name, int in_channels = 3, int side = 32, int num_classes = 10,
                                   Generator& gen = default_generator());
std::vector<std::string> model_names();

}  // namespace tg::nn
