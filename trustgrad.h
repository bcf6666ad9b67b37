// <trustgrad/trustgrad.h>: the whole public API in one include, for programs that embed trustgrad.
//   engine/   tensors, autograd, ops, devices, random generators, threads, errors, kernel mode
//   io/       safetensors files (checkpoints, weights)
//   nn/       modules, layers with their options (Conv2dOptions, ...), losses, models
//   optim/    optimizers (LAMBC, LAMB, Adam, ...), parameter groups, schedules, trust-ratio telemetry
//   datasets/ CIFAR / MNIST loaders, the data loader and its transforms
// Installed as <prefix>/include/trustgrad/trustgrad.h; in the tree the build copies it to
// build/include/trustgrad/ so the same #include <trustgrad/trustgrad.h> works there.
#pragma once
#include "datasets/cifar.h"
#include "datasets/dataloader.h"
#include "datasets/dataset.h"
#include "datasets/find_data.h"
#include "datasets/idx.h"
#include "datasets/transforms.h"
#include "engine/autograd.h"
#include "engine/cpu/isa.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/named_tensors.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "io/safetensors.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "trustgrad/version.h"
