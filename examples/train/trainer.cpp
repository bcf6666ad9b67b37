// Trainer: construction from a config, the step with gradient accumulation, epochs, evaluation,
// metrics, checkpoints and exact resume (see trainer.h).
#include "examples/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>
#include <type_traits>

#include "engine/autograd.h"
#include "nn/clip_grad.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "examples/train/finite_check.h"
#include "examples/train/interrupt.h"
#include "examples/train/report.h"
#include "examples/train/setup.h"
#include "nn/layers_conv.h"
#include "nn/loss.h"
#include "nn/models/factory.h"
#include "optim/telemetry.h"

namespace tg::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Rows [begin, end) of a CPU tensor (B, ...) as a new contiguous tensor (end - begin, ...).
Tensor rows(const Tensor& t, int64_t begin, int64_t end) {
  if (begin == 0 && end == t.size(0)) return t;
  Shape shape = t.shape();
  const int64_t row = t.numel() / shape[0];
  shape[0] = end - begin;
  Tensor out = Tensor::empty(shape);
  std::memcpy(out.data(), t.data() + begin * row, static_cast<size_t>((end - begin) * row) * sizeof(float));
  return out;
}

std::string pct_str(double acc) {
  if (acc < 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%%", 100.0 * acc);
  return buf;
}

double json_num(const nlohmann::json& j, const char* key, double fallback) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

}  // namespace

Trainer::Trainer(TrainConfig c, data::DatasetSplits splits, RunPaths paths, TrainerOptions options)
    : c_(std::move(c)), paths_(std::move(paths)), opt_(options), device_(options.device ? *options.device : parse_device(c_.device)), gen_(c_.seed),
      faults_(options.fail_write_at) {
  resolve_defaults(c_);
  data::Dataset train = std::move(splits.train), test = std::move(splits.test);
  if (c_.train_subset > 0 && c_.train_subset < train.size()) train = data::slice(train, 0, c_.train_subset);
  if (c_.test_subset > 0 && c_.test_subset < test.size()) test = data::slice(test, 0, c_.test_subset);
  TG_CHECK(train.size() > 0 && test.size() > 0, "train: empty dataset (" << train.size() << " training, " << test.size()
                                                                         << " test images)");
  TG_CHECK(train.channels == test.channels && train.height == test.height && train.width == test.width,
           "train: training and test images differ in shape");
  TG_CHECK(train.height == train.width, "train: the models expect square images, got " << train.height << "x" << train.width);

  model_ = nn::make_model(c_.model, static_cast<int>(train.channels), static_cast<int>(train.height),
                          train.num_classes(), gen_);
  divergence_ = DivergenceMonitor(train.num_classes());
  nn::set_conv_precision(*model_, nn::parse_conv_precision(c_.precision));
  if (device_.is_cuda()) model_->to(device_);

  const data::ChannelStats stats = normalization_for(c_.dataset, train);
  const int64_t n_train = train.size();
  if (opt_.group) check_same_settings(*opt_.group, c_, n_train, test.size());  // before any per-rank refusal
  data::LoaderOptions train_options = train_loader_options(c_, stats), test_options = test_loader_options(c_, stats);
  if (opt_.group) {  // each rank reads its slice of the same permutation (and of the test set)
    train_options.rank = test_options.rank = opt_.group->rank();
    train_options.world_size = test_options.world_size = opt_.group->world_size();
  }
  train_loader_ = std::make_unique<data::DataLoader>(std::move(train), train_options);
  test_loader_ = std::make_unique<data::DataLoader>(std::move(test), test_options);
  steps_per_epoch_ = train_loader_->batches_per_epoch();
  TG_CHECK(steps_per_epoch_ > 0, "--batch-size " << c_.batch_size << " is larger than the training set (" << n_train
                                                 << " images); lower it or use more data");
  total_steps_ = c_.epochs * steps_per_epoch_;
  if (c_.max_steps > 0) total_steps_ = std::min(total_steps_, c_.max_steps);

  optimizer_ = make_optimizer(c_, *model_);
  clip_gradients_ = c_.optimizer != "lamb" && c_.optimizer != "lambc" && c_.max_grad_norm > 0;  // c_ is resolved
  // skip: the optimizer refuses a non-finite gradient without touching anything, and this trainer
  // counts it; stop: it throws naming the parameter.
  optimizer_->set_non_finite_policy(c_.on_nonfinite == "skip" ? optim::NonFinitePolicy::kSkip : optim::NonFinitePolicy::kThrow);
  std::shared_ptr<const optim::Schedule> schedule = make_schedule(c_, steps_per_epoch_, total_steps_);
  optimizer_->set_schedule(schedule);
  if (opt_.group) dist_ = std::make_unique<DistributedTraining>(*opt_.group, *model_, *optimizer_, schedule, c_);
  telemetry_interval_ = c_.telemetry_interval > 0 ? c_.telemetry_interval : std::max<int64_t>(1, total_steps_ / 200);

  const int64_t log_interval = c_.log_interval > 0 ? c_.log_interval : std::max<int64_t>(1, steps_per_epoch_ / 10);
  const ProgressMode mode = opt_.quiet ? ProgressMode::kNone : resolve_progress_mode(c_.progress);
  progress_ = std::make_unique<Progress>(mode, *opt_.out, log_interval);
  warnings_to_stderr_ = mode == ProgressMode::kNone;

  if (!paths_.run_dir.empty()) {
    if (paths_.checkpoint_dir.empty()) paths_.checkpoint_dir = (fs::path(paths_.run_dir) / "checkpoints").string();
    checkpoints_ = std::make_unique<CheckpointManager>(paths_.checkpoint_dir, c_.keep_checkpoints, &faults_);
  }
}

