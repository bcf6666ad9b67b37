// Builds the reference small CNN with PyTorch's Sequential indices.
#include "nn/models/small_cnn.h"

#include <climits>

#include "engine/error.h"
#include "nn/layers_basic.h"
#include "nn/layers_conv.h"
#include "nn/layers_norm.h"

namespace tg::nn {

std::shared_ptr<Sequential> small_cnn(int in_channels, int side, int num_classes, Generator& gen) {
  TG_CHECK(in_channels > 0 && num_classes > 0, "small_cnn: in_channels " << in_channels << " and num_classes "
                                                                        << num_classes << " must be positive");
  TG_CHECK(side >= 8, "small_cnn: side " << side << " is too small for three 2x2 max pools (need >= 8)");
  // The classifier's in_features: 128 channels of (side/8)^2 (three floor-halvings of side equal
  // side / 8 rounded down). In int64 it fits for any int side; Linear takes an int.
  const int64_t s = side / 8;
  const int64_t features = 128 * s * s;
  TG_CHECK(features <= INT_MAX, "small_cnn: side " << side << " is too large: the classifier would take 128 * ("
                                                   << side << " / 8)^2 = " << features << " features, more than "
                                                   << INT_MAX);
  auto net = std::make_shared<Sequential>();
  auto block = [&](int i, int o) {  // conv3x3(pad 1, no bias) -> BN -> ReLU
    net->add(std::make_shared<Conv2d>(Conv2dOptions(i, o, 3).padding(1).bias(false), gen));
    net->add(std::make_shared<BatchNorm2d>(BatchNorm2dOptions(o)));
    net->add(std::make_shared<ReLU>());
  };
  block(in_channels, 32);
  block(32, 32);
  net->add(std::make_shared<MaxPool2d>(MaxPool2dOptions(2)));
  block(32, 64);
  block(64, 64);
  net->add(std::make_shared<MaxPool2d>(MaxPool2dOptions(2)));
  block(64, 128);
  net->add(std::make_shared<MaxPool2d>(MaxPool2dOptions(2)));
  net->add(std::make_shared<Flatten>());
  net->add(std::make_shared<Linear>(LinearOptions(static_cast<int>(features), num_classes), gen));
  return net;
}

}  // namespace tg::nn
