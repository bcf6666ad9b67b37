// Factories from a TrainConfig: the optimizer with its parameter groups, the lr schedule (linear
// warmup + the chosen decay over the run), and the data loaders' options (normalisation, augmentation).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "datasets/dataloader.h"
#include "examples/train/config.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace tg::train {

// The optimizer named by c.optimizer over `model`'s parameters. `c` must be resolved.
//   lamb / lambc: the preset's groups and options (optim/lambc.h), then the explicit overrides
//                 (betas, eps, clip bounds, max_grad_norm); lamb = the same with clip_max = inf.
//   others:       decay group (ndim >= 2) + no-decay group (biases, BN), as timm does.
std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, const nn::Module& model);
// The same optimizer over given groups (the sharded optimizer builds it over its slices), and
// the groups make_optimizer(c, model) uses.
std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<optim::ParamGroup> groups);
std::vector<optim::ParamGroup> optimizer_param_groups(const TrainConfig& c, const nn::Module& model);

// "warmup:W+<c.schedule>" over `total_steps` (W = round(warmup_epochs * steps_per_epoch), at most
// total_steps - 1), or c.schedule alone when W = 0.
std::string schedule_spec(const TrainConfig& c, int64_t steps_per_epoch, int64_t total_steps);
std::shared_ptr<const optim::Schedule> make_schedule(const TrainConfig& c, int64_t steps_per_epoch, int64_t total_steps);

// Normalisation: the dataset's standard statistics when it has them, else computed from `train`.
data::ChannelStats normalization_for(const std::string& dataset, const data::Dataset& train);

// Training loader: shuffled, drop_last (every step sees batch_size images), augmentation per c.augment.
data::LoaderOptions train_loader_options(const TrainConfig& c, const data::ChannelStats& stats);
// Test loader: in order, no augmentation, eval_batch_size.
data::LoaderOptions test_loader_options(const TrainConfig& c, const data::ChannelStats& stats);

}  // namespace tg::train