Trainer::~Trainer() = default;

void Trainer::say(const std::string& line) {
  if (!opt_.quiet) progress_->message(line);
}

void Trainer::warn(const std::string& line) {
  if (warnings_to_stderr_) {
    std::cerr << "train: " << line << std::endl;  // --progress none (or quiet) hides progress, never a warning
  } else {
    say(line);
  }
}

template <class Self, class Visit>
void Trainer::visit_saved_stats(Self& self, Visit&& visit) {
  visit("epoch_loss_sum", self.epoch_loss_sum_);
  visit("epoch_correct", self.epoch_correct_);
  visit("epoch_count", self.epoch_count_);
  visit("epoch_batches", self.epoch_batches_);
  visit("epoch_train_seconds", self.epoch_train_seconds_);
  visit("best_acc", self.best_acc_);
  visit("best_epoch", self.best_epoch_);
  visit("last_acc", self.last_acc_);
  visit("last_loss", self.last_loss_);
  visit("epochs_done", self.epochs_done_);
  visit("images_seen", self.images_seen_);
  visit("last_lr", self.last_lr_);
  visit("skipped_steps", self.skipped_steps_);
  visit("nonfinite_streak", self.nonfinite_streak_);
  visit("images_offset", self.images_offset_);
  visit("step_offset", self.step_offset_);
}

