// Optimizer, schedule and loader factories for the train program (see setup.h).
#include "examples/train/setup.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "optim/optim.h"

namespace tg::train {

std::vector<optim::ParamGroup> optimizer_param_groups(const TrainConfig& c, const nn::Module& model) {
  return optim::param_groups(optimizer_config(c), model.named_parameters());
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, const nn::Module& model) {
  return make_optimizer(c, optimizer_param_groups(c, model));
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<optim::ParamGroup> groups) {
  return optim::make_optimizer(optimizer_config(c), std::move(groups));
}

std::string schedule_spec(const TrainConfig& c, int64_t steps_per_epoch, int64_t total_steps) {
  int64_t warmup = static_cast<int64_t>(std::llround(c.warmup_epochs * static_cast<double>(steps_per_epoch)));
  warmup = std::clamp<int64_t>(warmup, 0, std::max<int64_t>(total_steps - 1, 0));
  if (warmup == 0) return c.schedule;
  return "warmup:" + std::to_string(warmup) + "+" + c.schedule;
}

std::shared_ptr<const optim::Schedule> make_schedule(const TrainConfig& c, int64_t steps_per_epoch, int64_t total_steps) {
  return optim::parse_schedule(schedule_spec(c, steps_per_epoch, total_steps), total_steps);
}

data::ChannelStats normalization_for(const std::string& dataset, const data::Dataset& train) {
  try {
    return data::standard_channel_stats(dataset);
  } catch (const Error&) {
    return data::compute_channel_stats(train);
  }
}

data::LoaderOptions train_loader_options(const TrainConfig& c, const data::ChannelStats& stats) {
  data::LoaderOptions o;
  o.batch_size = c.batch_size;
  o.shuffle = true;
  o.drop_last = c.drop_last;
  o.seed = c.seed;
  o.num_workers = c.workers;
  o.prefetch = std::max(2, c.workers + 1);
  o.normalize = stats;
  const bool cifar = c.dataset.rfind("cifar", 0) == 0;
  const std::string aug = c.augment == "auto" ? (cifar ? "crop-flip" : "none") : c.augment;
  if (aug == "flip") o.transforms = {std::make_shared<data::RandomHorizontalFlip>(0.5f)};
  if (aug == "crop-flip") o.transforms = data::standard_augmentation(4, data::PadMode::Reflect, 0);
  return o;
}

data::LoaderOptions test_loader_options(const TrainConfig& c, const data::ChannelStats& stats) {
  data::LoaderOptions o;
  o.batch_size = c.eval_batch_size;
  o.shuffle = false;
  o.drop_last = false;
  o.seed = c.seed;
  o.num_workers = 0;
  o.normalize = stats;
  return o;
}

}  // namespace tg::train
