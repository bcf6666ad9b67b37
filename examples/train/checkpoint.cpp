// Checkpoint save / load / listing / pruning (see checkpoint.h for the file layout).
#include "examples/train/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "examples/train/finite_check.h"
#include "io/safetensors.h"

namespace tg::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kFormat = "trustgrad.train.v1";
constexpr const char* kModelPrefix = "model/";
constexpr const char* kOptimPrefix = "optim/";
constexpr const char* kOptimMetaPrefix = "optim.";

const std::string& meta(const io::Metadata& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  if (it == m.end()) throw IOError("checkpoint '" + path + "' has no metadata entry '" + key + "' (not a train checkpoint?)");
  return it->second;
}

json meta_json(const io::Metadata& m, const std::string& key, const std::string& path) {
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

// The first tensor of a (valid) safetensors file whose dtype is not F32, or "": train checkpoints
// hold float32 only, so another dtype means the file was altered (e.g. float data relabelled I32,
// which the loader would convert as integers).
std::string first_non_f32_tensor(const std::string& path, std::string& dtype) {
  std::ifstream in(path, std::ios::binary);
  unsigned char len_bytes[8] = {};
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  std::string header(static_cast<size_t>(n), '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  const json h = json::parse(header);  // load_safetensors has validated it already
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    dtype = it.value().value("dtype", "");
    if (dtype != "F32") return it.key();
  }
  return "";
}

int64_t meta_int(const io::Metadata& m, const std::string& key, const std::string& path) {
  const std::string& text = meta(m, key, path);
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::logic_error&) {
  }
  throw IOError("checkpoint '" + path + "': metadata '" + key + "' = '" + text + "' is not an integer");
}

// Counters beyond +-2^53 are refused before they are added or subtracted (no signed overflow).
bool out_of_range(int64_t counter) {
  constexpr int64_t kBound = int64_t{1} << 53;
  return counter < -kBound || counter > kBound;
}

[[noreturn]] void bad_counter(const std::string& path, const std::string& what) {
  throw Error("checkpoint '" + path + "' is inconsistent: " + what + " (the file was altered or written by a broken run)");
}

// An integer of trainer.stats (0 when absent, as in checkpoints of older versions).
int64_t stat_int(const json& stats, const char* key, const std::string& path) {
  if (!stats.contains(key)) return 0;
  const json& v = stats[key];
  if (!v.is_number_integer()) bad_counter(path, std::string("trainer.stats.") + key + " is not an integer: " + v.dump());
  return v.get<int64_t>();
}

}  // namespace

std::string checkpoint_file_name(int64_t step) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "ckpt-%08lld.safetensors", static_cast<long long>(step));
  return buf;
}

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& optimizer,
                     const TrainerState& st, const json& config, const std::string& run_dir) {
  optim::StateDict osd = optimizer.state_dict();
  std::optional<NonFiniteTensor> bad = first_non_finite(model.named_parameters(), "model parameter");
  if (!bad) bad = first_non_finite(model.named_buffers(), "model buffer");
  if (!bad) bad = first_non_finite(osd.tensors, "optimizer state");
  if (bad)
    throw Error("refusing to write checkpoint '" + path + "' at step " + std::to_string(st.step) + ": " + bad->describe() +
                "; the earlier checkpoints are kept");
  NamedTensors tensors;
  for (const auto& [name, t] : model.state_dict()) tensors.emplace_back(kModelPrefix + name, t);
  for (auto& [name, t] : osd.tensors) tensors.emplace_back(kOptimPrefix + name, t);

  io::Metadata m;
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
  io::save_safetensors(path, tensors, m);
}

LoadedCheckpoint load_checkpoint(const std::string& path) {
  io::SafetensorsFile f = io::load_safetensors(path);
  const io::Metadata& m = f.metadata;
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
  c.trainer.step = meta_int(m, "trainer.step", path);
  c.trainer.loader.epoch = meta_int(m, "trainer.loader_epoch", path);
  c.trainer.loader.batch = meta_int(m, "trainer.loader_batch", path);
  const int64_t threads = meta_int(m, "trainer.threads", path);
  if (c.trainer.step < 0) bad_counter(path, "trainer.step is " + std::to_string(c.trainer.step));
  if (c.trainer.loader.epoch < 0 || c.trainer.loader.batch < 0)
    bad_counter(path, "the loader position (epoch " + std::to_string(c.trainer.loader.epoch) + ", batch " +
                          std::to_string(c.trainer.loader.batch) + ") is negative");
  if (threads < 1 || threads > 1024) bad_counter(path, "trainer.threads is " + std::to_string(threads));
  c.trainer.threads = static_cast<int>(threads);
  const json rng = meta_json(m, "trainer.rng", path);
  if (!rng.is_array() || rng.size() != 6) throw IOError("checkpoint '" + path + "': trainer.rng must hold 6 words");
  for (size_t i = 0; i < 6; ++i) {
    if (!rng[i].is_number_unsigned()) throw IOError("checkpoint '" + path + "': trainer.rng word is not an unsigned integer");
    c.trainer.rng[i] = rng[i].get<uint64_t>();
  }
  c.trainer.stats = meta_json(m, "trainer.stats", path);
  if (!c.trainer.stats.is_object()) bad_counter(path, "trainer.stats is not a JSON object");
  c.config = meta_json(m, "trainer.config", path);
  c.run_dir = meta(m, "trainer.run_dir", path);

  // Cross-checks: dtypes as written, the optimizer's counter against the trainer's, finite values.
  std::string dtype;
  const std::string odd = first_non_f32_tensor(path, dtype);
  if (!odd.empty()) bad_counter(path, "tensor '" + odd + "' has dtype " + dtype + "; train checkpoints hold F32 only");
  const int64_t optim_step = meta_int(m, "optim.step", path);
  const int64_t skipped = stat_int(c.trainer.stats, "skipped_steps", path);
  // A run resumed at another world size counts its optimizer steps scaled (trainer.cpp, step_offset).
  const int64_t offset = stat_int(c.trainer.stats, "step_offset", path);
  if (skipped < 0 || optim_step < 0 || out_of_range(skipped) || out_of_range(optim_step) || out_of_range(offset) ||
      out_of_range(c.trainer.step) || optim_step + skipped != c.trainer.step + offset)
    bad_counter(path, "the optimizer has made " + std::to_string(optim_step) + " steps and the trainer skipped " +
                          std::to_string(skipped) + ", but the trainer is at step " + std::to_string(c.trainer.step) +
                          (offset != 0 ? " with a step offset of " + std::to_string(offset) : std::string()));
  std::optional<NonFiniteTensor> bad = first_non_finite(c.model, "model tensor");
  if (!bad) bad = first_non_finite(c.optimizer.tensors, "optimizer state");
  if (bad) bad_counter(path, bad->describe());
  return c;
}