void Trainer::resume(const LoadedCheckpoint& ck) {
  const int64_t world = opt_.group ? opt_.group->world_size() : 1;
  const std::string world_note = check_resume_world_size(static_cast<int64_t>(json_num(ck.trainer.stats, "world_size", 1)),
                                                         world, static_cast<int64_t>(json_num(ck.trainer.stats, "epoch_batches", 0)),
                                                         c_.max_steps, ck.path);
  // The counters are in the frame of the world size that wrote them: cross-checked when it is this
  // run's (another world size may only resume at an epoch end, checked above).
  if (world_note.empty()) check_checkpoint_counters(ck, steps_per_epoch_, total_steps_, c_.epochs, c_.batch_size * world, c_.drop_last);
  model_->load_state_dict(ck.model, /*strict=*/true, ck.path);
  optimizer_->load_state_dict(ck.optimizer);
  step_ = ck.trainer.step;
  train_loader_->set_state(ck.trainer.loader);
  gen_.set_state(ck.trainer.rng);
  const nlohmann::json& s = ck.trainer.stats;
  // A key absent (a checkpoint of an older version) keeps the member's initial value.
  visit_saved_stats(*this, [&s](const char* key, auto& member) {
    member = static_cast<std::remove_reference_t<decltype(member)>>(json_num(s, key, static_cast<double>(member)));
  });
  train_seconds_ = json_num(s, "train_seconds", 0);
  wall_before_ = json_num(s, "wall_seconds", 0);
  if (s.contains("divergence")) divergence_.set_state(s["divergence"]);
  last_checkpoint_ = ck.path;
  resumed_ = true;
  if (!world_note.empty()) {  // another world size: whole epochs done, counted in this run's steps
    step_ = epochs_done_ * steps_per_epoch_;
    train_loader_->set_state({epochs_done_, 0});
    // The schedule reads the optimizer's step count: scaled into this run's steps, so the lr
    // continues from the same fraction of the run (the old count against the new, shorter run
    // ended it at lr 0),  count_new = round(count_old * steps_per_epoch_new / steps_per_epoch_old).
    // Skipped steps scale with it; step_offset_ keeps the checkpoint's count check exact:
    //   optimizer steps + skipped steps = trainer step + step_offset_.
    const int64_t old_steps_per_epoch = epochs_done_ > 0 ? ck.trainer.step / epochs_done_ : steps_per_epoch_;
    const int64_t count = old_steps_per_epoch > 0
                              ? std::max<int64_t>(0, std::llround(static_cast<double>(optimizer_->step_count()) *
                                                                  static_cast<double>(steps_per_epoch_) /
                                                                  static_cast<double>(old_steps_per_epoch)))
                              : optimizer_->step_count();
    optimizer_->set_step_count(count);
    step_offset_ = count + skipped_steps_ - step_;
    images_offset_ = images_seen_ - step_ * c_.batch_size * (opt_.group ? opt_.group->world_size() : 1);
    say(world_note);
  }
  if (dist_) dist_->after_resume(*optimizer_);  // the shards take the (rebased) state
  if (ck.trainer.threads != get_num_threads())
    say("note: the checkpoint was written with " + std::to_string(ck.trainer.threads) + " threads, this run uses " +
        std::to_string(get_num_threads()) + ": results stay correct but are not bit-identical to an uninterrupted run");
}

TrainerState Trainer::state() const {
  TrainerState st;
  st.step = step_;
  st.loader = train_loader_->state();
  st.rng = gen_.state();
  st.threads = get_num_threads();
  visit_saved_stats(*this, [&st](const char* key, const auto& member) { st.stats[key] = member; });
  // Totals over the sessions of this run (resume() reads them into the earlier-sessions members).
  st.stats["train_seconds"] = train_seconds_ + session_train_seconds_;
  st.stats["wall_seconds"] = wall_before_ + seconds_since(session_start_);
  st.stats["divergence"] = divergence_.state();
  st.stats["world_size"] = opt_.group ? opt_.group->world_size() : 1;
  return st;
}

std::string Trainer::save_checkpoint_now() {
  if (dist_) dist_->prepare_checkpoint(*optimizer_);  // every rank: buffers averaged, sharded state gathered
  if (checkpoints_) {
    flush_logs();  // every row up to this step is on disk before the checkpoint that covers it
    last_checkpoint_ = checkpoints_->save(*model_, *optimizer_, state(), to_json(c_), paths_.run_dir);
  }
  if (dist_) dist_->release_checkpoint_state(*optimizer_);
  return checkpoints_ ? last_checkpoint_ : "";
}

