// TrainConfig: every setting of the train program in one struct, one field list shared by the
// command line, the JSON config file (saved next to each run) and the checks on bad combinations.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "optim/factory.h"

namespace tg::train {

// "auto": the value depends on other settings (the optimizer's default lr, eps, ...) and is filled
// in by resolve_defaults(). Stored as NaN; never written to a saved config (resolved first).
inline constexpr double kAuto = std::numeric_limits<double>::quiet_NaN();
inline bool is_auto(double v) { return std::isnan(v); }

struct TrainConfig {
  // ---- data ----
  std::string dataset = "cifar10";   // cifar10 | cifar100 | fashion-mnist | mnist
  std::string data_dir = "data";
  std::string augment = "auto";      // auto (crop+flip for CIFAR, none for MNIST-likes) | none | flip | crop-flip
  int64_t train_subset = 0;          // use the first N training images (0 = all)
  int64_t test_subset = 0;           // evaluate on the first N test images (0 = all)
  int workers = 1;                   // background data-loading threads (0 = load on the training thread)

  // ---- model ----
  std::string model = "small";       // small | resnet18 | airbench

  // ---- optimizer ----
  std::string optimizer = "lambc";   // sgd | adam | adamw | lars | lamb | lambc | novograd | adabelief (optim/factory.h)
  std::string preset = "paper";      // lamb / lambc: paper (authors' code) | timm
  double lr = kAuto;
  double weight_decay = kAuto;
  double beta1 = kAuto, beta2 = kAuto;
  double eps = kAuto;
  double momentum = kAuto;           // sgd, lars
  bool nesterov = false;             // sgd, lars
  double trust_coefficient = kAuto;  // lars
  bool larc = false;                 // lars: LARC clipping min(ratio / lr, 1)
  double clip_min = kAuto;           // lamb, lambc: r = clamp(r, clip_min, clip_max)
  double clip_max = kAuto;           // lambc: 1, lamb: inf
  double max_grad_norm = kAuto;      // lamb, lambc: global gradient clipping (paper 0 = off, timm 1)

  // ---- batch, schedule, loss ----
  int64_t batch_size = 512;          // images per optimizer step
  int64_t accum_steps = 1;           // micro-batches per step (gradient accumulation)
  bool drop_last = true;             // drop the last partial training batch of an epoch (false: train on it, as PyTorch's default)
  int64_t epochs = 10;
  int64_t max_steps = 0;             // stop after this many optimizer steps (0 = epochs decide)
  std::string schedule = "cosine";   // optim::parse_schedule spec without warmup
  double warmup_epochs = 1.0;        // linear warmup from 0, in epochs (fractions allowed)
  double label_smoothing = 0.0;
  bool reset_each_epoch = false;     // forget the optimizer moments every epoch (the LAMBC authors' script)
  uint64_t seed = 0;

