// Model factory: one name -> one constructor.
#include "nn/models/factory.h"

#include "engine/error.h"
#include "nn/models/airbench.h"
#include "nn/models/resnet.h"
#include "nn/models/small_cnn.h"

namespace tg::nn {

std::vector<std::string> model_names() { return {"small_cnn", "resnet18", "airbench"}; }

std::shared_ptr<Module> make_model(const std::string& name, int in_channels, int side, int num_classes,
                                   Generator& gen) {
  if (name == "small_cnn" || name == "small") return small_cnn(in_channels, side, num_classes, gen);
  if (name == "resnet18") return resnet18_cifar(num_classes, in_channels, gen);
  if (name == "airbench") return airbench_net(in_channels, side, num_classes, gen);
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("make_model: unknown model '" + name + "' (known: " + known + ")");
}

}  // namespace tg::nn
