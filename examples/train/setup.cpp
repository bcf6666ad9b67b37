// Optimizer, schedule and loader factories for the train program (see setup.h).
#include "examples/train/setup.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "optim/optim.h"

namespace tg::train {

std::vector<optim::ParamGroup> optimizer_param_groups(const TrainConfig& c, const nn::Module& model) {
  const optim::NamedParams params = model.named_parameters();
  if (c.optimizer == "lamb" || c.optimizer == "lambc") {
    return optim::lambc_param_groups(optim::parse_lambc_preset(c.preset), params, c.weight_decay);
  }
  return optim::default_param_groups(params, c.weight_decay);
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, const nn::Module& model) {
  return make_optimizer(c, optimizer_param_groups(c, model));
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<optim::ParamGroup> groups) {
  using namespace tg::optim;
  const std::string& o = c.optimizer;
  if (o == "lamb" || o == "lambc") {
    const LambcPreset preset = parse_lambc_preset(c.preset);
    LambOptions lo = lambc_options(preset, c.lr, c.weight_decay);
    lo.beta1 = c.beta1;
    lo.beta2 = c.beta2;
    lo.eps = c.eps;
    lo.clip_min = c.clip_min;
    lo.clip_max = c.clip_max;  // lamb resolves to +inf: the unclipped ratio
    lo.max_grad_norm = c.max_grad_norm;
    if (o == "lamb") return std::make_unique<Lamb>(std::move(groups), lo);
    return std::make_unique<Lambc>(std::move(groups), lo);
  }
  if (o == "sgd") {
    SgdOptions so;
    so.lr = c.lr;
    so.momentum = c.momentum;
    so.nesterov = c.nesterov;
    so.weight_decay = c.weight_decay;
    return std::make_unique<Sgd>(std::move(groups), so);
  }
  if (o == "lars") {
    LarsOptions lo;
    lo.lr = c.lr;
    lo.momentum = c.momentum;
    lo.nesterov = c.nesterov;
    lo.weight_decay = c.weight_decay;
    lo.trust_coefficient = c.trust_coefficient;
    lo.eps = c.eps;
    lo.trust_clip = c.larc;
    return std::make_unique<Lars>(std::move(groups), lo);
  }
  if (o == "adamw") {
    AdamWOptions ao;
    ao.lr = c.lr;
    ao.beta1 = c.beta1;
    ao.beta2 = c.beta2;
    ao.eps = c.eps;
    ao.weight_decay = c.weight_decay;
    return std::make_unique<AdamW>(std::move(groups), ao);
  }
  if (o == "novograd") {
    NovoGradOptions no;
    no.lr = c.lr;
    no.beta1 = c.beta1;
    no.beta2 = c.beta2;
    no.eps = c.eps;
    no.weight_decay = c.weight_decay;
    return std::make_unique<NovoGrad>(std::move(groups), no);
  }
  if (o == "adabelief") {
    AdaBeliefOptions ao;
    ao.lr = c.lr;
    ao.beta1 = c.beta1;
    ao.beta2 = c.beta2;
    ao.eps = c.eps;
    ao.weight_decay = c.weight_decay;
    return std::make_unique<AdaBelief>(std::move(groups), ao);
  }
  throw Error("make_optimizer: unknown optimizer '" + o + "'");
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
  o.drop_last = true;
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