void check_checkpoint_counters(const LoadedCheckpoint& ck, int64_t spe, int64_t total_steps, int64_t epochs, int64_t batch_size,
                               bool drop_last) {
  const TrainerState& t = ck.trainer;
  const auto stat = [&](const char* key) { return stat_int(t.stats, key, ck.path); };
  const int64_t step = t.step, done = stat("epochs_done"), in_epoch = stat("epoch_batches");
  const std::string at = "step " + std::to_string(step);
  if (step > total_steps) bad_counter(ck.path, at + " is past this run's " + std::to_string(total_steps) + " steps");
  if (t.loader.batch > spe || t.loader.epoch * spe + t.loader.batch != step)
    bad_counter(ck.path, "the loader is at epoch " + std::to_string(t.loader.epoch) + " batch " + std::to_string(t.loader.batch) +
                             " of " + std::to_string(spe) + ", which is not " + at);
  if (done < 0 || done > epochs) bad_counter(ck.path, "epochs_done is " + std::to_string(done) + " in a run of " + std::to_string(epochs) + " epochs");
  // Within an epoch: done * spe + batches == step. After a run cut by --max-steps mid-epoch, the
  // last (partial) epoch is finished: done == loader epoch + 1 with no batch pending.
  const bool running = in_epoch >= 0 && in_epoch <= spe && done * spe + in_epoch == step;
  const bool cut_end = step == total_steps && in_epoch == 0 && done == t.loader.epoch + 1;
  if (!running && !cut_end)
    bad_counter(ck.path, "epochs_done " + std::to_string(done) + " and epoch_batches " + std::to_string(in_epoch) +
                             " do not add up to " + at + " (" + std::to_string(spe) + " steps per epoch)");
  // Images in earlier world sizes' epochs are counted apart (trainer.cpp, images_offset).
  const int64_t offset = stat("images_offset"), seen_all = stat("images_seen");
  if (out_of_range(offset) || out_of_range(seen_all))
    bad_counter(ck.path, "images_seen " + std::to_string(seen_all) + " or images_offset " + std::to_string(offset) +
                             " is out of range");
  const int64_t seen = seen_all - offset, full = step * batch_size;
  const int64_t least = drop_last ? full : full - (t.loader.epoch + 1) * (batch_size - 1);
  if (seen > full || seen < least)
    bad_counter(ck.path, "images_seen is " + std::to_string(seen) + ", expected " +
                             (drop_last ? std::to_string(full) : "between " + std::to_string(least) + " and " + std::to_string(full)) +
                             " (" + at + " x batch " + std::to_string(batch_size) + ")");
  if (stat("best_epoch") > done) bad_counter(ck.path, "best_epoch " + std::to_string(stat("best_epoch")) + " is after epochs_done");
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

CheckpointManager::CheckpointManager(std::string dir, int64_t keep, WriteFaults* faults)
    : dir_(std::move(dir)), keep_(std::max<int64_t>(keep, 1)), faults_(faults) {}

std::string CheckpointManager::save(const nn::Module& model, const optim::Optimizer& optimizer, const TrainerState& state,
                                    const json& config, const std::string& run_dir) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw IOError("cannot create checkpoint directory '" + dir_ + "': " + ec.message());
  const std::string path = (fs::path(dir_) / checkpoint_file_name(state.step)).string();
  if (faults_ != nullptr && faults_->next_fails())
    throw IOError("cannot write checkpoint '" + path + "': injected write failure (TG_TRAIN_FAIL_WRITE): " + std::strerror(ENOSPC));
  save_checkpoint(path, model, optimizer, state, config, run_dir);
  auto all = list_checkpoints(dir_);
  for (size_t i = 0; i + static_cast<size_t>(keep_) < all.size(); ++i) fs::remove(all[i].second, ec);
  return path;
}

}  // namespace tg::train
