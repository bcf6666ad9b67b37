// ShardedOptimizer (ZeRO-1): partition, slice views, the partial-sum reducer, the parameter
// all-gather, telemetry assembly and the unsharded state_dict (see sharded_optimizer.h).
#include "dist/sharded_optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "dist/data_parallel.h"
#include "engine/autograd.h"
#include "engine/error.h"

namespace tg::dist {

using json = nlohmann::json;

namespace {

// Throws tg::Error unless the whole state is complete: every parameter with a step has every slot,
// no other has any, slots are known, steps positive.
void check_complete(const optim::StateDict& full, const json& steps, const std::vector<std::string>& names,
                    const std::vector<std::string>& slots, const std::string& optimizer) {
  // The inner optimizer checks only this rank's slices; these checks cover every parameter, so
  // all ranks refuse the same states (before, a state missing a tensor of rank 1's slice was
  // refused there and loaded on rank 0: the ranks went on with different optimizer states).
  TG_CHECK(steps.is_object(), "ShardedOptimizer::load_state_dict: param_steps is not a JSON object");
  for (auto it = steps.begin(); it != steps.end(); ++it) {
    TG_CHECK(it.value().is_number_integer() && it.value().get<int64_t>() > 0,
             "ShardedOptimizer::load_state_dict: step of '" << it.key() << "' is not a positive integer: " << it.value().dump());
  }
  std::map<std::string, int> count;  // "<param>/<slot>" -> occurrences
  for (const auto& entry : full.tensors) {
    const std::string& key = entry.first;
    const size_t slash = key.rfind('/');
    TG_CHECK(slash != std::string::npos, "ShardedOptimizer::load_state_dict: tensor '" << key << "' is not named '<param>/<slot>'");
    const std::string slot = key.substr(slash + 1);
    TG_CHECK(std::find(slots.begin(), slots.end(), slot) != slots.end(),
             "ShardedOptimizer::load_state_dict: '" << key << "': optimizer " << optimizer << " has no state slot '" << slot << "'");
    TG_CHECK(++count[key] == 1, "ShardedOptimizer::load_state_dict: tensor '" << key << "' appears twice");
  }
  for (const std::string& name : names) {
    const bool stepped = steps.contains(name);
    for (const std::string& slot : slots) {
      const std::string key = name + "/" + slot;
      TG_CHECK(!stepped || count.count(key), "ShardedOptimizer::load_state_dict: state '" << key << "' is missing");
      TG_CHECK(stepped || !count.count(key), "ShardedOptimizer::load_state_dict: state '" << key << "' is there but parameter '"
                                                                                         << name << "' has no step");
    }
  }
}

}  // namespace

Tensor flat_slice(const Tensor& t, int64_t begin, int64_t length) {
  TG_CHECK(begin >= 0 && length > 0 && begin + length <= t.numel(),
           "flat_slice: [" << begin << ", " << begin + length << ") is outside a tensor of " << t.numel() << " elements");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = {length};
  impl->dtype = t.dtype();
  impl->storage = t.storage();
  impl->offset = t.storage_offset() + begin;
  return Tensor(std::move(impl));
}

ShardedOptimizer::ShardedOptimizer(ProcessGroup& group, std::vector<optim::ParamGroup> groups,
                                   const OptimizerFactory& make)
    : group_(group) {
  TG_CHECK(!groups.empty(), "ShardedOptimizer: no parameter groups given");
  for (const auto& g : groups) {
    group_params_.emplace_back();
    for (const auto& [name, t] : g.params) {
      check_defined(t, "ShardedOptimizer", name.c_str());
      TG_CHECK(t.device().is_cpu(), "ShardedOptimizer: parameter '" << name << "' is on " << t.device().str()
                                                                      << "; sharding is CPU (MPI) only so far");
      group_params_.back().push_back(names_.size());
      names_.push_back(name);
      tensors_.push_back(t);
      flat_offset_.push_back(total_);
      total_ += t.numel();
    }
  }
  const int n = group_.world_size(), r = group_.rank();
  group_.check_same(total_, "the number of parameter elements given to the sharded optimizer");
  group_.check_same(static_cast<int64_t>(names_.size()), "the number of parameters given to the sharded optimizer");
  // Counts alone let two ranks pass the same tensors in another order (or groups): each would cut
  // its own concatenation and the all-gather would write one tensor's slice into another.
  NamedTensors layout;
  for (size_t gi = 0; gi < group_params_.size(); ++gi) {
    for (size_t k : group_params_[gi]) layout.emplace_back(std::to_string(gi) + "/" + names_[k], tensors_[k]);
  }
  group_.check_same(layout_fingerprint(layout),
                    "the parameter names, shapes and groups given to the sharded optimizer, in order");
  TG_CHECK(total_ >= n, "ShardedOptimizer: " << total_ << " parameter elements cannot be shared by " << n << " ranks");
  begin_ = total_ * r / n;  // rank r owns [P r / N, P (r + 1) / N)
  end_ = total_ * (r + 1) / n;

  std::vector<optim::ParamGroup> local;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    optim::ParamGroup lg{groups[gi].name, {}, groups[gi].lr, groups[gi].weight_decay, groups[gi].adapt};
    for (size_t k : group_params_[gi]) {
      const int64_t lo = std::max(begin_, flat_offset_[k]);
      const int64_t hi = std::min(end_, flat_offset_[k] + tensors_[k].numel());
      if (lo >= hi) continue;
      slices_.push_back(Slice{k, lo - flat_offset_[k], hi - lo});
      slice_views_.push_back(flat_slice(tensors_[k], lo - flat_offset_[k], hi - lo));
      lg.params.emplace_back(names_[k], slice_views_.back());
    }
    local.push_back(std::move(lg));
  }
  inner_ = make(std::move(local));
  TG_CHECK(inner_, "ShardedOptimizer: the optimizer factory returned nothing");
  const std::string kind = inner_->name();
  TG_CHECK(kind != "novograd" && kind != "adabelief" && kind != "adam",
           "ShardedOptimizer: " << kind << " is not supported sharded (supported: sgd, adamw, lars, lamb, lambc)");
  inner_->set_partial_sum_reducer(
      [this](const std::vector<optim::ActiveParam>& active, std::vector<double>& sums, size_t width) {
        reduce_partial_sums(active, sums, width);
      });
  // Global gradient clipping's ||G||^2: every rank's sum over its own slices, added up.
  inner_->set_global_sum_reducer([this](double local_sum) {
    group_.all_reduce(&local_sum, 1, ReduceOp::kSum, "all-reduce of the global gradient norm");
    return local_sum;
  });
}