void Trainer::open_logs(bool resumed) {
  if (paths_.run_dir.empty()) return;
  std::error_code ec;
  fs::create_directories(paths_.run_dir, ec);
  if (ec) throw IOError("cannot create run directory '" + paths_.run_dir + "': " + ec.message());
  const fs::path d(paths_.run_dir);
  save_config_file(c_, (d / "config.json").string());
  const std::string steps = (d / "metrics_steps").string(), epochs = (d / "metrics_epochs").string();
  const std::string trust = (d / "trust_ratios.jsonl").string();
  if (resumed) {
    // Drop rows logged after the checkpoint (a kill between a flush and the next checkpoint) and
    // torn lines: steps by step, epochs by the number finished (an epoch row and a checkpoint of
    // its last step, taken before the epoch finished, share a step), trust ratios by the
    // optimizer's step (they differ once non-finite steps were skipped).
    truncate_jsonl_after(steps + ".jsonl", "step", step_);
    truncate_csv_after(steps + ".csv", 0, step_);
    truncate_jsonl_after(epochs + ".jsonl", "epoch", epochs_done_);
    truncate_csv_after(epochs + ".csv", 1, epochs_done_);
    truncate_jsonl_after(trust, "step", optimizer_->step_count());
  } else {
    for (const auto& p : {steps + ".jsonl", steps + ".csv", epochs + ".jsonl", epochs + ".csv", trust}) fs::remove(p, ec);
  }
  step_log_ = std::make_unique<MetricsLog>(
      steps, std::vector<std::string>{"step", "epoch", "loss", "acc", "lr", "grad_norm", "img_per_s", "time_s", "tr_count", "tr_min",
                                      "tr_median", "tr_max", "tr_raw_min", "tr_raw_median", "tr_raw_max",
                                      "clipped_fraction"},
      &faults_);
  epoch_log_ = std::make_unique<MetricsLog>(
      epochs, std::vector<std::string>{"step", "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                                       "img_per_s", "time_s"},
      &faults_);
  trust_log_ = std::make_unique<AppendFile>(trust, &faults_);
}

void Trainer::flush_logs() {
  if (!step_log_) return;
  step_log_->flush();
  epoch_log_->flush();
  trust_log_->flush();
}

std::string Trainer::last_checkpoint_note() const {
  return last_checkpoint_.empty() ? "no checkpoint was written yet"
                                  : "the last checkpoint, '" + last_checkpoint_ + "', is intact";
}

void Trainer::train_step(const data::Batch& batch) {
  // One optimizer step over `batch`, split into k micro-batches of n_i images:
  //   L = sum_i (n_i / B) * mean-loss_i  = the mean loss over the B images, so
  //   grad L = sum_i (n_i / B) grad_i    (summed into .grad by autograd, then one step).
  std::optional<DetectAnomalyGuard> anomaly;  // --detect-anomaly: name the op that makes a NaN (a
  if (c_.detect_anomaly) anomaly.emplace();    // caller's own guard is left alone when the flag is off)
  last_grad_norm_ = std::numeric_limits<double>::quiet_NaN();  // measured below unless the step is refused first
  NamedTensors saved_buffers;  // BN statistics before the forward passes, to undo a skipped step
  if (c_.on_nonfinite == "skip")
    for (const auto& [name, t] : model_->named_buffers()) saved_buffers.emplace_back(name, t.clone());
  optimizer_->zero_grad(/*set_to_none=*/true);
  const int64_t B = batch.size();
  int64_t global_batch = B;  // over every rank
  const int64_t k = std::min<int64_t>(c_.accum_steps, B);
  // Data-parallel: the ranks' gradients are averaged, so rank r's mean loss is weighted by its share
  // of the R images of the global batch, w_r = B_r N / R (1 on every full batch): then
  //   (1/N) sum_r w_r grad(mean loss_r) = (1/R) sum over all R images of grad(loss_i).
  // A kept last partial batch (--no-drop-last) splits unequally (R = 1 over 2 ranks: 0 and 1 image).
  float rank_weight = 1.0f;
  if (dist_) {
    const int64_t R = train_loader_->global_batch_images(batch.batch), N = dist_->group().world_size();
    if (R != B * N) rank_weight = static_cast<float>(static_cast<double>(B * N) / static_cast<double>(R));
  }
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t r0 = B * i / k, r1 = B * (i + 1) / k;
    std::optional<dist::DataParallel::NoSync> no_sync;  // data-parallel: only the last micro-batch syncs
    if (dist_) no_sync.emplace(dist_->ddp(), i + 1 < k);
    const Tensor x = rows(batch.images, r0, r1).to(device_);  // (n_i, C, H, W)
    const Tensor y = rows(batch.labels, r0, r1).to(device_);  // (n_i)
    const Tensor logits = (*model_)(x);                        // (n_i, classes)
    const Tensor loss = nn::cross_entropy(logits, y, static_cast<float>(c_.label_smoothing));
    float scale = k == 1 ? 1.0f : static_cast<float>(r1 - r0) / static_cast<float>(B);
    if (rank_weight != 1.0f) scale *= rank_weight;
    const Tensor scaled = scale == 1.0f ? loss : loss * scale;
    scaled.backward();
    loss_sum += static_cast<double>(loss.item()) * static_cast<double>(r1 - r0);
    correct += nn::topk_correct(logits.detach(), y, 1);
  }
  std::string bad_buffers;  // this rank's first non-finite model buffer, if any
  if (const auto bad = first_non_finite(model_->named_buffers(), "model buffer")) bad_buffers = bad->describe() + " after the forward pass";
  if (dist_) {
    dist_->synchronize();  // gradients averaged over the ranks
    // One all-reduce: the step's loss and accuracy over the global batch, and whether any rank's
    // BN statistics went non-finite (every rank must take the same decision below).
    std::vector<double> totals{loss_sum, static_cast<double>(correct), static_cast<double>(B), bad_buffers.empty() ? 0.0 : 1.0};
    dist_->sum(totals);
    loss_sum = totals[0];
    correct = static_cast<int64_t>(totals[1]);
    global_batch = static_cast<int64_t>(totals[2]);
    if (totals[3] > 0 && bad_buffers.empty())
      bad_buffers = "a model buffer (BatchNorm statistic) of another rank is not finite after the forward pass";
  }
  last_lr_ = dist_ ? dist_->stepping(*optimizer_).scheduled_lr(0) : optimizer_->scheduled_lr(0);
  last_step_loss_ = loss_sum / static_cast<double>(global_batch);
  last_step_acc_ = static_cast<double>(correct) / static_cast<double>(global_batch);
  ++epoch_batches_;

  // Non-finite values are caught before the update (loss, BN statistics, gradients) ...
  std::string why;
  if (!std::isfinite(loss_sum)) {
    why = "the loss is " + value_text(last_step_loss_);
  } else if (!bad_buffers.empty()) {
    why = bad_buffers;
  } else {
    // ||G||, the global 2-norm of the averaged gradients (alike on every rank), logged per step as
    // grad_norm; --max-grad-norm, for the optimizers that do not clip themselves (LAMB and LAMBC do,
    // inside step), then scales by min(max / (||G|| + 1e-6), 1) without measuring again. A
    // non-finite ||G|| scales nothing: the optimizer's check below names the parameter.
    const NamedTensors params = model_->named_parameters();
    last_grad_norm_ = nn::total_grad_norm(params);
    if (clip_gradients_ && std::isfinite(last_grad_norm_)) nn::clip_grads_with_norm_(params, c_.max_grad_norm, last_grad_norm_);
    // --on-nonfinite stop: throws naming the parameter whose gradient is not finite. The averaged
    // gradients are the same on every rank, so every rank takes the same decision.
    if (dist_) {
      dist_->step(*optimizer_);
    } else {
      optimizer_->step();
    }
    if ((dist_ ? dist_->stepping(*optimizer_) : *optimizer_).last_step_skipped()) why = "a gradient holds NaN or Inf";
  }
  last_step_applied_ = why.empty();
  if (!why.empty()) {
    on_non_finite_step(why, saved_buffers);
    return;
  }
  // ... and after it (the weights).
  check_update_finite();
  nonfinite_streak_ = 0;
  divergence_.record_first_loss(last_step_loss_);  // the first applied step's loss; kept afterwards
  epoch_loss_sum_ += loss_sum;
  epoch_correct_ += static_cast<double>(correct);
  epoch_count_ += global_batch;
}

