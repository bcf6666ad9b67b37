// TrainConfig: optimizer-dependent defaults, the checks on settings and combinations, and the
// JSON form (config files and the config.json saved next to each run).
#include "examples/train/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/device.h"
#include "engine/error.h"
#include "examples/train/output_files.h"
#include "optim/schedule.h"

namespace tg::train {

using json = nlohmann::json;

std::string flag_name(const std::string& key) {
  std::string f = "--" + key;
  for (char& ch : f)
    if (ch == '_') ch = '-';
  return f;
}

namespace {

std::string fmt_double(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

void resolve_defaults(TrainConfig& c) {
  // The defaults are the optimizer factory's (optim/factory.h): one table for the CLI and the library.
  optim::OptimizerConfig o = optimizer_config(c);
  const auto names = optim::optimizer_names();
  if (std::find(names.begin(), names.end(), o.name) == names.end()) return;  // validate() names the bad value
  if (o.name != "lamb" && o.name != "lambc") o.preset = "paper";              // only lamb/lambc read the preset
  if (o.preset != "paper" && o.preset != "timm") return;
  o = optim::resolve_optimizer_defaults(o);
  c.lr = o.lr;
  c.weight_decay = o.weight_decay;
  c.beta1 = o.beta1;
  c.beta2 = o.beta2;
  c.eps = o.eps;
  c.momentum = o.momentum;
  c.trust_coefficient = o.trust_coefficient;
  c.clip_min = o.clip_min;
  c.clip_max = o.clip_max;
  c.max_grad_norm = o.max_grad_norm;
}

optim::OptimizerConfig optimizer_config(const TrainConfig& c) {
  optim::OptimizerConfig o;
  o.name = c.optimizer;
  o.preset = c.preset;
  o.lr = c.lr;  // "auto" is NaN in both structs: the factory's default
  o.weight_decay = c.weight_decay;
  o.beta1 = c.beta1;
  o.beta2 = c.beta2;
  o.eps = c.eps;
  o.momentum = c.momentum;
  o.nesterov = c.nesterov;
  o.trust_coefficient = c.trust_coefficient;
  o.larc = c.larc;
  o.clip_min = c.clip_min;
  o.clip_max = c.clip_max;
  o.max_grad_norm = c.max_grad_norm;
  return o;
}

void validate(const TrainConfig& c_in, const std::set<std::string>& explicit_keys, const std::set<std::string>& file_keys) {
  TrainConfig c = c_in;
  resolve_defaults(c);
  if (!(c.comm_timeout > 0)) throw ConfigError("--comm-timeout: must be > 0 seconds, got " + fmt_double(c.comm_timeout));
  if (c.shard_optimizer && (c.optimizer == "novograd" || c.optimizer == "adabelief" || c.optimizer == "adam"))
    throw ConfigError("--shard-optimizer: not available for " + c.optimizer + " (sgd, adamw, lars, lamb, lambc)");
  if (c.shard_optimizer && c.on_nonfinite == "skip")  // each rank would check only its own slice's gradients
    throw ConfigError("--on-nonfinite skip: not available with --shard-optimizer (use stop)");

  // Allowed values of the string fields with a fixed set.
  visit_config(c, [](const FieldInfo& f, auto& value) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::string>) {
      if (f.choices.empty()) return;
      for (const auto& ch : f.choices)
        if (ch == value) return;
      std::string list;
      for (const auto& ch : f.choices) list += (list.empty() ? "" : ", ") + ch;
      throw ConfigError(flag_name(f.key) + ": unknown value '" + value + "' (expected one of: " + list + ")");
    }
  });