std::vector<int64_t> ShardedOptimizer::rank_counts() const {
  const int n = group_.world_size();
  std::vector<int64_t> counts(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) counts[static_cast<size_t>(r)] = total_ * (r + 1) / n - total_ * r / n;
  return counts;
}

int ShardedOptimizer::owner(size_t param) const {
  const int n = group_.world_size();
  // The rank r with P r / N <= offset < P (r + 1) / N.
  int r = static_cast<int>(flat_offset_[param] * n / total_);
  while (r + 1 < n && total_ * (r + 1) / n <= flat_offset_[param]) ++r;
  while (r > 0 && total_ * r / n > flat_offset_[param]) --r;
  return r;
}

void ShardedOptimizer::reduce_partial_sums(const std::vector<optim::ActiveParam>& active, std::vector<double>& sums,
                                           size_t width) {
  // Scatter this rank's partial sums into a vector over all parameters, sum it over the ranks,
  // read back the complete sums. Parameters without a gradient on every rank stay 0.
  std::vector<double> all(names_.size() * width, 0.0);
  for (size_t i = 0; i < active.size(); ++i) {
    const size_t k = slices_[active[i].index].param;
    for (size_t c = 0; c < width; ++c) all[k * width + c] = sums[i * width + c];
  }
  group_.all_reduce(all.data(), static_cast<int64_t>(all.size()), ReduceOp::kSum,
                    "all-reduce of the optimizer's per-tensor partial norms");
  for (size_t i = 0; i < active.size(); ++i) {
    const size_t k = slices_[active[i].index].param;
    for (size_t c = 0; c < width; ++c) sums[i * width + c] = all[k * width + c];
  }
  // Every rank must take the same decision on a non-finite gradient: one held only by other ranks
  // is seen here in the completed sums, and this rank's sums are made NaN so that it refuses (or
  // skips) the step as they do; step() names the parameter. (Before, this rank stepped and went on
  // to the parameter all-gather while the others skipped.)
  std::vector<char> mine(names_.size(), 0);
  for (const auto& a : active) mine[slices_[a.index].param] = 1;
  for (size_t k = 0; k < names_.size() && foreign_non_finite_.empty(); ++k) {
    for (size_t c = 0; c < width; ++c)
      if (!mine[k] && !std::isfinite(all[k * width + c])) foreign_non_finite_ = names_[k];
  }
  if (!foreign_non_finite_.empty()) std::fill(sums.begin(), sums.end(), std::numeric_limits<double>::quiet_NaN());
}