void Trainer::on_non_finite_step(const std::string& why, const NamedTensors& buffers) {
  const std::string at = "step " + std::to_string(step_ + 1) + ": " + why;
  if (c_.on_nonfinite != "skip")
    throw Error(at + "; stopped (--on-nonfinite stop) without saving this state: " + last_checkpoint_note() +
                ". Lower --lr, or pass --on-nonfinite skip to skip such steps (--detect-anomaly names the op where a "
                "NaN or Inf first appears)");
  const NamedTensors live = model_->named_buffers();
  for (size_t i = 0; i < live.size() && i < buffers.size(); ++i) live[i].second.copy_(buffers[i].second);
  optimizer_->zero_grad(/*set_to_none=*/true);
  ++skipped_steps_;
  ++nonfinite_streak_;
  warn("warning: " + at + "; step skipped (" + std::to_string(nonfinite_streak_) + " in a row, " +
      std::to_string(skipped_steps_) + " in all)");
  if (nonfinite_streak_ >= c_.nonfinite_skip_limit)
    throw Error(at + "; " + std::to_string(nonfinite_streak_) + " non-finite steps in a row (--nonfinite-skip-limit " +
                std::to_string(c_.nonfinite_skip_limit) + "): stopped; " + last_checkpoint_note() + ". Lower --lr");
}

