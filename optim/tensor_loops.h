// Loops shared by the optimizers. Every tensor is cut into chunks of kReduceChunk elements (the
// same boundaries whichever path runs); per-tensor sums add the chunk partials in chunk order, so
// results do not depend on the path or the thread count. Two schedules:
//   multi-tensor (default): all chunks of all tensors in one parallel region (one barrier per pass);
//   per-tensor: big tensors one at a time with threads inside, small ones one tensor per thread.
// The LAMB family's cache-blocked step runs either schedule over groups of tensors (cache_groups).
// Norms are always per parameter tensor, whichever path runs.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "engine/cpu/chunked_sum.h"
#include "optim/loop_settings.h"

namespace tg::optim {

// The chunk size and deterministic chunked sums are the CPU kernels' (engine/cpu/chunked_sum.h).
using cpu::chunked_sum;
using cpu::kReduceChunk;

// The schedule switch and the per-tensor threshold: optim/loop_settings.h (public).

// Per-tensor schedule: fn(i, parallel_inside) once for every tensor i. fn must not throw.
template <class Fn>
void for_each_tensor(const std::vector<int64_t>& numels, Fn&& fn) {
  const int64_t big = parallel_min_numel();
  std::vector<int64_t> small;
  for (size_t i = 0; i < numels.size(); ++i) {
    if (numels[i] >= big) {
      fn(i, true);
    } else {
      small.push_back(static_cast<int64_t>(i));
    }
  }
  const int64_t count = static_cast<int64_t>(small.size());
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
  for (int64_t k = 0; k < count; ++k) fn(static_cast<size_t>(small[static_cast<size_t>(k)]), false);
}

// The chunks of every tensor: (tensor, begin, end).
struct ChunkRef {
  int64_t tensor, begin, end;
};
std::vector<ChunkRef> chunk_list(const std::vector<int64_t>& numels);

// Consecutive tensors [begin, end) whose sizes add up to at most max_numel elements; a tensor
// bigger than that is a group of its own. The cache-blocked step runs a group's norms pass and
// its update pass back to back, so the update can read what the norms pass left in the cache.
struct TensorRange {
  size_t begin, end;
};
std::vector<TensorRange> cache_groups(const std::vector<int64_t>& numels, int64_t max_numel);

// fn(i, begin, end) on every chunk of every tensor: an element-wise pass. fn must not throw.
template <class Fn>
void for_each_chunk(const std::vector<int64_t>& numels, Fn&& fn) {
  if (multi_tensor_enabled()) {
    const std::vector<ChunkRef> chunks = chunk_list(numels);
    const int64_t count = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static) if (count > 1)
    for (int64_t k = 0; k < count; ++k) {
      const ChunkRef& c = chunks[static_cast<size_t>(k)];
      fn(static_cast<size_t>(c.tensor), c.begin, c.end);
    }
    return;
  }
  for_each_tensor(numels, [&](size_t i, bool parallel) {
    const int64_t n = numels[i], chunks = (n + kReduceChunk - 1) / kReduceChunk;
#pragma omp parallel for schedule(static) if (parallel && chunks > 1)
    for (int64_t c = 0; c < chunks; ++c) fn(i, c * kReduceChunk, std::min(n, (c + 1) * kReduceChunk));
  });
}

// Per-tensor sums: fn(i, begin, end) returns the K sums of one chunk of tensor i; the result
// holds, for each tensor, its chunk partials added in chunk order. fn must not throw.
template <int K, class Fn>
std::vector<std::array<double, K>> per_tensor_sums(const std::vector<int64_t>& numels, Fn&& fn) {
  std::vector<std::array<double, K>> out(numels.size());
  if (!multi_tensor_enabled()) {
    for_each_tensor(numels, [&](size_t i, bool parallel) {
      out[i] = chunked_sum<K>(numels[i], parallel, [&](int64_t b, int64_t e) { return fn(i, b, e); });
    });
    return out;
  }
  const std::vector<ChunkRef> chunks = chunk_list(numels);
  std::vector<std::array<double, K>> partial(chunks.size());
  const int64_t count = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static) if (count > 1)
  for (int64_t k = 0; k < count; ++k) {
    const ChunkRef& c = chunks[static_cast<size_t>(k)];
    partial[static_cast<size_t>(k)] = fn(static_cast<size_t>(c.tensor), c.begin, c.end);
  }
  for (size_t k = 0; k < chunks.size(); ++k) {  // chunk order within each tensor
    auto& t = out[static_cast<size_t>(chunks[k].tensor)];
    if (chunks[k].begin == 0) {
      t = partial[k];  // a lone chunk is returned as is, exactly as chunked_sum does
    } else {
      for (int q = 0; q < K; ++q) t[q] += partial[k][q];
    }
  }
  return out;
}

}  // namespace tg::optim