void ShardedOptimizer::step() {
  for (size_t j = 0; j < slices_.size(); ++j) {  // the inner optimizer reads the slices' gradients
    const Tensor g = tensors_[slices_[j].param].grad();
    slice_views_[j].set_grad(g.defined() ? flat_slice(g, slices_[j].begin, slices_[j].length) : Tensor());
  }
  foreign_non_finite_.clear();
  try {
    inner_->step();
  } catch (const Error&) {
    for (const Tensor& v : slice_views_) v.set_grad(Tensor());
    if (foreign_non_finite_.empty()) throw;
    throw Error("optimizer " + inner_->name() + ", step " + std::to_string(inner_->step_count() + 1) +
                ": the gradient of parameter '" + foreign_non_finite_ +
                "' contains NaN or Inf (its slice is on another rank); no parameter or optimizer state was modified "
                "on any rank (lower the lr, clip gradients, or skip such steps)");
  }
  for (const Tensor& v : slice_views_) v.set_grad(Tensor());
  if (inner_->last_step_skipped()) return;
  gather_parameters();
  assemble_telemetry();
}

void ShardedOptimizer::gather_parameters() {
  NoGradGuard no_grad;
  std::vector<float> mine(static_cast<size_t>(end_ - begin_));
  int64_t at = 0;
  for (size_t j = 0; j < slices_.size(); ++j) {
    std::memcpy(mine.data() + at, slice_views_[j].data(), static_cast<size_t>(slices_[j].length) * sizeof(float));
    at += slices_[j].length;
  }
  std::vector<float> all(static_cast<size_t>(total_));
  group_.all_gatherv(mine.data(), all.data(), rank_counts(), "all-gather of the updated parameters");
  for (size_t k = 0; k < tensors_.size(); ++k) {
    std::memcpy(tensors_[k].data(), all.data() + flat_offset_[k], static_cast<size_t>(tensors_[k].numel()) * sizeof(float));
    tensors_[k].bump_version();
  }
}