  // ---- runtime ----
  int threads = 0;                   // 0 = every core
  std::string device = "cpu";        // cpu | cuda | cuda:N
  std::string precision = "fp32";     // conv GEMMs: fp32 | bf16 (bfloat16 operands, fp32 sums; CPU only)
  std::string kernels = "auto";      // CPU kernels: auto (TG_KERNELS, else fast) | fast | reference (engine/cpu/kernel_mode.h)
  int64_t eval_every = 1;            // evaluate on the test set every N epochs (and at the end)
  int64_t eval_batch_size = 1000;
  std::string log_dir = "runs";
  std::string run_name;              // empty: <dataset>-<model>-<optimizer>-<timestamp>
  std::string checkpoint_dir;        // empty: <log_dir>/<run_name>/checkpoints
  int64_t checkpoint_every = 0;      // also every N steps (0 = at epoch ends only)
  int64_t keep_checkpoints = 3;
  std::string resume;                // checkpoint file, checkpoint dir or run dir
  std::string progress = "auto";     // auto (bar on a terminal, else lines) | bar | plain | none
  int64_t log_interval = 0;          // plain-line interval in steps (0 = about 10 per epoch)
  int64_t telemetry_interval = 0;    // per-layer trust-ratio records every N steps (0 = ~200 per run)
  bool report = true;                // write report.html at the end
  std::string on_nonfinite = "stop"; // a step with a NaN/Inf loss, gradient or BN statistic: stop | skip
  int64_t nonfinite_skip_limit = 10; // with skip: stop after this many such steps in a row
  bool detect_anomaly = false;       // name the first op whose output or gradient turns NaN/Inf (slow; tg::DetectAnomalyGuard)
  bool shard_optimizer = false;      // under mpirun: ZeRO-1, each rank keeps 1/N of the optimizer state
  double comm_timeout = 300;         // under mpirun: seconds a collective may wait before failing
};

// One field of the config: its JSON key (the flag is "--" + key with '_' -> '-'), help text,
// allowed values (empty = any), and whether it may differ when resuming (runtime-only settings).
struct FieldInfo {
  const char* key;
  const char* help;
  std::vector<std::string> choices = {};
  bool runtime = false;
};

// Calls v(info, field) for every field, in --help order. The single list of settings.
template <class Visitor>
void visit_config(TrainConfig& c, Visitor&& v) {
  v(FieldInfo{"dataset", "Dataset", {"cifar10", "cifar100", "fashion-mnist", "mnist"}}, c.dataset);
  v(FieldInfo{"data_dir", "Directory holding the datasets (see datasets/find_data.h for the places tried)"}, c.data_dir);
  v(FieldInfo{"augment", "Augmentation: auto = crop+flip for CIFAR, none for (Fashion-)MNIST",
              {"auto", "none", "flip", "crop-flip"}}, c.augment);
  v(FieldInfo{"train_subset", "Train on the first N training images only (0 = all)"}, c.train_subset);
  v(FieldInfo{"test_subset", "Evaluate on the first N test images only (0 = all)"}, c.test_subset);
  v(FieldInfo{"workers", "Background data-loading threads (0 = on the training thread)", {}, true}, c.workers);
  v(FieldInfo{"model", "Model", {"small", "resnet18", "airbench"}}, c.model);
  v(FieldInfo{"optimizer", "Optimizer", {"sgd", "adam", "adamw", "lars", "lamb", "lambc", "novograd", "adabelief"}}, c.optimizer);
  v(FieldInfo{"preset", "LAMB/LAMBC preset: paper (authors' code: no bias correction, all tensors adapted) or timm",
              {"paper", "timm"}}, c.preset);
  v(FieldInfo{"lr", "Peak learning rate (auto: lambc/lamb/novograd 0.01, sgd 0.1, lars 1, adam/adamw/adabelief 0.001)"}, c.lr);
  v(FieldInfo{"weight_decay", "Weight decay (auto: lamb/lambc paper 0, timm 0.01; adamw 0.01, sgd/lars 5e-4, novograd 0.001, adam/adabelief 0)"},
    c.weight_decay);
  v(FieldInfo{"beta1", "First-moment decay (auto: 0.9; novograd 0.95)"}, c.beta1);
  v(FieldInfo{"beta2", "Second-moment decay (auto: 0.999; novograd 0.98)"}, c.beta2);
  v(FieldInfo{"eps", "Denominator epsilon (auto: lamb/lambc 1e-6, adabelief 1e-16, others 1e-8)"}, c.eps);
  v(FieldInfo{"momentum", "sgd/lars momentum (auto: 0.9)"}, c.momentum);
  v(FieldInfo{"nesterov", "sgd/lars: Nesterov momentum"}, c.nesterov);
  v(FieldInfo{"trust_coefficient", "lars trust coefficient eta (auto: 0.001)"}, c.trust_coefficient);
  v(FieldInfo{"larc", "lars: LARC clipping, ratio = min(ratio / lr, 1)"}, c.larc);
  v(FieldInfo{"clip_min", "lamb/lambc: lower trust-ratio bound (auto: 0)"}, c.clip_min);
  v(FieldInfo{"clip_max", "lamb/lambc: upper trust-ratio bound (auto: lambc 1, lamb inf)"}, c.clip_max);
  v(FieldInfo{"max_grad_norm", "Global gradient-norm clip, 0 = off (auto: lamb/lambc timm 1, otherwise 0); lamb/lambc clip inside "
              "the optimizer (timm's rule), the others with nn::clip_grad_norm_ (PyTorch's)"},
    c.max_grad_norm);
  v(FieldInfo{"batch_size", "Images per optimizer step"}, c.batch_size);
  v(FieldInfo{"accum_steps", "Gradient accumulation: split each batch into this many micro-batches"}, c.accum_steps);
  v(FieldInfo{"drop_last", "Drop the last partial training batch of each epoch (--no-drop-last trains on it, as the LAMBC authors' script)"},
    c.drop_last);
  v(FieldInfo{"epochs", "Training epochs"}, c.epochs);
  v(FieldInfo{"max_steps", "Stop after this many optimizer steps; the schedule spans them (0 = epochs decide)"}, c.max_steps);
  v(FieldInfo{"schedule", "LR schedule after warmup: constant | cosine[:MIN] | poly[:POWER] | linear | step:SIZE:GAMMA | onecycle[:PCT]"},
    c.schedule);
  v(FieldInfo{"warmup_epochs", "Linear warmup from 0 over this many epochs (fractions allowed)"}, c.warmup_epochs);
  v(FieldInfo{"label_smoothing", "Label smoothing of the cross-entropy, in [0, 1)"}, c.label_smoothing);
  v(FieldInfo{"reset_each_epoch", "Forget the optimizer moments at each epoch start, as the LAMBC authors' script does"},
    c.reset_each_epoch);
  v(FieldInfo{"seed", "Seed of the model init and the data order"}, c.seed);
  v(FieldInfo{"threads", "CPU threads (0 = every core); resume is bit-exact with the same count", {}, true}, c.threads);
  v(FieldInfo{"device", "Device: cpu, cuda or cuda:N (under mpirun: cuda, one GPU per rank by local rank)", {}, true}, c.device);
  v(FieldInfo{"precision",
              "Conv GEMM arithmetic: fp32, or bf16 (bfloat16 operands, fp32 sums, fp32 weights; fast where the CPU has AMX; "
              "CPU only)",
              {"fp32", "bf16"}}, c.precision);
  v(FieldInfo{"kernels", "CPU kernels: fast, or reference (plain loops to read and step through; slow); auto = TG_KERNELS, else fast",
              {"auto", "fast", "reference"}, true}, c.kernels);
  v(FieldInfo{"eval_every", "Evaluate on the test set every N epochs (and always at the end)", {}, true}, c.eval_every);
  v(FieldInfo{"eval_batch_size", "Batch size of the evaluation", {}, true}, c.eval_batch_size);
  v(FieldInfo{"log_dir", "Where run directories are created", {}, true}, c.log_dir);
  v(FieldInfo{"run_name", "Run directory name (default <dataset>-<model>-<optimizer>-<time>)", {}, true}, c.run_name);
  v(FieldInfo{"checkpoint_dir", "Checkpoint directory (default <run dir>/checkpoints)", {}, true}, c.checkpoint_dir);
  v(FieldInfo{"checkpoint_every", "Also checkpoint every N steps (0 = at epoch ends only)", {}, true}, c.checkpoint_every);
  v(FieldInfo{"keep_checkpoints", "Keep the last K checkpoints", {}, true}, c.keep_checkpoints);
  v(FieldInfo{"resume", "Resume from a checkpoint file, a checkpoint directory or a run directory", {}, true}, c.resume);
  v(FieldInfo{"progress", "Progress display: auto (bar on a terminal, lines otherwise)", {"auto", "bar", "plain", "none"}, true},
    c.progress);
  v(FieldInfo{"log_interval", "Steps between plain progress lines (0 = about 10 per epoch)", {}, true}, c.log_interval);
  v(FieldInfo{"telemetry_interval", "Steps between per-layer trust-ratio records (0 = about 200 per run)", {}, true},
    c.telemetry_interval);
  v(FieldInfo{"report", "Write report.html (inline SVG charts) at the end", {}, true}, c.report);
  v(FieldInfo{"on_nonfinite", "A step whose loss, gradients or BN statistics hold NaN/Inf: stop (error) or skip it",
              {"stop", "skip"}, true}, c.on_nonfinite);
  v(FieldInfo{"nonfinite_skip_limit", "With --on-nonfinite skip: stop after this many non-finite steps in a row", {}, true},
    c.nonfinite_skip_limit);
  v(FieldInfo{"detect_anomaly", "Debugging NaN/Inf: name the first op whose output or gradient turns non-finite (checks every op; slow)",
              {}, true},
    c.detect_anomaly);
  v(FieldInfo{"shard_optimizer", "Under mpirun: shard the optimizer state over the ranks (ZeRO-1; sgd, adamw, lars, lamb, lambc)",
              {}, true}, c.shard_optimizer);
  v(FieldInfo{"comm_timeout", "Under mpirun: seconds a collective may wait for the other ranks before the job fails", {}, true},
    c.comm_timeout);
}

// Thrown for a bad setting or combination; what() is one line naming the flag.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& what) : std::runtime_error(what) {}
};

