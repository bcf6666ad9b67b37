// Optimizer base: groups, per-parameter state, and the step protocol (collect parameters with a
// gradient -> read-only inspect pass that checks every gradient -> update), zero_grad, telemetry.
#include "optim/optimizer.h"

#include <cmath>
#include <set>

#include "engine/autograd.h"
#include "engine/cpu/optimizer_kernels.h"
#include "engine/error.h"
#include "engine/optimizer_kernels.h"
#include "optim/tensor_loops.h"

namespace tg::optim {

Optimizer::Optimizer(std::vector<ParamGroup> groups, double default_lr, double default_weight_decay) {
  TG_CHECK(!groups.empty(), "optimizer: no parameter groups given");
  std::set<std::string> names;
  std::set<const float*> tensors;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    ParamGroup& pg = groups[gi];
    Group g;
    g.name = pg.name.empty() ? "group" + std::to_string(gi) : pg.name;
    g.lr = pg.lr.value_or(default_lr);
    g.weight_decay = pg.weight_decay.value_or(default_weight_decay);
    g.adapt = pg.adapt;
    check_group_options("optimizer", g.name, g.lr, g.weight_decay);
    for (auto& [name, tensor] : pg.params) {
      check_defined(tensor, "optimizer", name.c_str());
      if (params_.empty()) device_ = tensor.device();
      TG_CHECK(tensor.device() == device_,
               "optimizer: parameter '" << name << "' is on " << tensor.device().str() << " but parameter '"
                                        << params_.front().name << "' is on " << device_.str()
                                        << "; one optimizer updates one device (move the whole model with "
                                           "module.to(device) before building the optimizer)");
      TG_CHECK(tensor.dtype() == DType::Float32, "optimizer: parameter '" << name << "' is "
                                                                          << dtype_name(tensor.dtype()) << ", expected float32");
      TG_CHECK(names.insert(name).second, "optimizer: parameter name '" << name << "' appears twice");
      TG_CHECK(tensor.numel() == 0 || tensors.insert(tensor.data()).second,
               "optimizer: parameter '" << name << "' shares its data with another parameter already added");
      g.params.push_back(params_.size());
      params_.push_back(ParamEntry{name, tensor, groups_.size(), 0, {}});
    }
    groups_.push_back(std::move(g));
  }
}

void Optimizer::check_group_options(const std::string& where, const std::string& group, double lr, double weight_decay) {
  TG_CHECK(std::isfinite(lr) && lr >= 0.0, where << ": group '" << group << "' has invalid lr " << lr << " (need finite, >= 0)");
  TG_CHECK(std::isfinite(weight_decay) && weight_decay >= 0.0,
           where << ": group '" << group << "' has invalid weight_decay " << weight_decay << " (need finite, >= 0)");
}

void Optimizer::set_step_count(int64_t steps) {
  TG_CHECK(steps >= 0, "optimizer " << name() << ": set_step_count(" << steps << "): the step count cannot be negative");
  step_ = steps;
}

double Optimizer::lr_factor() const { return schedule_ ? schedule_->factor(step_) : 1.0; }

double Optimizer::scheduled_lr(size_t group) const {
  TG_CHECK(group < groups_.size(), "scheduled_lr: group " << group << " out of range (" << groups_.size() << " groups)");
  return groups_[group].lr * lr_factor();
}

const Tensor* Optimizer::state(const std::string& param, const std::string& slot) const {
  const std::vector<std::string> slots = state_names();
  for (const auto& e : params_) {
    if (e.name != param) continue;
    for (size_t s = 0; s < slots.size() && s < e.state.size(); ++s) {
      if (slots[s] == slot) return &e.state[s];
    }
    return nullptr;
  }
  return nullptr;
}

Shape Optimizer::state_shape(size_t, const Shape& param_shape) const { return param_shape; }

std::vector<int64_t> Optimizer::numels(const std::vector<ActiveParam>& active) {
  std::vector<int64_t> n;
  n.reserve(active.size());
  for (const auto& a : active) n.push_back(a.numel);
  return n;
}

std::vector<ActiveParam> Optimizer::collect_active() {
  std::vector<ActiveParam> active;
  const double factor = lr_factor();
  for (const Group& g : groups_) {
    // A schedule (or lr) can yield NaN, Inf or a negative lr: refuse it before any write.
    const double lr = g.lr * factor;
    TG_CHECK(std::isfinite(lr) && lr >= 0.0,
             "optimizer " << name() << ", step " << step_ + 1 << ": group '" << g.name << "' would use lr " << lr << " = "
                          << g.lr << " x schedule factor " << factor
                          << (schedule_ ? " (" + schedule_->describe() + ")" : std::string()) << "; need finite, >= 0");
    for (size_t idx : g.params) {
      ParamEntry& e = params_[idx];
      const Tensor grad = e.tensor.grad();
      if (!grad.defined()) continue;  // parameters without a gradient are skipped
      TG_CHECK(grad.shape() == e.tensor.shape(), "optimizer step: gradient of '" << e.name << "' has shape "
                                                      << shape_str(grad.shape()) << ", the parameter has "
                                                      << shape_str(e.tensor.shape()));
      TG_CHECK(grad.device() == device_ && grad.dtype() == DType::Float32,
               "optimizer step: gradient of '" << e.name << "' must be a float32 tensor on " << device_.str()
                                               << " (where the parameter is), got " << dtype_name(grad.dtype())
                                               << " on " << grad.device().str());
      active.push_back(ActiveParam{idx, e.tensor.data(), grad.data(), e.tensor.numel(), lr,
                                   g.weight_decay, g.adapt});
    }
  }
  return active;
}