void ShardedOptimizer::assemble_telemetry() {
  records_.clear();
  if (!inner_->telemetry()) return;
  // Per parameter: present, ||w||, ||u||, raw, applied; from the rank owning its first element.
  constexpr size_t kWidth = 5;
  std::map<std::string, const optim::TrustRatioRecord*> by_name;
  for (const auto& rec : inner_->trust_ratios()) by_name[rec.name] = &rec;
  std::vector<double> all(names_.size() * kWidth, 0.0);
  for (size_t k = 0; k < names_.size(); ++k) {
    auto it = by_name.find(names_[k]);
    if (owner(k) != group_.rank() || it == by_name.end()) continue;
    const optim::TrustRatioRecord& rec = *it->second;
    const double row[kWidth] = {1.0, rec.w_norm, rec.u_norm, rec.raw_ratio, rec.applied_ratio};
    std::copy(row, row + kWidth, all.begin() + static_cast<std::ptrdiff_t>(k * kWidth));
  }
  group_.all_reduce(all.data(), static_cast<int64_t>(all.size()), ReduceOp::kSum, "all-reduce of the trust-ratio telemetry");
  for (size_t k = 0; k < names_.size(); ++k) {
    const double* row = all.data() + k * kWidth;
    if (row[0] == 0.0) continue;
    records_.push_back(optim::TrustRatioRecord{inner_->step_count(), names_[k], row[1], row[2], row[3], row[4],
                                               row[4] != row[3]});
  }
}

void ShardedOptimizer::zero_grad(bool set_to_none) {
  for (const Tensor& t : tensors_) {
    if (set_to_none) {
      t.set_grad(Tensor());
    } else if (Tensor g = t.grad(); g.defined()) {
      g.fill_(0.0f);
    }
  }
}

int64_t ShardedOptimizer::state_bytes() const {
  int64_t bytes = 0;
  for (const auto& e : inner_->params()) {
    for (const Tensor& s : e.state) bytes += s.numel() * static_cast<int64_t>(sizeof(float));
  }
  return bytes;
}

optim::StateDict ShardedOptimizer::state_dict() const {
  optim::StateDict local = inner_->state_dict();
  optim::StateDict sd;
  sd.metadata = local.metadata;
  // Groups with every parameter's name; lr, weight decay and adapt as the inner optimizer has them.
  json groups = json::parse(local.metadata.at("groups"));
  for (size_t gi = 0; gi < group_params_.size(); ++gi) {
    json names = json::array();
    for (size_t k : group_params_[gi]) names.push_back(names_[k]);
    groups[gi]["params"] = names;
  }
  sd.metadata["groups"] = groups.dump();
  // Per-parameter steps: every slice of a tensor has the same count; take the owner's.
  std::vector<double> steps(names_.size(), 0.0);
  for (size_t j = 0; j < slices_.size(); ++j) {
    if (owner(slices_[j].param) == group_.rank()) steps[slices_[j].param] = static_cast<double>(inner_->params()[j].step);
  }
  const_cast<ProcessGroup&>(group_).all_reduce(steps.data(), static_cast<int64_t>(steps.size()), ReduceOp::kSum,
                                               "all-reduce of the optimizer's step counters");
  json param_steps = json::object();
  for (size_t k = 0; k < names_.size(); ++k) {
    if (steps[k] > 0) param_steps[names_[k]] = static_cast<int64_t>(steps[k]);
  }
  sd.metadata["param_steps"] = param_steps.dump();
  // State tensors: each slot all-gathered over the ranks' ranges, then cut per tensor (in the
  // unsharded order: per parameter, its slots).
  const std::vector<std::string> slots = inner_->state_names();
  std::vector<std::vector<float>> gathered(slots.size(), std::vector<float>(static_cast<size_t>(total_)));
  for (size_t s = 0; s < slots.size(); ++s) {
    std::vector<float> mine(static_cast<size_t>(end_ - begin_), 0.0f);
    int64_t at = 0;
    for (size_t j = 0; j < slices_.size(); ++j) {
      const auto& st = inner_->params()[j].state;
      if (s < st.size()) std::memcpy(mine.data() + at, st[s].data(), static_cast<size_t>(slices_[j].length) * sizeof(float));
      at += slices_[j].length;
    }
    const_cast<ProcessGroup&>(group_).all_gatherv(mine.data(), gathered[s].data(), rank_counts(),
                                                  "all-gather of optimizer state '" + slots[s] + "'");
  }
  for (size_t k = 0; k < names_.size(); ++k) {
    if (steps[k] <= 0) continue;
    for (size_t s = 0; s < slots.size(); ++s) {
      Tensor t = Tensor::empty(tensors_[k].shape());
      std::memcpy(t.data(), gathered[s].data() + flat_offset_[k], static_cast<size_t>(t.numel()) * sizeof(float));
      sd.tensors.emplace_back(names_[k] + "/" + slots[s], t);
    }
  }
  return sd;
}