// "batch_size" -> "--batch-size".
std::string flag_name(const std::string& key);

// Fills the auto values from the optimizer factory's defaults (optim/factory.h: the one table, so
// the CLI's names and defaults are the library's). Idempotent.
void resolve_defaults(TrainConfig& c);
// The optimizer settings of `c` as the factory's options struct (auto values stay NaN = default).
optim::OptimizerConfig optimizer_config(const TrainConfig& c);

// Checks every setting and combination; throws ConfigError with one line naming the flag.
// `explicit_keys`: fields the user set (command line or config file); options given for an
// optimizer that ignores them (e.g. --clip-max with sgd) are errors.
void validate(const TrainConfig& c, const std::set<std::string>& explicit_keys = {},
              const std::set<std::string>& file_keys = {});

// JSON with every field (auto values resolved or written as "auto"; +-inf as "inf"/"-inf").
nlohmann::json to_json(const TrainConfig& c);
// Applies the keys of `j` onto `c`; unknown keys and wrong types throw ConfigError naming them.
// Returns the keys that were set.
std::set<std::string> apply_json(TrainConfig& c, const nlohmann::json& j, const std::string& source);
// Reads a JSON config file onto `c` (throws ConfigError naming the path on any problem).
std::set<std::string> load_config_file(TrainConfig& c, const std::string& path);
// Writes to_json(c) (pretty) to `path`, atomically.
void save_config_file(const TrainConfig& c, const std::string& path);

// The (channels, side, classes) of a dataset name; throws ConfigError for unknown names.
struct DatasetShape {
  int channels, side, classes;
};
DatasetShape dataset_shape(const std::string& dataset);

}  // namespace tg::train
