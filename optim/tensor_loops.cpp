// Schedules and deterministic per-tensor reductions used by every optimizer's passes. The two
// schedule settings below are process-wide mutable state (documented in docs/architecture.md).
#include "optim/tensor_loops.h"

#include "engine/error.h"

namespace tg::optim {

namespace {
bool g_multi_tensor = true;
int64_t g_parallel_min_numel = 32768;
}  // namespace

bool multi_tensor_enabled() { return g_multi_tensor; }
void set_multi_tensor(bool enabled) { g_multi_tensor = enabled; }

int64_t parallel_min_numel() { return g_parallel_min_numel; }

void set_parallel_min_numel(int64_t n) {
  TG_CHECK(n >= 1, "set_parallel_min_numel: n must be >= 1, got " << n);
  g_parallel_min_numel = n;
}

std::vector<ChunkRef> chunk_list(const std::vector<int64_t>& numels) {
  std::vector<ChunkRef> chunks;
  for (size_t i = 0; i < numels.size(); ++i) {
    for (int64_t b = 0; b < numels[i]; b += kReduceChunk) {
      chunks.push_back(ChunkRef{static_cast<int64_t>(i), b, std::min(numels[i], b + kReduceChunk)});
    }
  }
  return chunks;
}

std::vector<TensorRange> cache_groups(const std::vector<int64_t>& numels, int64_t max_numel) {
  std::vector<TensorRange> groups;
  int64_t filled = 0;
  for (size_t i = 0; i < numels.size(); ++i) {
    if (groups.empty() || filled + numels[i] > max_numel) {
      groups.push_back(TensorRange{i, i + 1});  // start a new group
      filled = numels[i];
    } else {
      groups.back().end = i + 1;
      filled += numels[i];
    }
  }
  return groups;
}

}  // namespace tg::optim