  auto require = [](bool ok, const char* key, const std::string& what) {
    if (!ok) throw ConfigError(flag_name(key) + ": " + what);
  };
  require(c.batch_size >= 1, "batch_size", "must be at least 1, got " + std::to_string(c.batch_size));
  require(c.accum_steps >= 1, "accum_steps", "must be at least 1, got " + std::to_string(c.accum_steps));
  require(c.accum_steps <= c.batch_size, "accum_steps",
          std::to_string(c.accum_steps) + " micro-batches cannot split a batch of " + std::to_string(c.batch_size));
  require(c.epochs >= 1, "epochs", "must be at least 1, got " + std::to_string(c.epochs));
  require(c.max_steps >= 0, "max_steps", "must be >= 0");
  require(c.train_subset >= 0, "train_subset", "must be >= 0");
  require(c.test_subset >= 0, "test_subset", "must be >= 0");
  require(c.workers >= 0 && c.workers <= 64, "workers", "must be in [0, 64]");
  require(std::isfinite(c.lr) && c.lr > 0, "lr", "must be a positive number, got " + fmt_double(c.lr));
  require(std::isfinite(c.weight_decay) && c.weight_decay >= 0, "weight_decay", "must be >= 0, got " + fmt_double(c.weight_decay));
  require(c.beta1 >= 0 && c.beta1 < 1, "beta1", "must be in [0, 1), got " + fmt_double(c.beta1));
  require(c.beta2 >= 0 && c.beta2 < 1, "beta2", "must be in [0, 1), got " + fmt_double(c.beta2));
  require(std::isfinite(c.eps) && c.eps > 0, "eps", "must be > 0, got " + fmt_double(c.eps));
  require(c.momentum >= 0 && c.momentum < 1, "momentum", "must be in [0, 1), got " + fmt_double(c.momentum));
  require(std::isfinite(c.trust_coefficient) && c.trust_coefficient > 0, "trust_coefficient", "must be > 0");
  require(c.clip_min >= 0 && std::isfinite(c.clip_min), "clip_min", "must be a finite number >= 0, got " + fmt_double(c.clip_min));
  require(c.clip_max > 0 && c.clip_max >= c.clip_min, "clip_max",
          "must be > 0 and >= --clip-min (" + fmt_double(c.clip_min) + "), got " + fmt_double(c.clip_max));
  require(c.max_grad_norm >= 0 && std::isfinite(c.max_grad_norm), "max_grad_norm", "must be >= 0 (0 = off)");
  require(c.warmup_epochs >= 0 && std::isfinite(c.warmup_epochs), "warmup_epochs", "must be >= 0");
  require(c.label_smoothing >= 0 && c.label_smoothing < 1, "label_smoothing", "must be in [0, 1), got " + fmt_double(c.label_smoothing));
  require(c.threads >= 0 && c.threads <= 1024, "threads", "must be in [0, 1024] (0 = every core)");
  require(c.eval_every >= 1, "eval_every", "must be at least 1");
  require(c.eval_batch_size >= 1, "eval_batch_size", "must be at least 1");
  require(c.keep_checkpoints >= 1, "keep_checkpoints", "must be at least 1");
  require(c.checkpoint_every >= 0, "checkpoint_every", "must be >= 0");
  require(c.log_interval >= 0, "log_interval", "must be >= 0");
  require(c.telemetry_interval >= 0, "telemetry_interval", "must be >= 0");
  require(c.nonfinite_skip_limit >= 1, "nonfinite_skip_limit", "must be at least 1");
  require(!c.data_dir.empty(), "data_dir", "must not be empty");
  require(!c.log_dir.empty(), "log_dir", "must not be empty");
  require(c.run_name.find('/') == std::string::npos, "run_name", "must be a plain name, not a path");

  // The schedule spec (warmup is its own flag).
  require(c.schedule.rfind("warmup", 0) != 0, "schedule", "give the warmup with --warmup-epochs, not in the spec");
  try {
    optim::parse_schedule(c.schedule, 1000000);
  } catch (const std::exception& e) {
    throw ConfigError(flag_name("schedule") + ": " + e.what());
  }

  // Options that only some optimizers read: setting them for another one is a mistake.
  const std::map<std::string, std::set<std::string>> only_for = {
      {"preset", {"lamb", "lambc"}},        {"clip_min", {"lamb", "lambc"}},
      {"clip_max", {"lamb", "lambc"}},
      {"momentum", {"sgd", "lars"}},        {"nesterov", {"sgd", "lars"}},
      {"trust_coefficient", {"lars"}},      {"larc", {"lars"}},
      {"beta1", {"adam", "adamw", "lamb", "lambc", "novograd", "adabelief"}},
      {"beta2", {"adam", "adamw", "lamb", "lambc", "novograd", "adabelief"}},
      {"eps", {"adam", "adamw", "lamb", "lambc", "novograd", "adabelief", "lars"}}};
  // A value from a config file equal to what this optimizer resolves by default is no mistake: a
  // run's saved config.json lists every field (momentum 0.9, larc false, ... for lambc) and must
  // load back. A flag typed on the command line is always checked.
  TrainConfig defaults;
  defaults.optimizer = c.optimizer;
  defaults.preset = c.preset;
  resolve_defaults(defaults);
  const json given = to_json(c), usual = to_json(defaults);
  for (const auto& key : explicit_keys) {
    auto it = only_for.find(key);
    if (it == only_for.end() || it->second.count(c.optimizer)) continue;
    if (file_keys.count(key) && given.contains(key) && usual.contains(key) && given[key] == usual[key]) continue;
    std::string list;
    for (const auto& o : it->second) list += (list.empty() ? "" : ", ") + o;
    throw ConfigError(flag_name(key) + ": not used by optimizer '" + c.optimizer + "' (only by " + list + ")");
  }

