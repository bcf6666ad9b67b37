// Optimizer base: parameter groups, per-parameter state (indexed by position, named by the
// parameter's name), the step protocol (check every gradient first, then update), zero_grad,
// lr schedules, trust-ratio telemetry and state_dict / load_state_dict through safetensors.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "io/safetensors.h"
#include "optim/param_group.h"
#include "optim/schedule.h"
#include "optim/telemetry.h"

namespace tg::optim {

// One parameter and its optimizer state. Position in Optimizer::params() is its index.
struct ParamEntry {
  std::string name;
  Tensor tensor;
  size_t group = 0;
  int64_t step = 0;           // updates applied to this parameter (bias corrections use it)
  std::vector<Tensor> state;  // one per Optimizer::state_names(); empty before the first update
};

// A parameter group with its options resolved.
struct Group {
  std::string name;
  double lr = 0.0;            // base lr; the schedule's factor multiplies it
  double weight_decay = 0.0;
  bool adapt = true;          // layer adaptation (trust ratio) for these tensors
  std::vector<size_t> params; // indices into Optimizer::params()
};

// A parameter taking part in the current step (it has a gradient).
struct ActiveParam {
  size_t index = 0;       // into Optimizer::params()
  float* w = nullptr;     // (numel) weights, updated in place
  const float* g = nullptr;  // (numel) gradient
  int64_t numel = 0;
  double lr = 0.0;        // the group's scheduled lr for this step
  double weight_decay = 0.0;
  bool adapt = true;
};

// What step() does when a gradient holds NaN or Inf: throw tg::Error naming the parameter, or
// skip the step. Either way no parameter and no optimizer state is modified.
enum class NonFinitePolicy { kThrow, kSkip };

struct StateDict {
  NamedTensors tensors;  // "<param name>/<slot>" -> state tensor, for parameters updated at least once
  io::Metadata metadata;  // optimizer name, step counters, groups, options
};

// Reads or writes hyper-parameters: one visit_options() serves state_dict and load_state_dict.
class OptionVisitor {
 public:
  virtual ~OptionVisitor() = default;
  virtual void field(const char* key, double& value) = 0;
  virtual void field(const char* key, bool& value) = 0;
  virtual void field(const char* key, int& value, int min_value, int max_value) = 0;  // enums
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string name() const = 0;                    // "lambc", "adamw", ...
  virtual std::vector<std::string> state_names() const = 0;  // per-parameter state slots

  // One update of every parameter that has a gradient, under NoGradGuard. All gradients are
  // checked before anything is written. Advances step_count() by one unless the step is skipped.
  void step();
  // Clears gradients: set_to_none drops them (grad() becomes undefined), otherwise fills zeros.
  void zero_grad(bool set_to_none = true);
  // Forgets moments and per-parameter steps (keeps options and step_count). The LAMBC authors'
  // script rebuilds its optimizer every epoch, which is this call at each epoch start.
  void reset_state();

  int64_t step_count() const { return step_; }        // completed steps
  // Moves the step count (the schedule's position) without touching moments or the per-parameter
  // steps of the bias corrections: for a run whose steps change length, such as one resumed at
  // another world size (fewer, larger steps per epoch), like setting a PyTorch scheduler's last_epoch.
  void set_step_count(int64_t steps);
  int64_t skipped_steps() const { return skipped_; }  // steps refused for non-finite gradients
  bool last_step_skipped() const { return last_skipped_; }
  void set_non_finite_policy(NonFinitePolicy policy) { policy_ = policy; }
  NonFinitePolicy non_finite_policy() const { return policy_; }

  // The schedule's factor at step_count() multiplies each group's lr (1 without a schedule).
  void set_schedule(std::shared_ptr<const Schedule> schedule) { schedule_ = std::move(schedule); }
  const Schedule* schedule() const { return schedule_.get(); }
  double lr_factor() const;
  double scheduled_lr(size_t group) const;  // lr the next step() uses for that group

  // The device every parameter (and so every gradient and state tensor) lives on. One optimizer
  // updates one device: CPU kernels on the CPU, the CUDA launchers of the same math on a GPU.
  Device device() const { return device_; }

  std::vector<Group>& groups() { return groups_; }
  const std::vector<Group>& groups() const { return groups_; }
  const std::vector<ParamEntry>& params() const { return params_; }
  // A state tensor by parameter and slot name, or nullptr when absent (never updated, unknown).
  const Tensor* state(const std::string& param, const std::string& slot) const;

  // Trust-ratio records of the last step, one per adapted tensor (empty for non-adaptive optimizers).
  const std::vector<TrustRatioRecord>& trust_ratios() const { return trust_ratios_; }
  void set_telemetry(bool enabled) { telemetry_ = enabled; }
  bool telemetry() const { return telemetry_; }

