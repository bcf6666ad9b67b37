// Checkpoint save / load / listing / pruning (see checkpoint.h for the file layout).
#include "examples/train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/error.h"
#include "nn/safetensors.h"

namespace tg::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kFormat = "trustgrad.train.v1";
constexpr const char* kModelPrefix = "model/";
constexpr const char* kOptimPrefix = "optim/";
constexpr const char* kOptimMetaPrefix = "optim.";

const std::string& meta(const nn::Metadata& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  if (it == m.end()) throw IOError("checkpoint '" + path + "' has no metadata entry '" + key + "' (not a train checkpoint?)");
  return it->second;
}

json meta_json(const nn::Metadata& m, const std::string& key, const std::string& path) {
  try {
    return json::parse(meta(m, key, path));
  } catch (const json::exception& e) {
    throw IOError("checkpoint '" + path + "': metadata '" + key + "' is not valid JSON: " + e.what());
  }
}

// Step of "ckpt-<digits>.safetensors", or -1.
int64_t step_of(const std::string& file_name) {
  const std::string pre = "ckpt-", post = ".safetensors";
  if (file_name.size() <= pre.size() + post.size() || file_name.rfind(pre, 0) != 0 ||
      file_name.compare(file_name.size() - post.size(), post.size(), post) != 0)
    return -1;
  const std::string digits = file_name.substr(pre.size(), file_name.size() - pre.size() - post.size());
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) return -1;
  return std::stoll(digits);
}

}  // namespace

std::string checkpoint_file_name(int64_t step) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "ckpt-%08lld.safetensors", static_cast<long long>(step));
  return buf;
}

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& optimizer,
                     const TrainerState& st, const json& config, const std::string& run_dir) {
  nn::TensorMap tensors;
  for (const auto& [name, t] : model.state_dict()) tensors.emplace_back(kModelPrefix + name, t);
  optim::StateDict osd = optimizer.state_dict();
  for (auto& [name, t] : osd.tensors) tensors.emplace_back(kOptimPrefix + name, t);

  nn::Metadata m;
  for (const auto& [k, v] : osd.metadata) m[kOptimMetaPrefix + k] = v;
  json rng = json::array();
  for (uint64_t w : st.rng) rng.push_back(w);
  m["trainer.format"] = kFormat;
  m["trainer.step"] = std::to_string(st.step);
  m["trainer.loader_epoch"] = std::to_string(st.loader.epoch);
  m["trainer.loader_batch"] = std::to_string(st.loader.batch);
  m["trainer.rng"] = rng.dump();
  m["trainer.threads"] = std::to_string(st.threads);
  m["trainer.stats"] = st.stats.dump();
  m["trainer.config"] = config.dump();
  m["trainer.run_dir"] = run_dir;
  nn::save_safetensors(path, tensors, m);
}

LoadedCheckpoint load_checkpoint(const std::string& path) {
  nn::SafetensorsFile f = nn::load_safetensors(path);
  const nn::Metadata& m = f.metadata;
  if (meta(m, "trainer.format", path) != kFormat)
    throw IOError("checkpoint '" + path + "' has format '" + meta(m, "trainer.format", path) + "', expected " + kFormat);
  LoadedCheckpoint c;
  c.path = path;
  const std::string mp = kModelPrefix, op = kOptimPrefix;
  for (auto& [name, t] : f.tensors) {
    if (name.rfind(mp, 0) == 0) {
      c.model.emplace_back(name.substr(mp.size()), t);
    } else if (name.rfind(op, 0) == 0) {
      c.optimizer.tensors.emplace_back(name.substr(op.size()), t);
    } else {
      throw IOError("checkpoint '" + path + "' holds unexpected tensor '" + name + "'");
    }
  }
  const std::string omp = kOptimMetaPrefix;
  for (const auto& [k, v] : m)
    if (k.rfind(omp, 0) == 0) c.optimizer.metadata[k.substr(omp.size())] = v;
  try {
    c.trainer.step = std::stoll(meta(m, "trainer.step", path));
    c.trainer.loader.epoch = std::stoll(meta(m, "trainer.loader_epoch", path));
    c.trainer.loader.batch = std::stoll(meta(m, "trainer.loader_batch", path));
    c.trainer.threads = std::stoi(meta(m, "trainer.threads", path));
  } catch (const std::logic_error&) {
    throw IOError("checkpoint '" + path + "': a trainer counter is not an integer");
  }
  const json rng = meta_json(m, "trainer.rng", path);
  if (!rng.is_array() || rng.size() != 6) throw IOError("checkpoint '" + path + "': trainer.rng must hold 6 words");
  for (size_t i = 0; i < 6; ++i) {
    if (!rng[i].is_number_unsigned()) throw IOError("checkpoint '" + path + "': trainer.rng word is not an unsigned integer");
    c.trainer.rng[i] = rng[i].get<uint64_t>();
  }
  c.trainer.stats = meta_json(m, "trainer.stats", path);
  c.config = meta_json(m, "trainer.config", path);
  c.run_dir = meta(m, "trainer.run_dir", path);
  return c;
}

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    const int64_t step = step_of(e.path().filename().string());
    if (step >= 0) out.emplace_back(step, e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string resolve_checkpoint(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return path;
  if (!fs::is_directory(path, ec)) throw Error("--resume: '" + path + "' is neither a checkpoint file nor a directory");
  auto here = list_checkpoints(path);
  if (!here.empty()) return here.back().second;
  const std::string sub = (fs::path(path) / "checkpoints").string();
  auto below = list_checkpoints(sub);
  if (!below.empty()) return below.back().second;
  throw Error("--resume: no ckpt-*.safetensors in '" + path + "' or '" + sub + "'");
}

CheckpointManager::CheckpointManager(std::string dir, int64_t keep) : dir_(std::move(dir)), keep_(std::max<int64_t>(keep, 1)) {}

std::string CheckpointManager::save(const nn::Module& model, const optim::Optimizer& optimizer, const TrainerState& state,
                                    const json& config, const std::string& run_dir) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw IOError("cannot create checkpoint directory '" + dir_ + "': " + ec.message());
  const std::string path = (fs::path(dir_) / checkpoint_file_name(state.step)).string();
  save_checkpoint(path, model, optimizer, state, config, run_dir);
  auto all = list_checkpoints(dir_);
  for (size_t i = 0; i + static_cast<size_t>(keep_) < all.size(); ++i) fs::remove(all[i].second, ec);
  return path;
}

}  // namespace tg::train