  // The device must exist in this build and on this machine.
  Device dev;
  try {
    dev = parse_device(c.device);
  } catch (const std::exception& e) {
    throw ConfigError(flag_name("device") + ": " + e.what());
  }
  require(!(dev.is_cuda() && c.precision == "bf16"), "precision",
          "bf16 is a CPU mode (the CUDA kernels compute in fp32); use --precision fp32 with --device " + c.device);
  if (dev.is_cuda()) {
    require(cuda_built(), "device",
            "'" + c.device + "' requested but this build has no CUDA backend (reconfigure with -DTRUSTGRAD_CUDA=ON where nvcc is installed)");
    require(dev.index < cuda_device_count(), "device",
            "'" + c.device + "' requested but " + std::to_string(cuda_device_count()) + " CUDA device(s) are visible");
  }
  dataset_shape(c.dataset);
}

DatasetShape dataset_shape(const std::string& dataset) {
  if (dataset == "cifar10") return {3, 32, 10};
  if (dataset == "cifar100") return {3, 32, 100};
  if (dataset == "fashion-mnist" || dataset == "mnist") return {1, 28, 10};
  throw ConfigError(flag_name("dataset") + ": unknown dataset '" + dataset + "'");
}

// ---- JSON ----

namespace {

json number_json(double v) {
  if (is_auto(v)) return "auto";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

struct JsonReader {
  const json& in;
  const std::string& source;
  std::set<std::string> seen;

  [[noreturn]] void bad(const FieldInfo& f, const char* want, const json& got) const {
    throw ConfigError(source + ": \"" + f.key + "\" must be " + want + ", got " + got.dump());
  }
  void operator()(const FieldInfo& f, std::string& v) {
    if (!in.contains(f.key)) return;
    const json& j = in[f.key];
    if (!j.is_string()) bad(f, "a string", j);
    v = j.get<std::string>();
    seen.insert(f.key);
  }
  void operator()(const FieldInfo& f, bool& v) {
    if (!in.contains(f.key)) return;
    const json& j = in[f.key];
    if (!j.is_boolean()) bad(f, "true or false", j);
    v = j.get<bool>();
    seen.insert(f.key);
  }
  void operator()(const FieldInfo& f, double& v) {
    if (!in.contains(f.key)) return;
    const json& j = in[f.key];
    if (j.is_number()) {
      v = j.get<double>();
    } else if (j == "auto") {
      v = kAuto;
    } else if (j == "inf" || j == "-inf") {
      v = j == "inf" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
    } else {
      bad(f, "a number (or \"auto\", \"inf\")", j);
    }
    seen.insert(f.key);
  }
  template <class Int>
  void read_int(const FieldInfo& f, Int& v) {
    if (!in.contains(f.key)) return;
    const json& j = in[f.key];
    if (!j.is_number_integer()) bad(f, "an integer", j);
    if constexpr (std::is_unsigned_v<Int>) {
      if (j.is_number_unsigned()) {
        v = j.get<Int>();
      } else {
        if (j.get<int64_t>() < 0) bad(f, "a non-negative integer", j);
        v = static_cast<Int>(j.get<int64_t>());
      }
    } else {
      v = static_cast<Int>(j.get<int64_t>());
    }
    seen.insert(f.key);
  }
  void operator()(const FieldInfo& f, int& v) { read_int(f, v); }
  void operator()(const FieldInfo& f, int64_t& v) { read_int(f, v); }
  void operator()(const FieldInfo& f, uint64_t& v) { read_int(f, v); }
};

}  // namespace

json to_json(const TrainConfig& c_in) {
  TrainConfig c = c_in;
  json out = json::object();
  visit_config(c, [&](const FieldInfo& f, auto& value) {
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<T, double>) {
      out[f.key] = number_json(value);
    } else {
      out[f.key] = value;
    }
  });
  return out;
}

std::set<std::string> apply_json(TrainConfig& c, const json& j, const std::string& source) {
  if (!j.is_object()) throw ConfigError(source + ": a config must be a JSON object of flag names to values");
  std::set<std::string> known;
  visit_config(c, [&](const FieldInfo& f, auto&) { known.insert(f.key); });
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.key().empty() && it.key()[0] == '_') continue;  // "_comment" and friends
    if (!known.count(it.key())) {
      std::string hint;
      std::string dashed = it.key();
      for (char& ch : dashed)
        if (ch == '-') ch = '_';
      if (known.count(dashed)) hint = " (did you mean \"" + dashed + "\"?)";
      throw ConfigError(source + ": unknown setting \"" + it.key() + "\"" + hint);
    }
  }
  JsonReader reader{j, source, {}};
  visit_config(c, reader);
  return reader.seen;
}

std::set<std::string> load_config_file(TrainConfig& c, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("--config: cannot open '" + path + "'");
  json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw ConfigError("--config: '" + path + "' is not valid JSON: " + e.what());
  }
  return apply_json(c, j, path);
}

void save_config_file(const TrainConfig& c, const std::string& path) {
  write_file_atomic(path, to_json(c).dump(2) + "\n");
}

}  // namespace tg::train
