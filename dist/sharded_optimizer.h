// ShardedOptimizer: optimizer-state sharding (ZeRO stage 1) over a ProcessGroup, for SGD, AdamW,
// LARS, LAMB and LAMBC (any optimizer whose state has its parameter's shape).
//
// The parameters, concatenated in optimizer order, are cut into world_size contiguous ranges;
// rank r owns range r. Its inner optimizer (the same kind, built by the factory from the same
// groups) holds views of the owned slices of each tensor, so it keeps moments for about 1/N of the
// elements and updates only those. Every per-tensor sum the inner step takes (||w||^2, ||u||^2,
// ||g||^2: trust ratios, clipping, the NaN check, global gradient clipping) is all-reduced over the
// ranks before use (Optimizer::set_partial_sum_reducer), so the ratios and the telemetry are those
// of the unsharded optimizer. After the step the parameters are all-gathered: every rank ends the
// step with the same, complete parameters. Gradients must already be averaged (DataParallel).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dist/process_group.h"
#include "optim/optimizer.h"

namespace tg::dist {

// Builds the inner optimizer from parameter groups (the slices, grouped as the full tensors were).
using OptimizerFactory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::ParamGroup>)>;

class ShardedOptimizer {
 public:
  // groups: the full parameters, grouped as for the unsharded optimizer. Collective.
  ShardedOptimizer(ProcessGroup& group, std::vector<optim::ParamGroup> groups, const OptimizerFactory& make);

  // The inner step on this rank's slices, then the parameters all-gathered. Collective. Refused
  // steps (NaN/Inf) are refused on every rank alike (the checks see the reduced sums).
  void step();
  void zero_grad(bool set_to_none = true);  // the full parameters' gradients

  std::string name() const { return inner_->name(); }
  int64_t step_count() const { return inner_->step_count(); }
  bool last_step_skipped() const { return inner_->last_step_skipped(); }
  // Every adapted tensor's record of the last step, in optimizer order, identical on every rank
  // and equal to the unsharded optimizer's (up to the order of the sums' additions).
  const std::vector<optim::TrustRatioRecord>& trust_ratios() const { return records_; }
  optim::Optimizer& local() { return *inner_; }
  const optim::Optimizer& local() const { return *inner_; }

  // Unsharded state, as the unsharded optimizer's state_dict() would hold it. Collective.
  optim::StateDict state_dict() const;
  // From an unsharded state (any world size saved it). Validates names and shapes first.
  void load_state_dict(const optim::StateDict& state);

  int64_t local_elements() const { return end_ - begin_; }  // parameter elements this rank updates
  int64_t total_elements() const { return total_; }
  int64_t state_bytes() const;  // this rank's optimizer state (moments), bytes

 private:
  struct Slice {
    size_t param;    // index into names_/tensors_
    int64_t begin;   // first element of the tensor in this slice
    int64_t length;
  };
  void reduce_partial_sums(const std::vector<optim::ActiveParam>& active, std::vector<double>& sums, size_t width);
  void gather_parameters();
  void assemble_telemetry();
  std::vector<int64_t> rank_counts() const;
  int owner(size_t param) const;  // the rank holding the tensor's first element

  ProcessGroup& group_;
  // This step's first parameter whose completed sums are NaN/Inf though none of this rank's slices
  // hold it (its gradient lives on another rank): this rank refuses the step too, naming it.
  std::string foreign_non_finite_;
  std::vector<std::string> names_;
  std::vector<Tensor> tensors_;            // full parameters, optimizer order
  std::vector<int64_t> flat_offset_;       // of each tensor in the concatenation
  std::vector<std::vector<size_t>> group_params_;  // full group membership (indices into names_)
  std::vector<Slice> slices_;              // this rank's, in the inner optimizer's order
  std::vector<Tensor> slice_views_;
  int64_t total_ = 0, begin_ = 0, end_ = 0;
  std::unique_ptr<optim::Optimizer> inner_;
  std::vector<optim::TrustRatioRecord> records_;
};

// A view of elements [begin, begin + length) of a contiguous tensor, shape (length), sharing storage.
Tensor flat_slice(const Tensor& t, int64_t begin, int64_t length);

}  // namespace tg::dist
