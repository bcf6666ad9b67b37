// The reference small CNN (bench/torch_reference.py builds it in PyTorch), as one Sequential whose
// state_dict keys equal PyTorch's ("0.weight", "1.running_mean", ..., "19.weight"):
//   [conv3x3-BN-ReLU](cin->32) [..](32->32) maxpool2 [..](32->64) [..](64->64) maxpool2
//   [..](64->128) maxpool2 flatten linear(128 * (side/8)^2 -> num_classes)
// Convs have padding 1 and no bias. side 32 (CIFAR, 3 channels) or 28 (Fashion-MNIST, 1 channel).
#pragma once
#include <memory>

#include "engine/random.h"
#include "nn/sequential.h"

namespace tg::nn {

std::shared_ptr<Sequential> small_cnn(int in_channels = 3, int side = 32, int num_classes = 10,
                                      Generator& gen = default_generator());

}  // namespace tg::nn
