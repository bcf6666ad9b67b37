// DistributedTraining: DataParallel + optional ShardedOptimizer behind the Trainer's hooks.
#include "examples/train/distributed.h"

#include <set>
#include <sstream>

#include "engine/error.h"
#include "examples/train/interrupt.h"
#include "examples/train/setup.h"

namespace tg::train {

namespace {

// A setting as one exact integer for ProcessGroup::check_same: integers and booleans as themselves,
// anything else (text, fractions) as a 52-bit FNV-1a hash of its JSON text (exact through a double).
int64_t setting_code(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  if (value.is_number_integer()) return value.get<int64_t>();
  return dist::fingerprint(value.dump());
}

}  // namespace

void check_same_settings(dist::ProcessGroup& group, const TrainConfig& c, int64_t train_images, int64_t test_images) {
  static const std::set<std::string> per_rank{"run_name", "log_dir",  "checkpoint_dir", "data_dir", "resume",
                                              "threads",  "workers",  "progress",       "report",   "log_interval"};
  std::vector<std::pair<std::string, int64_t>> values;
  const nlohmann::json settings = to_json(c);
  for (const auto& [key, value] : settings.items()) {
    if (!per_rank.count(key)) values.emplace_back(flag_name(key), setting_code(value));
  }
  values.emplace_back("the number of training images", train_images);
  values.emplace_back("the number of test images", test_images);
  group.check_same(values, "data-parallel setup",
                   "launch every rank with the same flags and data (a large number is a hash of a text or fractional value)");
}

Device rank_device(const std::string& device, int local_rank, int world_size, int visible_gpus) {
  const Device d = parse_device(device);
  if (world_size <= 1 || d.is_cpu()) return d;
  if (device != "cuda")
    throw ConfigError("--device: '" + device + "' names one GPU for all " + std::to_string(world_size) +
                      " ranks (NCCL refuses two ranks on one GPU); give --device cuda, and each rank takes the GPU "
                      "of its local rank");
  if (local_rank >= visible_gpus)
    throw ConfigError("--device: this rank is number " + std::to_string(local_rank) + " on its host but " +
                      std::to_string(visible_gpus) + " CUDA device(s) are visible there; run at most " +
                      std::to_string(visible_gpus) + " rank(s) per host with --device cuda");
  return Device::cuda(local_rank);
}

DistributedTraining::DistributedTraining(dist::ProcessGroup& group, nn::Module& model, optim::Optimizer& full,
                                         std::shared_ptr<const optim::Schedule> schedule, const TrainConfig& c)
    : group_(group), ddp_(group, model) {
  if (!c.shard_optimizer) return;
  std::vector<optim::ParamGroup> groups;  // the full optimizer's groups, with its resolved options
  for (const optim::Group& g : full.groups()) {
    optim::ParamGroup pg{g.name, {}, g.lr, g.weight_decay, g.adapt};
    for (size_t idx : g.params) pg.params.emplace_back(full.params()[idx].name, full.params()[idx].tensor);
    groups.push_back(std::move(pg));
  }
  sharded_ = std::make_unique<dist::ShardedOptimizer>(
      group, std::move(groups), [&c](std::vector<optim::ParamGroup> g) { return make_optimizer(c, std::move(g)); });
  sharded_->local().set_schedule(std::move(schedule));
  sharded_->local().set_telemetry(full.telemetry());
}

void DistributedTraining::step(optim::Optimizer& full) { sharded_ ? sharded_->step() : full.step(); }

const optim::Optimizer& DistributedTraining::stepping(const optim::Optimizer& full) const {
  return sharded_ ? sharded_->local() : full;
}

const std::vector<optim::TrustRatioRecord>& DistributedTraining::trust_ratios(const optim::Optimizer& full) const {
  return sharded_ ? sharded_->trust_ratios() : full.trust_ratios();
}

void DistributedTraining::reset_state(optim::Optimizer& full) {
  full.reset_state();
  if (sharded_) sharded_->local().reset_state();
}

void DistributedTraining::sum(std::vector<double>& values) {
  values.push_back(interrupt_signalled() ? 1.0 : 0.0);  // this rank's interrupt mark
  group_.all_reduce(values.data(), static_cast<int64_t>(values.size()), dist::ReduceOp::kSum, "all-reduce of step statistics");
  const bool interrupted = values.back() > 0.0;
  values.pop_back();
  if (interrupted) request_interrupt();  // on every rank alike, at this same call
}

void DistributedTraining::prepare_checkpoint(optim::Optimizer& full) {
  sync_buffers();
  if (sharded_) full.load_state_dict(sharded_->state_dict());
}

void DistributedTraining::release_checkpoint_state(optim::Optimizer& full) {
  if (sharded_) full.reset_state();  // the moments live in the shards; the step counter stays
}

void DistributedTraining::after_resume(optim::Optimizer& full) {
  if (!sharded_) return;
  sharded_->load_state_dict(full.state_dict());
  full.reset_state();
}

std::string check_resume_world_size(int64_t saved, int64_t world, int64_t epoch_batches, int64_t max_steps,
                                    const std::string& path) {
  if (saved == world) return "";
  // --max-steps counts steps, whose length changes with the world size (and a run it cut counts its
  // partial last epoch as done): only runs that end by --epochs continue at another size.
  TG_CHECK(max_steps == 0, "--resume: checkpoint '" << path << "' was written by " << saved << " rank(s) and this run has "
                                                    << world << ", but the run is bounded by --max-steps " << max_steps
                                                    << ", whose steps change length with the world size; resume with "
                                                    << (saved == 1 ? std::string("one process")
                                                                   : "mpirun -np " + std::to_string(saved)));
  TG_CHECK(epoch_batches == 0,
           "--resume: checkpoint '" << path << "' was written by " << saved << " rank(s) in the middle of an epoch (batch "
               << epoch_batches << "); this run has " << world << ", and the data order of the rest of that epoch depends on "
               "the world size. Resume with " << (saved == 1 ? std::string("one process") : "mpirun -np " + std::to_string(saved))
               << ", or from a checkpoint written at an epoch end");
  return "note: the checkpoint was written by " + std::to_string(saved) + " rank(s), this run has " + std::to_string(world) +
         ": parameters and optimizer moments carry over exactly and training continues at the next epoch; the global "
         "batch, steps per epoch and data order follow the new world size; the lr schedule continues from the same "
         "fraction of the run, counted in the new steps, and the bias corrections from each tensor's own update count";
}

std::string DistributedTraining::describe(int64_t batch_size, int64_t accum_steps) const {
  std::ostringstream os;
  const int n = group_.world_size();
  os << n << " rank" << (n == 1 ? "" : "s") << " (" << group_.backend_name() << "), global batch " << batch_size * n
     << " = " << n << " x " << batch_size << " per rank";
  if (accum_steps > 1) os << " (" << accum_steps << " micro-batches each)";
  os << ", " << ddp_.bucket_count() << " gradient bucket" << (ddp_.bucket_count() == 1 ? "" : "s");
  if (sharded_) {
    os << "; optimizer state sharded: " << sharded_->local_elements() << " of " << sharded_->total_elements()
       << " parameters' moments on this rank";
  }
  return os.str();
}


}  // namespace tg::train