void Trainer::check_update_finite() const {
  const auto bad = first_non_finite(model_->named_parameters(), "model parameter");
  if (!bad) return;
  std::string source;
  if (const auto st = first_non_finite(optimizer_->state_dict().tensors, "optimizer state"))
    source = "; its source: " + st->describe();
  throw Error("step " + std::to_string(step_ + 1) + ": the optimizer's update left " + bad->describe() + source +
              "; stopped without saving this state: " + last_checkpoint_note());
}

void Trainer::log_step(double step_seconds, int64_t images) {
  if (!step_log_) return;
  Record r;
  r["step"] = step_;
  r["epoch"] = static_cast<double>(epochs_done_) + static_cast<double>(epoch_batches_) / static_cast<double>(steps_per_epoch_);
  r["loss"] = last_step_loss_;
  r["acc"] = last_step_acc_;
  r["lr"] = last_lr_;
  if (std::isfinite(last_grad_norm_)) r["grad_norm"] = last_grad_norm_;  // before --max-grad-norm's clip
  r["img_per_s"] = step_seconds > 0 ? static_cast<double>(images) / step_seconds : 0.0;
  r["time_s"] = wall_before_ + seconds_since(session_start_);
  const auto& recs = dist_ ? dist_->trust_ratios(*optimizer_) : optimizer_->trust_ratios();
  if (!recs.empty() && last_step_applied_) {  // a skipped step has no ratios (the optimizer keeps the last ones)
    const optim::TrustRatioSummary s = optim::summarize_trust_ratios(recs);
    r["tr_count"] = s.count;
    r["tr_min"] = s.min;
    r["tr_median"] = s.median;
    r["tr_max"] = s.max;
    r["tr_raw_min"] = s.raw_min;
    r["tr_raw_median"] = s.raw_median;
    r["tr_raw_max"] = s.raw_max;
    r["clipped_fraction"] = s.clipped_fraction;
    if (step_ % telemetry_interval_ == 0 || step_ == 1 || step_ == total_steps_) {
      std::ostringstream lines;
      optim::write_jsonl(lines, recs);
      trust_log_->append(lines.str());
    }
  }
  step_log_->append(r);
}

EvalResult Trainer::evaluate() {
  EvalResult ev;
  NoGradGuard no_grad;
  if (dist_) dist_->sync_buffers();  // the same running statistics on every rank
  model_->eval();
  test_loader_->set_epoch(0);
  data::Batch b;
  double loss_sum = 0;
  int64_t correct = 0;
  while (test_loader_->next(b)) {
    if (interrupt_requested()) {
      model_->train();
      return ev;
    }
    const Tensor x = b.images.to(device_), y = b.labels.to(device_);
    const Tensor logits = (*model_)(x);
    loss_sum += static_cast<double>(nn::cross_entropy(logits, y).item()) * static_cast<double>(b.size());
    correct += nn::topk_correct(logits, y, 1);
    ev.count += b.size();
  }
  model_->train();
  if (dist_) {  // each rank evaluated its slice of the test set
    std::vector<double> totals{loss_sum, static_cast<double>(correct), static_cast<double>(ev.count)};
    dist_->sum(totals);
    loss_sum = totals[0];
    correct = static_cast<int64_t>(totals[1]);
    ev.count = static_cast<int64_t>(totals[2]);
  }
  ev.loss = loss_sum / static_cast<double>(std::max<int64_t>(ev.count, 1));
  ev.acc = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(ev.count, 1));
  ev.complete = true;
  return ev;
}

