// The optimizers' two scheduling knobs (optim/tensor_loops.h runs the loops they choose between):
// process-wide settings, the only mutable globals of optim/ (docs/architecture.md lists them).
// They change speed, never results (tests compare the schedules bit for bit).
#pragma once
#include <cstdint>

namespace tg::optim {

// Multi-tensor (default): all chunks of all tensors in one parallel region; off: per tensor.
bool multi_tensor_enabled();
void set_multi_tensor(bool enabled);
// Per-tensor schedule: tensors with at least this many elements run with threads inside.
int64_t parallel_min_numel();
void set_parallel_min_numel(int64_t n);  // n >= 1

}  // namespace tg::optim