void Optimizer::allocate_state(ParamEntry& e) {
  const size_t slots = state_names().size();
  e.state.clear();
  for (size_t s = 0; s < slots; ++s) e.state.push_back(Tensor::zeros(state_shape(s, e.tensor.shape()), device_));
}

void Optimizer::require_cpu(const char* why) const {
  TG_CHECK(device_.is_cpu(), name() << ": the parameters are on " << device_.str() << ", but " << why
                                    << "; use sgd, lars, adam, adamw, lamb or lambc there, or train on the CPU");
}

int64_t Optimizer::first_non_finite(const std::vector<double>& grad_sq) {
  for (size_t i = 0; i < grad_sq.size(); ++i) {
    if (!std::isfinite(grad_sq[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

int64_t Optimizer::inspect(const std::vector<ActiveParam>& active) {
  grad_sq_.assign(active.size(), 0.0);
  if (device_.is_cuda()) {  // one launcher per tensor; each returns sum(g^2) to the host
    for (size_t i = 0; i < active.size(); ++i) grad_sq_[i] = device_sum_squares(device_, active[i].g, active[i].numel);
  } else {
    const auto sums = per_tensor_sums<1>(numels(active), [&](size_t i, int64_t b, int64_t e) {
      return std::array<double, 1>{cpu::chunk_sum_squares(active[i].g + b, e - b)};
    });
    for (size_t i = 0; i < active.size(); ++i) grad_sq_[i] = sums[i][0];
  }
  local_grad_sq_total_ = 0.0;
  for (double s : grad_sq_) local_grad_sq_total_ += s;  // this optimizer's own sums, before the per-tensor reduction
  reduce_partial_sums(active, {&grad_sq_});
  return first_non_finite(grad_sq_);
}

double Optimizer::global_grad_sq() const {
  if (!reducer_) return local_grad_sq_total_;  // ||G||^2 = sum over tensors of ||g||^2
  // Sharded: grad_sq_ holds the completed sums of only the tensors this rank has a slice of.
  TG_CHECK(global_reducer_, "optimizer " << name() << ": global gradient clipping with a partial-sum reducer (sharded) "
                                            "needs set_global_sum_reducer, or ||G|| would cover only this rank's tensors");
  return global_reducer_(local_grad_sq_total_);
}

void Optimizer::reduce_partial_sums(const std::vector<ActiveParam>& active,
                                    std::initializer_list<std::vector<double>*> columns) {
  if (!reducer_) return;
  const size_t width = columns.size();
  std::vector<double> sums(active.size() * width);  // row i: the sums of active parameter i
  size_t c = 0;
  for (const std::vector<double>* col : columns) {
    for (size_t i = 0; i < active.size(); ++i) sums[i * width + c] = (*col)[i];
    ++c;
  }
  reducer_(active, sums, width);
  c = 0;
  for (std::vector<double>* col : columns) {
    for (size_t i = 0; i < active.size(); ++i) (*col)[i] = sums[i * width + c];
    ++c;
  }
}

void Optimizer::record_trust_ratio(const ActiveParam& a, double w_norm, double u_norm, double raw, double applied) {
  if (!telemetry_) return;
  trust_ratios_.push_back(TrustRatioRecord{step_ + 1, params_[a.index].name, w_norm, u_norm, raw, applied,
                                           applied != raw});
}

void Optimizer::step() {
  NoGradGuard no_grad;
  last_skipped_ = false;
  trust_ratios_.clear();
  const std::vector<ActiveParam> active = collect_active();

  // State of parameters updated for the first time is allocated now and dropped again if the
  // step is refused, so a refused step leaves the optimizer exactly as it was.
  std::vector<size_t> fresh;
  for (const auto& a : active) {
    if (params_[a.index].state.empty() && !state_names().empty()) {
      allocate_state(params_[a.index]);
      fresh.push_back(a.index);
    }
  }
  auto drop_fresh = [&] {
    for (size_t idx : fresh) params_[idx].state.clear();
    trust_ratios_.clear();
  };

  int64_t bad = -1;
  try {
    bad = inspect(active);
  } catch (...) {
    drop_fresh();
    throw;
  }
  if (bad >= 0) {
    drop_fresh();
    ++skipped_;
    if (policy_ == NonFinitePolicy::kSkip) {
      last_skipped_ = true;
      return;
    }
    const ParamEntry& e = params_[active[static_cast<size_t>(bad)].index];
    throw Error("optimizer " + name() + ", step " + std::to_string(step_ + 1) + ": the gradient of parameter '" +
                e.name + "' " + shape_str(e.tensor.shape()) +
                " contains NaN or Inf; no parameter or optimizer state was modified (lower the lr, clip "
                "gradients, or set_non_finite_policy(NonFinitePolicy::kSkip) to skip such steps)");
  }
  apply(active);
  for (const auto& a : active) {
    ++params_[a.index].step;
    params_[a.index].tensor.bump_version();  // written in place: a pending backward that needs it must not run
  }
  ++step_;
}

void Optimizer::zero_grad(bool set_to_none) {
  for (auto& e : params_) {
    if (set_to_none) {
      e.tensor.set_grad(Tensor());
    } else if (Tensor g = e.tensor.grad(); g.defined()) {
      g.fill_(0.0f);
    }
  }
}

void Optimizer::reset_state() {
  for (auto& e : params_) {
    e.state.clear();
    e.step = 0;
  }
}

}  // namespace tg::optim