void Trainer::finish_epoch() {
  const int64_t e = epochs_done_;  // 0-based epoch being finished
  const bool last = step_ >= total_steps_;
  const double train_loss = epoch_loss_sum_ / static_cast<double>(std::max<int64_t>(epoch_count_, 1));
  const double train_acc = epoch_correct_ / static_cast<double>(std::max<int64_t>(epoch_count_, 1));
  const double img_s = epoch_train_seconds_ > 0 ? static_cast<double>(epoch_count_) / epoch_train_seconds_ : 0.0;
  EvalResult ev;
  if ((e + 1) % c_.eval_every == 0 || last) ev = evaluate();
  if (ev.complete) {
    last_acc_ = ev.acc;
    last_loss_ = ev.loss;
    if (ev.acc > best_acc_) {
      best_acc_ = ev.acc;
      best_epoch_ = e + 1;
    }
  }
  ++epochs_done_;
  if (epoch_log_) {
    Record r;
    r["step"] = step_;
    r["epoch"] = epochs_done_;
    r["train_loss"] = train_loss;
    r["train_acc"] = train_acc;
    if (ev.complete) {
      r["test_loss"] = ev.loss;
      r["test_acc"] = ev.acc;
    }
    r["lr"] = last_lr_;
    r["img_per_s"] = img_s;
    r["time_s"] = wall_before_ + seconds_since(session_start_);
    epoch_log_->append(r);
    flush_logs();
  }
  char line[320];
  std::snprintf(line, sizeof(line), "epoch %lld/%lld  train loss %.4f acc %s  |  test loss %s acc %s (best %s)  |  %.0f img/s  %s elapsed",
                static_cast<long long>(epochs_done_), static_cast<long long>(c_.epochs), train_loss, pct_str(train_acc).c_str(),
                ev.complete ? std::to_string(ev.loss).substr(0, 6).c_str() : "n/a", ev.complete ? pct_str(ev.acc).c_str() : "n/a",
                pct_str(best_acc_).c_str(), img_s, format_duration(wall_before_ + seconds_since(session_start_)).c_str());
  say(line);
  for (const auto& w : divergence_.on_epoch_end(epochs_done_, train_loss, ev.complete ? ev.acc : -1.0)) warn(w);
  epoch_loss_sum_ = 0;
  epoch_correct_ = 0;
  epoch_count_ = 0;
  epoch_batches_ = 0;
  epoch_train_seconds_ = 0;
  if (c_.reset_each_epoch) dist_ ? dist_->reset_state(*optimizer_) : optimizer_->reset_state();  // the authors' script builds a new optimizer per epoch
  if (!last && !interrupt_requested()) save_checkpoint_now();
}

void Trainer::write_outputs() {
  if (paths_.run_dir.empty()) return;
  const fs::path d(paths_.run_dir);
  flush_logs();
  model_->save((d / "model.safetensors").string(), {{"config", to_json(c_).dump()}});
  if (c_.report) write_report(paths_.run_dir);
}

TrainSummary Trainer::run() {
  try {
    return run_session();
  } catch (const IOError& e) {  // the write-error policy: stop, and say what is safe
    const std::string next = last_checkpoint_.empty() ? " (free space, then run the same command again)"
                                                      : " (free space, then train --resume " + paths_.run_dir + ")";
    throw IOError(std::string(e.what()) + "; training stopped: " + last_checkpoint_note() + next);
  }
}