void ShardedOptimizer::load_state_dict(const optim::StateDict& full) {
  std::map<std::string, size_t> index;
  for (size_t k = 0; k < names_.size(); ++k) index[names_[k]] = k;
  std::map<size_t, size_t> local_of;  // full index -> position in slices_
  for (size_t j = 0; j < slices_.size(); ++j) local_of[slices_[j].param] = j;

  optim::StateDict local;
  local.metadata = full.metadata;
  auto meta = [&](const char* key) -> const std::string& {
    auto it = full.metadata.find(key);
    TG_CHECK(it != full.metadata.end(), "ShardedOptimizer::load_state_dict: metadata entry '" << key << "' is missing");
    return it->second;
  };
  json groups, steps;
  try {
    groups = json::parse(meta("groups"));
    steps = json::parse(meta("param_steps"));
  } catch (const json::exception& e) {
    throw Error(std::string("ShardedOptimizer::load_state_dict: malformed metadata: ") + e.what());
  }
  TG_CHECK(groups.is_array() && groups.size() == group_params_.size(),
           "ShardedOptimizer::load_state_dict: the state has " << (groups.is_array() ? groups.size() : 0)
                                                               << " parameter groups, this optimizer " << group_params_.size());
  for (size_t gi = 0; gi < group_params_.size(); ++gi) {
    TG_CHECK(groups[gi].is_object() && groups[gi].contains("params") &&
                 groups[gi]["params"].size() == group_params_[gi].size(),
             "ShardedOptimizer::load_state_dict: group " << gi << " has a different number of parameters");
    json names = json::array();
    for (size_t pos = 0; pos < group_params_[gi].size(); ++pos) {
      const size_t k = group_params_[gi][pos];
      TG_CHECK(groups[gi]["params"][pos] == names_[k], "ShardedOptimizer::load_state_dict: group "
                                                           << gi << " position " << pos << " is '" << names_[k]
                                                           << "' here but " << groups[gi]["params"][pos].dump() << " in the state");
      if (local_of.count(k)) names.push_back(names_[k]);
    }
    groups[gi]["params"] = names;
  }
  local.metadata["groups"] = groups.dump();
  check_complete(full, steps, names_, inner_->state_names(), inner_->name());
  json local_steps = json::object();
  for (auto it = steps.begin(); it != steps.end(); ++it) {
    TG_CHECK(index.count(it.key()), "ShardedOptimizer::load_state_dict: step for unknown parameter '" << it.key() << "'");
    if (local_of.count(index[it.key()])) local_steps[it.key()] = it.value();
  }
  local.metadata["param_steps"] = local_steps.dump();
  for (const auto& [key, t] : full.tensors) {
    const std::string pname = key.substr(0, key.rfind('/'));
    TG_CHECK(index.count(pname), "ShardedOptimizer::load_state_dict: state tensor '" << key << "' names unknown parameter");
    const size_t k = index[pname];
    TG_CHECK(t.defined() && t.shape() == tensors_[k].shape(),
             "ShardedOptimizer::load_state_dict: '" << key << "' has shape "
                                                    << (t.defined() ? shape_str(t.shape()) : "undefined")
                                                    << ", the parameter " << shape_str(tensors_[k].shape()));
    auto it = local_of.find(k);
    if (it == local_of.end()) continue;
    const Slice& sl = slices_[it->second];
    local.tensors.emplace_back(key, flat_slice(t.to(Device::cpu()), sl.begin, sl.length).clone());
  }
  inner_->load_state_dict(local);
}

}  // namespace tg::dist