  // Sharding hook (dist::ShardedOptimizer, where this optimizer updates one rank's slices of the
  // parameters): every per-tensor sum a step takes over the elements (sum g^2 for the NaN/Inf
  // check and global clipping; ||w||^2, ||u||^2 or ||g||^2 for trust ratios) is handed to it as
  // `width` consecutive values per active parameter, and it replaces them with the sums over all
  // slices, so ratios, clipping and telemetry are those of the whole tensors. It runs the same
  // number of times per step whatever the slice (the LAMB family then takes its two-pass schedule:
  // every tensor's norms before any update). Empty: off.
  using PartialSumReducer =
      std::function<void(const std::vector<ActiveParam>& active, std::vector<double>& sums, size_t width)>;
  void set_partial_sum_reducer(PartialSumReducer reducer) { reducer_ = std::move(reducer); }
  bool has_partial_sum_reducer() const { return static_cast<bool>(reducer_); }
  // The second sharding hook, for a sum over all parameters (global gradient clipping's ||G||^2):
  // given this optimizer's sum over its own slices, returns the sum over all slices of all ranks.
  // The per-tensor reducer cannot give it: a rank sees the completed sums of only the tensors it
  // holds a slice of. A step that needs ||G|| with a partial-sum reducer but without this hook throws.
  using GlobalSumReducer = std::function<double(double local_sum)>;
  void set_global_sum_reducer(GlobalSumReducer reducer) { global_reducer_ = std::move(reducer); }

  // Exact resume: moments, per-parameter steps, step counter, group options and hyper-parameters.
  StateDict state_dict() const;
  // Validates everything first (optimizer name, groups and parameter names, tensor shapes) and
  // throws tg::Error naming the mismatch, leaving this optimizer untouched.
  void load_state_dict(const StateDict& state);
  void save(const std::string& path) const;  // state_dict() as safetensors
  void load(const std::string& path);        // throws tg::IOError / tg::Error naming the path

 protected:
  // groups: options left unset take default_lr / default_weight_decay. Parameter names must be
  // unique and each tensor may appear once; throws tg::Error naming the offender.
  Optimizer(std::vector<ParamGroup> groups, double default_lr, double default_weight_decay);

  virtual Shape state_shape(size_t slot, const Shape& param_shape) const;  // default: param_shape
  // Read-only pass: returns the position in `active` of the first parameter whose gradient is not
  // finite, or -1. The default sums g^2 per tensor into grad_sq_ (finite iff every element is).
  virtual int64_t inspect(const std::vector<ActiveParam>& active);
  // The update; runs only after inspect() found all gradients finite, with state allocated.
  virtual void apply(const std::vector<ActiveParam>& active) = 0;
  virtual void visit_options(OptionVisitor& visitor) = 0;
  // Throws tg::Error naming an option out of range: the constructor's checks, which
  // load_state_dict runs again on the options it restores.
  virtual void validate_options() const {}

  ParamEntry& entry(const ActiveParam& a) { return params_[a.index]; }
  const ParamEntry& entry(const ActiveParam& a) const { return params_[a.index]; }
  static std::vector<int64_t> numels(const std::vector<ActiveParam>& active);
  void record_trust_ratio(const ActiveParam& a, double w_norm, double u_norm, double raw, double applied);
  // Throws tg::Error when the parameters are on a device this optimizer has no kernels for.
  void require_cpu(const char* why) const;
  // Position of the first sum that is NaN or Inf (a sum of g^2 is finite iff every g is), or -1.
  static int64_t first_non_finite(const std::vector<double>& grad_sq);
  // The default inspect's result: sum of g^2 for each active parameter.
  std::vector<double> grad_sq_;
  // ||G||^2 = sum of g^2 over every gradient of the step, after the default inspect: this
  // optimizer's own sums unsharded; sharded, those completed by the global-sum reducer.
  double global_grad_sq() const;
  // Completes per-tensor partial sums through the reducer (no-op without one). `columns` are
  // per-active-parameter vectors, reduced together in one call.
  void reduce_partial_sums(const std::vector<ActiveParam>& active, std::initializer_list<std::vector<double>*> columns);

 private:
  // Throws tg::Error unless a group's lr and weight_decay are finite and >= 0; `where` starts the message.
  static void check_group_options(const std::string& where, const std::string& group, double lr, double weight_decay);
  std::vector<ActiveParam> collect_active();
  void allocate_state(ParamEntry& e);

  std::vector<ParamEntry> params_;
  std::vector<Group> groups_;
  std::shared_ptr<const Schedule> schedule_;
  PartialSumReducer reducer_;
  GlobalSumReducer global_reducer_;
  double local_grad_sq_total_ = 0.0;  // sum of this optimizer's own g^2 partial sums (the default inspect)
  std::vector<TrustRatioRecord> trust_ratios_;
  int64_t step_ = 0;
  int64_t skipped_ = 0;
  bool last_skipped_ = false;
  bool telemetry_ = true;
  NonFinitePolicy policy_ = NonFinitePolicy::kThrow;
  Device device_ = Device::cpu();
};

}  // namespace tg::optim