TrainSummary Trainer::run_session() {
  session_start_ = Clock::now();
  open_logs(resumed_);
  {
    std::ostringstream h;
    h << "train: " << c_.dataset << " (" << train_loader_->dataset().size() << " train / " << test_loader_->dataset().size()
      << " test images), model " << c_.model << " (" << model_->num_parameters() << " parameters), optimizer "
      << optimizer_->name();
    if (c_.optimizer == "lamb" || c_.optimizer == "lambc") h << " [" << c_.preset << ", clip " << c_.clip_min << ".." << c_.clip_max << "]";
    h << ", lr " << c_.lr << ", wd " << c_.weight_decay << "\n       batch " << c_.batch_size;
    if (c_.accum_steps > 1) h << " (" << c_.accum_steps << " micro-batches)";
    h << ", " << c_.epochs << " epochs = " << total_steps_ << " steps, schedule "
      << schedule_spec(c_, steps_per_epoch_, total_steps_) << ", " << device_.str() << ", " << get_num_threads() << " threads";
    if (!paths_.run_dir.empty()) h << "\n       run dir " << paths_.run_dir;
    if (resumed_) h << "\n       resumed at step " << step_ << " from " << last_checkpoint_;
    if (dist_) h << "\n       data-parallel: " << dist_->describe(c_.batch_size, c_.accum_steps);
    say(h.str());
  }

  TrainSummary sum;
  while (step_ < total_steps_) {
    data::Batch b;
    if (!train_loader_->next(b)) {
      finish_epoch();
      if (interrupt_requested()) {
        sum.interrupted = true;
        break;
      }
      continue;
    }
    const auto t0 = Clock::now();
    train_step(b);
    const double dt = seconds_since(t0);
    ++step_;
    images_seen_ += dist_ ? b.size() * dist_->group().world_size() : b.size();
    session_train_seconds_ += dt;
    epoch_train_seconds_ += dt;
    log_step(dt, b.size());

    StepInfo si;
    si.epoch = epochs_done_;
    si.epochs = c_.epochs;
    si.batch = epoch_batches_;
    si.batches = steps_per_epoch_;
    si.step = step_;
    si.total_steps = total_steps_;
    si.loss = epoch_loss_sum_ / static_cast<double>(std::max<int64_t>(epoch_count_, 1));
    si.acc = epoch_correct_ / static_cast<double>(std::max<int64_t>(epoch_count_, 1));
    si.images_per_s = epoch_train_seconds_ > 0 ? static_cast<double>(epoch_count_) / epoch_train_seconds_ : 0.0;
    si.lr = last_lr_;
    const double per_step = (train_seconds_ + session_train_seconds_) / static_cast<double>(std::max<int64_t>(step_, 1));
    si.eta_s = per_step * static_cast<double>(total_steps_ - step_);
    if (dist_) si.comm_share = dist_->comm_wait_seconds() / std::max(session_train_seconds_, 1e-9);
    progress_->step(si);

    if (c_.checkpoint_every > 0 && step_ % c_.checkpoint_every == 0 && step_ < total_steps_) save_checkpoint_now();
    if (interrupt_requested() || (opt_.stop_at_step > 0 && step_ == opt_.stop_at_step)) {
      sum.interrupted = true;
      break;
    }
  }
  if (!sum.interrupted && epoch_batches_ > 0) finish_epoch();  // the last (or a max_steps-cut) epoch
  save_checkpoint_now();

  sum.steps = step_;
  sum.total_steps = total_steps_;
  sum.epochs_done = epochs_done_;
  sum.final_test_acc = last_acc_;
  sum.final_test_loss = last_loss_;
  sum.best_test_acc = best_acc_;
  sum.best_epoch = best_epoch_;
  sum.wall_s = wall_before_ + seconds_since(session_start_);
  const double train_s = train_seconds_ + session_train_seconds_;
  sum.images_seen = images_seen_;
  sum.images_per_s = train_s > 0 ? static_cast<double>(images_seen_) / train_s : 0.0;
  sum.last_checkpoint = last_checkpoint_;
  sum.skipped_steps = skipped_steps_;
  sum.warnings = divergence_.warnings();
  if (dist_) sum.comm_wait_share = dist_->comm_wait_seconds() / std::max(session_train_seconds_, 1e-9);
  if (!paths_.run_dir.empty()) {
    nlohmann::ordered_json j;
    j["steps"] = sum.steps;
    j["total_steps"] = sum.total_steps;
    j["epochs_done"] = sum.epochs_done;
    j["final_test_acc"] = sum.final_test_acc;
    j["final_test_loss"] = sum.final_test_loss;
    j["best_test_acc"] = sum.best_test_acc;
    j["best_epoch"] = sum.best_epoch;
    j["wall_s"] = sum.wall_s;
    j["images_per_s"] = sum.images_per_s;
    j["images_seen"] = sum.images_seen;
    j["interrupted"] = sum.interrupted;
    j["threads"] = get_num_threads();
    j["last_checkpoint"] = sum.last_checkpoint;
    j["skipped_steps"] = sum.skipped_steps;
    j["diverged"] = divergence_.diverged();
    j["warnings"] = sum.warnings;
    if (dist_) {
      j["world_size"] = dist_->group().world_size();
      j["comm_wait_share"] = sum.comm_wait_share;
    }
    write_file_atomic((fs::path(paths_.run_dir) / "summary.json").string(), j.dump(2) + "\n", &faults_);
  }
  write_outputs();
  return sum;
}

}  // namespace tg::train
